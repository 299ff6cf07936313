"""Face verification as the field runs it: the sets, the named protocols, ``verify``.

- ``dataset.py``: ``VerificationSet``, what every format ends in;
- ``bin.py``: insightface's ``.bin`` (lfw, cfp_fp, agedb_30), read without running code;
- ``pairs.py``: LFW's ``pairs.txt`` and ``label path0 path1`` pair lists;
- ``load.py``: ``load_set`` (format from the file, images decoded once);
- ``protocols.py``: ``insightface`` and ``sphereface`` (registered in ``PROTOCOLS``);
- ``metrics.py``: contiguous folds, TAR@FAR, ROC, EER, AUC, shared by every protocol;
- ``verify.py``: ``verify(model, vset, protocol)`` and ``verify_checkpoint``;
- ``drawn.py``: open-set verification on pairs drawn from unseen classes of an in-memory
  dataset (the recipe's ``eval.verification``).
"""

from hypercli.verification.bin import read_bin
from hypercli.verification.dataset import VerificationSet
from hypercli.verification.drawn import verification
from hypercli.verification.load import load_set, set_format
from hypercli.verification.pairs import read_pair_list, read_pairs_txt
from hypercli.verification.protocols import Protocol, insightface, sphereface
from hypercli.verification.verify import verify, verify_checkpoint

__all__ = [
    "Protocol",
    "VerificationSet",
    "insightface",
    "load_set",
    "read_bin",
    "read_pair_list",
    "read_pairs_txt",
    "set_format",
    "sphereface",
    "verification",
    "verify",
    "verify_checkpoint",
]
