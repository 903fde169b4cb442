"""Dynamic semantic EQ: extra change in the word's direction while a region moves away from it.

The static toward change (:mod:`semeq.semantics`, realised as one 5-band EQ) stays the long-term
part. On top of it, up to :data:`MAX_REGIONS` of the five fixed :data:`REGIONS` (lows, low-mids,
mids, presence, highs) that the word acts on get a dynamic gain driven by a fast detector. This
module is numpy and scipy only; the offline paths (:meth:`semeq.SemanticEQ.apply`,
:func:`semeq.pipeline.apply_file`) and the real-time engine
(:class:`semeq.streaming.StreamingAdaptiveEQ`) all run the one block processor,
:class:`DynamicEQ`, with carried state.

Notation: ``w(f)`` the word's own EQ curve (level-free over the held band, as the toward rule
reads it), ``S(f)`` the applied static EQ's response, ``I`` the intensity, ``F_r(z)`` region
``r``'s band filter, ``|F_r|^2`` normalised over the held grid points its weights ``a_r(f)``.

Regions
    Each region's band filter is the low-pass, band-pass or high-pass half of an all-pass
    decomposition (first-order all-pass ``A_1`` for the shelves, second-order ``A_2`` for the
    peaks; Regalia and Mitra 1987, Zoelzer, *DAFX*, 2011, ch. 2): ``F = (1 + A_1) / 2`` (lows),
    ``(1 - A_2) / 2`` (a peak), ``(1 - A_1) / 2`` (highs). The dynamic EQ adds, in parallel,
    ``y = x + sum_r (K_r(t) - 1) F_r(x)`` with ``K_r = 10^(g_r / 20)``. With one region the
    response ``(1 + K) / 2 +- (1 - K) / 2 A(f)`` lies between 0 dB and ``g_r`` dB at every
    frequency, and reaches ``g_r`` at the region's centre (DC, ``f_c``, Nyquist). The filters
    never change: only the gains move, linearly interpolated sample by sample between control
    points every :data:`CONTROL_MS` (0.75 ms), so nothing can click.
Word, static change and cap per region
    ``W_r = sum_f a_r(f) w(f)`` (the word's own EQ in the region, at intensity 1) and
    ``C_r = sum_f a_r(f) S(f)``. A region is used when ``|W_r| >= REGION_MIN_DB``, the
    :data:`MAX_REGIONS` largest at most; its sign is ``s_r = sign(W_r)`` and its cap
    ``cap_r = max(0, B I |W_r| - s_r C_r)`` with ``B = 2`` (:data:`semeq.semantics.BOUND`).
Order
    The dynamic part reads and moves the input; the static EQ follows it (both linear: with
    constant gains the order does not matter, and the detector then hears the recording
    itself, whatever the word's static change does to the rest of the spectrum).
Detector (feed-forward, channels mixed by power, zero latency)
    Per region a 4th-order Butterworth band (``band_hz``: a low-pass, band-pass or high-pass)
    and its power complement, the rest (``|H_band|^2 + |H_rest|^2 = 1``); steeper than the
    gain's own filter, so the mids of a dark mix do not leak into what "highs" reads. ``P_r``,
    ``Q_r``: their mean-square per control period, each through a one-pole RMS smoother of the
    region's ``rms_ms``; the short-term balance is ``b_r = 10 log10(P_r / Q_r)`` (dB,
    level-free). Its reference ``R_r`` is the recording's typical balance: the median of the
    same quantity over its 23 ms frames (:class:`FrameBalance`: the file's analysis pass, or the
    frames of the stream's window), which a flare lasting less than half the time does not
    move. A region moves away from the word by ``d_r = -s_r (b_r - R_r)`` dB.
Gain computer and smoothing
    Target magnitude ``t_r = min(cap_r, (1 - 1 / ratio) knee(d_r - threshold))`` (soft knee of
    ``knee_db``; 0 below the gate), then a branching one-pole smoother in the log domain
    (Giannoulis, Massberg and Reiss, JAES 60(6), 2012): toward a larger magnitude with the
    attack time constant, back toward 0 with the release one. ``g_r = s_r m_r``.
Guarantees
    * ``g_r(t)`` has the sign of the word in region ``r`` or is exactly 0;
    * ``|C_r + g_r(t)| <= B I |W_r|`` at every sample (the static change has the word's sign);
    * intensity 0 (or no region) is an exact bypass: no processor is built, the input is
      returned sample for sample;
    * no clicks: fixed filters, gains continuous and piecewise linear in time, changing by
      at most the attack's share of the cap per control period;
    * offline and streaming run this class; splitting the input into blocks changes nothing
      but the order of float sums (tested at block sizes 1 to 65536).

Where the music reference enters: through the static change. A recording already at the word
keeps the whole ``2 I |W_r|`` for its flares; one far from it has most of that spent by the
static change, and its flares get the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .analysis import GRID_FREQS_HZ
from .dsp.biquad import NYQUIST_FRACTION
from .errors import ParameterError

__all__ = ["Region", "REGIONS", "MAX_REGIONS", "REGION_MIN_DB", "CONTROL_MS", "DynamicSettings", "DynamicPlan",
           "DynamicTrace", "DynamicEQ", "FrameBalance", "plan_dynamic", "region_sos", "region_response",
           "region_weights", "detection_sos", "detection_response", "region_balance_db", "smooth_gain", "knee_curve",
           "render_dynamic"]

CONTROL_MS = 0.75
"""Control period: the detector and the gain computer run once per this many ms (33 samples at
44.1 kHz); gains are interpolated linearly sample by sample in between."""
MAX_REGIONS = 3
"""At most this many regions move at once (the word's strongest)."""
REGION_MIN_DB = 1.0
"""A region is used when the word's own EQ moves it by at least this much (dB, intensity 1)."""
GATE_POWER = 1e-8
"""Below this mean-square (-80 dBFS) of the signal a region's target is 0: silence has no balance."""
CAP_RAMP_MS = 20.0
"""A cap lowered while a stream runs (a new analysis or target) is reached over this time."""
TRACE_STEP_S = 0.01
"""Default spacing of the recorded gain trace (peak-hold: the largest magnitude in each step)."""
MAX_TRACE_POINTS = 1 << 18
"""The trace is halved (pairs merged by peak-hold) when it grows past this: bounded memory."""
_EPS_POWER = 1e-20


@dataclass(frozen=True, kw_only=True)
class Region:
    """One of the fixed frequency regions a dynamic gain can act on."""

    name: str
    kind: Literal["low", "peak", "high"]
    freq_hz: float
    """Corner (shelves) or centre (peaks) frequency."""
    q: float = 1.0
    """Peaks only: centre over -3 dB bandwidth of the band-pass."""
    band_hz: tuple[float, float] = (0.0, math.inf)
    """The detector's band: a 4th-order Butterworth low-pass (lower edge 0), band-pass or high-pass
    (upper edge inf). Steeper than the gain's own filter, so a dark mix's mids do not leak into
    the "highs" a gentle shelf would read."""
    rms_ms: float = 10.0
    """Time constant of the detector's RMS smoother: about a period or two of the region's lowest notes."""


REGIONS: tuple[Region, ...] = (
    Region(name="lows", kind="low", freq_hz=150.0, band_hz=(0.0, 150.0), rms_ms=20.0),
    Region(name="low-mids", kind="peak", freq_hz=350.0, q=1.0, band_hz=(220.0, 570.0), rms_ms=10.0),
    Region(name="mids", kind="peak", freq_hz=1000.0, q=1.0, band_hz=(620.0, 1600.0), rms_ms=10.0),
    Region(name="presence", kind="peak", freq_hz=3200.0, q=1.0, band_hz=(2000.0, 5000.0), rms_ms=10.0),
    Region(name="highs", kind="high", freq_hz=7000.0, band_hz=(6000.0, math.inf), rms_ms=10.0),
)
"""Boom (< 150 Hz), mud (220-570 Hz), box (0.6-1.6 kHz), harshness and glare (2-5 kHz),
sibilance and air (> 6 kHz): the regions mixing engineers name, in frequency order."""
N_REGIONS = len(REGIONS)


@dataclass(frozen=True, kw_only=True)
class DynamicSettings:
    """How fast and how far the dynamic part moves.

    Attributes
    ----------
    attack_ms : float
        Time constant toward a larger change (5 ms: 63 % of the change within 5 ms of a
        cymbal's or an "s"'s onset, plus the detector's 10 ms; FFmpeg's adynamicequalizer
        defaults to 20 ms, by which time a 100 ms sibilant is a fifth over).
    release_ms : float
        Time constant back toward the static EQ (200 ms: FFmpeg's default, and the streaming
        engine's glide; shorter pumps on every drum hit, longer holds the cut into the next note).
    threshold_db : float
        How far (dB) a region must move away from the word, beyond its reference, before any
        extra change (the middle of the knee).
    ratio : float >= 1
        ``1 - 1 / ratio`` of the excess beyond the threshold is taken back, up to the cap.
    knee_db : float >= 0
        Width of the soft knee around the threshold.
    lookahead_ms : float >= 0
        Offline only: the audio is delayed by this much against the detector, so the gain is
        already moving when an event starts (the output is realigned; 0 = zero latency).
    """

    attack_ms: float = 5.0
    release_ms: float = 200.0
    threshold_db: float = 5.0
    ratio: float = 4.0
    knee_db: float = 4.0
    lookahead_ms: float = 0.0

    def __post_init__(self) -> None:
        for name, low, high in (("attack_ms", 0.1, 1000.0), ("release_ms", 1.0, 10000.0), ("threshold_db", -24.0, 24.0),
                                ("ratio", 1.0, 100.0), ("knee_db", 0.0, 24.0), ("lookahead_ms", 0.0, 50.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise ParameterError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
            object.__setattr__(self, name, float(value))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("attack_ms", "release_ms", "threshold_db", "ratio", "knee_db", "lookahead_ms")}


@dataclass(frozen=True, kw_only=True, eq=False)
class DynamicPlan:
    """What the dynamic part does for one recording and request (arrays over :data:`REGIONS`).

    Attributes
    ----------
    sign : ndarray [shape=(5,)], int
        +1 (the word boosts the region), -1 (cuts it), 0 (region not used).
    word_db : ndarray [shape=(5,)]
        ``W_r``: the word's own EQ in each region, intensity 1 (level-free).
    static_db : ndarray [shape=(5,)]
        ``C_r``: the applied static change in each region.
    cap_db : ndarray [shape=(5,)]
        Largest dynamic magnitude: ``max(0, 2 I |W_r| - s_r C_r)`` (0 where unused).
    reference_db : ndarray [shape=(5,)]
        ``R_r``: the recording's typical balance of each region against the rest (dB), which the
        detector compares the short-term balance with.
    intensity : float
    settings : DynamicSettings
    """

    sign: np.ndarray
    word_db: np.ndarray
    static_db: np.ndarray
    cap_db: np.ndarray
    reference_db: np.ndarray
    intensity: float
    settings: DynamicSettings = field(default_factory=DynamicSettings)

    @property
    def active(self) -> np.ndarray:
        """Regions with a dynamic gain (bool, (5,))."""
        return (self.sign != 0) & (self.cap_db > 0.0)

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r, a in zip(REGIONS, self.active) if a)

    def close_to(self, other: "DynamicPlan | None", tolerance_db: float = 0.05) -> bool:
        """Same regions and signs, caps and references within ``tolerance_db``."""
        if other is None:
            return False
        return (np.array_equal(self.sign, other.sign) and self.settings == other.settings
                and float(np.max(np.abs(self.cap_db - other.cap_db))) <= tolerance_db
                and float(np.max(np.abs(np.where(self.sign != 0, self.reference_db - other.reference_db, 0.0))))
                <= tolerance_db)

    def to_dict(self) -> dict:
        regions = []
        for k, region in enumerate(REGIONS):
            if self.sign[k] == 0:
                continue
            regions.append({"region": region.name, "sign": int(self.sign[k]), "word_db": round(float(self.word_db[k]), 2),
                            "static_db": round(float(self.static_db[k]), 2), "cap_db": round(float(self.cap_db[k]), 2),
                            "reference_db": round(float(self.reference_db[k]), 2)})
        return {"regions": regions, "settings": self.settings.to_dict()}


# -- the region filters and their weights --------------------------------------------------------
def _allpass_coefficients(region: Region, sample_rate: float) -> tuple[float, float]:
    """``(c, d)`` of the region's all-pass: first order ``(c + z^-1) / (1 + c z^-1)``; second order
    ``(-c + d (1 - c) z^-1 + z^-2) / (1 + d (1 - c) z^-1 - c z^-2)`` (Zoelzer, DAFX, ch. 2)."""
    f_max = NYQUIST_FRACTION * sample_rate / 2.0
    fc = min(region.freq_hz, f_max)
    if region.kind == "peak":
        bandwidth = min(fc / region.q, f_max)
        t = math.tan(math.pi * bandwidth / sample_rate)
        return (t - 1.0) / (t + 1.0), -math.cos(2.0 * math.pi * fc / sample_rate)
    t = math.tan(math.pi * fc / sample_rate)
    return (t - 1.0) / (t + 1.0), 0.0


def region_sos(sample_rate: float) -> np.ndarray:
    """The band filters ``F_r`` as one second-order section each, shape (5, 6), scipy's layout."""
    rows = []
    for region in REGIONS:
        c, d = _allpass_coefficients(region, float(sample_rate))
        if region.kind == "low":  # (1 + A_1) / 2
            rows.append(((1.0 + c) / 2.0, (1.0 + c) / 2.0, 0.0, 1.0, c, 0.0))
        elif region.kind == "high":  # (1 - A_1) / 2
            rows.append(((1.0 - c) / 2.0, -(1.0 - c) / 2.0, 0.0, 1.0, c, 0.0))
        else:  # (1 - A_2) / 2
            rows.append(((1.0 + c) / 2.0, 0.0, -(1.0 + c) / 2.0, 1.0, d * (1.0 - c), -c))
    return np.array(rows, dtype=np.float64)


def region_response(freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """Complex response ``F_r(f)`` of every region's band filter, shape (5, n_freqs)."""
    sos = region_sos(sample_rate)
    z1 = np.exp(-2j * np.pi * np.asarray(freqs_hz, dtype=np.float64) / float(sample_rate))  # z^-1
    num = sos[:, 0:1] + sos[:, 1:2] * z1 + sos[:, 2:3] * z1**2
    den = sos[:, 3:4] + sos[:, 4:5] * z1 + sos[:, 5:6] * z1**2
    return num / den


def detection_sos(sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The detectors' filters, shape (5, 2, 2, 6): per region the band and the rest (two
    sections each), and which regions have them at this rate (bool, (5,)).

    Band: a 4th-order Butterworth low-pass, high-pass or band-pass on ``band_hz``; rest: its
    power complement (the high-pass, low-pass or band-stop of the same order and edges:
    ``|H_band|^2 + |H_rest|^2 = 1`` at every frequency). A band whose lower edge is not below
    0.45 x the rate has none.
    """
    from scipy.signal import butter

    f_max = 0.45 * float(sample_rate)
    sos = np.zeros((N_REGIONS, 2, 2, 6))
    sos[..., 0] = sos[..., 3] = 1.0
    usable = np.zeros(N_REGIONS, dtype=bool)
    for k, region in enumerate(REGIONS):
        lo, hi = region.band_hz
        if lo >= f_max:
            continue
        usable[k] = True
        if hi >= f_max:
            kinds, edges, order = ("highpass", "lowpass"), lo, 4
        elif lo <= 0.0:
            kinds, edges, order = ("lowpass", "highpass"), hi, 4
        else:
            kinds, edges, order = ("bandpass", "bandstop"), [lo, hi], 2
        for j, kind in enumerate(kinds):
            sos[k, j] = butter(order, edges, kind, fs=sample_rate, output="sos")
    return sos, usable


def detection_response(freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """``|H_r(f)|^2`` of every detector's band filter (0 for a region without one), shape (5, n_freqs)."""
    from scipy.signal import sosfreqz

    sos, usable = detection_sos(sample_rate)
    out = np.zeros((N_REGIONS, np.size(freqs_hz)))
    for k in np.flatnonzero(usable):
        _, h = sosfreqz(sos[k, 0], worN=np.asarray(freqs_hz, dtype=np.float64), fs=sample_rate)
        out[k] = np.abs(h) ** 2
    return np.minimum(out, 1.0)


def region_weights(sample_rate: float, held: np.ndarray) -> np.ndarray:
    """``a_r(f)``: ``|F_r(f)|^2`` over the held grid points, each row summing to 1, shape (5, 60)."""
    inside = GRID_FREQS_HZ < 0.5 * float(sample_rate)
    band = np.where(inside, np.abs(region_response(np.where(inside, GRID_FREQS_HZ, 0.0), sample_rate)) ** 2, 0.0)
    w = np.where(np.asarray(held, dtype=bool), band, 0.0)
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)


def region_balance_db(spectrum_db: np.ndarray, held: np.ndarray, sample_rate: float) -> np.ndarray:
    """Long-term power of each region's detector band against the rest, in dB, from a grid spectrum.

    ``10 log10(sum P(f) |H_r|^2 df / sum P(f) (1 - |H_r|^2) df)`` over the held grid points,
    with ``P`` the power density of ``spectrum_db`` and ``df`` proportional to ``f`` (the grid
    is logarithmic): the long-term value of the detector's ``b_r``. Level-free.
    """
    held = np.asarray(held, dtype=bool) & np.isfinite(spectrum_db)
    inside = GRID_FREQS_HZ < 0.5 * float(sample_rate)
    band = np.where(inside, detection_response(np.where(inside, GRID_FREQS_HZ, 0.0), sample_rate), 0.0)
    rest = np.where(inside, 1.0 - band, 0.0)
    power = np.where(held, 10.0 ** (np.nan_to_num(np.asarray(spectrum_db, dtype=np.float64)) / 10.0), 0.0) * GRID_FREQS_HZ
    return 10.0 * np.log10(np.maximum(band @ power, 1e-300) / np.maximum(rest @ power, 1e-300))


class FrameBalance:
    """The recording's typical balance of each region against the rest: the median over its frames.

    Frames of ``N_FFT = 1024`` samples (periodic Hann, hop 512; at 44.1 kHz 23 ms, a few times
    the detector's time constants), channels mixed by power; frames whose mean-square is below
    :data:`GATE_POWER` are left out. Each active frame's balance
    ``10 log10(sum |X|^2 |H_r|^2 / sum |X|^2 (1 - |H_r|^2))`` goes into a histogram of
    :data:`HIST_STEP_DB` bins, so a file of any length costs constant memory. The median is
    robust to the events the dynamic part is for: a flare lasting less than half the recording
    does not move it (a power mean would: a glare 12 dB up a sixth of the time lifts a band's
    long-term power by 5.5 dB). The streaming engine computes the same statistic from the
    frames of its analysis window (:meth:`add_power`).
    """

    N_FFT = 1024
    HOP = 512
    HIST_RANGE_DB = (-90.0, 50.0)
    HIST_STEP_DB = 0.05

    def __init__(self, sample_rate: float, channels: int):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        freqs = np.fft.rfftfreq(self.N_FFT, 1.0 / self.sample_rate)
        self._band = detection_response(freqs, self.sample_rate)  # (5, n_bins)
        self._rest = 1.0 - self._band
        self._window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(self.N_FFT) / self.N_FFT)
        # Mean-square of a frame from its one-sided power spectrum (Parseval, Hann power removed).
        self._ms_weights = np.full(freqs.size, 2.0 / (self.N_FFT * float(np.sum(self._window**2))))
        self._ms_weights[[0, -1]] /= 2.0
        self._pending = np.zeros((self.channels, 0))
        n_bins = int(round((self.HIST_RANGE_DB[1] - self.HIST_RANGE_DB[0]) / self.HIST_STEP_DB))
        self._counts = np.zeros((N_REGIONS, n_bins), dtype=np.int64)

    @property
    def n_frames(self) -> int:
        """Active frames counted so far."""
        return int(self._counts[0].sum())

    def update(self, block: np.ndarray) -> None:
        """Add the next block (channels, n) of the recording."""
        self._pending = np.concatenate([self._pending, np.asarray(block, dtype=np.float64)], axis=1)
        n_frames = max((self._pending.shape[1] - self.N_FFT) // self.HOP + 1, 0)
        if n_frames == 0:
            return
        a = np.ascontiguousarray(self._pending)
        frames = np.lib.stride_tricks.as_strided(  # (channels, n_frames, n_fft), read-only
            a, (a.shape[0], n_frames, self.N_FFT), (a.strides[0], self.HOP * a.strides[1], a.strides[1]),
            writeable=False)
        spec = np.fft.rfft(frames * self._window, axis=-1)
        self.add_power((spec.real**2 + spec.imag**2).mean(axis=0))  # (n_frames, n_bins), mixed by power
        self._pending = self._pending[:, n_frames * self.HOP :].copy()

    def frame_balances_db(self, power: np.ndarray) -> np.ndarray:
        """Balances (dB) of the active ones among frames given as power spectra (n_frames, n_bins),
        shape (5, n_active)."""
        power = np.atleast_2d(np.asarray(power, dtype=np.float64))
        active = power @ self._ms_weights > GATE_POWER
        power = power[active]
        return 10.0 * np.log10(np.maximum(self._band @ power.T, 1e-300) / np.maximum(self._rest @ power.T, 1e-300))

    def add_power(self, power: np.ndarray) -> None:
        """Count frames given as channel-mixed power spectra ``|rfft(hann x)|^2``, shape (n_frames, n_bins)."""
        balances = self.frame_balances_db(power)
        lo, _ = self.HIST_RANGE_DB
        idx = np.clip(((balances - lo) / self.HIST_STEP_DB).astype(np.int64), 0, self._counts.shape[1] - 1)
        for k in range(N_REGIONS):
            self._counts[k] += np.bincount(idx[k], minlength=self._counts.shape[1])

    def median_db(self) -> np.ndarray | None:
        """The median balance of each region (shape (5,)); None before any active frame."""
        total = self._counts[0].sum()
        if total == 0:
            return None
        cum = np.cumsum(self._counts, axis=1)
        k = np.argmax(cum >= 0.5 * total, axis=1)
        return self.HIST_RANGE_DB[0] + (k + 0.5) * self.HIST_STEP_DB


def plan_dynamic(*, spectrum_db: np.ndarray, held: np.ndarray, word_db: np.ndarray,
                 static_db: np.ndarray, intensity: float, sample_rate: float, typical_db: np.ndarray | None = None,
                 settings: DynamicSettings | None = None) -> DynamicPlan | None:
    """The dynamic part for a recording: regions, signs, caps and references (see the module notes).

    Parameters
    ----------
    spectrum_db : ndarray [shape=(60,)]
        The recording's long-term spectrum on the analysis grid (NaN where not held).
    held : ndarray [shape=(60,)], bool
        Grid points the recording holds (and the reference covers).
    word_db : ndarray [shape=(60,)]
        The word's own EQ curve (its level is removed here, as the toward rule removes it).
    static_db : ndarray [shape=(60,)]
        The applied static EQ's response on the grid (zeros for none).
    intensity : float in [0, 1]
    sample_rate : float
        The processor's sample rate (the region filters' responses depend on it).
    typical_db : ndarray [shape=(5,)], optional
        The recording's typical balance per region before the static EQ (:meth:`FrameBalance.median_db`);
        the static EQ's effect is added from the spectra. Without it the long-term power balance
        of ``spectrum_db`` stands in (which a frequent flare lifts).

    Returns
    -------
    DynamicPlan or None
        None when nothing can move: intensity 0, or no region the word acts on.
    """
    from .semantics import BOUND, level_free

    settings = DynamicSettings() if settings is None else settings
    intensity = float(intensity)
    if intensity <= 0.0:
        return None
    held = np.asarray(held, dtype=bool)
    weights = region_weights(sample_rate, held)  # (5, 60)
    w = level_free(np.asarray(word_db, dtype=np.float64), held)
    word = weights @ w
    static = weights @ np.where(held, np.asarray(static_db, dtype=np.float64), 0.0)
    order = np.argsort(-np.abs(word), kind="stable")[:MAX_REGIONS]
    chosen = np.zeros(N_REGIONS, dtype=bool)
    chosen[order] = np.abs(word[order]) >= REGION_MIN_DB
    chosen &= (weights.sum(axis=1) > 0.0) & detection_sos(sample_rate)[1]  # nothing to act on, or no detector
    sign = np.where(chosen, np.sign(word), 0).astype(np.int64)
    cap = np.where(chosen, np.maximum(BOUND * intensity * np.abs(word) - sign * static, 0.0), 0.0)
    if typical_db is None:  # the long-term power balance stands in for the typical moment
        typical_db = region_balance_db(np.where(held, np.asarray(spectrum_db, dtype=np.float64), np.nan), held, sample_rate)
    reference = np.asarray(typical_db, dtype=np.float64).copy()
    if not np.any((sign != 0) & (cap > 0.0)):
        return None
    return DynamicPlan(sign=sign, word_db=word, static_db=static, cap_db=cap, reference_db=reference,
                       intensity=intensity, settings=settings)


# -- the gain computer and the smoother (pure functions) ------------------------------------------
def knee_curve(over_db: np.ndarray, knee_db: float) -> np.ndarray:
    """Soft knee: 0 below ``-knee/2``, ``(o + knee/2)^2 / (2 knee)`` across it, ``o`` above."""
    o = np.asarray(over_db, dtype=np.float64)
    if knee_db <= 0.0:
        return np.maximum(o, 0.0)
    h = 0.5 * knee_db
    return np.where(o <= -h, 0.0, np.where(o >= h, o, (o + h) ** 2 / (2.0 * knee_db)))


def smooth_gain(targets: np.ndarray, start: float, attack_coef: float, release_coef: float, cap: float = math.inf,
                cap_target: float | None = None, cap_step: float = 0.0) -> tuple[np.ndarray, float]:
    """The branching one-pole smoother of gain magnitudes, one value per control period.

    ``m_k = t_k + (m_{k-1} - t_k) a`` with ``a = attack_coef`` when ``t_k > m_{k-1}`` (the change
    grows) and ``release_coef`` otherwise; targets and results are clamped to the cap, which
    moves toward ``cap_target`` by at most ``cap_step`` per period when that is lower.

    Returns
    -------
    m : ndarray [shape=(n,)]
    cap : float
        The cap reached at the end.
    """
    m = float(start)
    cap_target = cap if cap_target is None else cap_target
    out = np.empty(len(targets))
    for k, t in enumerate(targets.tolist()):
        if cap > cap_target:
            cap = max(cap_target, cap - cap_step)
        if t > cap:
            t = cap
        m = t + (m - t) * (attack_coef if t > m else release_coef)
        if m > cap:
            m = cap
        out[k] = m
    return out, cap


_ONE_POLE_DIRECT = 48  # up to this many steps the closed form beats lfilter's call overhead


def _one_pole_matrices(beta: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(b^(k+1), (1 - b) b^(k-j) [k >= j])`` for ``n`` steps: shapes (regions, n), (regions, n, n)."""
    k = np.arange(n)
    lag = k[:, None] - k[None, :]  # (steps, steps): k - j
    b = beta[:, None, None]
    weights = np.where(lag >= 0, (1.0 - b) * b ** np.maximum(lag, 0), 0.0)
    return beta[:, None] ** (k + 1), weights


def _one_pole(x: np.ndarray, beta: np.ndarray, state: np.ndarray, matrices=None) -> np.ndarray:
    """``y_k = b y_{k-1} + (1 - b) x_k`` along axis 1 for each row (its own ``b`` and ``y_{-1}``).

    A few steps (a stream's frame) in closed form, ``y_k = b^(k+1) y_{-1} + (1 - b) sum_j b^(k-j) x_j``
    (``matrices``: :func:`_one_pole_matrices` for these rows); more (a file's block) through ``lfilter``.
    """
    n = x.shape[1]
    if n <= _ONE_POLE_DIRECT:
        powers, weights = _one_pole_matrices(beta, n) if matrices is None else matrices
        return powers * state[:, None] + np.einsum("rkj,rj->rk", weights, x)
    from scipy.signal import lfilter

    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i], _ = lfilter([1.0 - beta[i]], [1.0, -beta[i]], x[i], zi=[beta[i] * state[i]])
    return out


# -- the block processor --------------------------------------------------------------------------
from .dsp.streaming import filter_inplace as _filter_inplace  # noqa: E402  (the one in-place sosfilt)


@dataclass(frozen=True, kw_only=True, eq=False)
class DynamicTrace:
    """The dynamic gain over time per region (the gain-reduction trace), decimated.

    Attributes
    ----------
    regions : tuple of str
        The regions that moved (those of the plan).
    times_s : ndarray [shape=(n,)]
        Time of each point, in the input's time (the end of its step).
    gain_db : ndarray [shape=(n_regions, n)]
        In each step, the gain of largest magnitude (peak hold), signed.
    min_db, max_db : ndarray [shape=(n_regions,)]
        Range of the gain over the whole run (every control period, not decimated).
    step_s : float
    """

    regions: tuple[str, ...]
    times_s: np.ndarray
    gain_db: np.ndarray
    min_db: np.ndarray
    max_db: np.ndarray
    step_s: float

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {name: (float(lo), float(hi)) for name, lo, hi in zip(self.regions, self.min_db, self.max_db)}

    def to_dict(self, max_points: int = 1000) -> dict:
        n = self.times_s.size
        stride = max(1, -(-n // max_points))
        g = self.gain_db
        if stride > 1:  # peak hold again
            m = (n // stride) * stride
            blocks = g[:, :m].reshape(g.shape[0], -1, stride)
            idx = np.argmax(np.abs(blocks), axis=2)
            g = np.take_along_axis(blocks, idx[..., None], axis=2)[..., 0]
            times = self.times_s[stride - 1 : m : stride]
        else:
            times = self.times_s
        return {"regions": list(self.regions), "step_s": round(self.step_s * stride, 5),
                "range_db": {r: [round(float(lo), 2), round(float(hi), 2)] for r, (lo, hi) in self.ranges().items()},
                "times_s": np.round(times, 3).tolist(), "gain_db": {r: np.round(row, 2).tolist() for r, row in zip(self.regions, g)}}


class DynamicEQ:
    """The dynamic part as a block processor with carried state (offline and streaming alike).

    Parameters
    ----------
    plan : DynamicPlan or None
        None: every gain at 0 dB, the input passes unchanged (a later :meth:`set_plan` starts it).
    sample_rate : float
    channels : int >= 1
    trace_step_s : float or None
        Spacing of the recorded gain trace (peak hold); None records none.

    Notes
    -----
    Output sample ``i`` depends on input samples ``<= i + lookahead``; with ``lookahead_ms = 0``
    (the default, and always in a stream) the latency is 0. With a look-ahead the output is
    delayed by :attr:`latency_samples`; :meth:`flush` returns the held-back tail and
    :func:`render_dynamic` realigns a whole signal.
    """

    def __init__(self, plan: DynamicPlan | None, sample_rate: float, channels: int, *,
                 trace_step_s: float | None = TRACE_STEP_S):
        from .dsp import check_sample_rate

        self.sample_rate = check_sample_rate(sample_rate)
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ParameterError(f"channels must be a positive integer, got {channels!r}")
        self.channels = int(channels)
        self.settings = plan.settings if plan is not None else DynamicSettings()
        self.control_len = max(1, int(round(CONTROL_MS * 1e-3 * self.sample_rate)))
        self.latency_samples = int(round(self.settings.lookahead_ms * 1e-3 * self.sample_rate))
        period_s = self.control_len / self.sample_rate
        self._attack = math.exp(-period_s / (self.settings.attack_ms * 1e-3))
        self._release = math.exp(-period_s / (self.settings.release_ms * 1e-3))
        self._rms = np.array([math.exp(-period_s / (r.rms_ms * 1e-3)) for r in REGIONS])
        self._rho = 1.0 - 1.0 / self.settings.ratio
        self._sos = region_sos(self.sample_rate)
        self._det_sos = detection_sos(self.sample_rate)[0]
        self._pole_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._trace_every = None if trace_step_s is None else max(1, int(round(float(trace_step_s) / period_s)))
        self.plan: DynamicPlan | None = plan
        self.reset()

    # -- control ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the past: filter and detector state, gains at 0 dB, trace emptied. The plan stays."""
        self._zi = np.zeros((N_REGIONS, self.channels, 1, 2))  # the gain's band filters
        self._zi_det = np.zeros((N_REGIONS, 2, self.channels, 2, 2))  # the detectors' filters: band, rest
        self._p = np.zeros(N_REGIONS)  # RMS smoother states: band
        self._q = np.zeros(N_REGIONS)  # and rest
        self._acc_p = np.zeros(N_REGIONS)  # sums over the control period in progress
        self._acc_q = np.zeros(N_REGIONS)
        self._phase = 0  # samples into the control period in progress
        self._ramp_from = np.zeros(N_REGIONS)  # gain magnitude (dB) at the start and end of the period in progress
        self._ramp_to = np.zeros(N_REGIONS)
        L = self.latency_samples
        self._delay_x = np.zeros((self.channels, L))
        self._delay_u = np.zeros((N_REGIONS, self.channels, L))
        self._trace: list[list[np.ndarray]] = [[] for _ in REGIONS]
        self._trace_pending: list[np.ndarray] = [np.zeros(0) for _ in REGIONS]
        self._trace_every_now = self._trace_every
        self._min = np.zeros(N_REGIONS)
        self._max = np.zeros(N_REGIONS)
        self._sign = np.zeros(N_REGIONS, dtype=np.int64)
        self._sign_block = self._sign.copy()
        self._first_plan = True
        self.set_plan(self.plan)

    def set_plan(self, plan: DynamicPlan | None) -> None:
        """Take a new plan (a stream's new analysis or target).

        A raised cap applies at once; a lowered one is reached over :data:`CAP_RAMP_MS`. A region
        whose sign changes (or that the new plan leaves out) first releases to 0 dB under its
        old sign. ``plan.settings`` must equal the processor's (they fix the time constants and
        the latency).
        """
        if plan is not None and plan.settings != self.settings:
            raise ParameterError("a running dynamic EQ keeps its settings (attack, release, look-ahead...)")
        new_sign = np.zeros(N_REGIONS, dtype=np.int64) if plan is None else np.where(plan.active, plan.sign, 0)
        new_cap = np.zeros(N_REGIONS) if plan is None else np.where(new_sign != 0, plan.cap_db, 0.0)
        moving = (self._ramp_from > 0.0) | (self._ramp_to > 0.0)
        flip = (self._sign != new_sign) & moving & (self._sign != 0)
        self._sign = np.where(flip, self._sign, new_sign)
        self._cap_target = np.where(flip, 0.0, new_cap)
        self._pending = {int(k): (int(new_sign[k]), float(new_cap[k])) for k in np.flatnonzero(flip)}
        self._reference = np.zeros(N_REGIONS) if plan is None else np.asarray(plan.reference_db, dtype=np.float64)
        if self._first_plan:
            self._cap = self._cap_target.copy()
            self._first_plan = False
        else:
            self._cap = np.maximum(self._cap_target, self._cap)
        period_s = self.control_len / self.sample_rate
        self._cap_step_db = (self._cap - self._cap_target) * period_s / (CAP_RAMP_MS * 1e-3)
        self.plan = plan

    @property
    def idle(self) -> bool:
        """No gain moves and none can: the output is the input (delayed by the look-ahead)."""
        return not np.any((self._sign != 0) | (self._ramp_from > 0.0) | (self._ramp_to > 0.0))

    @property
    def gains_db(self) -> np.ndarray:
        """The signed gain of every region reached at the end of the last block (shape (5,))."""
        return self._sign * self._ramp_to

    def advance(self, n: int) -> None:
        """Move the control grid on by ``n`` samples without processing (an idle processor only:
        a stream that skips it keeps the grid on its absolute position)."""
        if not self.idle:
            raise ParameterError("advance() is for an idle dynamic EQ")
        self._phase = int((self._phase + int(n)) % self.control_len)

    # -- audio -----------------------------------------------------------------------------------
    def process(self, block: np.ndarray) -> np.ndarray:
        """Process one block (channels, n), any n >= 0; returns a new float64 array of the same shape."""
        x = np.array(block, dtype=np.float64, order="C")
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ParameterError(f"block must be shaped ({self.channels}, n), got {x.shape}")
        n = x.shape[1]
        if n == 0:
            return x
        L = self.latency_samples
        if L:
            joined = np.concatenate([self._delay_x, x], axis=1)
            out, self._delay_x = joined[:, :n].copy(), joined[:, n:].copy()
        else:
            out = x.copy()
        N = self.control_len
        # Segments of this block on the stream's absolute control grid: segment 0 finishes the
        # period in progress; n_done periods complete here; a last one may stay in progress.
        ends = np.arange(N - self._phase, n + 1, N)
        n_done = ends.size
        bounds = np.concatenate([[0], ends] + ([[n]] if n_done == 0 or ends[-1] != n else []))
        lens = np.diff(bounds)
        starts = bounds[:-1]
        moving = (self._ramp_from > 0.0) | (self._ramp_to > 0.0)
        used = np.flatnonzero((self._sign != 0) | moving)
        idle = np.flatnonzero((self._sign == 0) & ~moving)
        if idle.size:  # K = 1 exactly: nothing to add; restart from rest when used again
            self._zi[idle] = 0.0
            self._zi_det[idle] = 0.0
            self._p[idle] = self._q[idle] = self._acc_p[idle] = self._acc_q[idle] = 0.0
            if self._trace_every_now is not None:
                for k in idle.tolist():
                    self._record(k, np.zeros(n_done))
        if used.size:
            u = np.empty((used.size,) + x.shape)  # (regions, channels, n): each region's band, where its gain acts
            d = np.empty((2 * used.size,) + x.shape)  # what its detector hears: band, rest
            for i, k in enumerate(used.tolist()):
                u[i] = x
                _filter_inplace(self._sos[k : k + 1], u[i], self._zi[k])
                for j in (0, 1):
                    d[2 * i + j] = x
                    _filter_inplace(self._det_sos[k, j], d[2 * i + j], self._zi_det[k, j])
            power = np.add.reduceat(np.einsum("rcn,rcn->rn", d, d), starts, axis=1) * (1.0 / self.channels)
            su, sq = power[0::2], power[1::2]  # (regions, segments), channels mixed by power
            m = self._control(used, su, sq, n_done)  # (regions, n_done) gain magnitudes, dB
            # Segment j ramps from chain[j] to chain[j + 1].
            chain = np.concatenate([self._ramp_from[used, None], self._ramp_to[used, None], m], axis=1)
            self._ramp_from[used], self._ramp_to[used] = chain[:, n_done], chain[:, n_done + 1]
            sign = np.where(self._sign_block[used] != 0, self._sign_block[used], 1.0)[:, None]
            k_lin = 10.0 ** (sign * chain[:, : lens.size + 1] / 20.0) - 1.0  # (regions, segments + 1): K - 1
            offset = np.arange(n, dtype=np.float64) - np.repeat(starts, lens) + 1.0
            offset[: lens[0]] += self._phase
            offset /= N  # sample i of segment j sits at (phase_j + i + 1) / N of its period
            k_from = k_lin[:, :-1]
            gain = np.repeat(k_from, lens, axis=1) + np.repeat(k_lin[:, 1:] - k_from, lens, axis=1) * offset
            if L:
                joined = np.concatenate([self._delay_u[used], u], axis=2)
                u, self._delay_u[used] = joined[:, :, :n], joined[:, :, n:]
            out += np.einsum("rn,rcn->cn", gain, u)  # y = x + sum_r (K_r - 1) F_r(x)
        self._phase = int((self._phase + n) % N)
        if self._trace_every_now is not None:
            total = sum(a.size for a in self._trace[0])
            if total > MAX_TRACE_POINTS and total % 2 == 0:
                self._halve_trace()
        return out

    def _control(self, used: np.ndarray, su: np.ndarray, sq: np.ndarray, n_done: int) -> np.ndarray:
        """Gain magnitudes (dB) of the ``used`` regions at the ends of the control periods completed
        in this block, shape (regions, n_done)."""
        self._sign_block = self._sign.copy()  # the signs this block's gains are applied with
        if n_done == 0:
            self._acc_p[used] += su[:, 0]
            self._acc_q[used] += sq[:, 0]
            return np.zeros((used.size, 0))
        N = self.control_len
        p = su[:, :n_done] * (1.0 / N)
        q = sq[:, :n_done] * (1.0 / N)
        p[:, 0] += self._acc_p[used] / N
        q[:, 0] += self._acc_q[used] / N
        tail = n_done < su.shape[1]
        self._acc_p[used] = su[:, n_done] if tail else 0.0
        self._acc_q[used] = sq[:, n_done] if tail else 0.0
        # One-pole RMS smoothers, P_k = b P_{k-1} + (1 - b) p_k, in closed form over the block:
        # P_k = b^(k+1) P_{-1} + (1 - b) sum_j b^(k-j) p_j (short blocks; long ones in chunks).
        beta = self._rms[used]
        matrices = None
        if n_done <= _ONE_POLE_DIRECT:
            cached = self._pole_cache.get(n_done)
            if cached is None:
                cached = self._pole_cache[n_done] = _one_pole_matrices(self._rms, n_done)
            matrices = (cached[0][used], cached[1][used])
        p = _one_pole(p, beta, self._p[used], matrices)
        q = _one_pole(q, beta, self._q[used], matrices)  # the whole signal's power
        self._p[used], self._q[used] = p[:, -1], q[:, -1]
        total = p + q
        settings = self.settings
        s = self._sign[used][:, None]
        with np.errstate(divide="ignore"):
            balance = 10.0 * np.log10((p + _EPS_POWER) / (q + _EPS_POWER))
        away = -s * (balance - self._reference[used][:, None])
        target = self._rho * knee_curve(away - settings.threshold_db, settings.knee_db)
        target[(total < GATE_POWER) | (s == 0)] = 0.0
        m = np.empty_like(target)
        for i, k in enumerate(used.tolist()):
            m[i], self._cap[k] = smooth_gain(target[i], self._ramp_to[k], self._attack, self._release,
                                             float(self._cap[k]), float(self._cap_target[k]), float(self._cap_step_db[k]))
            if k in self._pending and self._cap[k] <= 0.0:
                zero = np.flatnonzero(m[i] <= 0.0)
                if zero.size and zero[0] <= n_done - 2:  # released to 0 under the old sign, two periods at 0
                    m[i, zero[0]:] = 0.0
                    self._sign[k], cap = self._pending.pop(k)
                    self._cap_target[k] = self._cap[k] = cap
            if self._trace_every_now is not None:
                self._record(k, self._sign_block[k] * m[i])
        signed = self._sign_block[used][:, None] * m
        self._min[used] = np.minimum(self._min[used], signed.min(axis=1))
        self._max[used] = np.maximum(self._max[used], signed.max(axis=1))
        return m

    def _record(self, k: int, gains: np.ndarray) -> None:
        every = self._trace_every_now
        pending = np.concatenate([self._trace_pending[k], gains])
        m = (pending.size // every) * every
        if m:
            groups = pending[:m].reshape(-1, every)
            self._trace[k].append(groups[np.arange(groups.shape[0]), np.argmax(np.abs(groups), axis=1)])
        self._trace_pending[k] = pending[m:]

    def _halve_trace(self) -> None:
        """Merge the trace's points in pairs (peak hold): the step doubles, memory stays bounded."""
        for k in range(N_REGIONS):
            pairs = np.concatenate(self._trace[k]).reshape(-1, 2)
            self._trace[k] = [pairs[np.arange(pairs.shape[0]), np.argmax(np.abs(pairs), axis=1)]]
        self._trace_every_now *= 2

    def flush(self) -> np.ndarray:
        """The look-ahead's held-back tail (channels, latency): the end of the signal, processed
        as if silence followed."""
        if not self.latency_samples:
            return np.zeros((self.channels, 0))
        return self.process(np.zeros((self.channels, self.latency_samples)))

    def trace(self) -> DynamicTrace | None:
        """The gain trace so far of the regions the plan uses or that have moved (None: none, or no trace kept)."""
        used = [k for k in range(N_REGIONS) if (self.plan is not None and self.plan.sign[k] != 0)
                or self._min[k] < 0.0 or self._max[k] > 0.0]
        if not used or self._trace_every is None:
            return None
        every = self._trace_every_now or 1
        period_s = self.control_len / self.sample_rate
        rows = [np.concatenate(self._trace[k]) if self._trace[k] else np.zeros(0) for k in used]
        n = min((r.size for r in rows), default=0)
        times = (np.arange(n) * every + every + 1) * period_s - self.latency_samples / self.sample_rate
        return DynamicTrace(regions=tuple(REGIONS[k].name for k in used), times_s=times,
                            gain_db=np.stack([r[:n] for r in rows]) if rows else np.zeros((0, 0)),
                            min_db=self._min[used].copy(), max_db=self._max[used].copy(), step_s=every * period_s)


def render_dynamic(audio: np.ndarray, sample_rate: float, plan: DynamicPlan | None, *,
                   block_frames: int | None = None, trace_step_s: float | None = TRACE_STEP_S
                   ) -> tuple[np.ndarray, DynamicTrace | None]:
    """The dynamic part on a whole (already statically equalised) signal, realigned for any look-ahead.

    Returns the output (same shape, float64; the input itself, copied, when ``plan`` is None) and
    the gain trace. Blocks of ``block_frames`` (default: the file pipeline's), so the array and the
    file paths add the same floats in the same order.
    """
    from .io import BLOCK_FRAMES

    block_frames = BLOCK_FRAMES if block_frames is None else int(block_frames)  # the file pipeline's blocks
    audio = np.asarray(audio, dtype=np.float64)
    if plan is None:
        return audio.copy(), None
    dyn = DynamicEQ(plan, sample_rate, audio.shape[0], trace_step_s=trace_step_s)
    parts = [dyn.process(audio[:, i : i + block_frames]) for i in range(0, audio.shape[1], block_frames)]
    parts.append(dyn.flush())
    out = np.concatenate(parts, axis=1)[:, dyn.latency_samples :]
    return out, dyn.trace()
