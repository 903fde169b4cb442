"""The web app's one door into semeq: every call it makes into the library goes through here.

One kitchen: nothing here filters, measures levels or designs an EQ by itself.

- What the user asked for is ONE :class:`semeq.request.EQRequest`, built once per settings
  change by :meth:`Engine.request` (``SemanticEQ.request``: the target phrase understood, the
  combination of settings checked) and passed down to everything below.
- An upload is analysed once (:meth:`Engine.analyze`): the measurement every design reuses, the
  semantic profile and the balance against the music reference. The file is measured as
  :func:`semeq.pipeline.apply_file` measures it (the whole file at 44.1 kHz or up to 4 minutes,
  else the pipeline's excerpt), so the web's EQ is the one ``semeq apply`` decides. No decoded
  samples are kept afterwards: previews read their region from the file.
- The full render and ``/api/apply`` are the library's file pipeline
  (:func:`semeq.pipeline.render_file` with the decided EQ, :func:`semeq.pipeline.apply_file`):
  two passes over the file in blocks, constant memory, written atomically.
- Presets for EQ plugins are :mod:`semeq.export`'s, written from the render's settings dict
  through :func:`semeq.export.read_settings` -- the reader ``semeq export`` uses -- so a preset
  downloaded from the page is the file ``semeq export`` writes from that page's settings download.
- The loop preview is the library's array path on the region, as :meth:`SemanticEQ.apply` runs
  it (:func:`semeq.dsp.apply_eq`, :func:`semeq.loudness.level_stats`,
  :func:`semeq.loudness.output_gain`; the ceiling on the sample peak, see :meth:`Engine.preview`)
  on the EQ of :meth:`SemanticEQ.design`, whose 5-band fit is warm-started from the previous
  preview's (within the fit bound, the same EQ). With a dynamic request (``dynamic=True``) the
  preview runs :func:`semeq.dynamic.render_dynamic` before the static sections, the call
  ``SemanticEQ.apply`` makes (its detector starts at the loop's start, the download's at the
  file's), and both designs get the file's typical balance per region as the pipeline reads it.

One :class:`Engine` per server process holds one SemanticEQ, loaded once under a lock. Its calls
are inference only (no state changes but caches), so requests run them concurrently.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ..errors import AudioFileError, ParameterError, UnknownWordError
from ..request import MODES

if TYPE_CHECKING:
    from ..adaptive import AdaptiveEQ, IntensitySuggestion, SemanticEQ
    from ..io import AudioInfo
    from ..loudness import LevelStats
    from ..phrases import Interpretation
    from ..pipeline import ApplyFileResult, RenderResult
    from ..reference import Measurement
    from ..request import EQRequest

__all__ = ["Engine", "Analysis", "Design", "MODES", "MODE_HELP", "suggestions_of", "format_suffix", "media_type", "wav_header",
           "wav_bytes", "float32_wav_chunks", "applied_eq", "export_formats", "preset", "presets", "preset_media_type"]

log = logging.getLogger("semeq.web")

MODE_HELP = {
    "toward": "adds what the recording lacks of the word, band by band, and leaves alone what it already has "
              "(never against the word, at most twice the word's own EQ)",
    "match": "moves the whole balance toward the word's point by the intensity, in either direction",
    "static": "the word's own 5-band EQ scaled by the intensity, whatever the recording",
    "latent": "the original seed rule: the audio encoder reads the recording's latent and moves it toward the "
              "word's latent; kept for comparison (slower; can go against the word)",
}
"""One line per mode, shown in the page (the library's definitions: :mod:`semeq.adaptive`)."""
_FORMAT_SUFFIX = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3", "AIFF": ".aiff"}
_MEDIA_TYPE = {"WAV": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg", "MP3": "audio/mpeg", "AIFF": "audio/aiff"}
ANALYSIS_SAMPLE_RATE = 44100
"""Files at this rate are measured whole by the pipeline; others from its excerpt (semeq.pipeline)."""
NEED_SMALL = 0.3
"""Toward mode: below this need (0 = the recording has the word, 1 = typical music) the page says why
the change is small."""
_CLOSEST = re.compile(r"closest known words: ([^;]+)")


def suggestions_of(exc: UnknownWordError) -> list[str]:
    """The words an UnknownWordError suggests (its ``suggestions``, else the ones its message lists)."""
    words = getattr(exc, "suggestions", None)
    if words:
        return [str(w) for w in words][:8]
    m = _CLOSEST.search(str(exc))
    return [w.strip() for w in m.group(1).split(",") if w.strip()][:8] if m else []


def format_suffix(fmt: str) -> str:
    """The file suffix of a decoded format ("FLAC" -> ".flac"); the pipeline keeps a format by its suffix."""
    return _FORMAT_SUFFIX.get(fmt, ".wav")


def media_type(fmt: str) -> str:
    """The media type of a decoded format ("FLAC" -> "audio/flac")."""
    return _MEDIA_TYPE.get(fmt, "application/octet-stream")


def applied_eq(eq: "AdaptiveEQ") -> dict:
    """The ``eq`` block ``semeq apply --json`` prints, without its curves: what was applied
    (``cascade``: the one 5-band setting, or ``[]`` for the bypass) and how it is named (``target``
    is the phrase's label, as the CLI names it). :func:`semeq.export.read_settings` reads the
    cascade and the preset's name from it, exactly as it reads the CLI's facts."""
    d = eq.to_dict()
    return {k: d[k] for k in ("target", "blend", "alpha", "intensity", "mode", "cascade")}


def export_formats() -> list[dict]:
    """Every preset format of :data:`semeq.export.FORMATS`: ``format``, ``title``, ``hosts``, ``suffix``."""
    from ..export import FORMATS

    return [{"format": f.name, "title": f.title, "hosts": f.hosts, "suffix": f.suffix + (".zip" if f.bundle else "")}
            for f in FORMATS.values()]


def preset(fmt: str, settings: dict, stem: str | None = None) -> tuple[str, bytes]:
    """One preset of a settings dict: ``semeq.export.export_bytes(fmt, read_settings(settings))``.

    ``stem`` names the file (an LV2 bundle comes as ``STEM.preset.lv2.zip``); by default the
    settings' label, as :func:`semeq.export.export_bytes` names it.

    Raises
    ------
    ParameterError
        An unknown format, settings that hold no single 5-band setting, or a value the format's
        plugin cannot hold (naming the band and the limit).
    """
    from ..export import export_bytes, get_format, read_settings

    return export_bytes(get_format(fmt), read_settings(settings, where="the settings"), stem)


def presets(settings: dict, stem: str) -> dict[str, "tuple[str, bytes] | ParameterError"]:
    """Every format's preset of one render (``STEM_FORMAT.suffix``), or why that format refuses it."""
    from ..export import FORMATS

    out: dict[str, tuple[str, bytes] | ParameterError] = {}
    for name in FORMATS:
        try:
            out[name] = preset(name, settings, f"{stem}_{name}")
        except ParameterError as exc:
            out[name] = exc
    return out


_PRESET_MEDIA = {".zip": "application/zip", ".json": "application/json", ".xml": "application/xml",
                 ".txt": "text/plain; charset=utf-8"}


def preset_media_type(filename: str) -> str:
    """The media type of a preset download, from its file name's ending."""
    return next((m for suffix, m in _PRESET_MEDIA.items() if filename.lower().endswith(suffix)),
                "application/octet-stream")


def _strip_path(exc: Exception, path: Path) -> str:
    """A library message without our private temporary path (the client never named one)."""
    return str(exc).replace(f"{path}: ", "").replace(str(path), "the file")


def _finite_or_none(values) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else round(float(v), 3) for v in np.asarray(values, dtype=np.float64)]


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """One upload, analysed once: what every design of it reuses and what the page shows."""

    info: "AudioInfo"
    measurement: "Measurement"
    profile: list[dict]
    balance: dict
    cache: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """Read on demand: ``typical_db``, the file's median balance per dynamic region."""

    @property
    def sample_rate(self) -> int:
        return int(self.info.sample_rate)

    @property
    def channels(self) -> int:
        return int(self.info.channels)

    @property
    def duration_s(self) -> float:
        return self.info.frames / self.info.sample_rate

    @property
    def suffix(self) -> str:
        return format_suffix(self.info.format)

    @property
    def media_type(self) -> str:
        return media_type(self.info.format)

    def to_dict(self) -> dict:
        return {"profile": self.profile, "balance": self.balance}


@dataclass(frozen=True, kw_only=True)
class Design:
    """The EQ decided for one upload and one request, with what the page explains about it."""

    request: "EQRequest"
    eq: "AdaptiveEQ"
    suggestion: "IntensitySuggestion | None" = None
    need: float | None = None
    """Toward mode: how much of the word the recording lacks (0: all there; 1: typical music)."""

    @property
    def is_bypass(self) -> bool:
        return self.eq.is_bypass

    @property
    def intensity(self) -> float:
        return float(self.eq.intensity)

    @property
    def notes(self) -> list[str]:
        notes = list(self.eq.notes)
        if (self.need is not None and self.need < NEED_SMALL and not self.eq.is_bypass
                and self.request.mode == "toward"):
            notes.append(f"the recording already has much of '{self.request.label}' (need {self.need:.2f}; "
                         "0: all there, 1: typical music): mode toward adds only what is missing, so the change is "
                         f"small ({self.eq.change_rms_db:.2f} dB RMS); mode static applies the word's own EQ")
        return notes

    def settings(self) -> dict:
        """What was asked, as the page and the ABX record show it."""
        r = self.request
        return {"target": r.target.text, "label": r.label, "slug": r.target.slug, "intensity": r.intensity,
                "auto_intensity": r.auto, "intensity_source": r.intensity_source, "mode": r.mode,
                "blend": None if r.blend is None else r.blend.text,
                "blend_slug": None if r.blend is None else r.blend.slug, "alpha": r.alpha, "dynamic": r.dynamic}

    def to_dict(self) -> dict:
        from ..adaptive import CURVE_FREQS_HZ

        eq = self.eq
        step = max(1, len(CURVE_FREQS_HZ) // 128)
        fit = eq.fit
        return {"settings": self.settings(), "request": self.request.to_dict(), "intensity": round(eq.intensity, 4),
                "is_bypass": eq.is_bypass,
                "curve": {"freqs_hz": np.round(CURVE_FREQS_HZ[::step], 1).tolist(),
                          "gain_db": np.round(eq.curve_db[::step], 3).tolist()},
                "bands": None if eq.params is None else eq.params.to_dict(),
                "fit_rms_error_db": None if fit is None or eq.is_bypass else round(float(fit.rms_error_db), 3),
                "change_rms_db": round(eq.change_rms_db, 3),
                "suggestion": None if self.suggestion is None else
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self.suggestion).items()},
                "need": None if self.need is None else round(self.need, 3), "notes": self.notes}


class Engine:
    """One loaded SemanticEQ shared by every request of a server process.

    Parameters
    ----------
    models : str or Path, optional
        Folder of trained models; default the shipped weights.
    """

    def __init__(self, models: str | Path | None = None, *, seq: "SemanticEQ | None" = None) -> None:
        self._models = models
        self._seq: "SemanticEQ | None" = seq
        self._lock = threading.RLock()
        self._vocabulary: list[dict] | None = None
        self._ready = {"models": seq is not None, "unseen_words": False}

    @property
    def seq(self) -> "SemanticEQ":
        with self._lock:
            if self._seq is None:
                from ..adaptive import SemanticEQ

                self._seq = SemanticEQ.load(self._models)
                self._ready["models"] = True
            return self._seq

    def warm_up(self) -> float:
        """Load what the first requests would otherwise wait for: the models, the phrase reader's
        lexicon, then the map that places unseen words (:func:`semeq.text_embedding.unseen_word_map`: the text embedding read
        and the ridge map fitted, up to 0.7 s, which the first unseen word typed would pay).
        Meant for a background thread at server start; returns the seconds it took. A failure
        is logged, never raised: the first unseen word then reports it as its own error."""
        t0 = time.perf_counter()
        try:
            seq = self.seq
            from ..text_embedding import embedding_available, unseen_word_map

            seq.understand("warm")  # the phrase reader's lexicon, built on first use
            if embedding_available():
                unseen_word_map(seq.eq_model).place("warm")  # fitted, and the tokenizer run once
                self._ready["unseen_words"] = True
        except Exception:  # noqa: BLE001 - a warm-up must never take the server down
            log.warning("warm-up failed; the first request will load what it needs", exc_info=True)
        return time.perf_counter() - t0

    def ready(self) -> dict:
        """What is loaded: ``models`` (the SemanticEQ) and ``unseen_words`` (the embedding map)."""
        return dict(self._ready)

    def capabilities(self) -> dict:
        return {"modes": list(MODES), "mode_help": {m: MODE_HELP.get(m, "") for m in MODES},
                "export_formats": export_formats()}

    def vocabulary(self) -> list[dict]:
        """Every word: ``word``, ``language`` ("en"/"es": the survey that collected it), ``confidence``."""
        if self._vocabulary is None:
            self._vocabulary = [{"word": e.word, "language": e.language, "confidence": round(float(e.confidence), 3),
                                 "low_confidence": bool(e.low_confidence)} for e in self.seq.eq_model.vocabulary]
        return self._vocabulary

    # -- what the user asked for --------------------------------------------------------
    def understand(self, text: str) -> "Interpretation":
        """The phrase understood (UnknownWordError, with suggestions, when nothing is)."""
        return self.seq.understand(text)

    def request(self, target: str, intensity: "float | str | None", *, mode: str, blend: str | None,
                alpha: float | None, dynamic: bool = False) -> "EQRequest":
        """The ONE request of a settings change (``intensity``: a number, ``"auto"``, or None for the
        phrase's amount words, else the default; ``dynamic``: add the dynamic part)."""
        return self.seq.request(target, intensity, mode=mode, blend=blend, alpha=alpha, dynamic=dynamic)

    # -- files ----------------------------------------------------------------------------
    @staticmethod
    def probe(path: Path) -> "AudioInfo":
        """The file's format from its header (never its name); AudioFileError when it is not audio."""
        from ..io import AudioInfo, open_audio

        try:
            with open_audio(path) as f:
                info = AudioInfo(sample_rate=int(f.samplerate), channels=int(f.channels), frames=int(f.frames),
                                 format=f.format, subtype=f.subtype)
        except AudioFileError as exc:
            raise AudioFileError(_strip_path(exc, path)) from None
        if info.sample_rate <= 0:
            raise AudioFileError("not a readable audio file (no sample rate)")
        return info

    def analyze(self, path: Path, top_k: int = 12) -> Analysis:
        """Decode the file once (by content), measure it as the pipeline does, profile it; keep no samples."""
        from ..io import ANALYSIS_FULL_MAX_S, read_analysis_excerpt

        try:
            audio, info = self._decode(path)
        except AudioFileError as exc:
            raise AudioFileError(_strip_path(exc, path)) from None
        sample_rate = info.sample_rate
        seq = self.seq
        profile = seq.profile(audio, sample_rate, top_k=top_k)
        if sample_rate == ANALYSIS_SAMPLE_RATE or info.frames <= ANALYSIS_FULL_MAX_S * sample_rate:
            measurement = seq.measure(audio, sample_rate)  # what the pipeline measures: the whole file
        else:
            del audio
            measurement = seq.measure(read_analysis_excerpt(path)[0], sample_rate)  # the pipeline's excerpt
        b = seq.reference.balance(measurement)
        balance = {"freqs_hz": np.round(np.asarray(b.freqs_hz, dtype=np.float64), 1).tolist(),
                   "balance_db": _finite_or_none(b.balance_db), "cutoff_hz": round(float(b.cutoff_hz), 1),
                   "corridor": {f"p{int(q)}": _finite_or_none(v) for q, v in b.corridor_db.items()}}
        entries = [{"word": e.word, "language": e.language, "confidence": round(float(e.confidence), 3),
                    "low_confidence": bool(e.low_confidence), "score": round(float(e.score), 4),
                    "percentile": round(float(e.percentile), 1)} for e in profile.entries]
        return Analysis(info=info, measurement=measurement, profile=entries, balance=balance)

    def _decode(self, path: Path) -> "tuple[np.ndarray, AudioInfo]":
        """The whole file as float64 (channels, samples), read block by block straight into place (one
        copy: ``semeq.io.load_audio`` holds two at its peak), with load_audio's checks."""
        from ..io import BLOCK_FRAMES, open_audio, read_frames, wav_is_truncated

        info = self.probe(path)
        if info.frames <= 0:
            raise AudioFileError("the file holds no audio (zero samples)")
        audio = np.empty((info.channels, info.frames))
        pos = 0
        with open_audio(path) as f:
            while pos < info.frames:
                block = read_frames(f, path, min(BLOCK_FRAMES, info.frames - pos))  # NaN/Inf refused here
                if block.shape[1] == 0:
                    break
                audio[:, pos : pos + block.shape[1]] = block
                pos += block.shape[1]
        if pos < info.frames:
            raise AudioFileError(f"truncated: the header promises {info.frames} frames, only {pos} could be read")
        if info.format == "WAV" and wav_is_truncated(path):
            raise AudioFileError("truncated: the WAV data chunk is shorter than its header says")
        return audio, info

    @staticmethod
    def read_region(path: Path, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` of the file, (channels, samples) float64 (seeking is sample-exact)."""
        from ..io import open_audio, read_frames

        with open_audio(path) as f:
            f.seek(start)
            return read_frames(f, path, stop - start)

    # -- the EQ -----------------------------------------------------------------------------
    def _latent_audio(self, request: "EQRequest", path: Path) -> "tuple[np.ndarray, int] | None":
        """Mode latent's encoder reads audio: the pipeline's excerpt of the file (others need none)."""
        if request.mode != "latent":
            return None
        from ..io import read_analysis_excerpt

        excerpt, sample_rate, _ = read_analysis_excerpt(path)
        return excerpt, sample_rate

    def _need(self, request: "EQRequest", analysis: Analysis) -> float | None:
        if request.mode != "toward":
            return None
        seq = self.seq
        return float(seq.suggest_intensity(None, analysis.sample_rate, request,
                                           balance=seq.reference.balance(analysis.measurement)).need)

    @staticmethod
    def _typical_db(request: "EQRequest", analysis: Analysis, path: Path) -> "np.ndarray | None":
        """A dynamic request's reference per region, read as :func:`semeq.pipeline.apply_file` reads it:
        a 44.1 kHz file whole in the accumulator's blocks, else the analysis excerpt in the pipeline's."""
        if not request.dynamic:
            return None
        if "typical_db" not in analysis.cache:
            from ..dynamic import FrameBalance
            from ..frontend import MAX_BLOCK
            from ..io import BLOCK_FRAMES, iter_blocks, read_analysis_excerpt

            balance = FrameBalance(analysis.sample_rate, analysis.channels)
            if analysis.sample_rate == ANALYSIS_SAMPLE_RATE:
                for block in iter_blocks(path, MAX_BLOCK):
                    balance.update(block)
            else:
                excerpt = read_analysis_excerpt(path)[0]
                for i in range(0, excerpt.shape[1], BLOCK_FRAMES):
                    balance.update(excerpt[:, i : i + BLOCK_FRAMES])
            analysis.cache["typical_db"] = balance.median_db()
        return analysis.cache["typical_db"]

    def decide(self, analysis: Analysis, request: "EQRequest", path: Path) -> Design:
        """The full design: ``SemanticEQ.decide`` on the pipeline's measurement (what the download applies)."""
        audio = self._latent_audio(request, path)
        eq, suggestion = self.seq.decide(request, None if audio is None else audio[0], analysis.sample_rate,
                                         measurement=analysis.measurement,
                                         typical_db=self._typical_db(request, analysis, path))
        return Design(request=request, eq=eq, suggestion=suggestion, need=self._need(request, analysis))

    def design_preview(self, analysis: Analysis, request: "EQRequest", path: Path, *,
                       start: "Design | None" = None) -> Design:
        """The preview's design: ``SemanticEQ.design`` with the 5-band fit warm-started from ``start``
        when only the intensity moved since it."""
        seq = self.seq
        audio = self._latent_audio(request, path)
        suggestion = None
        if request.auto:
            suggestion = seq.suggest_intensity(None if audio is None else audio[0], analysis.sample_rate, request,
                                               balance=seq.reference.balance(analysis.measurement))
        # Warm-start only from a preview of the same target and mode (a moved intensity): the
        # warm fit then stays within the fit bound of the cold fit the download uses, where a
        # start from another word's fit could land elsewhere (2.3 dB apart at one frequency, measured).
        same = (start is not None and start.eq.params is not None
                and (start.request.target, start.request.blend, start.request.alpha, start.request.mode)
                == (request.target, request.blend, request.alpha, request.mode))
        warm = start.eq.params if same else None
        eq = seq.design(analysis.measurement, analysis.sample_rate, request,
                        intensity=None if suggestion is None else suggestion.intensity, audio=audio, start=warm,
                        typical_db=self._typical_db(request, analysis, path))
        return Design(request=request, eq=eq, suggestion=suggestion, need=self._need(request, analysis))

    # -- sound ------------------------------------------------------------------------------
    @staticmethod
    def input_stats(region: np.ndarray, sample_rate: int) -> "LevelStats":
        """The region's own levels (its true peak does not matter), as ``SemanticEQ.apply`` measures them."""
        from ..loudness import level_stats

        return level_stats(region, sample_rate, true_peak=False)

    @staticmethod
    def preview(region: np.ndarray, sample_rate: int, design: Design, stats_in: "LevelStats", *,
                true_peak: bool = False) -> tuple[np.ndarray, float, float]:
        """The EQ on a region and the output gain, as ``SemanticEQ.apply`` does on an array.

        One difference, for speed: the output's ceiling reads its sample peak, not the 4x
        oversampled true peak (0.33 s of a 30 s loop's 0.45 s on this project's machine). The
        ceiling binds only for loud masters, where the preview may then be up to the intersample
        overshoot (a fraction of a dB) louder than the download; A is matched to B either way.
        ``true_peak=True`` (an ABX test, made once) measures the true peak as the download does.

        Returns
        -------
        out : ndarray [shape=(channels, samples)]
            Loudness-matched to ``region`` (below the true-peak ceiling); ``region`` for a bypass.
        gain_db : float
            Output gain applied after the EQ.
        shortfall_db : float <= 0
            How far the ceiling kept the output below the region's loudness: lower the original
            by this much to compare the two at equal loudness.
        """
        from ..dsp import apply_eq
        from ..loudness import level_stats, output_gain

        if design.is_bypass:
            return region, 0.0, 0.0
        request = design.request
        out = region
        if design.eq.dynamic is not None:  # as SemanticEQ.apply: the dynamic part first, the static EQ after
            from ..dynamic import render_dynamic

            out, _ = render_dynamic(region, sample_rate, design.eq.dynamic)
        out = apply_eq(out, sample_rate, list(design.eq.cascade)) if design.eq.cascade else np.array(out, dtype=np.float64)
        stats_eq = level_stats(out, sample_rate, true_peak=true_peak)
        if not true_peak:
            stats_eq = dataclasses.replace(stats_eq, true_peak_dbtp=stats_eq.peak_dbfs)  # the sample peak stands in
        gain_db, _ = output_gain(stats_in, stats_eq, loudness_match=request.loudness_match,
                                 true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp)
        out *= 10.0 ** (gain_db / 20.0)
        shortfall = 0.0
        if request.loudness_match and math.isfinite(stats_in.loudness_lufs) and math.isfinite(stats_eq.loudness_lufs):
            shortfall = min(0.0, gain_db - (stats_in.loudness_lufs - stats_eq.loudness_lufs))
        return out, float(gain_db), float(shortfall)

    @staticmethod
    def render(src: Path, dst: Path, design: Design, *, progress: Callable[[float], None] | None = None) -> "RenderResult":
        """The decided EQ onto the whole file: :func:`semeq.pipeline.render_file` (constant memory)."""
        from ..pipeline import render_file

        try:
            return render_file(src, dst, design.eq, design.request, force=True, progress=progress or False)
        except AudioFileError as exc:
            raise AudioFileError(_strip_path(_strip_path(exc, src), dst)) from None

    def apply_file(self, src: Path, dst: Path, request: "EQRequest") -> "ApplyFileResult":
        """``semeq apply`` on a file: :func:`semeq.pipeline.apply_file` (decides, then renders; constant memory)."""
        from ..pipeline import apply_file

        try:
            return apply_file(src, dst, request, engine=self.seq, force=True, progress=False)
        except AudioFileError as exc:
            raise AudioFileError(_strip_path(_strip_path(exc, src), dst)) from None


# -- WAV bytes for the page's WebAudio player ------------------------------------------------
def wav_header(frames: int, channels: int, sample_rate: int, bytes_per_sample: int = 4) -> bytes:
    """A canonical 44-byte WAV header: IEEE float (4 bytes) or PCM (2 bytes) samples, interleaved."""
    import struct

    fmt_tag = 3 if bytes_per_sample == 4 else 1
    data = frames * channels * bytes_per_sample
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, fmt_tag, channels, sample_rate, sample_rate * channels * bytes_per_sample,
                        channels * bytes_per_sample, 8 * bytes_per_sample) + b"data" + struct.pack("<I", data))


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A float32 WAV of an array [shape=(channels, samples)] (a preview region: at most a minute)."""
    audio = np.asarray(audio)
    return wav_header(audio.shape[1], audio.shape[0], int(sample_rate)) + np.ascontiguousarray(audio.T, dtype="<f4").tobytes()


def float32_wav_chunks(path: Path, frames: int | None = None) -> Iterator[bytes]:
    """A float32 WAV of an audio file, block by block (constant memory): the header, then the samples.

    ``frames``: the length to promise in the header (the file's own by default); the samples are
    cut or padded with silence to it.
    """
    from ..io import BLOCK_FRAMES, open_audio, read_frames

    with open_audio(path) as f:
        channels, sample_rate = int(f.channels), int(f.samplerate)
        total = int(f.frames) if frames is None else int(frames)
        yield wav_header(total, channels, sample_rate)
        sent = 0
        while sent < total:
            block = read_frames(f, path, min(BLOCK_FRAMES, total - sent))
            if block.shape[1] == 0:
                break
            sent += block.shape[1]
            yield np.ascontiguousarray(block.T, dtype="<f4").tobytes()  # (samples, channels): interleaved
    if sent < total:
        yield bytes((total - sent) * channels * 4)
