"""Face verification as the field runs it: the named protocols and the shared metrics.

- ``protocols.py``: ``insightface`` and ``sphereface`` (registered in ``PROTOCOLS``);
- ``metrics.py``: contiguous folds, TAR@FAR, ROC, EER, AUC, shared by every protocol;
- ``drawn.py``: open-set verification on pairs drawn from unseen classes of an in-memory
  dataset (the recipe's ``eval.verification``).
"""

from hypercli.verification.drawn import verification
from hypercli.verification.protocols import Protocol, insightface, sphereface

__all__ = ["Protocol", "insightface", "sphereface", "verification"]
