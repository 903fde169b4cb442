"""The web app's one door into semeq's engine.

Every call the web app makes into semeq (loading and saving audio, the SemanticEQ facade, the
filters, the loudness meter) goes through this module, so that a change of the engine's API is
one edit here. The engine is changing (issue 9: ``mode=``, profile percentiles, ``balance()``, a
single-EQ cascade); each such feature is detected at run time, and the older call is used where
it is absent:

- ``SemanticEQ.adaptive_eq(..., mode=...)`` when its signature has ``mode``, else ``static=``
  (mode "match" then is refused with a clear message);
- the analysis cached per upload: ``SemanticEQ.measure`` + ``design_from_measurement`` when
  present (the whole file is measured once), else the encoder's latent ``z_audio``;
- a preview design (``preview=True``) is the fastest that sounds the same: the older engine
  skips the 5-band fit, which it only shows (``fit=False``); the newer one, whose fit *is* the
  applied EQ, warm-starts it from the previous design (``start=``, as its streaming engine
  does). The full render and the settings always come from a full, cold design, so the
  download equals ``semeq apply``;
- ``ProfileEntry.percentile`` when present, else the entry's score;
- ``SemanticEQ.balance`` / ``Profile.balance`` when present (with the music reference corridor,
  ``corridor_db`` or ``p10_db``...), else :func:`semeq.analysis.balance_db` without a corridor.

The full render filters with the design's own cascade and loudness-matches exactly as
``SemanticEQ.apply`` does (tests pin the equality), so the preview, the download and ``semeq apply``
agree; when ``semeq.pipeline.apply_file`` lands, :meth:`Engine.save` / the API's ``/api/apply`` can
call it instead.

One :class:`Engine` per server process holds one loaded SemanticEQ, loaded once under a lock.
Its calls are inference only (no state changes but caches), so requests run them concurrently:
a slow 5-band fit for one tab never holds up another tab's preview.
"""

from __future__ import annotations

import inspect
import io
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from ..errors import AudioFileError, ParameterError

__all__ = ["Engine", "Settings", "Design", "Analysis", "LoadedAudio", "MODES", "probe_audio", "wav_bytes"]

MODES = ("toward", "match", "static")
Mode = Literal["toward", "match", "static"]
_FORMAT_SUFFIX = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3", "AIFF": ".aiff"}
_MEDIA_TYPE = {"WAV": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg", "MP3": "audio/mpeg", "AIFF": "audio/aiff"}
_BALANCE_POINTS_HZ = None  # filled on first use from semeq.analysis.GRID_FREQS_HZ


def _accepts(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _finite_or_none(values) -> list[float | None]:
    return [None if v is None or not math.isfinite(float(v)) else round(float(v), 3) for v in np.asarray(values, dtype=np.float64)]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the user asked for. ``intensity=None`` means auto-intensity."""

    target: str
    intensity: float | None = 0.5
    mode: Mode = "toward"
    blend: str | None = None
    alpha: float = 0.0

    def key(self) -> tuple:
        return (self.target.strip().lower(), self.intensity, self.mode, (self.blend or "").strip().lower(), self.alpha)

    def to_dict(self) -> dict:
        return {"target": self.target, "intensity": self.intensity, "auto_intensity": self.intensity is None,
                "mode": self.mode, "blend": self.blend, "alpha": self.alpha}


@dataclass(frozen=True, kw_only=True)
class LoadedAudio:
    audio: np.ndarray
    """[shape=(channels, samples)], float64."""
    sample_rate: int
    format: str
    subtype: str
    info: object  # semeq.io.AudioInfo, kept to write the output like the input

    @property
    def channels(self) -> int:
        return int(self.audio.shape[0])

    @property
    def duration_s(self) -> float:
        return self.audio.shape[1] / self.sample_rate

    @property
    def suffix(self) -> str:
        return _FORMAT_SUFFIX.get(self.format, ".wav")

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPE.get(self.format, "application/octet-stream")


@dataclass(frozen=True, kw_only=True)
class Analysis:
    profile: list[dict]
    balance: dict
    z_audio: np.ndarray | None = None
    """The older engine's cached latent of the recording."""
    measurement: object = None
    """The newer engine's cached measurement of the recording (``SemanticEQ.measure``)."""
    balance_obj: object = None

    def to_dict(self) -> dict:
        return {"profile": self.profile, "balance": self.balance}


@dataclass(frozen=True, kw_only=True)
class Design:
    """The EQ chosen for one recording and one setting: what is applied and what is shown."""

    settings: Settings
    intensity: float
    cascade: tuple
    """EQParams applied in order; empty is the exact bypass."""
    curve_freqs_hz: np.ndarray
    curve_db: np.ndarray
    bands: dict | None
    """The 5-band setting to type into a DAW (the applied EQ, or the fit of the net curve)."""
    bands_exact: bool
    """True when ``bands`` is exactly what is applied (a one-EQ cascade)."""
    fit_rms_error_db: float | None
    change_rms_db: float
    suggestion: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_bypass(self) -> bool:
        return not self.cascade

    def to_dict(self) -> dict:
        step = max(1, len(self.curve_freqs_hz) // 128)
        return {"settings": self.settings.to_dict(), "intensity": round(self.intensity, 4), "is_bypass": self.is_bypass,
                "curve": {"freqs_hz": np.round(self.curve_freqs_hz[::step], 1).tolist(),
                          "gain_db": np.round(self.curve_db[::step], 3).tolist()},
                "bands": self.bands, "bands_exact": self.bands_exact,
                "fit_rms_error_db": None if self.fit_rms_error_db is None else round(self.fit_rms_error_db, 3),
                "change_rms_db": round(self.change_rms_db, 3), "suggestion": self.suggestion,
                "cascade": [p.to_dict() for p in self.cascade], "notes": list(self.notes)}


def probe_audio(path: Path) -> tuple[int, int, float]:
    """(frames, sample_rate, duration_s) from the file's header, without reading the samples."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AudioFileError(f"not a readable audio file ({reason.split(': ', 1)[-1]})") from None
    if info.samplerate <= 0:
        raise AudioFileError("not a readable audio file (no sample rate)")
    return int(info.frames), int(info.samplerate), float(info.frames) / float(info.samplerate)


def wav_bytes(audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> bytes:
    """A WAV file in memory (for the page's WebAudio player)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(np.asarray(audio).T), int(sample_rate), format="WAV", subtype=subtype)
    return buf.getvalue()


class Engine:
    """One loaded SemanticEQ shared by every request of a server process.

    Parameters
    ----------
    models : str or Path, optional
        Folder of trained models; default the shipped weights.
    """

    def __init__(self, models: str | Path | None = None) -> None:
        self._models = models
        self._seq = None
        self._lock = threading.RLock()
        self._vocabulary: list[dict] | None = None

    # -- loading ------------------------------------------------------------------------
    @property
    def seq(self):
        with self._lock:
            if self._seq is None:
                from ..adaptive import SemanticEQ

                self._seq = SemanticEQ.from_dir(self._models) if self._models else SemanticEQ()
            return self._seq

    def capabilities(self) -> dict:
        seq = self.seq
        has_mode = _accepts(seq.adaptive_eq, "mode")
        from ..adaptive import ProfileEntry

        return {"modes": list(MODES) if has_mode else ["toward", "static"],
                "balance_corridor": hasattr(seq, "balance"),
                "profile_percentile": "percentile" in getattr(ProfileEntry, "__dataclass_fields__", {})}

    def vocabulary(self) -> list[dict]:
        """Every word: ``word``, ``language`` ("en"/"es"), ``confidence``, ``low_confidence``."""
        if self._vocabulary is None:
            self._vocabulary = [{"word": e.word, "language": e.language, "confidence": round(float(e.confidence), 3),
                                 "low_confidence": bool(e.low_confidence)} for e in self.seq.eq_model.vocabulary]
        return self._vocabulary

    def check_words(self, settings: Settings) -> None:
        """Raise UnknownWordError / ParameterError for a bad word, blend or alpha, before any audio work."""
        self.seq.target_latent(settings.target, settings.blend, settings.alpha)

    @staticmethod
    def load(path: Path) -> LoadedAudio:
        """Decode a file by its content (never its name); AudioFileError when it is not audio."""
        from ..io import load_audio

        try:
            audio, sample_rate, info = load_audio(path)
        except AudioFileError as exc:
            # The message starts with our private temp path: the client named no path, so drop it.
            text = str(exc)
            raise AudioFileError(text.split(": ", 1)[1] if text.startswith(str(path)) else text) from None
        return LoadedAudio(audio=audio, sample_rate=int(sample_rate), format=info.format, subtype=info.subtype, info=info)

    @staticmethod
    def save(path: Path, audio: np.ndarray, loaded: LoadedAudio) -> None:
        """Write in the input's format, rate and (where the format allows) sample format."""
        from ..io import save_audio

        try:
            save_audio(path, audio, loaded.sample_rate, like=loaded.info, force=True)
        except AudioFileError as exc:
            text = str(exc)
            raise AudioFileError(text.split(": ", 1)[1] if text.startswith(str(path)) else text) from None

    # -- analysis -----------------------------------------------------------------------
    def analyze(self, loaded: LoadedAudio, top_k: int = 12) -> Analysis:
        """Profile (words with percentile or score) and balance against the reference."""
        audio, sr = loaded.audio, loaded.sample_rate
        seq = self.seq
        measurement = z_audio = None
        if hasattr(seq, "measure") and hasattr(seq, "design_from_measurement"):
            measurement = seq.measure(audio, sr)  # the whole file, once; every design reuses it
        profile = seq.profile(audio, sr, top_k=top_k)
        if measurement is None:
            z_audio = getattr(profile, "z_audio", None)
            if z_audio is None and hasattr(seq, "encode") and _accepts(seq.adaptive_eq, "z_audio"):
                z_audio = seq.encode(audio, sr)  # cached with the upload: later designs skip the encoder
        balance_obj = getattr(profile, "balance", None)
        if balance_obj is None and hasattr(seq, "balance"):
            balance_obj = seq.balance(audio, sr)
        balance = self._balance(balance_obj, audio, sr)
        entries = []
        for e in profile.entries:
            percentile = getattr(e, "percentile", None)
            fraction = getattr(e, "fraction", None)
            entries.append({"word": e.word, "language": e.language, "confidence": round(float(e.confidence), 3),
                            "low_confidence": bool(e.low_confidence), "score": round(float(e.score), 4),
                            "percentile": None if percentile is None else round(float(percentile), 1),
                            "fraction": None if fraction is None or not math.isfinite(fraction) else round(float(fraction), 4)})
        return Analysis(profile=entries, balance=balance, z_audio=z_audio, measurement=measurement, balance_obj=balance_obj)

    @staticmethod
    def _balance(b, audio: np.ndarray, sample_rate: int) -> dict:
        if b is not None:  # balance against the music reference, with its corridor
            out = {"freqs_hz": np.round(np.asarray(b.freqs_hz, dtype=np.float64), 1).tolist(),
                   "balance_db": _finite_or_none(b.balance_db),
                   "cutoff_hz": None if getattr(b, "cutoff_hz", None) is None else round(float(b.cutoff_hz), 1),
                   "corridor": {}}
            corridor = getattr(b, "corridor_db", None)
            if isinstance(corridor, dict):
                for q, values in corridor.items():
                    out["corridor"][f"p{int(q)}"] = _finite_or_none(values)
            for name in ("p10_db", "p25_db", "p50_db", "p75_db", "p90_db"):
                if getattr(b, name, None) is not None:
                    out["corridor"][name[:-3]] = _finite_or_none(getattr(b, name))
            return out
        from ..analysis import GRID_FREQS_HZ, balance_db

        values = np.asarray(balance_db(audio, sample_rate), dtype=np.float64)
        values[GRID_FREQS_HZ >= 0.5 * sample_rate] = np.nan  # the file holds nothing there
        return {"freqs_hz": np.round(GRID_FREQS_HZ, 1).tolist(), "balance_db": _finite_or_none(values),
                "cutoff_hz": None, "corridor": {}}

    # -- the EQ -------------------------------------------------------------------------
    def design(self, loaded: LoadedAudio, settings: Settings, analysis: Analysis | None = None, *,
               preview: bool = False, start: Design | None = None) -> Design:
        """The EQ for this recording and setting (``analysis``: the upload's cached one, saves work).

        ``preview=True`` asks for the A/B preview's design: without the 5-band fit where that fit
        is only shown (older engine), or with the fit warm-started from ``start`` where the fit is
        the applied EQ (newer engine). Within the fit's error (hundredths of a dB) it is the same
        EQ; the settings table and the full render use the full design.
        """
        from ..adaptive import CURVE_FREQS_HZ

        audio, sr = loaded.audio, loaded.sample_rate
        if settings.mode not in MODES:
            raise ParameterError(f"mode must be one of {', '.join(MODES)}, got {settings.mode!r}")
        seq = self.seq
        z_audio = analysis.z_audio if analysis is not None else None
        measurement = analysis.measurement if analysis is not None else None
        has_mode = _accepts(seq.adaptive_eq, "mode")
        if settings.mode == "match" and not has_mode:
            raise ParameterError("mode 'match' needs a newer semeq engine; use 'toward' or 'static'")
        suggestion = None
        intensity = settings.intensity
        if intensity is None:
            if settings.mode == "static":
                raise ParameterError("auto-intensity measures the recording: it does not go with mode 'static'")
            kwargs = {"z_audio": z_audio} if z_audio is not None and _accepts(seq.suggest_intensity, "z_audio") else {}
            if has_mode and _accepts(seq.suggest_intensity, "mode"):
                kwargs["mode"] = settings.mode
            if analysis is not None and analysis.balance_obj is not None and _accepts(seq.suggest_intensity, "balance"):
                kwargs["balance"] = analysis.balance_obj
            s = seq.suggest_intensity(audio, sr, settings.target, settings.blend, settings.alpha, **kwargs)
            suggestion = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(s).items()}
            intensity = float(s.intensity)
        kwargs = {"blend": settings.blend, "alpha": settings.alpha}
        if has_mode:
            kwargs["mode"] = settings.mode
        else:
            kwargs["static"] = settings.mode == "static"
        if z_audio is not None and settings.mode != "static" and _accepts(seq.adaptive_eq, "z_audio"):
            kwargs["z_audio"] = z_audio
        if preview and not has_mode and _accepts(seq.adaptive_eq, "fit"):
            kwargs["fit"] = False  # the older engine: the fit is only shown; newer: the fit is the EQ
        if measurement is not None and has_mode:
            if (preview and start is not None and len(start.cascade) == 1
                    and _accepts(seq.design_from_measurement, "start")):
                kwargs["start"] = start.cascade[0]
            eq = seq.design_from_measurement(measurement, sr, settings.target, intensity, **kwargs)
        else:
            eq = seq.adaptive_eq(audio, sr, settings.target, intensity, **kwargs)
        cascade = tuple(eq.cascade)
        fit = getattr(eq, "fit", None)
        if len(cascade) == 1:
            bands, exact, err = cascade[0].to_dict(), True, None
        elif fit is not None and cascade:
            bands, exact, err = fit.params.to_dict(), False, float(fit.rms_error_db)
        else:
            bands, exact, err = None, True, None
        curve = np.asarray(eq.curve_db, dtype=np.float64)
        change = float(eq.change_rms_db) if hasattr(eq, "change_rms_db") else float(np.sqrt(np.mean(curve**2)))
        return Design(settings=settings, intensity=float(eq.intensity), cascade=cascade,
                      curve_freqs_hz=np.asarray(CURVE_FREQS_HZ), curve_db=curve, bands=bands, bands_exact=exact,
                      fit_rms_error_db=err, change_rms_db=change, suggestion=suggestion,
                      notes=list(getattr(eq, "notes", []) or []))

    # -- rendering ----------------------------------------------------------------------
    @staticmethod
    def render(audio: np.ndarray, sample_rate: int, design: Design, *, progress: Callable[[float], None] | None = None,
               block_s: float = 1.0, precise_peak: bool = True, loudness_in_lufs: float | None = None,
               stats_in=None) -> tuple[np.ndarray, float, float]:
        """Filter through the design's cascade and loudness-match to the input, as ``SemanticEQ.apply`` does.

        Parameters
        ----------
        precise_peak : bool
            True (the full render): the gain is ``semeq.loudness.match_gain_db``, with the -1 dBTP
            true-peak ceiling, exactly as ``SemanticEQ.apply``. False (the A/B preview): the
            ceiling is on the sample peak (-1 dBFS), which skips the 4x oversampling.
        loudness_in_lufs : float, optional
            The input's integrated loudness when already measured (preview only).
        stats_in : LevelStats, optional
            The input's level stats when already measured (:meth:`level_stats`; full render).

        Returns
        -------
        out : ndarray [shape=(channels, samples)]
            Loudness-matched to ``audio``; ``audio`` itself for a bypass.
        gain_db : float
            Output gain applied after the EQ.
        shortfall_db : float <= 0
            How far the ceiling kept the output below the input's loudness: lower the original
            by this much to compare the two at equal loudness.
        """
        from scipy.signal import sosfilt

        from ..dsp import design_sos
        from ..loudness import integrated_loudness, level_stats, match_gain_db

        if design.is_bypass:
            if progress:
                progress(1.0)
            return audio, 0.0, 0.0
        sos = design_sos(list(design.cascade), sample_rate)  # (sections, 6)
        out = np.empty_like(audio, dtype=np.float64)
        zi = np.zeros((sos.shape[0], audio.shape[0], 2))  # (sections, channels, 2)
        step = max(1, int(block_s * sample_rate))
        n = audio.shape[1]
        for i in range(0, n, step):  # chunked with carried state: the same arithmetic as one sosfilt call
            out[:, i : i + step], zi = sosfilt(sos, audio[:, i : i + step], axis=-1, zi=zi)
            if progress:
                progress(0.8 * min(1.0, (i + step) / n))
        if precise_peak:
            stats_in = level_stats(audio, sample_rate) if stats_in is None else stats_in
            stats_out = level_stats(out, sample_rate)
            gain_db = match_gain_db(stats_in, stats_out, true_peak_ceiling_dbtp=-1.0)
            l_in, l_out = stats_in.loudness_lufs, stats_out.loudness_lufs
        else:
            l_in = integrated_loudness(audio, sample_rate) if loudness_in_lufs is None else loudness_in_lufs
            l_out = integrated_loudness(out, sample_rate)
            gain_db = l_in - l_out if math.isfinite(l_in) and math.isfinite(l_out) else 0.0
            peak = float(np.max(np.abs(out)))
            if peak > 0.0:
                gain_db = min(gain_db, -1.0 - 20.0 * math.log10(peak))
        shortfall = 0.0
        if math.isfinite(l_in) and math.isfinite(l_out):
            shortfall = min(0.0, gain_db - (l_in - l_out))
        out *= 10.0 ** (gain_db / 20.0)
        if progress:
            progress(0.9)
        return out, float(gain_db), float(shortfall)

    @staticmethod
    def level_stats(audio: np.ndarray, sample_rate: int):
        from ..loudness import level_stats

        return level_stats(audio, sample_rate)

    @staticmethod
    def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
        from ..loudness import integrated_loudness

        return float(integrated_loudness(audio, sample_rate))

    def apply_reference(self, loaded: LoadedAudio, settings: Settings) -> np.ndarray:
        """``SemanticEQ.apply`` on the whole file: what ``semeq apply`` writes (for tests)."""
        kwargs = {"blend": settings.blend, "alpha": settings.alpha}
        seq = self.seq
        if _accepts(seq.apply, "mode"):
            kwargs["mode"] = settings.mode
        else:
            kwargs["static"] = settings.mode == "static"
        out, _ = seq.apply(loaded.audio, loaded.sample_rate, settings.target, settings.intensity, **kwargs)
        return out
