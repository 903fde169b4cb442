"""Exceptions raised by semeq.

Every error a user can cause is a :class:`SemeqError`; the CLI prints its message as one
line on stderr and exits non-zero.
"""

from __future__ import annotations

__all__ = ["SemeqError", "ParameterError", "AudioFileError", "DataError", "UnknownWordError"]


class SemeqError(Exception):
    """Base class of every error semeq reports to a user."""


class ParameterError(SemeqError, ValueError):
    """An argument is outside its allowed range or of the wrong shape."""


class AudioFileError(SemeqError):
    """An audio file cannot be read or written."""


class DataError(SemeqError):
    """A dataset file (SAFE-DB CSV, Audealize JSON, model file) is malformed."""


class UnknownWordError(SemeqError, KeyError):
    """A descriptor is not in the vocabulary; the message lists the closest known words."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""
