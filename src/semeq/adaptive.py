"""The adaptive generator: where a recording stands, and the EQ that moves it toward a word.

Definitions (the contract every other part relies on)
----------------------------------------------------
What lives where
    *Latent space* (the EQ model's 32-D space) holds the words: each word is an embedding,
    blends are latent interpolations, and ``decode(z)`` is an *absolute* 5-band EQ curve, the
    word's own EQ ``w(f)``. *dB on the analysis grid* holds everything about a recording: its
    long-term balance against the music reference (:mod:`semeq.reference`), the corridor, the
    gap to a word and the rules (:mod:`semeq.semantics`). The rules live in dB because their
    guarantees are per frequency (sign, bound, nothing where the word is already present),
    which no latent interpolation can promise; the words stay in latent space because that is
    where the EQ model learned them, and where two words blend into a meaningful third.
Where a recording stands
    Its balance against the centre (per-band median) of a corpus of real music, read only over
    the band it holds, with the corpus's spread (the corridor) beside it: :meth:`SemanticEQ.balance`.
Modes
    ``"toward"`` (default): the direction-safe change of :func:`semeq.semantics.toward_change_db`:
    the sign of the word's own EQ in every band or zero, at most twice the word, nothing where
    the recording already has the word. ``"match"``: the seed's rule, the whole balance moved
    toward the word's absolute point (or a reference recording's balance) by the intensity, in
    either direction. ``"static"``: the word's own EQ scaled by the intensity, whatever the input.
    The designed change is realised as ONE 5-band SAFE-layout EQ (a least-squares fit over the
    band the file holds, reported with its error); that setting is exactly what is applied and
    printed. Intensity 0, or nothing needed, is an exact bypass: the input is returned sample
    for sample.
Semantic profile
    For each word, where the recording stands along the word's direction (its level-free EQ curve
    over the held part of 100 Hz-10 kHz) as a percentile of the music reference: "warmer than
    92 % of the reference music". ``score = percentile / 100``.
Auto-intensity
    ``tanh(u)`` with ``u`` the need of :func:`semeq.semantics.need` (toward and the default);
    for ``"match"``, ``g(d) / d`` with ``d`` the RMS distance to the target and
    ``g(d) = M (1 - exp(-d / M))``, ``M = 6 dB``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from . import frontend
from .dsp import apply_eq, check_audio, check_sample_rate, eq_response
from .errors import DataError, ParameterError
from .params import EQParams, check_unit as _check_unit

if TYPE_CHECKING:
    from .audio_encoder import AudioEncoder
    from .eq_model import EQModel
    from .fitting import FitResult
    from .reference import Balance, Measurement, MusicReference

__all__ = ["SemanticEQ", "AdaptiveEQ", "ProfileEntry", "Profile", "IntensitySuggestion", "ApplyResult",
           "PROFILE_BAND_HZ", "AUTO_INTENSITY_MAX_CHANGE_DB", "MODES", "Mode"]

Mode = Literal["toward", "match", "static"]
MODES: tuple[str, ...] = ("toward", "match", "static")
PROFILE_BAND_HZ = frontend.BAND_HZ
"""Band over which curves are compared (profile directions, distances, change sizes): 100 Hz-10 kHz."""
PROFILE_MIN_CONFIDENCE = 0.5
"""Words below this vocabulary confidence are left out of the profile unless asked for."""
AUTO_INTENSITY_MAX_CHANGE_DB = 6.0
"""M in match mode's auto-intensity rule: the RMS change (dB) the suggestion saturates at."""
CURVE_FREQS_HZ: np.ndarray = np.geomspace(20.0, 20000.0, 256)
"""Grid on which curves are reported and plotted (256 log-spaced points, 20 Hz-20 kHz)."""
_BAND = (CURVE_FREQS_HZ >= PROFILE_BAND_HZ[0]) & (CURVE_FREQS_HZ <= PROFILE_BAND_HZ[1])
_FIT_EDGE = 0.45  # fit points stay below 0.45 x sample rate (the biquad design clamps there too)
FIT_BOUND_DB = 0.5
"""The designed change is realised within this RMS error over the held band where a 5-band EQ can."""
_STREAM_REDESIGN_DB = 0.1  # streaming: a designed change that moved less than this anywhere keeps its EQ
_STREAM_START_TOLERANCE_DB = 0.5  # streaming: a warm-started fit within this RMS error is kept (the fit bound)


def _require_energy(audio: np.ndarray, sample_rate: float) -> None:
    """Refuse audio with no usable energy (silence, DC, a lone click) in any 2 s stretch.

    Checked a stretch at a time, so a long recording costs one stretch, not a full analysis.
    """
    from .analysis import has_usable_energy

    step = int(frontend.WINDOW_S * sample_rate)
    if not any(has_usable_energy(audio[:, i : i + step], sample_rate) for i in range(0, audio.shape[1], step)):
        raise ParameterError("the audio is silent or too short: no usable energy between 100 Hz and 10 kHz "
                             "(silence, DC, a lone click, or under about 0.1 s of sound): nothing to analyse or equalise")


def band_rms_db(curve_db: np.ndarray) -> float:
    """RMS of a curve on :data:`CURVE_FREQS_HZ` over :data:`PROFILE_BAND_HZ`, in dB."""
    return float(np.sqrt(np.mean(np.asarray(curve_db)[..., _BAND] ** 2)))


def _check_mode(mode: str, static: bool) -> str:
    if static:
        if mode not in ("toward", "static"):
            raise ParameterError(f"static=True contradicts mode={mode!r}; use mode='static'")
        return "static"
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


@dataclass(frozen=True, kw_only=True)
class ProfileEntry:
    word: str
    score: float
    """percentile / 100."""
    percentile: float
    """Share (0-100 %) of the reference music lying less far along the word's direction."""
    confidence: float
    low_confidence: bool
    language: str


@dataclass(frozen=True, kw_only=True)
class Profile:
    """The semantic profile of a recording: words ranked by where it stands along each of them."""

    entries: list[ProfileEntry]
    balance: "Balance"

    def to_dict(self) -> dict:
        return {"profile": [vars(e) | {"score": round(e.score, 4), "percentile": round(e.percentile, 1),
                                       "confidence": round(e.confidence, 3)} for e in self.entries],
                "balance": self.balance.to_dict()}


@dataclass(frozen=True, kw_only=True)
class IntensitySuggestion:
    intensity: float
    need: float
    """toward: u of :func:`semeq.semantics.need`; match: the RMS distance to the target (dB)."""
    change_db: float
    """RMS (100 Hz-10 kHz) of the designed change at the suggested intensity."""
    explanation: str


@dataclass(frozen=True, kw_only=True)
class AdaptiveEQ:
    """The EQ chosen for one recording: the one 5-band setting applied, and how it was designed."""

    target: str
    intensity: float
    mode: str
    cascade: tuple[EQParams, ...]
    """Applied in order; one EQParams (the 5-band setting shown) or empty for the exact bypass."""
    curve_db: np.ndarray
    """Response of the applied EQ on CURVE_FREQS_HZ (held at its last value above Nyquist)."""
    fit: "FitResult | None"
    """The 5-band setting and its error against the designed change over the held band."""
    designed_db: np.ndarray | None = None
    """The designed change on semeq.analysis.GRID_FREQS_HZ (toward / match), before the fit."""
    word_db: np.ndarray | None = None
    """The word's own EQ curve on the analysis grid (level-free over the held band)."""
    balance: "Balance | None" = None
    z_target: np.ndarray | None = None
    blend: str | None = None
    alpha: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def static(self) -> bool:
        return self.mode == "static"

    @property
    def params(self) -> EQParams | None:
        """The applied 5-band setting (None for the bypass)."""
        return self.cascade[0] if self.cascade else None

    @property
    def is_bypass(self) -> bool:
        return not self.cascade

    @property
    def change_rms_db(self) -> float:
        """Size of the applied change: RMS of its curve over 100 Hz-10 kHz, in dB."""
        return band_rms_db(self.curve_db)

    def to_dict(self) -> dict:
        from .analysis import GRID_FREQS_HZ

        d = {"target": self.target, "blend": self.blend, "alpha": self.alpha, "intensity": round(self.intensity, 4),
             "mode": self.mode, "change_rms_db": round(self.change_rms_db, 3),
             "net_curve_db": {"freqs_hz": CURVE_FREQS_HZ[::16].round(1).tolist(), "gain_db": self.curve_db[::16].round(2).tolist()},
             "cascade": [p.to_dict() for p in self.cascade], "notes": list(self.notes)}
        if self.designed_db is not None:
            d["designed_change_db"] = {"freqs_hz": GRID_FREQS_HZ.round(1).tolist(), "gain_db": np.round(self.designed_db, 2).tolist()}
        if self.balance is not None:
            d["cutoff_hz"] = round(self.balance.cutoff_hz, 1)
        if self.fit is not None:
            d["fit_5band"] = self.fit.params.to_dict() | {"rms_error_db": round(self.fit.rms_error_db, 3),
                                                          "max_error_db": round(self.fit.max_error_db, 3)}
        return d


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    eq: AdaptiveEQ
    gain_db: float
    """Output gain applied after the EQ (loudness match and true-peak ceiling)."""
    stats_in: object
    stats_out: object
    suggestion: IntensitySuggestion | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {"eq": self.eq.to_dict(), "output_gain_db": round(self.gain_db, 3), "before": self.stats_in.to_dict(),
             "after": self.stats_out.to_dict(), "notes": self.notes}
        if self.suggestion is not None:
            d["auto_intensity"] = vars(self.suggestion)
        return d


def _check_pair(eq_model, audio_encoder) -> None:
    """The encoder's latents mean something only with the EQ model it was trained against."""
    import hashlib

    expected = getattr(audio_encoder, "meta", {}).get("eq_model_sha256")
    path = getattr(eq_model, "path", None)
    if not expected or path is None or not Path(path).is_file():
        return
    actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if actual != expected:
        raise DataError(f"the audio encoder was trained against another EQ model (SHA-256 {expected[:12]}..., "
                        f"this one {actual[:12]}...): retrain it with 'semeq train audio --eq-model {path}'")


class SemanticEQ:
    """Adaptive semantic EQ: the EQ model's words, read against a music reference.

    Parameters
    ----------
    eq_model : EQModel, optional
        Defaults to the shipped weights.
    audio_encoder : AudioEncoder, optional
        Defaults to the shipped weights (loaded on first use: the default modes do not need it).
    reference : MusicReference, optional
        Defaults to the shipped ``weights/music_reference.json``.
    encoder : {"cnn", "analytic"}
        What :meth:`encode` (the latent of a recording) uses: the trained CNN (default) or
        balance -> fitted EQ -> latent (:mod:`semeq.analytic_encoder`).

    Examples
    --------
    >>> import numpy as np
    >>> seq = SemanticEQ()
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((2, 44100))
    >>> out, result = seq.apply(x, 44100, "warm", intensity=0.0)
    >>> bool(np.array_equal(out, x))
    True
    """

    def __init__(self, eq_model: "EQModel | None" = None, audio_encoder: "AudioEncoder | None" = None,
                 encoder: str = "cnn", *, reference: "MusicReference | None" = None):
        if eq_model is None:
            from .eq_model import EQModel

            eq_model = EQModel.load()
        if encoder != "cnn":  # "analytic": balance -> fitted 5-band EQ -> latent (semeq.analytic_encoder)
            from .analytic_encoder import select_encoder

            audio_encoder = select_encoder(encoder, eq_model, audio_encoder)
        if reference is None:
            from .reference import MusicReference

            reference = MusicReference.load()
        if audio_encoder is not None:
            _check_pair(eq_model, audio_encoder)
        self.eq_model = eq_model
        self.reference = reference
        self._audio_encoder = audio_encoder
        self._word_curves: dict[str, np.ndarray] | None = None
        self._target_curves: dict[tuple, np.ndarray] = {}  # word_curve_db's cache
        self._stream_start: EQParams | None = None  # the streaming engine's previous fit (a warm start)
        self._stream_last: tuple | None = None  # (target key, designed change, cascade) of the last streaming design

    @property
    def audio_encoder(self) -> "AudioEncoder":
        """The trained audio encoder (loaded on first use)."""
        if self._audio_encoder is None:
            from .audio_encoder import AudioEncoder

            encoder = AudioEncoder.load()
            _check_pair(self.eq_model, encoder)
            self._audio_encoder = encoder
        return self._audio_encoder

    @classmethod
    def from_dir(cls, path: str | Path) -> "SemanticEQ":
        """Load trained models from a folder holding eq_vae.* and audio_encoder.* files (and, if
        present, music_reference.json; else the shipped reference)."""
        from .audio_encoder import AudioEncoder
        from .eq_model import EQModel
        from .reference import MusicReference

        path = Path(path)
        reference = MusicReference.load(path / "music_reference.json") if (path / "music_reference.json").is_file() else None
        return cls(EQModel.load(path), AudioEncoder.load(path), reference=reference)

    # -- the latent space (words) ---------------------------------------------------------------
    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """The audio encoder's latent of a recording (32,)."""
        audio, sample_rate = check_audio(audio), check_sample_rate(sample_rate)
        return np.asarray(self.audio_encoder.encode(audio, sample_rate), dtype=np.float64)

    def target_latent(self, target: str, blend: str | None = None, alpha: float = 0.0) -> np.ndarray:
        """A word's embedding, or ``(1 - alpha) * target + alpha * blend``."""
        alpha = _check_unit("alpha", alpha)
        z = np.asarray(self.eq_model.embedding(target), dtype=np.float64)
        if blend is not None:
            z = (1.0 - alpha) * z + alpha * np.asarray(self.eq_model.embedding(blend), dtype=np.float64)
        elif alpha != 0.0:
            raise ParameterError("alpha needs a blend word")
        return z

    def decode_curve(self, z: np.ndarray) -> np.ndarray:
        """The absolute EQ curve (dB on CURVE_FREQS_HZ) of a latent."""
        return eq_response(self.eq_model.decode(z), CURVE_FREQS_HZ)

    def cascade_for(self, z_audio: np.ndarray, z_target: np.ndarray, intensity: float) -> tuple[EQParams, EQParams]:
        """``(decode(z_final), decode(z_audio).inverted())`` for ``z_final`` between the two (latent path)."""
        intensity = _check_unit("intensity", intensity)
        z_final = z_audio + intensity * (z_target - z_audio)
        return self.eq_model.decode(z_final), self.eq_model.decode(z_audio).inverted()

    def word_curve_db(self, target: str, blend: str | None = None, alpha: float = 0.0) -> np.ndarray:
        """The word's own EQ curve ``w(f)`` on the analysis grid (dB, 44.1 kHz design)."""
        from .analysis import GRID_FREQS_HZ

        key = (target, blend, float(alpha))
        curve = self._target_curves.get(key)
        if curve is None:
            curve = eq_response(self.eq_model.decode(self.target_latent(target, blend, alpha)), GRID_FREQS_HZ)
            curve.setflags(write=False)
            if len(self._target_curves) < 256:  # a few words and blends per session; bounded anyway
                self._target_curves[key] = curve
        return curve

    def _grid_curves(self) -> dict[str, np.ndarray]:
        """Every word's own EQ curve on the analysis grid (cached)."""
        if self._word_curves is None:
            from .analysis import GRID_FREQS_HZ
            from .fitting import response_db_batch

            words = [entry.word for entry in self.eq_model.vocabulary]
            z = np.stack([self.eq_model.embedding(w) for w in words])
            curves = response_db_batch(self.eq_model.decode_batch(z), GRID_FREQS_HZ)  # (n_words, 60)
            self._word_curves = dict(zip(words, curves))
        return self._word_curves

    # -- where a recording stands (dB) ------------------------------------------------------------
    def measure(self, audio: np.ndarray, sample_rate: float) -> "Measurement":
        """Long-term spectrum and held band; ParameterError for audio without usable energy."""
        from .reference import measure

        audio, sample_rate = check_audio(audio), check_sample_rate(sample_rate)
        _require_energy(audio, sample_rate)
        m = measure(audio, sample_rate)
        if m is None:
            raise ParameterError("the audio is silent or too short: no usable energy between 100 Hz and 10 kHz")
        return m

    def balance(self, audio: np.ndarray, sample_rate: float) -> "Balance":
        """The recording's balance against the music reference's centre, with the corridor."""
        return self.reference.balance(self.measure(audio, sample_rate))

    def _profile_band(self, balance: "Balance") -> np.ndarray:
        from .analysis import GRID_FREQS_HZ

        return balance.held & (GRID_FREQS_HZ >= PROFILE_BAND_HZ[0]) & (GRID_FREQS_HZ <= PROFILE_BAND_HZ[1])

    def profile(self, audio: np.ndarray, sample_rate: float, top_k: int = 10, *,
                min_confidence: float = PROFILE_MIN_CONFIDENCE) -> Profile:
        """Rank the vocabulary by where the recording stands along each word, as music percentiles.

        Only words with at least ``min_confidence`` are ranked (by default the 19 well-supported
        words; 0 ranks all 638, most of them from two or three Audealize contributors).
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ParameterError(f"top_k must be a positive integer, got {top_k!r}")
        min_confidence = _check_unit("min_confidence", min_confidence)
        m = self.measure(audio, sample_rate)
        balance = self.reference.balance(m)
        band = self._profile_band(balance)
        meta = {e.word: e for e in self.eq_model.vocabulary}
        words = [w for w in self._grid_curves() if meta[w].confidence >= min_confidence]
        directions = np.stack([self._grid_curves()[w] for w in words])
        pct = self.reference.percentiles(m.spectrum_db, directions, band)
        entries = [ProfileEntry(word=w, score=float(p) / 100.0, percentile=float(p), confidence=float(meta[w].confidence),
                                low_confidence=bool(meta[w].low_confidence), language=meta[w].language)
                   for w, p in zip(words, pct)]
        entries.sort(key=lambda e: (-e.percentile, e.word))
        return Profile(entries=entries[: int(top_k)], balance=balance)

    def score(self, audio: np.ndarray, sample_rate: float, word: str) -> float:
        """Where the recording stands along one word: its music percentile / 100, in [0, 1]."""
        m = self.measure(audio, sample_rate)
        band = self._profile_band(self.reference.balance(m))
        curve = self._grid_curves()[self.eq_model.entry(word).word]
        return float(self.reference.percentiles(m.spectrum_db, curve[None], band)[0]) / 100.0

    # -- the rules -------------------------------------------------------------------------------
    @staticmethod
    def intensity_for_distance(distance_db: float) -> float:
        """Match mode's auto-intensity ``g(d) / d`` with ``g(d) = M (1 - exp(-d / M))``."""
        m = AUTO_INTENSITY_MAX_CHANGE_DB
        d = max(float(distance_db), 0.0)
        return 1.0 if d < 1e-9 else float(m * -math.expm1(-d / m) / d)

    def designed_change_db(self, balance: "Balance", target: str, intensity: float, *, mode: str = "toward",
                           blend: str | None = None, alpha: float = 0.0,
                           reference_audio: tuple[np.ndarray, float] | None = None) -> np.ndarray:
        """The change (dB on the analysis grid, 0 outside the held band) a mode asks for."""
        from . import semantics

        held = balance.held
        if mode == "toward":
            return semantics.toward_change_db(balance.balance_db, self.word_curve_db(target, blend, alpha), held, intensity)
        if mode == "match":
            if reference_audio is not None:
                ref = self.balance(*reference_audio)
                held = held & ref.held
                t = np.where(held, np.nan_to_num(ref.balance_db), 0.0)
            else:
                t = self.word_curve_db(target, blend, alpha)
            return semantics.match_change_db(balance.balance_db, t, held, intensity)
        raise ParameterError(f"mode {mode!r} has no designed change")

    def suggest_intensity(self, audio: np.ndarray, sample_rate: float, target: str, blend: str | None = None,
                          alpha: float = 0.0, *, mode: str = "toward", balance: "Balance | None" = None,
                          reference_audio: tuple[np.ndarray, float] | None = None) -> IntensitySuggestion:
        """How far to go, from how much the recording needs the word (continuous, monotone, 0 if nothing)."""
        from . import semantics

        mode = _check_mode(mode, False)
        if mode == "static":
            raise ParameterError("auto-intensity needs a mode that reads the recording (toward or match), not static")
        balance = self.balance(audio, sample_rate) if balance is None else balance
        name = target if blend is None else f"{target}+{blend}"
        if mode == "toward":
            u = semantics.need(balance.balance_db, self.word_curve_db(target, blend, alpha), balance.held)
            intensity = semantics.intensity_for_need(u)
            change = self._band_rms(self.designed_change_db(balance, target, intensity, blend=blend, alpha=alpha))
            text = (f"the recording needs {u:.2f} of '{name}' (0: it already has it, 1: typical music, up to 2: far "
                    f"from it); intensity tanh({u:.2f}) = {intensity:.2f} changes it by {change:.1f} dB RMS")
            return IntensitySuggestion(intensity=intensity, need=u, change_db=change, explanation=text)
        d = self._band_rms(self.designed_change_db(balance, target, 1.0, mode="match", blend=blend, alpha=alpha,
                                                   reference_audio=reference_audio))
        intensity = self.intensity_for_distance(d)
        text = (f"the recording is {d:.1f} dB (RMS, 100 Hz-10 kHz) from '{name if reference_audio is None else 'the reference'}'; "
                f"intensity {intensity:.2f} (= g(d)/d, g(d) = {AUTO_INTENSITY_MAX_CHANGE_DB:g} dB (1 - exp(-d / "
                f"{AUTO_INTENSITY_MAX_CHANGE_DB:g} dB))) changes it by {intensity * d:.1f} dB")
        return IntensitySuggestion(intensity=intensity, need=d, change_db=intensity * d, explanation=text)

    @staticmethod
    def _band_rms(grid_curve_db: np.ndarray) -> float:
        from .analysis import GRID_FREQS_HZ

        band = (GRID_FREQS_HZ >= PROFILE_BAND_HZ[0]) & (GRID_FREQS_HZ <= PROFILE_BAND_HZ[1])
        return float(np.sqrt(np.mean(np.asarray(grid_curve_db)[band] ** 2)))

    def realise(self, designed_db: np.ndarray, balance: "Balance", sample_rate: float, *,
                start: EQParams | None = None) -> "FitResult":
        """Fit one 5-band SAFE EQ to a designed change; its error is measured over the held band.

        Between the analysed band and the content's cut-off (bands the recording holds but too
        few reference tracks do) the change keeps its last value; above the cut-off the target
        is brought to 0 dB over a third of an octave and held there
        (:func:`semeq.semantics.taper_above`), so the EQ does not boost where the recording
        holds nothing. ``start`` warm-starts the fit (the streaming engine's previous EQ).
        """
        from .analysis import GRID_FREQS_HZ
        from .fitting import FitResult, eq_response_single, fit_eq
        from .semantics import taper_above

        from .reference import held_mask

        held = balance.held  # analysed: held by the recording and covered by the reference
        content = held_mask(balance.cutoff_hz)
        extended = np.array(designed_db, dtype=np.float64)
        if held.any():  # between the analysed band and the content's cut the change holds its last value
            last = int(np.flatnonzero(held)[-1])
            extended[last + 1:] = np.where(content[last + 1:], extended[last], 0.0)
        points = GRID_FREQS_HZ < _FIT_EDGE * float(sample_rate)
        target = taper_above(extended, content | held)[points]
        freqs = GRID_FREQS_HZ[points]
        def held_rms(params: EQParams) -> float:
            return float(np.sqrt(np.mean((eq_response_single(params, freqs, float(sample_rate)) - target)[held[points]] ** 2)))

        fitted = fit_eq(target, freqs, sample_rate=float(sample_rate), start=start,
                        start_tolerance_db=_STREAM_START_TOLERANCE_DB)
        if start is None and held_rms(fitted.params) > FIT_BOUND_DB:  # a harder curve: a wider search
            wider = fit_eq(target, freqs, sample_rate=float(sample_rate), n_random_starts=24, seed=1)
            if held_rms(wider.params) < held_rms(fitted.params):
                fitted = wider
        err = (eq_response_single(fitted.params, freqs, float(sample_rate)) - target)[held[points]]
        return FitResult(params=fitted.params, rms_error_db=float(np.sqrt(np.mean(err**2))),
                         mae_db=float(np.mean(np.abs(err))), max_error_db=float(np.max(np.abs(err))))

    def design_from_measurement(self, measurement: "Measurement", sample_rate: float, target: str, intensity: float, *,
                                mode: str = "toward", blend: str | None = None, alpha: float = 0.0,
                                reference_audio: tuple[np.ndarray, float] | None = None, fit: bool = True,
                                start: EQParams | None = None) -> AdaptiveEQ:
        """The EQ for a measured recording (the file path and the streaming engine call this)."""
        from . import semantics

        intensity = _check_unit("intensity", intensity)
        z_target = self.target_latent(target, blend, alpha)
        word = self.eq_model.entry(target).word
        balance = self.reference.balance(measurement)
        notes: list[str] = []
        designed = None
        cascade: tuple[EQParams, ...] = ()
        fitted = None
        if mode == "static":
            if intensity > 0:
                from .fitting import FitResult

                p = self.eq_model.decode(z_target).scaled(intensity)
                cascade = (p,)
                fitted = FitResult(params=p, rms_error_db=0.0, mae_db=0.0, max_error_db=0.0)
        else:
            designed = self.designed_change_db(balance, target, intensity, mode=mode, blend=blend, alpha=alpha,
                                               reference_audio=reference_audio)
            if intensity == 0.0:
                pass
            elif float(np.max(np.abs(designed))) < semantics.NOTHING_NEEDED_DB:
                what = f"'{word}'" if reference_audio is None else "the reference's balance"
                notes.append(f"the recording already has {what} in every band it holds: nothing to do, "
                             "the input is returned unchanged" if mode == "toward" else
                             f"the recording already matches {what}: the input is returned unchanged")
            elif fit:
                fitted = self.realise(designed, balance, sample_rate, start=start)
                cascade = (fitted.params,)
        if intensity == 0.0:
            notes.append("intensity 0: the input is returned unchanged")
        below = CURVE_FREQS_HZ < 0.5 * float(sample_rate)
        curve = np.zeros_like(CURVE_FREQS_HZ)
        if cascade:
            curve[below] = eq_response(list(cascade), CURVE_FREQS_HZ[below], sample_rate)
            curve[~below] = curve[below][-1]
        word_db = None if mode == "static" else np.where(balance.held, self.word_curve_db(target, blend, alpha), np.nan)
        return AdaptiveEQ(target=word, intensity=intensity, mode=mode, cascade=cascade, curve_db=curve, fit=fitted,
                          designed_db=designed, word_db=word_db, balance=balance, z_target=z_target, blend=blend,
                          alpha=alpha, notes=tuple(notes))

    def design_from_power(self, freqs_hz: np.ndarray, power: np.ndarray, target: str, intensity: float, *,
                          blend: str | None = None, alpha: float = 0.0, mode: str = "toward") -> tuple[EQParams, ...]:
        """The streaming engine's hook: the cascade (one EQParams, or empty) for a window's PSD.

        ``freqs_hz`` are uniform bins from 0 Hz to the stream's Nyquist frequency, ``power`` the
        window's one-sided PSD. The same reference, held band, rule and fit as the file path;
        the fit is warm-started from this analyzer's previous streaming fit (kept when within
        0.5 dB RMS, the fit bound of the file path), and a designed change that moved by less
        than 0.1 dB anywhere since the last window keeps the last EQ without a fit.
        """
        from .reference import measure_psd

        freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
        sample_rate = 2.0 * float(freqs_hz[-1])
        m = measure_psd(freqs_hz, np.asarray(power, dtype=np.float64), sample_rate)
        mode = _check_mode(mode, False)
        key = (target, blend, alpha, float(intensity), mode, sample_rate)
        designed = self.designed_change_db(self.reference.balance(m), target, _check_unit("intensity", intensity),
                                           mode=mode, blend=blend, alpha=alpha) if mode != "static" else None
        last = self._stream_last
        if (last is not None and last[0] == key and designed is not None
                and float(np.max(np.abs(designed - last[1]))) < _STREAM_REDESIGN_DB):
            return last[2]  # the design has not moved: the same EQ (no fit)
        eq = self.design_from_measurement(m, sample_rate, target, intensity, mode=mode, blend=blend, alpha=alpha,
                                          start=self._stream_start)
        if eq.cascade:
            self._stream_start = eq.cascade[0]
        self._stream_last = (key, designed, eq.cascade)
        return eq.cascade

    def adaptive_eq(self, audio: np.ndarray, sample_rate: float, target: str, intensity: float, *,
                    mode: str = "toward", blend: str | None = None, alpha: float = 0.0, static: bool = False,
                    reference_audio: tuple[np.ndarray, float] | None = None, fit: bool = True) -> AdaptiveEQ:
        """The EQ for this recording.

        Parameters
        ----------
        audio : ndarray [shape=(channels, samples)]
        sample_rate : float
        target : str
            A word of the vocabulary.
        intensity : float in [0, 1]
        mode : {"toward", "match", "static"}
            See the module docstring. ``static=True`` is the same as ``mode="static"``.
        blend, alpha : str, float in [0, 1]
            Blend the target with a second word (latent interpolation).
        reference_audio : (ndarray, float), optional
            ``(audio, sample_rate)`` of a reference recording: ``match`` moves toward its balance.
        fit : bool
            Realise the change as a 5-band EQ (False: design only, an empty cascade).
        """
        mode = _check_mode(mode, static)
        intensity = _check_unit("intensity", intensity)
        if reference_audio is not None and mode != "match":
            raise ParameterError("a reference recording needs mode='match'")
        self.target_latent(target, blend, alpha)  # bad words fail before any analysis
        measurement = self.measure(audio, sample_rate)
        return self.design_from_measurement(measurement, sample_rate, target, intensity, mode=mode, blend=blend,
                                            alpha=alpha, reference_audio=reference_audio, fit=fit)

    def apply(self, audio: np.ndarray, sample_rate: float, target: str, intensity: float | None = None, *,
              mode: str = "toward", blend: str | None = None, alpha: float = 0.0, static: bool = False,
              reference_audio: tuple[np.ndarray, float] | None = None, loudness_match: bool = True,
              true_peak_ceiling_dbtp: float = -1.0) -> tuple[np.ndarray, ApplyResult]:
        """Process a recording. ``intensity=None`` chooses it with :meth:`suggest_intensity`.

        ``mode``, ``blend``, ``alpha``, ``static`` and ``reference_audio`` are those of :meth:`adaptive_eq`.

        Returns
        -------
        out : ndarray [shape=(channels, samples)]
            Same shape as the input. Intensity 0 returns the input values unchanged.
        result : ApplyResult
        """
        # The same steps, and the same level functions, as the file pipeline (semeq.pipeline.apply_file).
        from .loudness import level_stats
        from .pipeline import decide_eq, output_gain

        audio, sample_rate = check_audio(audio), check_sample_rate(sample_rate)
        mode = _check_mode(mode, static)
        eq, suggestion = decide_eq(self, audio, sample_rate, target, intensity, mode=mode, blend=blend, alpha=alpha,
                                   reference_audio=reference_audio)
        stats_in = level_stats(audio, sample_rate, true_peak=False)  # only the output's true peak matters
        if eq.is_bypass:
            return audio.copy(), ApplyResult(eq=eq, gain_db=0.0, stats_in=stats_in, stats_out=stats_in,
                                             suggestion=suggestion, notes=list(eq.notes))
        out = apply_eq(audio, sample_rate, list(eq.cascade))
        stats_eq = level_stats(out, sample_rate)
        gain_db, notes = output_gain(stats_in, stats_eq, loudness_match=loudness_match,
                                     true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)
        notes = list(eq.notes) + list(notes)
        out *= 10.0 ** (gain_db / 20.0)
        return out, ApplyResult(eq=eq, gain_db=gain_db, stats_in=stats_in, stats_out=stats_eq.shifted(gain_db),
                                suggestion=suggestion, notes=notes)
