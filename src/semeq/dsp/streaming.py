"""Stateful block filtering with click-free parameter changes, and a sliding short-time spectrum."""

from __future__ import annotations

import numpy as np
from scipy.signal import sosfilt

from ..errors import ParameterError
from .biquad import EQLike, _as_cascade, _check_sample_rate, design_sos

__all__ = ["StreamingEQ", "SlidingSpectrum"]

try:  # scipy's in-place kernel behind sosfilt: the same arithmetic without ~15 us of checks per call
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - a scipy that moved it
    _sosfilt_kernel = None


def filter_inplace(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> None:
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

    @property
    def n_eq(self) -> int:
        """Number of 5-band EQs in the cascade (sections / 5)."""
        return self._sos.shape[0] // 5

    def grow(self, n_eq: int) -> None:
        """Append identity sections (silent state) so the cascade holds ``n_eq`` EQs.

        An identity section from zero state passes its input unchanged, so the output is
        exactly what it was; later :meth:`set_sos` calls take the new shape ``(5 * n_eq, 6)``.
        """
        extra = 5 * int(n_eq) - self._sos.shape[0]
        if extra < 0:
            raise ParameterError(f"grow() cannot shrink a cascade of {self.n_eq} EQs to {n_eq}")
        if extra == 0:
            return
        identity = np.zeros((extra, 6))
        identity[:, 0] = identity[:, 3] = 1.0

        def widen(sos: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.concatenate([sos, identity]))

        def widen_zi(zi: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.concatenate([zi, np.zeros((self.channels, extra, 2))], axis=1))

        self._sos, self._zi = widen(self._sos), widen_zi(self._zi)
        if self._next_sos is not None:
            self._next_sos, self._next_zi = widen(self._next_sos), widen_zi(self._next_zi)
        if self._pending is not None:
            self._pending = (widen(self._pending[0]), None)
        self._params = self._next_params = None
        self._n_eq = int(n_eq)

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
        return self.process_unchecked(block)

    def process_unchecked(self, block: np.ndarray) -> np.ndarray:
        """:meth:`process` without the checks: ``block`` is a real (channels, n) array."""
        out = np.array(block, dtype=np.float64, order="C")  # a new array, filtered in place
        start = 0
        n = block.shape[1]
        while start < n:
            if self._next_sos is None:
                if start == 0:
                    filter_inplace(self._sos, out, self._zi)
                else:  # the kernel needs C-contiguous rows
                    rest = out[:, start:].copy()
                    filter_inplace(self._sos, rest, self._zi)
                    out[:, start:] = rest
                break
            n_seg = min(n - start, self._n_fade - self._fade_pos)
            old = out[:, start : start + n_seg].copy()
            new = old.copy()
            filter_inplace(self._sos, old, self._zi)
            filter_inplace(self._next_sos, new, self._next_zi)
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




class SlidingSpectrum:
    """Short-time power spectra of the recent past of a stream, each frame computed once.

    The stream is cut into Hann frames of ``n_fft`` samples every ``hop`` samples on an absolute
    grid (frame ``j`` covers samples ``[origin + j * hop, origin + j * hop + n_fft)``). :meth:`update` transforms
    only the frames completed since the last call; a ring keeps, for the frames that lie inside
    the last ``window_len`` samples, the channel-mixed power ``|X|^2`` (the mean over channels,
    so mono and identical stereo agree), the frame's mean-square power in ``band_hz`` (for the
    activity rule of :func:`semeq.analysis.active_frames`).

    Parameters
    ----------
    sample_rate : float
    channels : int >= 1
    window_len : int
        Samples of the window the frames are kept for (at least ``n_fft``).
    n_fft, hop : int
        Frame length and hop in samples.
    band_hz : (float, float)
        Band of the per-frame activity power.
    origin : int in [0, hop)
        Where the frame grid starts: ``(-window_len) % hop`` puts a frame at the start of every
        window that ends on a multiple of ``hop``.

    Notes
    -----
    The power of frame ``j`` is the mean over channels of ``|rfft(hann * x_j)|^2`` (periodic
    Hann). :meth:`window_psd` turns the mean over active frames into a one-sided power spectral
    density with the scaling of ``scipy.signal.welch(..., scaling="density")``.
    """

    def __init__(self, sample_rate: float, channels: int, window_len: int, *, n_fft: int = 1024, hop: int = 512,
                 band_hz: tuple[float, float] = (100.0, 10000.0), origin: int = 0):
        self.sample_rate = float(sample_rate)
        self.origin = int(origin) % int(hop)
        self.channels = int(channels)
        self.n_fft, self.hop = int(n_fft), int(hop)
        self.window_len = max(int(window_len), self.n_fft)
        self.capacity = 1 + (self.window_len - self.n_fft) // self.hop  # frames inside one window
        self.freqs_hz = np.fft.rfftfreq(self.n_fft, 1.0 / self.sample_rate)
        self.window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(self.n_fft) / self.n_fft)  # periodic Hann
        n_bins = self.freqs_hz.size
        band = (self.freqs_hz >= band_hz[0]) & (self.freqs_hz <= band_hz[1])
        # Mean-square signal power in the band from |X|^2 (Parseval, Hann power gain removed).
        self._band_weights = np.where(band, 2.0 / (self.n_fft * float(np.sum(self.window**2))), 0.0)
        self._psd_scale = np.full(n_bins, 2.0 / (self.sample_rate * float(np.sum(self.window**2))))
        self._psd_scale[0] /= 2.0
        if self.n_fft % 2 == 0:
            self._psd_scale[-1] /= 2.0
        self.power = np.zeros((self.capacity, n_bins))
        self.band_power = np.zeros(self.capacity)
        self.reset()

    def reset(self) -> None:
        """Forget every frame (a new stream starts at sample 0)."""
        self.n_done = 0  # frames 0 .. n_done-1 have been computed (or skipped as too old)
        self.first = 0  # oldest frame of the current window
        self.n_frames = 0  # frames of the current window held: first .. first + n_frames - 1
        self._window_slots = np.zeros(0, dtype=np.intp)  # their ring slots, oldest first

    def frames_needed(self, pos: int) -> tuple[int, int]:
        """Absolute frames ``[start, stop)`` that :meth:`update` at stream position ``pos`` computes.

        Their samples are ``[origin + start * hop, origin + (stop - 1) * hop + n_fft)``.
        """
        pos = pos - self.origin
        stop = max((pos - self.n_fft) // self.hop + 1, 0)  # frames complete by pos
        first = max(-(-(pos - self.window_len) // self.hop), 0)  # first frame starting inside the window
        return max(self.n_done, first), stop

    def update(self, pos: int, audio: np.ndarray, start: int) -> int:
        """Transform the frames completed by stream position ``pos``; returns how many were new.

        Parameters
        ----------
        pos : int
            Samples of the stream so far.
        audio : ndarray [shape=(channels, n)]
            Samples ``[origin + start * hop, origin + start * hop + n)`` of the stream, covering the frames
            :meth:`frames_needed` names (``start`` is its first value).
        start : int
            First frame to compute.
        """
        first_needed, stop = self.frames_needed(pos)
        if start != first_needed:
            raise ParameterError(f"update() expects frames from {first_needed}, got {start}")
        first = max(-(-(pos - self.origin - self.window_len) // self.hop), 0)
        n_new = max(stop - start, 0)
        if n_new:
            audio = np.ascontiguousarray(audio)
            step = audio.strides[-1]
            frames = np.lib.stride_tricks.as_strided(  # (channels, n_new, n_fft), a read-only view
                audio, (audio.shape[0], n_new, self.n_fft), (audio.strides[0], self.hop * step, step), writeable=False)
            spec = np.fft.rfft(frames * self.window, axis=-1)  # (channels, n_new, n_bins)
            power = (spec.real**2 + spec.imag**2).mean(axis=0)  # (n_new, n_bins), mixed by power
            slots = np.arange(start, stop) % self.capacity
            self.power[slots] = power
            self.band_power[slots] = power @ self._band_weights
        self.n_done = max(stop, self.n_done)
        self.first = first
        self.n_frames = max(stop - first, 0)
        self._window_slots = np.arange(self.first, self.first + self.n_frames) % self.capacity
        return n_new

    def _slots(self) -> np.ndarray:
        return self._window_slots

    def active(self, floor: float, relative: float) -> np.ndarray:
        """Which frames of the window (oldest first) are active: band power above ``floor`` and
        above ``relative`` times the loudest frame's. Shape (n_frames,), bool."""
        band = self.band_power[self._slots()]
        if band.size == 0:
            return np.zeros(0, dtype=bool)
        return (band > floor) & (band > relative * band.max())

    def window_psd(self, active: np.ndarray) -> np.ndarray:
        """One-sided PSD (power per Hz, channel mean) averaged over the ``active`` frames of the window.

        Returns
        -------
        psd : ndarray [shape=(n_fft // 2 + 1,)]
            All zeros when no frame is active.
        """
        n_active = int(np.count_nonzero(active))
        if n_active == 0:
            return np.zeros(self.freqs_hz.size)
        weights = np.zeros(self.capacity)
        weights[self._slots()[active]] = 1.0 / n_active
        return (weights @ self.power) * self._psd_scale  # (capacity,) @ (capacity, n_bins)
