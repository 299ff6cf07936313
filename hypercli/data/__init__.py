"""Datasets held in memory as uint8 tensors: Fashion-MNIST (default), CIFAR, synthetic;
and formats streamed from disk: folder, list, webdataset, recordio.

In-memory datasets are registered in ``hypercli.registry.DATASETS``, formats in
``hypercli.registry.READERS``. ``build_data(recipe.data, seed)`` gives the splits of a run
either way and ``data.train_loader(...)`` its batches.
"""

from hypercli.data import cifar as cifar  # noqa: F401  (registers the datasets)
from hypercli.data import fashion_mnist as fashion_mnist  # noqa: F401
from hypercli.data import readers as readers  # noqa: F401
from hypercli.data import synthetic as synthetic  # noqa: F401
from hypercli.data.base import RawDataset, Split, Splits
from hypercli.data.build import build_data
from hypercli.data.loader import BatchLoader
from hypercli.data.prepare import load_data, load_raw, load_split

__all__ = ["BatchLoader", "RawDataset", "Split", "Splits", "build_data", "load_data", "load_raw",
           "load_split"]
