"""The real-time adaptive EQ: frame-based, analysis off the audio path, click-free glides.

:class:`StreamingAdaptiveEQ` runs on two threads:

* the **audio thread** calls :meth:`~StreamingAdaptiveEQ.process` once per frame. It copies the
  frame into a ring buffer, smooths the EQ parameters towards the newest target and filters the
  frame through a :class:`~semeq.dsp.StreamingEQ`. It never waits for the worker: the hand-off
  is one reference assignment (atomic in CPython), and requests go through a
  :class:`queue.SimpleQueue`, whose ``put`` never blocks.
* a daemon **worker thread** analyses the last ``analysis_window_s`` seconds every
  ``update_interval`` frames and publishes a target cascade of any length (usually one or two
  EQs; none is an exact bypass) and a make-up gain. It keeps the window's short-time spectrum
  (:class:`~semeq.dsp.streaming.SlidingSpectrum`: 1024-point Hann frames, hop 512, channels
  mixed by power) and transforms only the frames that arrived since the last update. From
  those frames come the activity mask (the rule of :func:`semeq.analysis.active_frames`) and
  then, by what the analyzer offers:

  - ``design_from_power`` (:class:`PowerAnalyzer`, the dB rule): the window's long-term power
    spectral density over its active frames, handed to the analyzer ("power" mode);
  - any :class:`SemanticAnalyzer` (a latent-space analyzer of one's own): ``encode()`` of the
    window's audio ("audio" mode). semeq's own ``SemanticEQ`` designs from the power spectrum.

  A new target whose response (and gain) is within 0.05 dB of the last one published is not
  published, so a steady recording lets the glide settle.

Behaviour worth knowing
-----------------------
* **Start-up.** Until the first analysis lands the output is the input, exactly. The first
  analysis is requested once ``min(0.5 s, analysis_window_s)`` of audio has arrived; it analyses
  what there is. Later analyses use a window that grows to ``analysis_window_s`` and then slides.
* **Smoothing** runs in perceptual units: gains in dB, frequencies and Q as logarithms, each a
  one-pole glide with time constant ``smoothing_ms`` computed from the samples actually elapsed,
  so the glide does not depend on the frame size. Sections are redesigned only when a smoothed
  value has moved by a step (0.05 dB, 0.5 % in frequency or Q) since the last
  design, and every redesign is cross-faded by the StreamingEQ over ``crossfade_ms``; a
  redesign waits for the running fade, so sections change at most every ``crossfade_ms``. Once the glide is within that
  step of its target it snaps to the target and designs it exactly.
* **Automatic gain compensation** (``auto_gain``, on by default): each analysis estimates the
  EQ's loudness change on the window's spectrum, K-weighted as in ITU-R BS.1770, and the
  make-up gain that undoes it glides with the EQ, folded into the first section's numerator
  (no extra work per sample, no latency). A window without usable energy keeps the last gain.
* **Intensity 0** glides every gain to 0 dB; when the fade has finished and the filter's tail has
  rung out (``_SETTLE_S``), the engine drops the filter and returns the input sample for sample.
* **Bad frames.** A frame of the wrong shape or dtype raises :class:`~semeq.errors.ParameterError`
  and leaves the stream as it was. NaN and Inf samples are replaced by 0 before they reach the
  filter or the ring buffer, so the output stays finite and the next clean frame is filtered as
  usual. An exception inside the analyzer is recorded in :attr:`~StreamingAdaptiveEQ.stats` and
  the stream keeps its last EQ.
* **Latency** is 0 samples: the EQ is IIR, without look-ahead; output sample ``i`` depends on
  input samples ``<= i`` only.
* **Shutdown.** :meth:`~StreamingAdaptiveEQ.close` (or leaving a ``with`` block) stops the worker
  and waits for it. An engine never closed is stopped, and waited for, when it is collected or
  at interpreter exit: a worker torn down inside native code (torch) during finalisation
  aborted the process ("terminate called without an active exception").
"""

from __future__ import annotations

import atexit
import math
import queue
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .analysis import ANALYSIS_SAMPLE_RATE, MIN_ACTIVE_FRAMES, NORM_BAND_HZ, WELCH_N_FFT as LTAS_N_FFT
from .dsp import StreamingEQ, sos_response_db
from .dsp.biquad import _check_sample_rate, design_sos_batch
from .dsp.streaming import SlidingSpectrum
from .errors import ParameterError, SemeqError
from .loudness import k_weighting_sos
from .params import GAIN_INDICES, N_PARAMS, EQParams, check_unit as _check_unit

__all__ = ["SemanticAnalyzer", "PowerAnalyzer", "StreamingAdaptiveEQ", "StreamStats", "makeup_gain_db"]


@runtime_checkable
class SemanticAnalyzer(Protocol):
    """What the streaming engine needs from latent-space models (``semeq.adaptive.SemanticEQ``)."""

    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Latent of a recording: ``audio`` (channels, n) -> z_audio (latent_dim,). Slow; worker thread."""
        ...

    def target_latent(self, target: str, blend: str | None = None, alpha: float = 0.0) -> np.ndarray:
        """Latent of a word (optionally blended with a second word by ``alpha``).

        Raises :class:`~semeq.errors.UnknownWordError` for a word outside the vocabulary.
        """
        ...

    def cascade_for(self, z_audio: np.ndarray, z_target: np.ndarray, intensity: float) -> tuple[EQParams, ...]:
        """The cascade for ``z_audio`` moved toward ``z_target`` by ``intensity``. Cheap."""
        ...


@runtime_checkable
class PowerAnalyzer(Protocol):
    """An analyzer that designs the EQ from the window's long-term power spectrum (the dB rule).

    When the analyzer has this method the engine uses it, and needs neither ``encode`` nor
    ``cascade_for``: each update hands it the one-sided power spectral density of the window.
    """

    def design_from_power(self, freqs_hz: np.ndarray, power: np.ndarray, target: str, intensity: float, *,
                          blend: str | None = None, alpha: float = 0.0) -> tuple[EQParams, ...]:
        """The cascade for a recording whose long-term spectrum is ``power``.

        Parameters
        ----------
        freqs_hz : ndarray [shape=(n_bins,)]
            Bin frequencies, uniformly spaced from 0 Hz (``rfftfreq(1024, 1 / sample_rate)``).
        power : ndarray [shape=(n_bins,)]
            One-sided power spectral density (power per Hz, the scaling of
            ``scipy.signal.welch(scaling="density")``) of the window: 1024-point periodic-Hann
            frames, hop 512, mixed over channels by power, averaged over the window's active
            frames (the rule of :func:`semeq.analysis.active_frames`). Feed it to
            :func:`semeq.analysis.psd_to_grid_db` for the analysis grid.
        target, blend, alpha, intensity
            As :meth:`StreamingAdaptiveEQ.set_target`.

        Returns
        -------
        cascade : tuple of EQParams
            Usually one EQ; empty for an exact bypass (nothing needed).

        Raises :class:`~semeq.errors.UnknownWordError` for a word outside the vocabulary.
        """
        ...


# Columns of the 13-vector smoothed on a log scale (frequencies and Q); the gains stay in dB.
_LOG_COLUMNS = np.array([i for i in range(N_PARAMS) if i not in GAIN_INDICES])
_GAIN_COLUMNS = np.array(GAIN_INDICES)
# A step worth a redesign: 0.05 dB in gain, 0.5 % in frequency or Q (log units), each change
# cross-faded. Finer steps (0.01 dB, 0.1 %) kept the filter cross-fading, at twice the work,
# through most frames of a glide, for changes far below audibility.
_STEP = np.where(np.isin(np.arange(N_PARAMS), GAIN_INDICES), 0.05, 5e-3)
_GAIN_STEP_DB = 0.05  # the same for the make-up gain
# After snapping to the target, the designed sections follow it to within 1/100 of a step.
_FINE = 0.01
_MAX_EQS = 8  # a cascade longer than this is a broken analyzer
_PUBLISH_DB = 0.05  # a new analysis whose EQ (and gain) moves less than this, anywhere on the grid, is not published
_MAX_MAKEUP_DB = 24.0
_MIN_ANALYSIS_S = 0.5
_SETTLE_S = 0.3  # an identity filter rings out this long before the engine drops it (bypass)
_CONTROL_MIN = 64  # samples between smoothing steps when frames are tiny
_CONTROL_MAX = 1024  # larger frames are processed in sub-blocks of at most this many samples
# The activity rule of semeq.analysis.active_frames (tested against it): mean-square band
# power above -100 dB re full scale and within 60 dB of the window's loudest frame.
_FRAME_FLOOR = 1e-10
_FRAME_RANGE = 1e-6
_N_FFT, _HOP = 1024, 512


def _to_perceptual(cascade: Sequence[EQParams]) -> np.ndarray:
    """(n_eq,) EQParams -> (n_eq, 13): gains in dB, log frequency, log Q."""
    values = np.stack([p.to_vector() for p in cascade])  # (n_eq, 13)
    values[:, _LOG_COLUMNS] = np.log(values[:, _LOG_COLUMNS])
    return values


def _to_physical(values: np.ndarray) -> np.ndarray:
    physical = values.copy()
    physical[:, _LOG_COLUMNS] = np.exp(values[:, _LOG_COLUMNS])
    return physical


class _LoudnessBins:
    """What the make-up gain needs from a PSD: its K-weighted power in narrow bands up to Nyquist.

    The bins (0 Hz excluded) are summed into bands a twelfth of an octave wide (one bin each
    where bins are wider), so the EQ's response is evaluated at ~100 centres instead of 512.
    Not on the third-octave analysis grid in dB, and not stopping at 18 kHz: that version
    underestimated a bright EQ's loudness change on pink noise by a quarter (1.21 against
    1.60 LU, most of it from the top bins a high shelf lifts).
    """

    def __init__(self, freqs_hz: np.ndarray, sample_rate: float):
        bins = np.flatnonzero(freqs_hz > 0.0)
        df = freqs_hz[1] - freqs_hz[0]
        # A new band starts where the current one has grown a twelfth of an octave (or one bin) wide.
        starts = [int(bins[0])]
        for k in bins[1:]:
            if freqs_hz[k] - freqs_hz[starts[-1]] >= max(df, freqs_hz[starts[-1]] * (2.0 ** (1.0 / 12.0) - 1.0)):
                starts.append(int(k))
        self.starts = np.asarray(starts) - int(bins[0])  # into the psd[bins] slice
        self.first_bin = int(bins[0])
        # BS.1770 K-weighting (the loudness meter's own design), for the make-up gain's estimate.
        k_power = 10.0 ** (sos_response_db(k_weighting_sos(48000.0), freqs_hz[bins], 48000.0) / 10.0)
        self.k_power = k_power
        # Centre of each band: its K-weighted mean frequency under a flat spectrum.
        self.freqs_hz = np.add.reduceat(freqs_hz[bins] * k_power, self.starts) / np.add.reduceat(k_power, self.starts)

    def band_power(self, psd: np.ndarray) -> np.ndarray:
        """K-weighted power of each band (uniform bins: the density is the power up to a constant)."""
        return np.add.reduceat(psd[self.first_bin :] * self.k_power, self.starts)

    def pink(self) -> np.ndarray:
        """The K-weighted band powers of pink noise: the prior before any audio is analysed."""
        freqs = self.first_bin + np.arange(self.k_power.size)
        return np.add.reduceat(self.k_power / freqs, self.starts)


def makeup_gain_db(band_power: np.ndarray, response_db: np.ndarray) -> float:
    """Gain (dB) that undoes an EQ's loudness change on a spectrum.

    Parameters
    ----------
    band_power : ndarray [shape=(n,)]
        K-weighted power of the signal in n bands.
    response_db : ndarray [shape=(n,)]
        The EQ's magnitude response at the bands' centres.

    Returns
    -------
    gain_db : float
        ``-10 log10(sum(P |H|^2) / sum(P))``: after the EQ and this gain, the K-weighted power
        (the BS.1770 loudness of a steady signal) is the input's. 0 for a silent spectrum.

    Examples
    --------
    >>> round(makeup_gain_db(np.array([1.0, 1.0]), np.array([6.0, 6.0])), 6)
    -6.0
    """
    total = float(np.sum(band_power))
    if not total > 0.0:
        return 0.0
    ratio = float(np.sum(band_power * 10.0 ** (response_db / 10.0))) / total
    return float(np.clip(-10.0 * math.log10(max(ratio, 1e-30)), -_MAX_MAKEUP_DB, _MAX_MAKEUP_DB))


@dataclass(frozen=True, kw_only=True)
class StreamStats:
    """Counters of a running engine (a snapshot; read :attr:`StreamingAdaptiveEQ.stats` again for news)."""

    n_frames: int
    n_samples: int
    n_analyses: int
    analysis_cpu_s: float
    """CPU time of the worker thread's analyses (``time.thread_time``), summed."""
    n_designs: int
    n_nonfinite_frames: int
    n_analysis_errors: int
    last_error: str | None
    n_torn_snapshots: int
    """Analyses skipped because the audio thread overwrote the window while it was read."""
    analyzer_cpu_s: float
    """The part of ``analysis_cpu_s`` spent inside the analyzer (design_from_power, the CNN,
    encode, cascade_for); the rest is the engine's own spectrum, make-up gain and checks."""
    n_published: int
    """Analyses whose EQ differed enough from the last one to be handed to the audio thread."""
    analysis_mode: str
    """How the worker analyses: "power" (design_from_power) or "audio" (encode)."""


@dataclass(frozen=True)
class _Target:
    word: "str | EQRequest"  # an EQRequest when the analyzer understands phrases (SemanticEQ)
    intensity: float
    blend: str | None
    alpha: float
    z_target: np.ndarray | None  # latent modes only


@dataclass(frozen=True)
class _Analysis:
    """One analysis of the window: what a target is designed from."""

    epoch: int
    pos: int  # stream position (samples) the window ends at
    z_audio: np.ndarray | None  # latent modes
    psd: np.ndarray | None  # (n_bins,) one-sided PSD of the active frames; None: no usable energy
    band_power: np.ndarray | None  # K-weighted bin powers of psd (make-up gain)
    ltas_psd: np.ndarray | None = None  # power mode: the long-frame PSD the offline analysis would see


@dataclass(frozen=True)
class _Published:
    """What the worker (or set_target) hands to the audio thread, in one reference."""

    epoch: int
    target: np.ndarray | None  # (n_eq, 13) perceptual, or None = bypass
    gain_db: float  # make-up gain
    cascade: tuple[EQParams, ...] | None
    response_db: np.ndarray | None  # of the cascade at the loudness bins


_LIVE_WORKERS: "weakref.WeakSet[_Worker]" = weakref.WeakSet()


def _stop_worker(worker: "_Worker", thread: threading.Thread) -> None:
    """Stop a worker thread and wait for it (not from itself): an analysis still running when
    the interpreter finalises would be torn down inside native code (torch aborts with
    "terminate called without an active exception")."""
    worker.stop()
    if thread is not threading.current_thread() and thread.is_alive():
        thread.join(timeout=10.0)


@atexit.register
def _stop_all_workers() -> None:
    for worker in list(_LIVE_WORKERS):
        thread = worker.thread
        if thread is not None:
            _stop_worker(worker, thread)


class _Worker:
    """State shared by the audio thread and the analysis thread.

    The thread runs :meth:`run` and holds a reference to this object only, never to the
    engine, so an engine that is dropped without ``close()`` is still collected (a finalizer
    stops the thread).
    """

    def __init__(self, analyzer, mode: str, sample_rate: float, channels: int, window_len: int, *,
                 auto_gain: bool):
        self.analyzer = analyzer
        self.mode = mode
        self.auto_gain = auto_gain
        self.sample_rate = sample_rate
        self.window_len = window_len
        self.capacity = 2 * window_len + 2 * _N_FFT  # slack: the audio thread may write a whole window during a read
        self.ring = np.zeros((channels, self.capacity), dtype=np.float32)
        self.snapshot = np.zeros((channels, window_len), dtype=np.float32) if mode == "audio" else None
        # Frames on the grid of the window's start (when the window ends on a multiple of the hop).
        self.spectrum = SlidingSpectrum(sample_rate, channels, window_len, n_fft=_N_FFT, hop=_HOP, band_hz=NORM_BAND_HZ,
                                        origin=(-window_len) % _HOP)
        self.loudness = _LoudnessBins(self.spectrum.freqs_hz, sample_rate)
        # The power mode designs from the same long-term spectrum as the file path: Welch frames
        # of LTAS_N_FFT at 44.1 kHz (scaled to this rate, a power of two), half overlapped, each
        # computed once; the short frames above still give the activity and the make-up gain.
        n_ltas = 1 << int(round(math.log2(LTAS_N_FFT * sample_rate / ANALYSIS_SAMPLE_RATE)))
        self.ltas = (SlidingSpectrum(sample_rate, channels, max(window_len, n_ltas), n_fft=n_ltas, hop=n_ltas // 2,
                                     band_hz=NORM_BAND_HZ) if mode == "power" else None)
        self.n_written = 0  # absolute samples written (audio thread)
        self.write_claim = 0  # absolute end of the write in progress, set before writing
        self.epoch = 0  # bumped by reset(): results of older requests are ignored
        self.spectrum_epoch = 0  # the epoch the spectrum's frames belong to (worker thread)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.posted_seq = 0
        self.picked_seq = 0
        self.served_seq = 0
        self.done = threading.Condition()
        self.analyzer_lock = threading.Lock()  # analyzer calls are serialised (worker vs set_target)
        self.target: _Target | None = None
        self.analysis: _Analysis | None = None
        self.published: _Published | None = None
        self.thread: threading.Thread | None = None
        self.n_analyses = 0
        self.n_published = 0
        self.analysis_cpu_s = 0.0
        self.analyzer_cpu_s = 0.0  # the part of it spent inside the analyzer's methods
        self.n_errors = 0
        self.last_error: str | None = None
        self.n_torn = 0
        self.stopped = False

    # -- audio thread ------------------------------------------------------------------------
    def write(self, x: np.ndarray) -> None:
        """Append (channels, n) to the ring buffer; no allocation beyond slicing."""
        n = x.shape[1]
        if n > self.capacity:
            x, n_skip = x[:, -self.capacity :], n - self.capacity
        else:
            n_skip = 0
        start = self.n_written + n_skip
        end = self.n_written + n
        self.write_claim = end
        i = start % self.capacity
        m = x.shape[1]
        first = min(m, self.capacity - i)
        self.ring[:, i : i + first] = x[:, :first]
        if first < m:
            self.ring[:, : m - first] = x[:, first:]
        self.n_written = end

    def post(self) -> bool:
        """Ask for an analysis of the audio up to now; False when one is still waiting."""
        if self.picked_seq != self.posted_seq or self.stopped:
            return False
        self.posted_seq += 1
        self.queue.put((self.posted_seq, self.n_written, self.epoch))
        return True

    # -- worker thread -----------------------------------------------------------------------
    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                with self.done:
                    self.served_seq = self.posted_seq
                    self.done.notify_all()
                return
            seq, pos, epoch = item
            self.picked_seq = seq
            t0 = time.thread_time()
            try:
                self._analyse(pos, epoch)
            except Exception as exc:  # the stream outlives a failing analysis
                self.n_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self.analysis_cpu_s += time.thread_time() - t0
                with self.done:
                    self.served_seq = seq
                    self.done.notify_all()

    def _read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """Samples [start, stop) from the ring (float32), or None when overwritten meanwhile."""
        n = stop - start
        if out is None:
            out = np.empty((self.ring.shape[0], n), dtype=np.float32)
        i = start % self.capacity
        first = min(n, self.capacity - i)
        out[:, :first] = self.ring[:, i : i + first]
        if first < n:
            out[:, first:n] = self.ring[:, : n - first]
        if self.write_claim > start + self.capacity:  # overwritten while we copied
            self.n_torn += 1
            return None
        return out[:, :n]

    def _analyse(self, pos: int, epoch: int) -> None:
        spectrum = self.spectrum
        if epoch != self.epoch:
            return
        if epoch != self.spectrum_epoch:  # reset() since the last analysis: a new stream
            spectrum.reset()
            if self.ltas is not None:
                self.ltas.reset()
            self.spectrum_epoch = epoch
        first, stop = spectrum.frames_needed(pos)
        if stop > first:
            origin = spectrum.origin
            audio = self._read(origin + first * _HOP, origin + (stop - 1) * _HOP + _N_FFT)
            if audio is None:
                spectrum.reset()  # start over from the frames still in the ring
                return
        else:
            audio = np.zeros((self.ring.shape[0], 0), dtype=np.float32)
        spectrum.update(pos, audio, first)  # float32 samples; the Hann window makes the frames float64
        active = spectrum.active(_FRAME_FLOOR, _FRAME_RANGE)
        n_active = int(np.count_nonzero(active))
        psd = band_power = None
        if n_active >= MIN_ACTIVE_FRAMES:
            psd = spectrum.window_psd(active)
            band_power = self.loudness.band_power(psd)
        z_audio = None
        if self.mode == "audio":
            n = min(self.window_len, pos)
            window = self._read(pos - n, pos, self.snapshot)
            if window is None:
                return
            with self.analyzer_lock:
                t0 = time.thread_time()
                z_audio = np.asarray(self.analyzer.encode(window.astype(np.float64), self.sample_rate), dtype=np.float64)
                self.analyzer_cpu_s += time.thread_time() - t0
        elif psd is None:
            return  # no usable energy in the window: keep the EQ there is
        ltas_psd = None
        if self.ltas is not None:
            ltas_psd = self._ltas_psd(pos)
            if ltas_psd is None:
                return
        analysis = _Analysis(epoch=epoch, pos=pos, z_audio=z_audio, psd=psd, band_power=band_power, ltas_psd=ltas_psd)
        with self.analyzer_lock:
            if epoch != self.epoch:
                return
            self.analysis = analysis
            self.n_analyses += 1
            published = self.design(analysis, self.target, previous=self.published)
            if published is not None:
                self.published = published
                self.n_published += 1

    def _ltas_psd(self, pos: int) -> np.ndarray | None:
        """The window's long-frame PSD over its active long frames (None: torn read or no frame yet)."""
        ltas = self.ltas
        first, stop = ltas.frames_needed(pos)
        if stop > first:
            audio = self._read(ltas.origin + first * ltas.hop, ltas.origin + (stop - 1) * ltas.hop + ltas.n_fft)
            if audio is None:
                ltas.reset()
                return None
        else:
            audio = np.zeros((self.ring.shape[0], 0), dtype=np.float32)
        ltas.update(pos, audio, first)
        active = ltas.active(_FRAME_FLOOR, _FRAME_RANGE)
        if not active.any():
            return None
        return ltas.window_psd(active)

    # -- either thread (holding analyzer_lock) -----------------------------------------------
    def design(self, analysis: _Analysis, target: _Target | None, *, previous: _Published | None) -> _Published | None:
        """The target for the audio thread, or None when ``previous`` is as good (within _PUBLISH_DB)."""
        if target is None:
            return None
        if target.intensity == 0.0:
            cascade: tuple[EQParams, ...] = ()
        elif self.mode == "power":
            t0 = time.thread_time()
            cascade = tuple(self.analyzer.design_from_power(
                *((self.ltas.freqs_hz, analysis.ltas_psd) if analysis.ltas_psd is not None else
                  (self.spectrum.freqs_hz, analysis.psd)),
                target.word, target.intensity, blend=target.blend, alpha=target.alpha))
            self.analyzer_cpu_s += time.thread_time() - t0
        else:
            t0 = time.thread_time()
            cascade = tuple(self.analyzer.cascade_for(analysis.z_audio, target.z_target, target.intensity))
            self.analyzer_cpu_s += time.thread_time() - t0
        if len(cascade) > _MAX_EQS or not all(isinstance(p, EQParams) for p in cascade):
            raise ParameterError(f"the analyzer must return a tuple of at most {_MAX_EQS} EQParams, got {cascade!r}")
        if not cascade:
            published = _Published(epoch=analysis.epoch, target=None, gain_db=0.0, cascade=(), response_db=None)
        else:
            physical = np.stack([p.to_vector() for p in cascade])  # (n_eq, 13)
            response_db = sos_response_db(design_sos_batch(physical, self.sample_rate), self.loudness.freqs_hz,
                                          self.sample_rate)
            perceptual = physical.copy()
            perceptual[:, _LOG_COLUMNS] = np.log(physical[:, _LOG_COLUMNS])
            gain_db = 0.0
            if self.auto_gain:
                band_power = analysis.band_power if analysis.band_power is not None else self.loudness.pink()
                gain_db = makeup_gain_db(band_power, response_db)
            published = _Published(epoch=analysis.epoch, target=perceptual, gain_db=gain_db,
                                   cascade=cascade, response_db=response_db)
        if previous is not None and previous.epoch == published.epoch and _close(previous, published):
            return None
        return published

    def stop(self) -> None:
        self.stopped = True
        self.queue.put(None)


def _close(a: _Published, b: _Published) -> bool:
    """Two targets the listener cannot tell apart: both bypass, or responses and gains within _PUBLISH_DB."""
    if a.target is None or b.target is None:
        return a.target is None and b.target is None
    return (a.target.shape == b.target.shape and abs(a.gain_db - b.gain_db) <= _PUBLISH_DB
            and float(np.max(np.abs(a.response_db - b.response_db))) <= _PUBLISH_DB)


class StreamingAdaptiveEQ:
    """Real-time adaptive semantic EQ over frames of any size, with zero added latency.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (>= 1000).
    channels : int >= 1
    frame_size : int in [1, 65536]
        The nominal frame: an analysis is requested every ``update_interval * frame_size``
        samples. :meth:`process` takes frames of any length.
    update_interval : int >= 1
        Frames between analyses.
    analysis_window_s : float in [0.1, 30]
        Seconds of past audio each analysis sees.
    smoothing_ms : float >= 0
        Time constant of the parameter glide (one-pole, in perceptual units).
    crossfade_ms : float > 0
        Length of the cross-fade that makes each coefficient update click-free. A redesign
        waits for the running fade, so this is also the shortest interval between redesigns.
    analyzer : PowerAnalyzer or SemanticAnalyzer, optional
        The models; ``semeq.adaptive.SemanticEQ()`` when omitted. One with
        ``design_from_power`` is used that way (:class:`PowerAnalyzer`); otherwise the latent
        protocol (:class:`SemanticAnalyzer`).
    auto_gain : bool
        Automatic gain compensation: each analysis also estimates the EQ's loudness change on
        the window's spectrum (K-weighted, as BS.1770) and the output gain glides to undo it,
        folded into the first filter section (no extra work per sample, no latency).

    Notes
    -----
    Thread use: call :meth:`process` and :meth:`reset` from one (audio) thread;
    :meth:`set_target` may be called from any thread. Close the engine (or use it as a context
    manager) to stop its worker thread; one left open is stopped, and waited for, when it is
    collected or when the interpreter exits.

    Examples
    --------
    >>> with StreamingAdaptiveEQ(44100, 2, analyzer=my_analyzer) as engine:  # doctest: +SKIP
    ...     engine.set_target("warm", 0.7)
    ...     out = engine.process(frame)  # frame: (2, n) float
    """

    latency_samples: int = 0
    """Added latency: none. The EQ is IIR without look-ahead."""

    def __init__(
        self,
        sample_rate: float,
        channels: int,
        frame_size: int = 512,
        update_interval: int = 4,
        analysis_window_s: float = 2.0,
        smoothing_ms: float = 200.0,
        crossfade_ms: float = 20.0,
        analyzer: PowerAnalyzer | SemanticAnalyzer | None = None,
        *,
        auto_gain: bool = True,
    ):
        self.sample_rate = _check_sample_rate(sample_rate)
        self.channels = _check_int("channels", channels, 1, 64)
        self.frame_size = _check_int("frame_size", frame_size, 1, 65536)
        self.update_interval = _check_int("update_interval", update_interval, 1, 100000)
        if not (isinstance(analysis_window_s, (int, float)) and 0.1 <= analysis_window_s <= 30.0):
            raise ParameterError(f"analysis_window_s must be in [0.1, 30] seconds, got {analysis_window_s!r}")
        if not (isinstance(smoothing_ms, (int, float)) and 0.0 <= smoothing_ms <= 60000.0):
            raise ParameterError(f"smoothing_ms must be in [0, 60000], got {smoothing_ms!r}")
        if not (isinstance(crossfade_ms, (int, float)) and 0.0 < crossfade_ms <= 1000.0):
            raise ParameterError(f"crossfade_ms must be in (0, 1000], got {crossfade_ms!r}")
        self.analysis_window_s = float(analysis_window_s)
        self.smoothing_ms = float(smoothing_ms)
        self.crossfade_ms = float(crossfade_ms)
        self.auto_gain = bool(auto_gain)
        if analyzer is None:
            try:
                from .adaptive import SemanticEQ  # the weights load only when needed
            except ImportError as exc:
                raise SemeqError(f"the semantic models are not available ({exc}); pass an analyzer") from None
            analyzer = SemanticEQ()
        window_len = max(int(round(self.analysis_window_s * self.sample_rate)), 1)
        if callable(getattr(analyzer, "design_from_power", None)):
            mode = "power"
        else:
            for method in ("encode", "target_latent", "cascade_for"):
                if not callable(getattr(analyzer, method, None)):
                    raise ParameterError(f"analyzer must implement PowerAnalyzer or SemanticAnalyzer; it has no {method}()")
            mode = "audio"
        self.analyzer = analyzer

        self._min_analysis_len = min(int(round(_MIN_ANALYSIS_S * self.sample_rate)), window_len)
        self._update_len = self.update_interval * self.frame_size
        self._tau_samples = self.smoothing_ms * 1e-3 * self.sample_rate
        self._settle_len = int(round(_SETTLE_S * self.sample_rate))
        worker = _Worker(analyzer, mode, self.sample_rate, self.channels, window_len, auto_gain=self.auto_gain)
        self._worker = worker
        self._thread = threading.Thread(target=worker.run, name="semeq-analysis", daemon=True)
        worker.thread = self._thread
        self._thread.start()
        _LIVE_WORKERS.add(worker)
        self._finalizer = weakref.finalize(self, _stop_worker, worker, self._thread)
        self._eq = StreamingEQ(self.sample_rate, self.channels, [EQParams.flat()], crossfade_ms=self.crossfade_ms)
        self._n_frames = 0
        self._n_designs = 0
        self._n_nonfinite = 0
        self._init_state()

    def _init_state(self) -> None:
        self._since_request = 0
        self._seen: _Published | None = None
        self._active = False  # False: the output is the input, exactly
        self._bypassing = False  # gliding (or settling) towards bypass
        n_eq = self._eq.n_eq
        self._target: np.ndarray | None = None  # (n_eq, 13) perceptual, what the glide heads for
        self._target_gain = 0.0  # make-up gain (dB) the glide heads for
        self._smoothed = np.zeros((n_eq, N_PARAMS))
        self._designed = np.zeros((n_eq, N_PARAMS))
        self._smoothed_gain = self._designed_gain = 0.0
        self._settled = True
        self._exact = True  # settled and designed: the sections need no check until a new target
        self._since_control = 0
        self._settle_left = -1  # >= 0: counting down to bypass
        self._eq.reset()

    # -- control -----------------------------------------------------------------------------
    def set_target(self, word, intensity: float | None = None, blend: str | None = None, alpha: float = 0.0) -> None:
        """Move towards ``word`` (optionally blended with ``blend`` by ``alpha``) by ``intensity``.

        ``word`` is a word, a phrase ("a bit warmer", "less harsh"; understood by the analyzer's
        ``request``, as every front end understands it) or a whole
        :class:`~semeq.request.EQRequest` (then the other arguments are unused). ``intensity``
        None takes the phrase's amount words, else 1. The change glides in over
        ``smoothing_ms``. Intensity 0 glides to an exact bypass.

        Raises
        ------
        UnknownWordError
            ``word`` or ``blend`` cannot be understood (the stream is left as it was).
        ParameterError
            ``intensity`` or ``alpha`` is outside [0, 1].
        """
        from .request import EQRequest

        worker = self._worker
        if isinstance(word, EQRequest) or hasattr(worker.analyzer, "request"):
            request = word if isinstance(word, EQRequest) else worker.analyzer.request(
                word, 1.0 if intensity is None and worker.analyzer.understand(word).intensity is None else intensity,
                blend=blend, alpha=alpha)
            if request.intensity is None:
                raise ParameterError("streaming takes a fixed intensity, not auto-intensity")
            word, intensity, blend, alpha = request, request.intensity, None, 0.0
        else:
            if not isinstance(word, str) or not word.strip():
                raise ParameterError(f"target must be a non-empty word, got {word!r}")
            intensity = _check_unit("intensity", 1.0 if intensity is None else intensity)
        alpha = _check_unit("alpha", alpha)
        with worker.analyzer_lock:
            z_target = None
            if worker.mode != "power":
                z_target = np.asarray(worker.analyzer.target_latent(word, blend, alpha), dtype=np.float64)
            target = _Target(word=word, intensity=intensity, blend=blend, alpha=alpha, z_target=z_target)
            analysis = worker.analysis
            if worker.mode == "power":
                # Validates the word (UnknownWordError) before anything changes; with an
                # analysis at hand the new target is ready now, not at the next analysis.
                probe = analysis if analysis is not None and analysis.epoch == worker.epoch else None
                psd = probe.psd if probe is not None else _pink_psd(worker.spectrum.freqs_hz)
                if intensity == 0.0:  # design() does not ask the analyzer then: ask it once about the words
                    worker.analyzer.design_from_power(worker.spectrum.freqs_hz, psd, word, 1.0, blend=blend, alpha=alpha)
                published = worker.design(_Analysis(epoch=worker.epoch, pos=-1, z_audio=None, psd=psd, band_power=None if
                                                    probe is None else probe.band_power), target, previous=None)
                worker.target = target
                if probe is not None:
                    worker.published = published
                    worker.n_published += 1
            else:
                worker.target = target
                if analysis is not None and analysis.epoch == worker.epoch:
                    worker.published = worker.design(analysis, target, previous=None)
                    worker.n_published += 1

    @property
    def target(self) -> tuple[str, float] | None:
        """The current target word and intensity, or None before :meth:`set_target`."""
        target = self._worker.target
        if target is None:
            return None
        return (target.word.label if hasattr(target.word, "label") else target.word, target.intensity)

    @property
    def current_cascade(self) -> tuple[EQParams, ...] | None:
        """The newest target cascade published by the analysis (None before the first; empty for bypass)."""
        published = self._worker.published
        return None if published is None else published.cascade

    @property
    def current_params(self) -> tuple[EQParams, ...]:
        """The cascade the glide has reached (empty while the output is exactly the input)."""
        if not self._active:
            return ()
        return tuple(EQParams.clipped(row) for row in _to_physical(self._smoothed))

    @property
    def current_gain_db(self) -> float:
        """The make-up gain the glide has reached (0 without ``auto_gain`` and while bypassed)."""
        return float(self._smoothed_gain) if self._active else 0.0

    @property
    def analysis_mode(self) -> str:
        """"power" (the analyzer's design_from_power) or "audio" (encode)."""
        return self._worker.mode

    @property
    def active(self) -> bool:
        """False while the output is exactly the input (before the first analysis, or bypassed)."""
        return self._active

    @property
    def stats(self) -> StreamStats:
        w = self._worker
        return StreamStats(
            n_frames=self._n_frames, n_samples=w.n_written, n_analyses=w.n_analyses,
            analysis_cpu_s=w.analysis_cpu_s, n_designs=self._n_designs, n_nonfinite_frames=self._n_nonfinite,
            n_analysis_errors=w.n_errors, last_error=w.last_error, n_torn_snapshots=w.n_torn,
            analyzer_cpu_s=w.analyzer_cpu_s, n_published=w.n_published, analysis_mode=w.mode,
        )

    def wait_for_analysis(self, timeout: float | None = None) -> bool:
        """Block until every analysis requested so far has finished; False on timeout.

        Never call this from an audio callback. The file front end calls it between frames so
        a render is reproducible and matches live playback, where an analysis (well under a
        millisecond to a few ms) ends well within a frame's period.
        """
        w = self._worker
        with w.done:
            return w.done.wait_for(lambda: w.served_seq >= w.posted_seq or not self._thread.is_alive(), timeout)

    def reset(self) -> None:
        """Forget the past: empty ring buffer and filter, bypass until the next analysis lands.

        The target set by :meth:`set_target` is kept. Call from the audio thread.
        """
        w = self._worker
        w.epoch += 1  # the worker drops its frames when it sees the new epoch; never wait for it here
        w.n_written = w.write_claim = 0
        w.ring.fill(0.0)
        self._init_state()

    def close(self) -> None:
        """Stop the worker thread and wait for it. :meth:`process` keeps working with the last EQ."""
        if self._finalizer.alive:
            self._finalizer()
        _LIVE_WORKERS.discard(self._worker)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> StreamingAdaptiveEQ:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- audio -------------------------------------------------------------------------------
    def process(self, frame: np.ndarray) -> np.ndarray:
        """Equalise one frame.

        Parameters
        ----------
        frame : ndarray [shape=(channels, n), dtype=float32 or float64]
            Any ``n >= 0``. NaN and Inf samples are treated as 0 (and counted in :attr:`stats`).

        Returns
        -------
        out : ndarray [shape=(channels, n)]
            A new array of the frame's dtype, aligned with the input (no latency).

        Raises
        ------
        ParameterError
            Wrong shape or a non-float dtype; the stream's state is unchanged.
        """
        x = frame if isinstance(frame, np.ndarray) else np.asarray(frame)
        if x.ndim != 2 or x.shape[0] != self.channels:
            hint = "; pass frame.T" if x.ndim == 2 and x.shape[1] == self.channels and x.shape[0] != self.channels else ""
            raise ParameterError(f"frame must be shaped ({self.channels}, n) (channels, samples), got {x.shape}{hint}")
        if x.dtype.kind != "f":
            raise ParameterError(f"frame must hold float32 or float64 samples, got dtype {x.dtype}")
        n = x.shape[1]
        self._n_frames += 1
        if n == 0:
            return x.copy()
        if not math.isfinite(float(np.sum(x))):  # one pass; NaN/Inf (or an overflowing sum) land here
            finite = np.isfinite(x)
            if not finite.all():
                self._n_nonfinite += 1
                x = np.where(finite, x, 0.0).astype(x.dtype)

        w = self._worker
        w.write(x)
        published = w.published
        if published is not self._seen and published is not None and published.epoch == w.epoch:
            self._seen = published
            self._accept(published)

        filtered = self._active
        if not filtered:
            out = x.copy()
        elif n <= _CONTROL_MAX:
            out = self._run(x, n)
        else:
            # Equal sub-blocks of at most _CONTROL_MAX (23 ms at 44.1 kHz) between smoothing steps.
            out = np.empty(x.shape, dtype=np.float64)
            n_sub = -(-n // _CONTROL_MAX)
            bounds = [n * i // n_sub for i in range(n_sub + 1)]
            for start, stop in zip(bounds[:-1], bounds[1:]):
                out[:, start:stop] = self._run(x[:, start:stop], stop - start)
        if filtered:
            if not math.isfinite(float(np.sum(out))):  # finite but huge input overflowed the filter
                out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
                self._eq.reset()
            if x.dtype != np.float64:
                out = out.astype(x.dtype)
        # Last, so the woken worker competes for the GIL after this frame's work, not during it.
        self._since_request += n
        if self._since_request >= self._update_len and w.n_written >= self._min_analysis_len and w.post():
            self._since_request = 0
        return out

    def _resize(self, n_eq: int) -> None:
        """Grow the glide state and the filter to ``n_eq`` EQs with identity rows (gain 0 dB)."""
        extra = n_eq - self._smoothed.shape[0]
        flat = _to_perceptual([EQParams.flat()] * extra)
        self._smoothed = np.concatenate([self._smoothed, flat])
        self._designed = np.concatenate([self._designed, flat])
        self._eq.grow(n_eq)

    def _accept(self, published: _Published) -> None:
        """A new target from the worker: start (or redirect) the glide."""
        if published.target is None:  # bypass: gains to 0 dB, frequencies and Q stay
            if not self._active or self._bypassing:
                return
            self._bypassing = True
            target = self._smoothed.copy()
            target[:, _GAIN_COLUMNS] = 0.0
            target_gain = 0.0
        else:
            self._bypassing = False
            target = published.target
            target_gain = published.gain_db
            n_eq = self._smoothed.shape[0]
            if target.shape[0] > n_eq:
                if self._active:
                    self._resize(target.shape[0])
                else:
                    self._eq = StreamingEQ(self.sample_rate, self.channels, [EQParams.flat()] * target.shape[0],
                                           crossfade_ms=self.crossfade_ms)
                    self._smoothed = self._designed = np.zeros_like(target)
            elif target.shape[0] < n_eq:  # the missing EQs glide to identity (0 dB), where they stand
                padded = self._smoothed.copy()
                padded[:, _GAIN_COLUMNS] = 0.0
                padded[: target.shape[0]] = target
                target = padded
        was_settled = self._settled or not self._active
        self._target = target
        self._target_gain = target_gain
        self._settled = False
        self._exact = False
        self._settle_left = -1
        if was_settled:
            self._since_control = 0  # a new glide starts now (a running one keeps its elapsed samples)
        if not self._active:
            # From bypass: all gains at 0 dB, where frequencies and Q are inaudible, so they
            # start at the target's. An identity filter from zero state returns its input exactly.
            self._smoothed = target.copy()
            self._smoothed[:, _GAIN_COLUMNS] = 0.0
            self._smoothed_gain = 0.0
            self._design(self._smoothed, 0.0)
            self._eq.reset()  # takes the identity sections at once, state zero
            self._active = True

    def _design(self, values: np.ndarray, gain_db: float) -> None:
        sos = design_sos_batch(_to_physical(values), self.sample_rate)  # (n_eq, 13) -> (5 n_eq, 6)
        if gain_db != 0.0:
            sos[0, :3] *= 10.0 ** (gain_db / 20.0)  # the make-up gain rides on the first section
        self._eq.set_sos(sos)
        self._designed = values.copy()
        self._designed_gain = gain_db
        self._n_designs += 1

    def _run(self, x: np.ndarray, n: int) -> np.ndarray:
        """Smooth, redesign if needed, filter one sub-block of at most _CONTROL_MAX samples."""
        self._since_control += n
        if not self._settled and self._since_control >= _CONTROL_MIN:
            elapsed, self._since_control = self._since_control, 0
            decay = math.exp(-elapsed / self._tau_samples) if self._tau_samples > 0 else 0.0
            target = self._target
            self._smoothed = target + (self._smoothed - target) * decay
            self._smoothed_gain = self._target_gain + (self._smoothed_gain - self._target_gain) * decay
            if (np.max(np.abs(target - self._smoothed) / _STEP) <= 1.0
                    and abs(self._target_gain - self._smoothed_gain) <= _GAIN_STEP_DB):
                self._smoothed = target.copy()
                self._smoothed_gain = self._target_gain
                self._settled = True
        if not self._eq.fading and not self._exact:
            scale = _FINE if self._settled else 1.0
            if (np.max(np.abs(self._smoothed - self._designed) / _STEP) > scale
                    or abs(self._smoothed_gain - self._designed_gain) > _GAIN_STEP_DB * scale):
                self._design(self._smoothed, self._smoothed_gain)
            elif self._settled:
                self._exact = True  # the sections are the target's: nothing to check until the next target
        if self._exact and self._bypassing and not self._eq.fading:
            # Gliding to bypass has ended on identity sections: let the tail ring out, then drop the filter.
            if self._settle_left < 0:
                self._settle_left = self._settle_len
            self._settle_left -= n
            if self._settle_left < 0:
                self._active = self._bypassing = False
                self._eq.reset()
        return self._eq.process_unchecked(x)


def _pink_psd(freqs_hz: np.ndarray) -> np.ndarray:
    """A pink PSD (1/f, flat below 20 Hz): the stand-in spectrum before any audio is analysed."""
    return 1.0 / np.maximum(freqs_hz, 20.0)


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ParameterError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)
