"""Signal processing: numpy and scipy only, never torch.

The filtering parts (:func:`apply_eq`, :class:`StreamingEQ`) need ``scipy.signal``, which is slow
to import; they load on first use, so design and response work stays light.
"""

from typing import TYPE_CHECKING

from .biquad import (
    NYQUIST_FRACTION,
    closed_form_response_db,
    design_sos,
    design_sos_batch,
    eq_response,
    response_db_batch,
    sos_response_db,
)
from .validation import check_audio, check_sample_rate

__all__ = ["NYQUIST_FRACTION", "design_sos", "design_sos_batch", "eq_response", "response_db_batch",
           "closed_form_response_db", "sos_response_db", "apply_eq", "check_audio", "check_sample_rate", "StreamingEQ"]

if TYPE_CHECKING:
    from .filtering import apply_eq
    from .streaming import StreamingEQ

_LAZY = {"apply_eq": ".filtering", "StreamingEQ": ".streaming"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
