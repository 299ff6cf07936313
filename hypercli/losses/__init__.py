"""Classifier heads that own their class weights and compute the (margin) softmax loss.

``loss = head(features, labels)``; ``head.logits(features)`` gives inference logits.
Registered in ``hypercli.registry.HEADS``.
"""

from hypercli.losses import softmax as softmax  # noqa: F401  (registers the heads)
from hypercli.losses.base import MarginHead

__all__ = ["MarginHead"]
