"""Loudness (ITU-R BS.1770), true peak, and the level statistics the CLI reports.

Everything here is measured block by block with carried state (:class:`LevelMeter`), so a
file of any length is measured in constant memory, and the whole-array functions
(:func:`level_stats`, :func:`integrated_loudness`, :func:`true_peak_dbfs`) run the very same
meter over the array. The result does not depend on how the signal is split into blocks: the
file pipeline (:func:`semeq.pipeline.apply_file`) and ``SemanticEQ.apply`` agree bit for bit.

Notes
-----
Integrated loudness follows ITU-R BS.1770-4:

- K-weighting: the two biquads of BS.1770 (high shelf +4 dB at 1.5 kHz, high-pass at 38 Hz),
  designed as pyloudnorm designs them, run as second-order sections with carried state.
- The energy of every 100 ms sub-block (``round(0.1 * sample_rate)`` samples) is kept as it is
  measured; a 400 ms gating block is four consecutive sub-blocks (75 % overlap), so gating
  runs on that list of energies at the end (absolute gate -70 LUFS, relative gate 10 LU below
  the absolutely gated loudness). Channel weights 1.0 (L, R, C) and 1.41 (surrounds of 5.0 and
  5.1; LFE 0). At sample rates that are multiples of 10 Hz the blocks are exactly those of
  pyloudnorm, which it agrees with (tested).
- Audio shorter than one 400 ms block has no gated loudness; semeq then uses the K-weighted
  mean square of the whole signal (the same formula without gating).

True peak follows BS.1770-4 Annex 2: 4x oversampling below 96 kHz, 2x below 192 kHz, none
above, by a polyphase interpolator with carried state. Its filter is the one
``scipy.signal.resample_poly`` designs for that factor (Kaiser window, beta 5, 21 taps per
phase), so it reads what a whole-array ``resample_poly`` reads. A stretch of 256 samples whose
largest sample, times the filter's largest absolute phase gain, cannot pass the peak found so
far is not oversampled; the others are held back (2 MB at most) and oversampled loudest first,
so the peak grows early and prunes the rest. The maximum is the same, exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .dsp.validation import check_sample_rate
from .errors import ParameterError

__all__ = ["LevelStats", "LevelMeter", "TruePeakMeter", "k_weighting_sos", "integrated_loudness", "true_peak_dbfs",
           "level_stats", "match_gain_db", "loudness_match_gain_db", "output_gain"]

_SILENCE_DB = -120.0
_BLOCK_FRAMES = 1 << 16
"""Frames per block when a whole array is measured: bounds the temporaries."""
_TP_SEGMENT = 256
"""True peak: input samples per stretch that is oversampled or skipped as a whole."""
_TP_PENDING_BYTES = 2 << 20
"""True peak: stretches held back before they are oversampled (bounds the meter's memory)."""


def _db(x: float) -> float:
    return float(20.0 * np.log10(x)) if x > 0 else float("-inf")


def _channel_weights(n_channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0 for L, R, C; 1.41 for the surrounds of a 5.0 or 5.1 layout; LFE 0."""
    if n_channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    if n_channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    return np.ones(n_channels)


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The BS.1770 K-weighting filter as second-order sections, shape (2, 6).

    Stage 1: RBJ high shelf, +4 dB at 1500 Hz, Q 1/sqrt(2); stage 2: RBJ high-pass at 38 Hz,
    Q 0.5 (the coefficients pyloudnorm designs at any sample rate).
    """
    rows = []
    for kind, gain_db, q, freq_hz in (("high_shelf", 4.0, 1.0 / math.sqrt(2.0), 1500.0), ("high_pass", 0.0, 0.5, 38.0)):
        a = 10.0 ** (gain_db / 40.0)
        w0 = 2.0 * math.pi * freq_hz / sample_rate
        alpha, cw = math.sin(w0) / (2.0 * q), math.cos(w0)
        if kind == "high_shelf":
            sa = 2.0 * math.sqrt(a) * alpha
            b = (a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw), a * ((a + 1) + (a - 1) * cw - sa))
            den = ((a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa)
        else:
            b = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2)
            den = (1 + alpha, -2 * cw, 1 - alpha)
        rows.append([v / den[0] for v in b] + [1.0, den[1] / den[0], den[2] / den[0]])
    return np.array(rows, dtype=np.float64)


def _oversampling_factor(sample_rate: float) -> int:
    return 4 if sample_rate < 96000 else 2 if sample_rate < 192000 else 1


class TruePeakMeter:
    """Running true peak (BS.1770-4 Annex 2) of blocks of (channels, samples) audio.

    Parameters
    ----------
    sample_rate : float
    channels : int >= 1

    Examples
    --------
    >>> n = np.arange(4800)
    >>> meter = TruePeakMeter(48000, 1)
    >>> meter.update(np.sin(2 * np.pi * n / 4 + np.pi / 4)[None])  # samples at +-0.707
    >>> -0.01 < meter.peak_dbtp() < 0.2  # the sine's 0 dBFS crest, between the samples
    True
    """

    def __init__(self, sample_rate: float, channels: int):
        from scipy.signal import firwin

        self.factor = _oversampling_factor(check_sample_rate(sample_rate))
        self.channels = int(channels)
        self._peak = 0.0
        if self.factor > 1:
            # resample_poly's design for up=factor, down=1: half_len = 10 * factor, cutoff 1/factor.
            half_len = 10 * self.factor
            h = firwin(2 * half_len + 1, 1.0 / self.factor, window=("kaiser", 5.0)) * self.factor
            n_taps = -(-h.size // self.factor) * self.factor  # whole taps per phase
            self._h = np.concatenate([h, np.zeros(n_taps - h.size)])
            self._taps = n_taps // self.factor  # taps per phase
            # |y| <= gain * max|x| over a phase's support: the skip test's bound (with room for rounding).
            self._gain = (1.0 + 1e-9) * max(float(np.abs(self._h[p :: self.factor]).sum()) for p in range(self.factor))
            self._history = np.zeros((self.channels, self._taps - 1))
            self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (bounds, (rows, channels, keep + seg))
            self._pending_bytes = 0
            self._short: list[np.ndarray] = []  # a block's last, shorter stretch: (channels, keep + length)

    def update(self, block: np.ndarray) -> None:
        """Take the next block, shape (channels, samples), float64."""
        peak = float(np.max(np.abs(block))) if block.size else 0.0
        self._peak = max(self._peak, peak)
        if self.factor == 1 or block.shape[1] == 0:
            return
        self._collect(block)

    def finish(self) -> None:
        """Flush the interpolator's tail (the last samples' influence past the end) and the stretches held back."""
        if self.factor > 1:
            self._collect(np.zeros((self.channels, self._taps - 1)))
            self._history[:] = 0.0
            self._flush()

    def peak_dbtp(self) -> float:
        """The true peak so far, dBTP (-inf for silence); call :meth:`finish` first."""
        if self.factor > 1 and (self._pending or self._short):
            self._flush()
        return _db(self._peak)

    def _collect(self, block: np.ndarray) -> None:
        """Keep the stretches of the block whose outputs could pass the peak known so far.

        The outputs after input i use xx[:, i .. i + keep] (i counted in the block): a stretch of
        inputs cannot pass gain * max|x| over itself and the keep samples before it. Stretches
        are held back (up to :data:`_TP_PENDING_BYTES`) and oversampled loudest first, once the
        peak has grown, so most are never oversampled; the maximum is unchanged, exactly.
        """
        keep = self._taps - 1
        xx = np.concatenate([self._history, block], axis=1)  # (channels, keep + n)
        self._history = xx[:, xx.shape[1] - keep :].copy()
        n = block.shape[1]
        seg = _TP_SEGMENT
        n_full = n // seg
        absmax = np.abs(xx).max(axis=0)  # (keep + n,)
        bounds = []
        if n_full:
            body = absmax[keep : keep + n_full * seg].reshape(n_full, seg).max(axis=1)
            # xx[k seg .. k seg + keep): the samples before stretch k (keep <= seg).
            before = absmax[: n_full * seg].reshape(n_full, seg)[:, :keep].max(axis=1) if keep else 0.0
            bounds.append(self._gain * np.maximum(body, before))
        if n > n_full * seg:  # a last, shorter stretch
            bounds.append(np.array([self._gain * float(absmax[n_full * seg :].max())]))
        if not bounds:
            return
        bound = np.concatenate(bounds)
        chosen = np.flatnonzero(bound > self._peak)
        whole = chosen[chosen < n_full]
        if whole.size:
            index = whole[:, None] * seg + np.arange(seg + keep)[None, :]  # (n_chosen, keep + seg)
            rows = np.ascontiguousarray(xx[:, index].transpose(1, 0, 2))  # (n_chosen, channels, keep + seg)
            self._pending.append((bound[whole], rows))
            self._pending_bytes += rows.nbytes
        if chosen.size and chosen[-1] == n_full and n > n_full * seg:
            self._short.append(xx[:, n_full * seg :].copy())  # (channels, keep + length)
        if self._pending_bytes > _TP_PENDING_BYTES:
            self._flush()

    def _flush(self) -> None:
        from scipy.signal import upfirdn

        keep, f, seg = self._taps - 1, self.factor, _TP_SEGMENT
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        short, self._short = self._short, []
        if pending:
            bounds = np.concatenate([b for b, _ in pending])
            rows = np.concatenate([r for _, r in pending], axis=0)  # (n_rows, channels, keep + seg)
            order = np.argsort(-bounds, kind="stable")
            batch = 64
            for i in range(0, order.size, batch):
                take = order[i : i + batch]
                take = take[bounds[take] > self._peak]
                if take.size == 0:
                    break  # loudest first: every later stretch is quieter still
                y = upfirdn(self._h, rows[take].reshape(-1, keep + seg), f, 1, axis=-1)
                self._peak = max(self._peak, float(np.max(np.abs(y[:, keep * f : (keep + seg) * f]))))
        for rows in short:
            y = upfirdn(self._h, rows, f, 1, axis=-1)
            valid = y[:, keep * f : rows.shape[1] * f]  # outputs with a full history
            if valid.size:
                self._peak = max(self._peak, float(np.max(np.abs(valid))))


class LevelMeter:
    """Level statistics of a signal fed block by block, in constant memory.

    The statistics do not depend on how the signal is cut into blocks (bit for bit).

    Parameters
    ----------
    sample_rate : float
    channels : int >= 1
    true_peak : bool
        Measure the true peak (the costliest statistic); without it ``true_peak_dbtp`` is NaN.

    Examples
    --------
    >>> t = np.arange(3 * 48000) / 48000
    >>> meter = LevelMeter(48000, 1)
    >>> for start in range(0, t.size, 1000):
    ...     meter.update(np.sin(2 * np.pi * 997 * t[None, start : start + 1000]))
    >>> abs(meter.result().loudness_lufs - -3.01) < 0.05  # BS.1770: a 0 dBFS 997 Hz sine reads -3.01 LUFS
    True
    """

    def __init__(self, sample_rate: float, channels: int, *, true_peak: bool = True):
        self.sample_rate = check_sample_rate(sample_rate)
        if int(channels) != channels or channels < 1:
            raise ParameterError(f"channels must be a positive integer, got {channels!r}")
        self.channels = int(channels)
        self._step = max(int(round(0.1 * self.sample_rate)), 1)
        self._sos = k_weighting_sos(self.sample_rate)
        self._zi = np.zeros((self._sos.shape[0], self.channels, 2))
        self._tail_x = np.zeros((self.channels, 0))
        self._tail_k = np.zeros((self.channels, 0))
        self._k_energy: list[np.ndarray] = []  # (channels, m) K-weighted sub-block energies
        self._x_energy: list[np.ndarray] = []  # (channels, m) plain sub-block energies
        self._n = 0
        self._tp = TruePeakMeter(self.sample_rate, self.channels) if true_peak else None
        self._peak = 0.0
        self._done: LevelStats | None = None

    @property
    def n_samples(self) -> int:
        return self._n

    def update(self, block: np.ndarray) -> None:
        """Take the next block of audio, shape (channels, samples), float64."""
        from scipy.signal import sosfilt

        if self._done is not None:
            raise RuntimeError("the meter has given its result; make a new one")
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ParameterError(f"expected a block shaped ({self.channels}, samples), got {block.shape}")
        n = block.shape[1]
        if n == 0:
            return
        self._n += n
        self._peak = max(self._peak, float(np.max(np.abs(block))))
        if self._tp is not None:
            self._tp.update(block)
        k, self._zi = sosfilt(self._sos, block, axis=-1, zi=self._zi)
        # Complete the sub-block left over from the last call, then whole sub-blocks, then keep the rest.
        step = self._step
        x_all, k_all = block, k
        if self._tail_x.shape[1]:
            x_all = np.concatenate([self._tail_x, block], axis=1)
            k_all = np.concatenate([self._tail_k, k], axis=1)
        m = x_all.shape[1] // step
        if m:
            for source, energies in ((x_all, self._x_energy), (k_all, self._k_energy)):
                whole = source[:, : m * step].reshape(self.channels, m, step)  # (channels, sub-blocks, step)
                energies.append(np.add.reduce(np.square(whole), axis=-1))
        self._tail_x = x_all[:, m * step :].copy()
        self._tail_k = k_all[:, m * step :].copy()

    def result(self) -> "LevelStats":
        """The statistics of everything fed so far (the meter is then closed)."""
        if self._done is not None:
            return self._done
        if self._tp is not None:
            self._tp.finish()
        n = self._n
        x_e = np.concatenate(self._x_energy, axis=1) if self._x_energy else np.zeros((self.channels, 0))
        k_e = np.concatenate(self._k_energy, axis=1) if self._k_energy else np.zeros((self.channels, 0))
        x_tail = np.add.reduce(np.square(self._tail_x), axis=-1)
        k_tail = np.add.reduce(np.square(self._tail_k), axis=-1)
        if n == 0:
            rms = float("-inf")
        else:
            rms = _db(math.sqrt(float(np.sum(x_e) + np.sum(x_tail)) / (n * self.channels)))
        loudness = _gated_loudness(k_e, k_tail, n, self._step, _channel_weights(self.channels))
        peak = _db(self._peak)
        true_peak = self._tp.peak_dbtp() if self._tp is not None else float("nan")
        self._done = LevelStats(rms_dbfs=rms, peak_dbfs=peak, true_peak_dbtp=true_peak,
                                crest_factor_db=peak - rms if np.isfinite(rms) else 0.0, loudness_lufs=loudness)
        return self._done


def _gated_loudness(energies: np.ndarray, tail: np.ndarray, n: int, step: int, weights: np.ndarray) -> float:
    """BS.1770 gating on 100 ms sub-block energies (channels, m); ``tail`` is the rest's energy."""
    m = energies.shape[1]
    if m < 4:
        # Too short for one gated block: the same formula over the whole signal, ungated.
        if n == 0:
            return float("-inf")
        total = float(weights @ ((energies.sum(axis=1) + tail) / n))
        return -0.691 + 10.0 * math.log10(total) if total > 1e-13 else float("-inf")
    blocks = energies[:, :-3] + energies[:, 1:-2] + energies[:, 2:-1] + energies[:, 3:]  # (channels, m - 3)
    power = weights @ (blocks / (4 * step))
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(power)
    gated = power[block_lufs > -70.0]
    if gated.size == 0:
        return float("-inf")
    relative_gate = -0.691 + 10.0 * np.log10(gated.mean()) - 10.0
    gated = power[(block_lufs > -70.0) & (block_lufs > relative_gate)]
    return float(-0.691 + 10.0 * np.log10(gated.mean()))


@dataclass(frozen=True, kw_only=True)
class LevelStats:
    """Level facts of a signal, as the CLI prints them.

    ``true_peak_dbtp`` is NaN where it was not measured (an input whose ceiling does not matter).
    """

    rms_dbfs: float
    peak_dbfs: float
    true_peak_dbtp: float
    crest_factor_db: float
    loudness_lufs: float

    def shifted(self, gain_db: float) -> "LevelStats":
        """The stats of the same signal after a broadband gain: every level moves by ``gain_db``."""
        return LevelStats(rms_dbfs=self.rms_dbfs + gain_db, peak_dbfs=self.peak_dbfs + gain_db,
                          true_peak_dbtp=self.true_peak_dbtp + gain_db, crest_factor_db=self.crest_factor_db,
                          loudness_lufs=self.loudness_lufs + gain_db)

    def to_dict(self) -> dict[str, float | None]:
        return {k: (None if not np.isfinite(v) else round(v, 3)) for k, v in asdict(self).items()}


def _measure(audio: np.ndarray, sample_rate: float, *, true_peak: bool) -> LevelStats:
    from .dsp.validation import check_audio

    audio = check_audio(audio)
    meter = LevelMeter(sample_rate, audio.shape[0], true_peak=true_peak)
    for start in range(0, audio.shape[1], _BLOCK_FRAMES):
        meter.update(audio[:, start : start + _BLOCK_FRAMES])
    return meter.result()


def level_stats(audio: np.ndarray, sample_rate: float, *, true_peak: bool = True) -> LevelStats:
    """RMS, sample peak, true peak, crest factor and integrated loudness of (channels, samples) audio.

    The same :class:`LevelMeter` as the file pipeline, fed in blocks: temporaries stay small.
    """
    return _measure(audio, sample_rate, true_peak=true_peak)


def integrated_loudness(audio: np.ndarray, sample_rate: float) -> float:
    """Integrated loudness in LUFS of audio shaped (channels, samples); -inf for silence (BS.1770-4).

    Agrees with ``pyloudnorm.Meter.integrated_loudness`` for 1 to 5 channels (tested).
    """
    return _measure(audio, sample_rate, true_peak=False).loudness_lufs


def true_peak_dbfs(audio: np.ndarray, sample_rate: float) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2) of audio shaped (channels, samples)."""
    return _measure(audio, sample_rate, true_peak=True).true_peak_dbtp


def match_gain_db(reference: LevelStats, processed: LevelStats, *, true_peak_ceiling_dbtp: float = -1.0) -> float:
    """Gain in dB that brings ``processed`` to the loudness of ``reference`` without passing the ceiling.

    The gain is the smaller of the loudness-matching gain and the gain that puts the processed
    true peak at ``true_peak_ceiling_dbtp``: a plain gain, never a limiter. Silence gets 0 dB
    (or only the ceiling's cut).
    """
    target, current = reference.loudness_lufs, processed.loudness_lufs
    gain_db = target - current if np.isfinite(target) and np.isfinite(current) else 0.0
    if np.isfinite(processed.true_peak_dbtp):
        gain_db = min(gain_db, true_peak_ceiling_dbtp - processed.true_peak_dbtp)
    return float(gain_db)


def loudness_match_gain_db(reference: np.ndarray, processed: np.ndarray, sample_rate: float, *,
                           true_peak_ceiling_dbtp: float = -1.0) -> float:
    """:func:`match_gain_db` measured on two signals (the reference's true peak is not needed)."""
    return match_gain_db(level_stats(reference, sample_rate, true_peak=False), level_stats(processed, sample_rate),
                         true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)


def output_gain(stats_in: "LevelStats", stats_eq: "LevelStats", *, loudness_match: bool = True,
                true_peak_ceiling_dbtp: float = -1.0) -> tuple[float, list[str]]:
    """The gain (dB) applied after the EQ, and notes on what limited it.

    With ``loudness_match`` the output is brought to the input's loudness, lowered further if
    its true peak would pass the ceiling; without it the EQ's level is kept, lowered only as
    far as the ceiling needs. A plain gain, never a limiter.
    """
    notes: list[str] = []
    if loudness_match:
        gain_db = match_gain_db(stats_in, stats_eq, true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)
        if gain_db < stats_in.loudness_lufs - stats_eq.loudness_lufs - 0.01:
            notes.append(f"true-peak ceiling {true_peak_ceiling_dbtp:g} dBTP: the output is "
                         f"{stats_in.loudness_lufs - stats_eq.loudness_lufs - gain_db:.1f} dB below the input's loudness")
    else:
        gain_db = min(0.0, true_peak_ceiling_dbtp - stats_eq.true_peak_dbtp)
        if gain_db < 0.0:
            notes.append(f"true peak {stats_eq.true_peak_dbtp:+.1f} dBTP: lowered by {-gain_db:.1f} dB to the "
                         f"{true_peak_ceiling_dbtp:g} dBTP ceiling")
    return float(gain_db), notes
