"""Stateful block filtering with click-free parameter changes."""

from __future__ import annotations

import numpy as np
from scipy.signal import sosfilt

from ..errors import ParameterError
from .biquad import EQLike, _as_cascade, _check_sample_rate, design_sos

__all__ = ["StreamingEQ"]

try:  # scipy's in-place kernel behind sosfilt: the same arithmetic without ~15 us of checks per call
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - a scipy that moved it
    _sosfilt_kernel = None


def _filter_inplace(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> None:
    """Filter ``x`` (channels, n) float64 C-contiguous in place; ``zi`` (channels, sections, 2) too."""
    if _sosfilt_kernel is not None:
        _sosfilt_kernel(sos, x, zi)
        return
    y, zf = sosfilt(sos, x, axis=-1, zi=zi.transpose(1, 0, 2))  # public layout (sections, channels, 2)
    x[...] = y
    zi[...] = zf.transpose(1, 0, 2)


class StreamingEQ:
    """Per-channel EQ over blocks of any size, identical to :func:`apply_eq` while the EQ is constant.

    A parameter change cross-fades from the old filter to the new one over ``crossfade_ms``
    with a raised-cosine ramp. The new filter starts from the old one's state, so both are
    already ringing in step and the fade carries no start-up transient. A change that arrives
    during a fade waits for it to end; only the latest waiting change is kept.

    Parameters
    ----------
    sample_rate : float
    channels : int >= 1
    params : EQParams or sequence of EQParams
        A sequence is a cascade; changes must keep the cascade's length.
    crossfade_ms : float >= 0
        Fade length; 0 switches coefficients at once (clicks; for tests and comparison).

    Examples
    --------
    >>> from semeq import EQParams
    >>> eq = StreamingEQ(44100, 2, EQParams(peak1_gain_db=6.0))
    >>> eq.process(np.zeros((2, 512))).shape
    (2, 512)
    """

    def __init__(self, sample_rate: float, channels: int, params: EQLike, *, crossfade_ms: float = 10.0):
        self.sample_rate = _check_sample_rate(sample_rate)
        if int(channels) != channels or channels < 1:
            raise ParameterError(f"channels must be a positive integer, got {channels!r}")
        if not crossfade_ms >= 0.0:
            raise ParameterError(f"crossfade_ms must be >= 0, got {crossfade_ms!r}")
        self.channels = int(channels)
        self.crossfade_ms = float(crossfade_ms)
        self._n_fade = max(int(round(self.crossfade_ms * 1e-3 * self.sample_rate)), 0)
        # Raised-cosine weight of the new filter at fade samples 1..n_fade, from 0 towards 1.
        self._fade_w = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, self._n_fade + 1) / max(self._n_fade, 1))
        cascade = _as_cascade(params)
        self._n_eq = len(cascade)
        self._params = params
        self._sos = design_sos(cascade, self.sample_rate)
        self._zi = np.zeros((self.channels, self._sos.shape[0], 2))  # the kernel's layout
        # Fade state: the filter being faded in, its state, and samples done.
        self._next_sos: np.ndarray | None = None
        self._next_params: EQLike | None = None
        self._next_zi: np.ndarray | None = None
        self._fade_pos = 0
        self._pending: tuple[np.ndarray, EQLike | None] | None = None  # (sos, params)

    @property
    def params(self) -> EQLike | None:
        """The EQ being faded to, or in use when no fade runs (None after :meth:`set_sos`)."""
        if self._pending is not None:
            return self._pending[1]
        if self._next_sos is not None:
            return self._next_params
        return self._params

    @property
    def fading(self) -> bool:
        """True while a cross-fade runs or a change waits for one to end."""
        return self._next_sos is not None or self._pending is not None

    def set_params(self, params: EQLike) -> None:
        """Change the EQ; the change is cross-faded in over the next ``crossfade_ms``."""
        cascade = _as_cascade(params)
        if len(cascade) != self._n_eq:
            raise ParameterError(f"this StreamingEQ runs a cascade of {self._n_eq} EQs, got {len(cascade)}")
        self._change(design_sos(params, self.sample_rate), params)

    def set_sos(self, sos: np.ndarray) -> None:
        """Change to already designed sections, cross-faded like :meth:`set_params`.

        The fast path for frequent small updates (the adaptive streaming engine designs its
        own sections from smoothed parameters). ``sos`` must have the current shape
        ``(5 * n_eq, 6)``; :attr:`params` reads None afterwards.
        """
        sos = np.ascontiguousarray(sos, dtype=np.float64)
        if sos.shape != self._sos.shape:
            raise ParameterError(f"sos must be shaped {self._sos.shape}, got {sos.shape}")
        self._change(sos, None)

    def _change(self, sos: np.ndarray, params: EQLike | None) -> None:
        if self._next_sos is not None:
            self._pending = (sos, params)
            return
        self._start(sos, params)

    def _start(self, sos: np.ndarray, params: EQLike | None) -> None:
        if self._n_fade == 0:
            self._sos, self._params = sos, params
            return
        self._next_sos, self._next_params = sos, params
        self._next_zi = self._zi.copy()
        self._fade_pos = 0

    def reset(self) -> None:
        """Clear the filter state (silence in the past); a fade in progress completes at once."""
        if self._next_sos is not None:
            self._sos, self._params = self._next_sos, self._next_params
        if self._pending is not None:
            self._sos, self._params = self._pending
        self._next_sos = self._next_params = self._next_zi = self._pending = None
        self._zi = np.zeros_like(self._zi)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Filter one block shaped (channels, n), any n >= 0; returns a new float64 array."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ParameterError(f"block must be shaped ({self.channels}, n), got {block.shape}")
        if not np.issubdtype(block.dtype, np.floating) and not np.issubdtype(block.dtype, np.integer):
            raise ParameterError(f"block must hold real numbers, got dtype {block.dtype}")
        out = np.array(block, dtype=np.float64, order="C")  # a new array, filtered in place
        start = 0
        n = block.shape[1]
        while start < n:
            if self._next_sos is None:
                if start == 0:
                    _filter_inplace(self._sos, out, self._zi)
                else:  # the kernel needs C-contiguous rows
                    rest = out[:, start:].copy()
                    _filter_inplace(self._sos, rest, self._zi)
                    out[:, start:] = rest
                break
            n_seg = min(n - start, self._n_fade - self._fade_pos)
            old = out[:, start : start + n_seg].copy()
            new = old.copy()
            _filter_inplace(self._sos, old, self._zi)
            _filter_inplace(self._next_sos, new, self._next_zi)
            w = self._fade_w[self._fade_pos : self._fade_pos + n_seg]
            out[:, start : start + n_seg] = old + w * (new - old)
            self._fade_pos += n_seg
            start += n_seg
            if self._fade_pos >= self._n_fade:
                self._sos, self._params, self._zi = self._next_sos, self._next_params, self._next_zi
                self._next_sos = self._next_params = self._next_zi = None
                if self._pending is not None:
                    pending, self._pending = self._pending, None
                    self._start(*pending)
        return out
