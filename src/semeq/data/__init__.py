"""Dataset readers and training-data synthesis."""

from .paths import data_dir

__all__ = ["data_dir"]
