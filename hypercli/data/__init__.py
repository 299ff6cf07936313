"""Datasets held in memory as uint8 tensors: Fashion-MNIST (default), CIFAR, synthetic.

Registered in ``hypercli.registry.DATASETS``; ``load_data(recipe.data, seed)`` gives the
splits of a run, ``BatchLoader`` the batches.
"""

from hypercli.data import cifar as cifar  # noqa: F401  (registers the datasets)
from hypercli.data import fashion_mnist as fashion_mnist  # noqa: F401
from hypercli.data import synthetic as synthetic  # noqa: F401
from hypercli.data.base import RawDataset, Split, Splits
from hypercli.data.loader import BatchLoader
from hypercli.data.prepare import load_data, load_raw, load_split

__all__ = ["BatchLoader", "RawDataset", "Split", "Splits", "load_data", "load_raw", "load_split"]
