"""semeq: an adaptive semantic equalizer.

Give it a recording and a word ("warm", "bright", "airy", "claro"...); it works out where the
recording already stands and applies the 5-band parametric EQ that moves it toward the word.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .dsp import StreamingEQ, apply_eq, design_sos, eq_response
from .errors import AudioFileError, DataError, ParameterError, SemeqError, UnknownWordError
from .io import AudioInfo, load_audio, save_audio
from .params import PARAMETERS, EQParams
from .streaming import StreamingAdaptiveEQ

try:
    __version__ = version("semeq")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"

__all__ = [
    "EQParams",
    "PARAMETERS",
    "eq_response",
    "design_sos",
    "apply_eq",
    "StreamingEQ",
    "StreamingAdaptiveEQ",
    "load_audio",
    "save_audio",
    "AudioInfo",
    "SemeqError",
    "ParameterError",
    "AudioFileError",
    "DataError",
    "UnknownWordError",
    "EQModel",
    "__version__",
]


def __getattr__(name: str):
    # Torch-backed parts load lazily so that ``import semeq`` stays light.
    if name == "EQModel":
        from .eq_model import EQModel

        return EQModel
    raise AttributeError(f"module 'semeq' has no attribute {name!r}")
