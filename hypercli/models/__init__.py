"""Registered model builders (``hypercli.registry.MODELS``) and the ``Net`` they make.

A builder takes the convolution and linear operator factories, so any registered
operator (SphereConv, decoupled operators) drops into any model; ``torchvision/<name>``
and ``timm/<name>`` bring other libraries' networks, converted to the same operators.
The face networks (``sphereface20/36/64``, ``iresnet18/34/50/100``) take their fixed input
geometry as ``(H, W)`` and impose their own pixel normalization (see ``factory``).
"""

from hypercli.models import dcnet as dcnet  # noqa: F401  (registers the builders)
from hypercli.models import external as external  # noqa: F401
from hypercli.models import iresnet as iresnet  # noqa: F401
from hypercli.models import plain as plain  # noqa: F401
from hypercli.models import resnet as resnet  # noqa: F401
from hypercli.models import sphereface as sphereface  # noqa: F401
from hypercli.models.factory import count_parameters, create_model
from hypercli.models.net import Net, Normalize

__all__ = ["Net", "Normalize", "count_parameters", "create_model"]
