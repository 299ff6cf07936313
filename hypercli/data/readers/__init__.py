"""Formats streamed from disk, one file each, registered in ``hypercli.registry.READERS``."""

from hypercli.data.readers import folder as folder  # noqa: F401  (registers the formats)
from hypercli.data.readers import listfile as listfile  # noqa: F401
from hypercli.data.readers import recordio as recordio  # noqa: F401
from hypercli.data.readers import wds as wds  # noqa: F401
from hypercli.data.readers.base import Found, IndexReader, ShardReader

__all__ = ["Found", "IndexReader", "ShardReader"]
