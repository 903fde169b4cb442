"""Loudness (ITU-R BS.1770), true peak, and the level statistics the CLI reports.

Notes
-----
Integrated loudness follows ITU-R BS.1770-4 (K-weighting filters from pyloudnorm, 400 ms
gated blocks, any channel count). Audio shorter than one 400 ms block has no gated loudness; there semeq uses the
K-weighted mean square of the whole signal (the same formula without gating), documented here
and reported as such. True peak follows BS.1770-4 Annex 2: 4x oversampling below 96 kHz, 2x
below 192 kHz, none above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import resample_poly

__all__ = ["LevelStats", "integrated_loudness", "true_peak_dbfs", "level_stats", "match_gain_db", "loudness_match_gain_db"]

_SILENCE_DB = -120.0
_CHUNK = 1 << 18


def _db(x: float) -> float:
    return float(20.0 * np.log10(x)) if x > 0 else float("-inf")


def _channel_weights(n_channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0 for L, R, C; 1.41 for the surrounds of a 5.0 or 5.1 layout; LFE 0."""
    if n_channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    if n_channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    return np.ones(n_channels)


def _k_weighted(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    import pyloudnorm

    meter = pyloudnorm.Meter(int(sample_rate))
    filtered = audio
    for stage in meter._filters.values():  # high shelf, then high-pass: the K-weighting of BS.1770
        filtered = stage.apply_filter(filtered)  # lfilter along the last (time) axis
    return filtered


def integrated_loudness(audio: np.ndarray, sample_rate: float) -> float:
    """Integrated loudness in LUFS of audio shaped (channels, samples); -inf for silence.

    BS.1770-4: K-weighting (pyloudnorm's filters), 400 ms blocks with 75 % overlap, absolute
    gate at -70 LUFS, relative gate 10 LU below the absolutely gated loudness. Agrees with
    ``pyloudnorm.Meter.integrated_loudness`` for 1 to 5 channels (tested).
    """
    audio = np.asarray(audio, dtype=np.float64)
    weights = _channel_weights(audio.shape[0])
    z = _k_weighted(audio, sample_rate) ** 2  # (channels, samples)
    block, step = int(round(0.4 * sample_rate)), int(round(0.1 * sample_rate))
    if audio.shape[1] < block:
        # Too short for one gated block: the same formula over the whole signal, ungated.
        total = float(weights @ z.mean(axis=1))
        return -0.691 + 10.0 * np.log10(total) if total > 1e-13 else float("-inf")
    csum = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(z, axis=1)], axis=1)
    starts = np.arange(0, audio.shape[1] - block + 1, step)
    block_ms = (csum[:, starts + block] - csum[:, starts]) / block  # (channels, n_blocks)
    power = weights @ block_ms
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(power)
    gated = power[block_lufs > -70.0]
    if gated.size == 0:
        return float("-inf")
    relative_gate = -0.691 + 10.0 * np.log10(gated.mean()) - 10.0
    gated = power[(block_lufs > -70.0) & (block_lufs > relative_gate)]
    return float(-0.691 + 10.0 * np.log10(gated.mean()))


def true_peak_dbfs(audio: np.ndarray, sample_rate: float) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2), computed in chunks to bound memory."""
    audio = np.asarray(audio, dtype=np.float64)
    factor = 4 if sample_rate < 96000 else 2 if sample_rate < 192000 else 1
    if factor == 1:
        return _db(float(np.max(np.abs(audio))))
    pad = 64
    peak = float(np.max(np.abs(audio)))
    n = audio.shape[1]
    for start in range(0, n, _CHUNK):
        lo, hi = max(0, start - pad), min(n, start + _CHUNK + pad)
        up = resample_poly(audio[:, lo:hi], factor, 1, axis=-1)
        a, b = (start - lo) * factor, (min(n, start + _CHUNK) - lo) * factor
        peak = max(peak, float(np.max(np.abs(up[:, a:b]))))
    return _db(peak)


@dataclass(frozen=True, kw_only=True)
class LevelStats:
    """Level facts of a signal, as the CLI prints them."""

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


def level_stats(audio: np.ndarray, sample_rate: float) -> LevelStats:
    """RMS, sample peak, true peak, crest factor and integrated loudness."""
    audio = np.asarray(audio, dtype=np.float64)
    rms = _db(float(np.sqrt(np.mean(audio**2))))
    peak = _db(float(np.max(np.abs(audio))))
    return LevelStats(rms_dbfs=rms, peak_dbfs=peak, true_peak_dbtp=true_peak_dbfs(audio, sample_rate),
                      crest_factor_db=peak - rms if np.isfinite(rms) else 0.0,
                      loudness_lufs=integrated_loudness(audio, sample_rate))


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
    """:func:`match_gain_db` measured on two signals."""
    return match_gain_db(level_stats(reference, sample_rate), level_stats(processed, sample_rate),
                         true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)
