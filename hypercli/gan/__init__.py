"""GANs: the SNGAN networks (standard CNN, ResNet), adversarial losses, the GAN module, its
samples, and the scores of generated images (``scores.py``: FID, Inception Score, KID).

A GAN run is ``task: gan`` (``hypercli.engine.tasks.gan``) with a ``gan:`` section in its
recipe. Importing the package registers the networks (``hypercli.registry.GENERATORS``,
``DISCRIMINATORS``) and the losses (``GAN_LOSSES``).
"""

from hypercli.gan import losses as losses  # noqa: F401  (registers the losses)
from hypercli.gan import networks as networks  # noqa: F401  (registers the networks)
from hypercli.gan import resnet as resnet  # noqa: F401  (registers the ResNet networks)
from hypercli.gan.model import GAN, build_gan
from hypercli.gan.sampling import load_generator, sample, save_grid

__all__ = ["GAN", "build_gan", "load_generator", "sample", "save_grid"]
