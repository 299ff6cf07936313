"""The hyperspherical core: convolution and linear operators, and weight regularizers.

Operators are registered in ``hypercli.registry.CONVS`` / ``LINEARS``; each drops into any
model that takes an ``nn.Conv2d`` / ``nn.Linear``, and ``convert(model, conv=..., linear=...)``
puts any existing network on them. Regularizers (orthogonality, weight
projection) are registered in ``REGULARIZERS``.
"""

from hypercli.nn import conv as conv  # noqa: F401  (registers the operators)
from hypercli.nn import linear as linear  # noqa: F401
from hypercli.nn import orthogonality as orthogonality  # noqa: F401  (registers regularizers)
from hypercli.nn import projection as projection  # noqa: F401
from hypercli.nn.angular import AngularMixin
from hypercli.nn.conv import (
    AngularConv2d,
    BallConv2d,
    DecoupledConv2d,
    LinearConv2d,
    SegConv2d,
    SphereConv2d,
    TanhConv2d,
)
from hypercli.nn.convert import convert
from hypercli.nn.linear import AngularLinear, DecoupledLinear, SphereLinear
from hypercli.nn.orthogonality import Orthogonality
from hypercli.nn.projection import WeightProjection
from hypercli.nn.regularizer import Regularizer

__all__ = [
    "AngularConv2d",
    "AngularLinear",
    "AngularMixin",
    "BallConv2d",
    "DecoupledConv2d",
    "DecoupledLinear",
    "LinearConv2d",
    "Orthogonality",
    "Regularizer",
    "SegConv2d",
    "SphereConv2d",
    "SphereLinear",
    "TanhConv2d",
    "WeightProjection",
    "convert",
]
