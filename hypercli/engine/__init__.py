"""Training and evaluation as library functions; checkpoints; run directories; torchrun."""

from hypercli.engine.checkpoint import load_checkpoint, read_checkpoint
from hypercli.engine.evaluate import evaluate, predict
from hypercli.engine.runs import latest_run
from hypercli.engine.trainer import train

__all__ = ["evaluate", "latest_run", "load_checkpoint", "predict", "read_checkpoint", "train"]
