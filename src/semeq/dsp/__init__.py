"""Signal processing: numpy and scipy only, never torch."""

from .biquad import NYQUIST_FRACTION, design_sos, eq_response, sos_response_db
from .filtering import apply_eq
from .validation import check_audio, check_sample_rate
from .streaming import StreamingEQ

__all__ = ["NYQUIST_FRACTION", "design_sos", "eq_response", "sos_response_db", "apply_eq", "check_audio", "check_sample_rate", "StreamingEQ"]
