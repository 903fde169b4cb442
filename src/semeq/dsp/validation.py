"""The one boundary check for audio arrays and sample rates.

Every public entry point that takes audio (``SemanticEQ.apply``/``profile``/``score``/
``suggest_intensity``/``adaptive_eq``/``encode``, :func:`~semeq.dsp.apply_eq`,
:class:`~semeq.dsp.StreamingEQ`, :func:`~semeq.io.save_audio`) calls :func:`check_audio` and
:func:`check_sample_rate` first, so a bad argument fails at once with one
:class:`~semeq.errors.ParameterError`, the same everywhere, before anything proportional to
the audio is allocated.

What semeq accepts as audio
---------------------------
- Layout ``(channels, samples)``, time last. An array with many rows and at most
  :data:`MAX_GUESSED_CHANNELS` columns -- the ``(samples, channels)`` layout that
  ``soundfile.read`` returns -- is refused with a message that says to pass ``x.T``. semeq never
  guesses a layout and never transposes for you.
- Floating point (float16/32/64): taken as is, full scale at +-1.0.
- Integer PCM (int8, uint8, int16, int32): scaled by its full scale into [-1, 1), as
  ``soundfile.read(..., dtype="float64")`` scales the same samples from a file (int16 / 32768,
  int32 / 2**31, int8 / 128, (uint8 - 128) / 128). Other integer types (int64, uint16,
  uint32, uint64) have no PCM convention and are refused, as are bool, complex and object
  arrays.
- Finite values only; NaN or Inf is refused.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ParameterError

__all__ = ["check_audio", "check_sample_rate", "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE", "MAX_GUESSED_CHANNELS"]

MIN_SAMPLE_RATE = 1000.0
MAX_SAMPLE_RATE = 768000.0
MAX_GUESSED_CHANNELS = 8
"""An array with at most this many columns and more rows than :data:`_TRANSPOSED_MIN_ROWS` is
taken for a ``(samples, channels)`` array and refused."""
_TRANSPOSED_MIN_ROWS = 64

# Integer PCM: (offset, full scale), as libsndfile converts integer samples to float.
_PCM_SCALE = {np.dtype(np.int8): (0.0, 128.0), np.dtype(np.uint8): (128.0, 128.0),
              np.dtype(np.int16): (0.0, 32768.0), np.dtype(np.int32): (0.0, 2147483648.0)}


def check_sample_rate(sample_rate: object, *, name: str = "sample_rate") -> float:
    """Validate a sample rate in Hz; return it as a float.

    Parameters
    ----------
    sample_rate : real number in [1000, 768000]
        A Python or NumPy number; strings and booleans are refused (no silent parsing).

    Returns
    -------
    sample_rate : float

    Raises
    ------
    ParameterError
        If it is not a real number, not finite, or outside [1000, 768000] Hz.

    Examples
    --------
    >>> check_sample_rate(44100)
    44100.0
    """
    if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, numbers.Real):
        raise ParameterError(f"{name} must be a number in Hz, got {type(sample_rate).__name__} {sample_rate!r}")
    value = float(sample_rate)
    if not np.isfinite(value) or not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise ParameterError(f"{name} must be in [{MIN_SAMPLE_RATE:g}, {MAX_SAMPLE_RATE:g}] Hz, got {value:g}")
    return value


def check_audio(audio: object, *, name: str = "audio") -> np.ndarray:
    """Validate audio shaped (channels, samples); return it as float64 (see the module notes).

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
        Float, or integer PCM (int8, uint8, int16, int32: scaled by full scale to [-1, 1)).

    Returns
    -------
    audio : ndarray [shape=(channels, samples), dtype=float64]
        The input itself when it already is float64 (no copy), else a new array.

    Raises
    ------
    ParameterError
        Not 2-D, empty, shaped like ``(samples, channels)`` (message: pass ``x.T``), a dtype
        with no audio meaning, or NaN/Inf samples.

    Examples
    --------
    >>> check_audio(np.array([[0, 16384, -32768]], dtype=np.int16))
    array([[ 0. ,  0.5, -1. ]])
    """
    if not isinstance(audio, np.ndarray):
        try:
            audio = np.asarray(audio)
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"{name} must be an array shaped (channels, samples): {exc}") from None
    if audio.ndim != 2:
        hint = " (for mono pass x[None, :])" if audio.ndim == 1 else ""
        raise ParameterError(f"{name} must be shaped (channels, samples), got {audio.ndim}-D {audio.shape}{hint}")
    rows, cols = audio.shape
    if rows < 1 or cols < 1:
        raise ParameterError(f"{name} is empty: shape {audio.shape}")
    if cols <= MAX_GUESSED_CHANNELS and rows > _TRANSPOSED_MIN_ROWS:
        raise ParameterError(f"{name} is shaped {audio.shape}: that looks like (samples, channels), as soundfile.read "
                             f"returns it; semeq wants (channels, samples), time last: pass x.T")
    dtype = audio.dtype
    if dtype in _PCM_SCALE:
        offset, scale = _PCM_SCALE[dtype]
        out = audio.astype(np.float64)
        if offset:
            out -= offset
        out /= scale
        return out
    if dtype.kind == "f":
        out = audio.astype(np.float64, copy=False)
    elif dtype.kind in "iu":
        raise ParameterError(f"{name} has dtype {dtype}: integer audio must be PCM (int8, uint8, int16 or int32, "
                             "scaled by its full scale); convert other integers to float in [-1, 1] yourself")
    else:
        raise ParameterError(f"{name} must hold real samples (float, or int16/int32 PCM), got dtype {dtype}")
    # A chunked check keeps the temporary boolean mask small on long recordings.
    flat = out.reshape(-1) if out.flags.c_contiguous else None
    if flat is not None:
        step = 1 << 20
        for start in range(0, flat.size, step):
            if not np.isfinite(flat[start : start + step]).all():
                raise ParameterError(f"{name} holds NaN or Inf samples")
    elif not np.isfinite(out).all():
        raise ParameterError(f"{name} holds NaN or Inf samples")
    return out
