"""semeq: an adaptive semantic equalizer.

Give it a recording and a word ("warm", "bright", "airy", "claro"...); it works out where the
recording already stands and applies the 5-band parametric EQ that moves it toward the word.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .dsp import design_sos, eq_response
from .errors import AudioFileError, DataError, ParameterError, SemeqError, UnknownWordError
from .params import PARAMETERS, EQParams

if TYPE_CHECKING:  # the lazily loaded names below, for type checkers
    from .adaptive import SemanticEQ
    from .audio_encoder import AudioEncoder
    from .dsp import StreamingEQ, apply_eq
    from .eq_model import EQModel
    from .phrases import Interpretation
    from .request import EQRequest
    from .io import AudioInfo, load_audio, save_audio
    from .streaming import StreamingAdaptiveEQ

__version__ = "0.1.0"
"""The package version, declared here once (pyproject.toml reads it; importlib.metadata costs
more to import than the rest of ``import semeq``)."""

__all__ = [
    "SemanticEQ",
    "EQRequest",
    "Interpretation",
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
    "AudioEncoder",
    "__version__",
]

# Everything that needs scipy.signal, soundfile, the models or ONNX Runtime loads on first use,
# so ``import semeq`` stays light (numpy only).
_LAZY = {
    "SemanticEQ": ".adaptive",
    "EQRequest": ".request",
    "Interpretation": ".phrases",
    "EQModel": ".eq_model",
    "AudioEncoder": ".audio_encoder",
    "StreamingAdaptiveEQ": ".streaming",
    "StreamingEQ": ".dsp",
    "apply_eq": ".dsp",
    "load_audio": ".io",
    "save_audio": ".io",
    "AudioInfo": ".io",
}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
