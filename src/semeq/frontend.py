"""The analysis front end, declared once: one STFT pass for activity, mel frames and balance.

Every analysis in semeq runs at :data:`SAMPLE_RATE` on frames of :data:`N_FFT` samples, Hann
window, hop :data:`HOP`; the audio encoder looks at :data:`WINDOW_S`-second windows; activity and
level normalisation use the band :data:`BAND_HZ`. These constants are named here and nowhere
else (the checkpoint's mel configuration is checked against them when the encoder loads).

One pass of :func:`stft_power` over a window gives

* the **activity mask** (:func:`frame_band_power`, :func:`activity_mask`): a frame is active
  when its mean-square power in ``BAND_HZ`` is above -100 dB re full scale and within 60 dB
  of the loudest frame;
* the **mel frames**, the CNN's input (:class:`LogMel`);
* and, accumulated, the long-term power spectrum (:class:`SpectrumAccumulator`).

The long-term spectrum itself is a Welch average over :data:`LTAS_N_FFT`-point segments: the
1024-point frames cannot resolve the third-octave bands below about 200 Hz (measured on the
twelve development clips, a 1024-point average differs from the 4096-point one by up to 20 dB
at 20-60 Hz and up to 6 dB at 100-150 Hz), so it keeps its own segment length; the
accumulator computes both from the same blocks in one pass over the audio.

NumPy and ``scipy.fft`` only (``scipy.fft`` runs float32 transforms natively; numpy's are
float64 inside). No torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import ParameterError

__all__ = [
    "SAMPLE_RATE",
    "N_FFT",
    "HOP",
    "WINDOW_S",
    "WINDOW_SAMPLES",
    "BAND_HZ",
    "in_band",
    "LTAS_N_FFT",
    "FRAME_FLOOR",
    "FRAME_RANGE",
    "MelConfig",
    "mel_filterbank",
    "hann_window",
    "stft_power",
    "frame_band_power",
    "audio_band_power",
    "activity_mask",
    "LogMel",
    "SpectrumAccumulator",
    "welch_psd",
]

SAMPLE_RATE = 44100.0
"""Rate every analysis runs at (audio is resampled to it)."""
N_FFT = 1024
"""STFT frame length in samples (23.2 ms at 44.1 kHz)."""
HOP = 512
"""STFT hop in samples (half a frame)."""
WINDOW_S = 2.0
"""Length of the audio encoder's analysis window, in seconds."""
WINDOW_SAMPLES = int(round(WINDOW_S * SAMPLE_RATE))
"""The analysis window in samples at :data:`SAMPLE_RATE` (88200)."""
BAND_HZ = (100.0, 10000.0)
"""Band of the activity test, of level normalisation and of every change size (100 Hz-10 kHz)."""


def in_band(freqs_hz: np.ndarray, band_hz: tuple[float, float] = BAND_HZ) -> np.ndarray:
    """Which of ``freqs_hz`` lie in ``band_hz`` (both ends included): the one definition of the level band's mask."""
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    return (freqs_hz >= band_hz[0]) & (freqs_hz <= band_hz[1])
LTAS_N_FFT = 4096
"""Welch segment length of the long-term spectrum (hop half of it)."""
FRAME_FLOOR = 1e-10
"""Mean-square band power of an active frame: above -100 dB re full scale..."""
FRAME_RANGE = 1e-6
"""...and within 60 dB of the loudest frame."""


@dataclass(frozen=True, kw_only=True)
class MelConfig:
    """Mel front-end settings, stored in the encoder checkpoint."""

    sample_rate: float = SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP
    n_mels: int = 64
    f_min_hz: float = 20.0
    f_max_hz: float = 20000.0
    floor_db: float = -80.0
    """Power floor relative to the window's mean mel power (keeps log finite, level-free)."""

    def __post_init__(self) -> None:
        if self.n_fft < 16 or self.n_fft & (self.n_fft - 1):
            raise ParameterError(f"n_fft must be a power of two >= 16, got {self.n_fft}")
        if not 0 < self.hop_length <= self.n_fft:
            raise ParameterError(f"hop_length must be in [1, n_fft={self.n_fft}], got {self.hop_length}")
        if not 0 <= self.f_min_hz < self.f_max_hz <= self.sample_rate / 2:
            raise ParameterError(f"need 0 <= f_min_hz < f_max_hz <= sample_rate/2, got {self.f_min_hz}, {self.f_max_hz}")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)


def _hz_to_mel(freq_hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(freq_hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Triangular HTK-mel filterbank.

    Returns
    -------
    weights : ndarray [shape=(n_bins, n_mels)]
        Area-normalised triangles (each column sums to 1 over the FFT bins), so a mel band holds
        the mean power density of its bins and a white spectrum is flat across bands.
    centres_hz : ndarray [shape=(n_mels,)]
    """
    bins_hz = np.arange(config.n_bins) * config.sample_rate / config.n_fft
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(config.f_min_hz), _hz_to_mel(config.f_max_hz), config.n_mels + 2))
    lower, centre, upper = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    rising = (bins_hz[:, None] - lower) / (centre - lower)  # (n_bins, n_mels)
    falling = (upper - bins_hz[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Narrow low bands can fall between FFT bins: give each at least its nearest bin.
    empty = weights.sum(axis=0) <= 0
    for m in np.flatnonzero(empty):
        weights[np.argmin(np.abs(bins_hz - centre[m])), m] = 1.0
    weights /= weights.sum(axis=0, keepdims=True)
    return weights, centre


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` samples (scipy's ``get_window("hann", n)``, torch's ``hann_window``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


_WINDOW32 = hann_window(N_FFT).astype(np.float32)
MAX_BLOCK = 1 << 18
"""Samples the accumulator transforms at a time (bounded temporaries for a whole file at once)."""

_BINS_HZ = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_BAND_BINS = np.flatnonzero((_BINS_HZ >= BAND_HZ[0]) & (_BINS_HZ <= BAND_HZ[1]))
_BAND_SLICE = slice(int(_BAND_BINS[0]), int(_BAND_BINS[-1]) + 1)
# Mean-square signal power from the band's |X|^2 (Parseval, Hann power gain removed).
_BAND_SCALE = 2.0 / (N_FFT * float(np.sum(hann_window(N_FFT) ** 2)))


def stft_power(audio: np.ndarray, *, center: bool) -> np.ndarray:
    """STFT power of every channel: Hann :data:`N_FFT`, hop :data:`HOP`, float32.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
        At :data:`SAMPLE_RATE`.
    center : bool
        True: frame ``t`` is centred on sample ``t * HOP`` with zero padding of ``N_FFT / 2`` at
        both ends (``torch.stft(center=True, pad_mode="constant")``, the mel input), giving
        ``1 + samples // HOP`` frames. False: frame ``t`` starts at ``t * HOP``, giving
        ``1 + (samples - N_FFT) // HOP`` frames (one zero-padded frame when shorter); these are
        the centred frames ``1 .. n - 2``.

    Returns
    -------
    power : ndarray [shape=(channels, n_frames, N_FFT // 2 + 1), dtype=float32]
    """
    import scipy.fft

    if center:  # one float32 copy with the zero padding around it
        padded = np.zeros((audio.shape[0], audio.shape[1] + N_FFT), dtype=np.float32)
        padded[:, N_FFT // 2: N_FFT // 2 + audio.shape[1]] = audio
        audio = padded
        n_frames = 1 + (audio.shape[1] - N_FFT) // HOP
    elif audio.shape[1] < N_FFT:
        audio = np.pad(np.asarray(audio, dtype=np.float32), ((0, 0), (0, N_FFT - audio.shape[1])))
        n_frames = 1
    else:
        audio = np.asarray(audio, dtype=np.float32)
        n_frames = 1 + (audio.shape[1] - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT, axis=-1)[:, ::HOP][:, :n_frames]  # a view
    spec = scipy.fft.rfft(frames * _WINDOW32, axis=-1)  # the product is contiguous: (channels, frames, bins)
    return spec.real**2 + spec.imag**2


def frame_band_power(power: np.ndarray) -> np.ndarray:
    """Mean-square signal power in :data:`BAND_HZ` of each frame, averaged over channels.

    Parameters
    ----------
    power : ndarray [shape=(channels, n_frames, n_bins) or (n_frames, n_bins)]
        From :func:`stft_power`, or already mixed over the channels (their mean).

    Returns
    -------
    band_power : ndarray [shape=(n_frames,), dtype=float64]
    """
    band = power[..., _BAND_SLICE].sum(axis=-1, dtype=np.float64)
    return (band.mean(axis=0) if band.ndim == 2 else band) * _BAND_SCALE


def audio_band_power(audio: np.ndarray) -> np.ndarray:
    """:func:`frame_band_power` of every uncentred frame of ``audio`` (channels, samples), computed
    a few thousand frames at a time (bounded memory on long recordings)."""
    n_samples = audio.shape[1]
    if n_samples < N_FFT:
        return frame_band_power(stft_power(audio, center=False))
    n_frames = 1 + (n_samples - N_FFT) // HOP
    chunk = 4096  # frames per transform
    return np.concatenate([frame_band_power(stft_power(audio[:, i * HOP: (min(i + chunk, n_frames) - 1) * HOP + N_FFT],
                                                                center=False))
                           for i in range(0, n_frames, chunk)])


def activity_mask(band_power: np.ndarray, loudest: float | None = None) -> np.ndarray:
    """Active frames: above :data:`FRAME_FLOOR` and within :data:`FRAME_RANGE` of the loudest.

    Parameters
    ----------
    band_power : ndarray [shape=(n_frames,)]
        From :func:`frame_band_power`.
    loudest : float, optional
        The loudest frame's power when it lies outside ``band_power`` (a long recording
        analysed a window at a time); default ``band_power.max()``.
    """
    band_power = np.asarray(band_power, dtype=np.float64)
    if band_power.size == 0:
        return np.zeros(0, dtype=bool)
    loudest = float(band_power.max()) if loudest is None else float(loudest)
    return (band_power > FRAME_FLOOR) & (band_power > FRAME_RANGE * loudest)


class LogMel:
    """STFT power -> level-normalised log-mel frames, the audio encoder's input (numpy).

    The same arithmetic as :class:`semeq.nn.mel.LogMel` (the torch training twin): channels
    mixed by power, each window divided by its mean mel power before the log.

    Parameters
    ----------
    config : MelConfig
        Must use :data:`N_FFT`, :data:`HOP` and :data:`SAMPLE_RATE`, since the activity mask
        shares the STFT.
    """

    def __init__(self, config: MelConfig | None = None) -> None:
        self.config = config or MelConfig()
        c = self.config
        if (c.n_fft, c.hop_length, c.sample_rate) != (N_FFT, HOP, SAMPLE_RATE):
            raise ParameterError(f"the mel front end shares the analysis STFT ({N_FFT}/{HOP} at {SAMPLE_RATE:g} Hz), "
                                 f"got n_fft={c.n_fft}, hop_length={c.hop_length}, sample_rate={c.sample_rate:g}")
        weights, self.centres_hz = mel_filterbank(c)
        self.filterbank = weights.astype(np.float32)  # (n_bins, n_mels)
        self._floor = np.float32(10.0 ** (c.floor_db / 10.0))

    def __call__(self, power: np.ndarray) -> np.ndarray:
        """``power`` (channels, n_frames, n_bins), or its mean over the channels (n_frames, n_bins)
        -> log-mel dB (n_mels, n_frames), float32."""
        mixed = power.mean(axis=0) if power.ndim == 3 else power  # channels mixed by power
        mel = mixed @ self.filterbank  # (n_frames, n_mels)
        ref = max(float(mel.mean(dtype=np.float64)), 1e-30)
        return (10.0 * np.log10(mel.T * np.float32(1.0 / ref) + self._floor)).astype(np.float32, copy=False)


class SpectrumAccumulator:
    """Long-term power spectrum and activity of a recording fed block by block, in constant memory.

    Feed successive blocks of prepared audio (44.1 kHz, any block sizes) to :meth:`update`;
    :meth:`welch_psd` then equals :func:`semeq.analysis.welch_psd` of the whole recording with
    its per-channel mean removed (the mean is removed analytically at the end, so blocks need not
    be centred), and :meth:`band_power` the per-frame band powers of
    :func:`semeq.analysis.active_frames` (the mask does not depend on the mean: a Hann frame
    leaks DC into its two lowest bins only, far below :data:`BAND_HZ`).

    Memory: one segment of carried samples per channel, the running sums, and one float per
    512-sample frame (2.5 MB per hour).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 30000))
    >>> acc = SpectrumAccumulator(2)
    >>> for i in range(0, x.shape[1], 4097):
    ...     acc.update(x[:, i:i + 4097])
    >>> from semeq.analysis import welch_psd
    >>> bool(np.allclose(acc.welch_psd()[1], welch_psd(x - x.mean(axis=1, keepdims=True))[1]))
    True
    """

    def __init__(self, channels: int) -> None:
        if int(channels) != channels or channels < 1:
            raise ParameterError(f"channels must be a positive integer, got {channels!r}")
        self.channels = int(channels)
        self._window = hann_window(LTAS_N_FFT)
        self._window_fft = np.fft.rfft(self._window)  # how a DC offset shows in a segment's FFT
        self._pending = np.zeros((self.channels, 0))
        self._offset = 0  # absolute index of self._pending[:, 0]
        self._next_segment = 0  # absolute start of the next Welch segment
        self._next_frame = 0  # absolute start of the next activity frame
        self._sum = np.zeros(self.channels)  # of the samples, for the mean
        self._n_segments = 0
        self._power_sum = np.zeros((self.channels, LTAS_N_FFT // 2 + 1))  # sum over segments of |X|^2
        self._spec_sum = np.zeros((self.channels, LTAS_N_FFT // 2 + 1), dtype=complex)  # sum of X
        self._band_power: list[np.ndarray] = []

    @property
    def n_samples(self) -> int:
        """Samples fed so far (per channel)."""
        return self._offset + self._pending.shape[1]

    def update(self, block: np.ndarray) -> None:
        """Add the next block [shape=(channels, n)] of 44.1 kHz audio (any n >= 0)."""
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ParameterError(f"block must be shaped ({self.channels}, n), got {block.shape}")
        if not np.all(np.isfinite(block)):
            raise ParameterError("block holds NaN or infinite samples")
        for i in range(0, block.shape[1], MAX_BLOCK):  # bounded temporaries for a whole file at once
            self._update(block[:, i:i + MAX_BLOCK])

    def _update(self, block: np.ndarray) -> None:
        self._sum += block.sum(axis=1)
        self._pending = np.concatenate([self._pending, block], axis=1)
        end = self.n_samples
        half = LTAS_N_FFT // 2
        n_seg = max(0, (end - LTAS_N_FFT - self._next_segment) // half + 1)
        if n_seg:
            start = self._next_segment - self._offset
            view = np.lib.stride_tricks.sliding_window_view(self._pending[:, start:], LTAS_N_FFT, axis=-1)
            spec = np.fft.rfft(view[:, ::half][:, :n_seg] * self._window, axis=-1)  # (channels, n_seg, bins)
            self._power_sum += (spec.real**2 + spec.imag**2).sum(axis=1)
            self._spec_sum += spec.sum(axis=1)
            self._n_segments += n_seg
            self._next_segment += n_seg * half
        n_frames = max(0, (end - N_FFT - self._next_frame) // HOP + 1)
        if n_frames:
            start = self._next_frame - self._offset
            chunk = self._pending[:, start:start + (n_frames - 1) * HOP + N_FFT]
            self._band_power.append(frame_band_power(stft_power(chunk, center=False)))
            self._next_frame += n_frames * HOP
        # Keep only what the next segment and the next frame will need.
        drop = min(self._next_segment, self._next_frame) - self._offset
        if drop > 0:
            self._pending = self._pending[:, drop:]
            self._offset += drop

    def band_power(self) -> np.ndarray:
        """Per-frame band power [shape=(n_frames,)] of all audio so far: :func:`frame_band_power`
        of the frames of :func:`semeq.analysis.active_frames` (one zero-padded frame when the
        recording is shorter than a frame)."""
        if self.n_samples == 0:
            return np.zeros(0)
        if not self._band_power:  # shorter than one frame: everything is still pending
            return frame_band_power(stft_power(self._pending, center=False))
        return np.concatenate(self._band_power)

    def mean(self) -> np.ndarray:
        """Per-channel mean [shape=(channels,)] of all audio so far."""
        return self._sum / max(self.n_samples, 1)

    def welch_psd(self) -> tuple[np.ndarray, np.ndarray]:
        """Channel-averaged Welch PSD of all audio so far with each channel's mean removed.

        Returns
        -------
        freqs_hz : ndarray [shape=(n_bins,)]
        psd : ndarray [shape=(n_bins,)]
            Power per Hz (one-sided), mean over channels.
        """
        if self.n_samples == 0:
            raise ParameterError("no audio has been fed")
        if self._n_segments == 0:  # shorter than one segment: one segment of the whole length
            return _welch(self._pending - self.mean()[:, None], self._pending.shape[1])
        m = self.mean()[:, None]  # (channels, 1)
        w = self._window_fft[None]  # (1, bins)
        # sum_i |X_i - m W|^2 = sum |X_i|^2 - 2 m Re(conj(W) sum X_i) + n m^2 |W|^2
        power = (self._power_sum - 2.0 * m * np.real(np.conj(w) * self._spec_sum)
                 + self._n_segments * m**2 * (w.real**2 + w.imag**2)) / self._n_segments
        return _psd_from_power(power, LTAS_N_FFT, self._window)


def _psd_from_power(power: np.ndarray, n_fft: int, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean |X|^2 per channel -> (freqs, one-sided PSD averaged over channels), scipy's density scaling."""
    psd = power / (SAMPLE_RATE * float(np.sum(window**2)))
    last = -1 if n_fft % 2 == 0 else None  # an even length has a Nyquist bin, not doubled
    psd[..., 1:last] *= 2.0
    return np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE), psd.mean(axis=0)


def _welch(audio: np.ndarray, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (Hann ``n_fft``, hop ``n_fft // 2``, no detrending) of audio (channels, samples)."""
    window = hann_window(n_fft)
    hop = n_fft // 2
    n_seg = 1 + (audio.shape[1] - n_fft) // hop
    segs = np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=-1)[:, ::hop][:, :n_seg]
    power = np.zeros((audio.shape[0], n_fft // 2 + 1))
    for i in range(0, n_seg, 256):  # bounded memory on long recordings
        spec = np.fft.rfft(segs[:, i:i + 256] * window, axis=-1)
        power += (spec.real**2 + spec.imag**2).sum(axis=1)
    return _psd_from_power(power / n_seg, n_fft, window)


def welch_psd(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel-averaged Welch PSD of prepared 44.1 kHz audio: Hann :data:`LTAS_N_FFT` (or the
    whole length when shorter), 50 % overlap, no detrending; ``scipy.signal.welch``'s result."""
    return _welch(audio, min(LTAS_N_FFT, audio.shape[1]))
