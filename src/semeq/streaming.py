"""The real-time adaptive EQ: frame-based, analysis off the audio path, click-free glides.

:class:`StreamingAdaptiveEQ` runs on two threads:

* the **audio thread** calls :meth:`~StreamingAdaptiveEQ.process` once per frame. It copies the
  frame into a ring buffer, smooths the EQ parameters towards the newest target and filters the
  frame through a :class:`~semeq.dsp.StreamingEQ`. It never waits for the worker: the hand-off
  is one reference assignment (atomic in CPython), and requests go through a
  :class:`queue.SimpleQueue`, whose ``put`` never blocks.
* a daemon **worker thread** takes the last ``analysis_window_s`` seconds from the ring buffer
  every ``update_interval`` frames, encodes them (slow: a neural encoder) and publishes the
  target cascade ``(decode(z_final), decode(z_audio).inverted())``.

Behaviour worth knowing
-----------------------
* **Start-up.** Until the first analysis lands the output is the input, exactly. The first
  analysis is requested once ``min(0.5 s, analysis_window_s)`` of audio has arrived; it analyses
  what there is. Later analyses use a window that grows to ``analysis_window_s`` and then slides.
* **Smoothing** runs in perceptual units: gains in dB, frequencies and Q as logarithms, each a
  one-pole glide with time constant ``smoothing_ms`` computed from the samples actually elapsed,
  so the glide does not depend on the frame size. Sections are redesigned only when a smoothed
  value has moved by a perceptible amount (0.01 dB, 0.1 % in frequency or Q) since the last
  design, and every redesign is cross-faded by the StreamingEQ over ``crossfade_ms``; a
  redesign waits for the running fade, so sections change at most every ``crossfade_ms``. Once the glide is within that
  step of its target it snaps to the target and designs it exactly.
* **Intensity 0** glides every gain to 0 dB; when the fade has finished and the filter's tail has
  rung out (``_SETTLE_S``), the engine drops the filter and returns the input sample for sample.
* **Bad frames.** A frame of the wrong shape or dtype raises :class:`~semeq.errors.ParameterError`
  and leaves the stream as it was. NaN and Inf samples are replaced by 0 before they reach the
  filter or the ring buffer, so the output stays finite and the next clean frame is filtered as
  usual. An exception inside the analyzer is recorded in :attr:`~StreamingAdaptiveEQ.stats` and
  the stream keeps its last EQ.
* **Latency** is 0 samples: the EQ is IIR, without look-ahead; output sample ``i`` depends on
  input samples ``<= i`` only.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .dsp import StreamingEQ
from .dsp.biquad import _check_sample_rate, design_sos_batch
from .errors import ParameterError, SemeqError
from .params import GAIN_INDICES, N_PARAMS, EQParams, check_unit as _check_unit

__all__ = ["SemanticAnalyzer", "StreamingAdaptiveEQ", "StreamStats"]


@runtime_checkable
class SemanticAnalyzer(Protocol):
    """What the streaming engine needs from the semantic models (``semeq.adaptive.SemanticEQ``)."""

    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Latent of a recording: ``audio`` (channels, n) -> z_audio (latent_dim,). Slow; worker thread."""
        ...

    def target_latent(self, target: str, blend: str | None = None, alpha: float = 0.0) -> np.ndarray:
        """Latent of a word (optionally blended with a second word by ``alpha``).

        Raises :class:`~semeq.errors.UnknownWordError` for a word outside the vocabulary.
        """
        ...

    def cascade_for(self, z_audio: np.ndarray, z_target: np.ndarray, intensity: float) -> tuple[EQParams, EQParams]:
        """``(decode(z_final), decode(z_audio).inverted())`` with ``z_final`` moved toward the target. Cheap."""
        ...


# Columns of the 13-vector smoothed on a log scale (frequencies and Q); the gains stay in dB.
_LOG_COLUMNS = np.array([i for i in range(N_PARAMS) if i not in GAIN_INDICES])
_GAIN_COLUMNS = np.array(GAIN_INDICES)
# A step worth a redesign: 0.01 dB in gain, 0.1 % in frequency or Q (log units).
_STEP = np.where(np.isin(np.arange(N_PARAMS), GAIN_INDICES), 0.01, 1e-3)
# After snapping to the target, the designed sections follow it to within 1/100 of a step.
_FINE_STEP = _STEP / 100.0
_N_EQ = 2  # the adaptive cascade: (decode(z_final), decode(z_audio).inverted())
_MIN_ANALYSIS_S = 0.5
_SETTLE_S = 0.3  # an identity filter rings out this long before the engine drops it (bypass)
_CONTROL_MIN = 64  # samples between smoothing steps when frames are tiny
_CONTROL_MAX = 1024  # larger frames are processed in sub-blocks of at most this many samples


def _to_perceptual(cascade: Sequence[EQParams]) -> np.ndarray:
    """(n_eq,) EQParams -> (n_eq, 13): gains in dB, log frequency, log Q."""
    values = np.stack([p.to_vector() for p in cascade])  # (n_eq, 13)
    values[:, _LOG_COLUMNS] = np.log(values[:, _LOG_COLUMNS])
    return values


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
    """Analyses skipped because the audio thread overwrote the window while it was copied."""


@dataclass(frozen=True)
class _Target:
    z_target: np.ndarray
    intensity: float
    word: str


@dataclass(frozen=True)
class _Published:
    """What the worker (or set_target) hands to the audio thread, in one reference."""

    epoch: int
    z_audio: np.ndarray
    target: np.ndarray | None  # (2, 13) perceptual, or None = bypass
    cascade: tuple[EQParams, ...] | None


class _Worker:
    """State shared by the audio thread and the analysis thread.

    The thread runs :meth:`run` and holds a reference to this object only, never to the
    engine, so an engine that is dropped without ``close()`` is still collected (a finalizer
    stops the thread).
    """

    def __init__(self, analyzer: SemanticAnalyzer, sample_rate: float, channels: int, window_len: int):
        self.analyzer = analyzer
        self.sample_rate = sample_rate
        self.window_len = window_len
        self.capacity = 2 * window_len  # slack: the audio thread may write a whole window during a copy
        self.ring = np.zeros((channels, self.capacity), dtype=np.float32)
        self.snapshot = np.zeros((channels, window_len), dtype=np.float32)
        self.n_written = 0  # absolute samples written (audio thread)
        self.write_claim = 0  # absolute end of the write in progress, set before writing
        self.epoch = 0  # bumped by reset(): results of older requests are ignored
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.posted_seq = 0
        self.picked_seq = 0
        self.served_seq = 0
        self.done = threading.Condition()
        self.analyzer_lock = threading.Lock()  # analyzer calls are serialised (worker vs set_target)
        self.target: _Target | None = None
        self.published: _Published | None = None
        self.n_analyses = 0
        self.analysis_cpu_s = 0.0
        self.n_errors = 0
        self.last_error: str | None = None
        self.n_torn = 0

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
        if self.picked_seq != self.posted_seq:
            return False
        self.posted_seq += 1
        self.queue.put((self.posted_seq, self.n_written, self.epoch))
        return True

    # -- worker thread -----------------------------------------------------------------------
    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
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

    def _analyse(self, pos: int, epoch: int) -> None:
        n = min(self.window_len, pos)
        start = pos - n
        i = start % self.capacity
        first = min(n, self.capacity - i)
        self.snapshot[:, :first] = self.ring[:, i : i + first]
        if first < n:
            self.snapshot[:, first:n] = self.ring[:, : n - first]
        if self.write_claim > start + self.capacity:  # overwritten while we copied
            self.n_torn += 1
            return
        audio = self.snapshot[:, :n].astype(np.float64)
        with self.analyzer_lock:
            z_audio = np.asarray(self.analyzer.encode(audio, self.sample_rate), dtype=np.float64)
            if epoch != self.epoch:
                return
            self.publish(z_audio, epoch)
        self.n_analyses += 1

    # -- either thread (holding analyzer_lock) -----------------------------------------------
    def publish(self, z_audio: np.ndarray, epoch: int) -> None:
        target = self.target
        if target is None:
            self.published = _Published(epoch=epoch, z_audio=z_audio, target=None, cascade=None)
            return
        if target.intensity == 0.0:
            self.published = _Published(epoch=epoch, z_audio=z_audio, target=None, cascade=None)
            return
        cascade = tuple(self.analyzer.cascade_for(z_audio, target.z_target, target.intensity))
        if len(cascade) != _N_EQ or not all(isinstance(p, EQParams) for p in cascade):
            raise ParameterError(f"cascade_for must return {_N_EQ} EQParams, got {cascade!r}")
        self.published = _Published(epoch=epoch, z_audio=z_audio, target=_to_perceptual(cascade), cascade=cascade)

    def stop(self) -> None:
        self.queue.put(None)


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
        waits for the running fade, so this is also the shortest interval between redesigns:
        the default 20 ms gives a glide that is piecewise cross-faded at up to 50 updates/s
        (``benchmarks/bench_stream.py --crossfade-ms 10|20`` on the 2-core dev machine: median
        process() 94 us with 10 ms, 47 us with 20 ms, on music where the target keeps moving).
    analyzer : SemanticAnalyzer, optional
        The models; ``semeq.adaptive.SemanticEQ()`` when omitted.

    Notes
    -----
    Thread use: call :meth:`process` and :meth:`reset` from one (audio) thread;
    :meth:`set_target` may be called from any thread. Close the engine (or use it as a context
    manager) to stop its worker thread.

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
        analyzer: SemanticAnalyzer | None = None,
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
        if analyzer is None:
            try:
                from .adaptive import SemanticEQ  # torch and the weights load only when needed
            except ImportError as exc:
                raise SemeqError(f"the semantic models are not available ({exc}); pass an analyzer") from None
            analyzer = SemanticEQ()
        for method in ("encode", "target_latent", "cascade_for"):
            if not callable(getattr(analyzer, method, None)):
                raise ParameterError(f"analyzer must implement SemanticAnalyzer; it has no {method}()")
        self.analyzer = analyzer

        window_len = max(int(round(self.analysis_window_s * self.sample_rate)), 1)
        self._min_analysis_len = min(int(round(_MIN_ANALYSIS_S * self.sample_rate)), window_len)
        self._update_len = self.update_interval * self.frame_size
        self._tau_samples = self.smoothing_ms * 1e-3 * self.sample_rate
        self._settle_len = int(round(_SETTLE_S * self.sample_rate))
        self._worker = _Worker(analyzer, self.sample_rate, self.channels, window_len)
        self._thread = threading.Thread(target=self._worker.run, name="semeq-analysis", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, self._worker.stop)
        flat = [EQParams.flat()] * _N_EQ
        self._eq = StreamingEQ(self.sample_rate, self.channels, flat, crossfade_ms=self.crossfade_ms)
        self._n_frames = 0
        self._n_designs = 0
        self._n_nonfinite = 0
        self._init_state()

    def _init_state(self) -> None:
        self._since_request = 0
        self._seen: _Published | None = None
        self._active = False  # False: the output is the input, exactly
        self._bypassing = False  # gliding (or settling) towards bypass
        self._target: np.ndarray | None = None  # (2, 13) perceptual, what the glide heads for
        self._smoothed = np.zeros((_N_EQ, N_PARAMS))
        self._designed = np.zeros((_N_EQ, N_PARAMS))
        self._settled = True
        self._since_control = 0
        self._settle_left = -1  # >= 0: counting down to bypass
        self._eq.reset()

    # -- control -----------------------------------------------------------------------------
    def set_target(self, word: str, intensity: float = 1.0, blend: str | None = None, alpha: float = 0.0) -> None:
        """Move towards ``word`` (optionally blended with ``blend`` by ``alpha``) by ``intensity``.

        The change glides in over ``smoothing_ms``. Intensity 0 glides to an exact bypass.

        Raises
        ------
        UnknownWordError
            ``word`` or ``blend`` is not in the vocabulary (the stream is left as it was).
        ParameterError
            ``intensity`` or ``alpha`` is outside [0, 1].
        """
        if not isinstance(word, str) or not word.strip():
            raise ParameterError(f"target must be a non-empty word, got {word!r}")
        intensity = _check_unit("intensity", intensity)
        alpha = _check_unit("alpha", alpha)
        worker = self._worker
        with worker.analyzer_lock:
            z_target = np.asarray(worker.analyzer.target_latent(word, blend, alpha), dtype=np.float64)
            worker.target = _Target(z_target=z_target, intensity=intensity, word=word)
            # With an analysis at hand the new target is ready now, not at the next analysis.
            published = worker.published
            if published is not None and published.epoch == worker.epoch:
                worker.publish(published.z_audio, published.epoch)

    @property
    def target(self) -> tuple[str, float] | None:
        """The current target word and intensity, or None before :meth:`set_target`."""
        target = self._worker.target
        return None if target is None else (target.word, target.intensity)

    @property
    def current_cascade(self) -> tuple[EQParams, ...] | None:
        """The newest target cascade published by the analysis (None before the first, or in bypass)."""
        published = self._worker.published
        return None if published is None else published.cascade

    @property
    def current_params(self) -> tuple[EQParams, ...]:
        """The cascade the glide has reached (two flat EQs while bypassed)."""
        if not self._active:
            return (EQParams.flat(),) * _N_EQ
        physical = self._smoothed.copy()
        physical[:, _LOG_COLUMNS] = np.exp(self._smoothed[:, _LOG_COLUMNS])
        return tuple(EQParams.clipped(row) for row in physical)

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
        )

    def wait_for_analysis(self, timeout: float | None = None) -> bool:
        """Block until every analysis requested so far has finished; False on timeout.

        Never call this from an audio callback. The file front end calls it between frames so
        a render is reproducible and matches live playback, where an analysis (a few ms) ends
        well within a frame's period.
        """
        w = self._worker
        with w.done:
            return w.done.wait_for(lambda: w.served_seq >= w.posted_seq or not self._thread.is_alive(), timeout)

    def reset(self) -> None:
        """Forget the past: empty ring buffer and filter, bypass until the next analysis lands.

        The target set by :meth:`set_target` is kept. Call from the audio thread.
        """
        w = self._worker
        w.epoch += 1
        w.n_written = w.write_claim = 0
        w.ring.fill(0.0)
        self._init_state()

    def close(self) -> None:
        """Stop the worker thread. :meth:`process` keeps working with the last EQ."""
        if self._finalizer.alive:
            self._finalizer()
            self._thread.join(timeout=5.0)

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
            raise ParameterError(f"frame must be shaped ({self.channels}, n) (channels, samples), got {x.shape}")
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

    def _accept(self, published: _Published) -> None:
        """A new target from the worker: start (or redirect) the glide."""
        if published.target is None:  # bypass: gains to 0 dB, frequencies and Q stay
            if not self._active or self._bypassing:
                return
            self._bypassing = True
            target = self._smoothed.copy()
            target[:, _GAIN_COLUMNS] = 0.0
        else:
            self._bypassing = False
            target = published.target
        was_settled = self._settled or not self._active
        self._target = target
        self._settled = False
        self._settle_left = -1
        if was_settled:
            self._since_control = 0  # a new glide starts now (a running one keeps its elapsed samples)
        if not self._active:
            # From bypass: all gains at 0 dB, where frequencies and Q are inaudible, so they
            # start at the target's. An identity filter from zero state returns its input exactly.
            self._smoothed = target.copy()
            self._smoothed[:, _GAIN_COLUMNS] = 0.0
            self._design(self._smoothed)
            self._eq.reset()  # takes the identity sections at once, state zero
            self._active = True

    def _design(self, values: np.ndarray) -> None:
        physical = values.copy()
        physical[:, _LOG_COLUMNS] = np.exp(values[:, _LOG_COLUMNS])
        self._eq.set_sos(design_sos_batch(physical, self.sample_rate))  # (2, 13) -> (10, 6)
        self._designed = values.copy()
        self._n_designs += 1

    def _run(self, x: np.ndarray, n: int) -> np.ndarray:
        """Smooth, redesign if needed, filter one sub-block of at most _CONTROL_MAX samples."""
        self._since_control += n
        if not self._settled and self._since_control >= _CONTROL_MIN:
            elapsed, self._since_control = self._since_control, 0
            decay = math.exp(-elapsed / self._tau_samples) if self._tau_samples > 0 else 0.0
            target = self._target
            self._smoothed = target + (self._smoothed - target) * decay
            if np.max(np.abs(target - self._smoothed) / _STEP) <= 1.0:
                self._smoothed = target.copy()
                self._settled = True
        if not self._eq.fading:
            step = _FINE_STEP if self._settled else _STEP
            if np.max(np.abs(self._smoothed - self._designed) / step) > 1.0:
                self._design(self._smoothed)
            elif self._settled and self._bypassing:
                # Gliding to bypass has ended on identity sections: let the tail ring out, then drop the filter.
                if self._settle_left < 0:
                    self._settle_left = self._settle_len
                self._settle_left -= n
                if self._settle_left < 0:
                    self._active = self._bypassing = False
                    self._eq.reset()
        return self._eq.process(x)


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ParameterError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)
