"""Classifier heads that own their class weights and compute the (margin) softmax loss.

``loss = head(features, labels)``; ``head.logits(features)`` gives inference logits.
Registered in ``hypercli.registry.HEADS``: softmax, norm-softmax, asoftmax, lsoftmax,
cosface, arcface, sphereface-r.
"""

from hypercli.losses import arcface as arcface  # noqa: F401  (registers the heads)
from hypercli.losses import asoftmax as asoftmax  # noqa: F401
from hypercli.losses import cosface as cosface  # noqa: F401
from hypercli.losses import lsoftmax as lsoftmax  # noqa: F401
from hypercli.losses import normsoftmax as normsoftmax  # noqa: F401
from hypercli.losses import softmax as softmax  # noqa: F401
from hypercli.losses import spherefacer as spherefacer  # noqa: F401
from hypercli.losses.arcface import ArcFace
from hypercli.losses.asoftmax import ASoftmax
from hypercli.losses.base import MarginHead
from hypercli.losses.cosface import CosFace
from hypercli.losses.lsoftmax import LSoftmax
from hypercli.losses.normsoftmax import NormSoftmax
from hypercli.losses.softmax import Softmax
from hypercli.losses.spherefacer import SphereFaceR

__all__ = ["ArcFace", "ASoftmax", "CosFace", "LSoftmax", "MarginHead", "NormSoftmax",
           "Softmax", "SphereFaceR"]
