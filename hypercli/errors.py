"""User-facing errors: anything the user can fix by changing a recipe, a flag or a file.

The CLI prints a ``HyperError`` as one line and exits with code 2; everything else is a
bug and keeps its traceback.
"""


class HyperError(Exception):
    """An error caused by the user's input; the message says what is wrong and what to do."""


class DivergenceError(HyperError):
    """Training produced a non-finite loss."""


class NonFiniteError(HyperError):
    """A metric, model output or weight holds NaN or inf."""
