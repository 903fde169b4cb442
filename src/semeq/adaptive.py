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
    the recording already has the word. ``"match"``: the whole balance moved toward the word's
    absolute point (or a reference recording's balance) by the intensity, in either direction.
    ``"static"``: the word's own EQ scaled by the intensity, whatever the input. ``"latent"``: the
    seed's own rule, kept so that it can be compared: the audio encoder (log-mel -> CNN) reads
    the recording's latent ``z_audio``, ``z_final = z_audio + I (z_target - z_audio)``, and the
    change is ``decode(z_final)`` after undoing ``decode(z_audio)``; like match it can go against
    the word (``benchmarks/eval_semantics.py`` measures how often).
    The designed change is realised as ONE 5-band SAFE-layout EQ (a least-squares fit over the
    band the file holds, reported with its error); that setting is exactly what is applied and
    printed. Intensity 0, or nothing needed, is an exact bypass: the input is returned sample
    for sample.
Semantic profile
    For each word, where the recording stands along the word's direction (its level-free EQ curve
    over the held part of 100 Hz-10 kHz) as a percentile of the music reference: "warmer than
    92 % of the reference music". ``score = percentile / 100``.
Targets
    A target is a word or a phrase, understood once (:meth:`SemanticEQ.understand`,
    :mod:`semeq.phrases`) into signed, weighted words; its curve ``w(f)`` is what every rule
    reads (:meth:`SemanticEQ.word_curve_db`). "less X" is exactly ``-w_X``. What the user asked
    for travels as one :class:`semeq.request.EQRequest` (:meth:`SemanticEQ.request`).
Auto-intensity
    ``tanh(u)`` with ``u`` the need of :func:`semeq.semantics.need` (toward and the default);
    for ``"match"`` and ``"latent"``, ``g(d) / d`` with ``d`` the RMS distance to the target and
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
    from .dynamic import DynamicPlan, DynamicTrace
    from .eq_model import EQModel
    from .fitting import FitResult
    from .phrases import Interpretation
    from .reference import Balance, Measurement, MusicReference
    from .request import EQRequest

__all__ = ["SemanticEQ", "AdaptiveEQ", "ProfileEntry", "Profile", "IntensitySuggestion", "ApplyResult",
           "PROFILE_BAND_HZ", "AUTO_INTENSITY_MAX_CHANGE_DB", "MODES", "Mode"]

from .request import MODES, Mode  # noqa: E402  (declared once, there)
PROFILE_BAND_HZ = frontend.BAND_HZ
"""Band over which curves are compared (profile directions, distances, change sizes): 100 Hz-10 kHz."""
PROFILE_MIN_CONFIDENCE = 0.5
"""Words below this vocabulary confidence are left out of the profile unless asked for."""
AUTO_INTENSITY_MAX_CHANGE_DB = 6.0
"""M in match mode's auto-intensity rule: the RMS change (dB) the suggestion saturates at."""
CURVE_FREQS_HZ: np.ndarray = np.geomspace(20.0, 20000.0, 256)
"""Grid on which curves are reported and plotted (256 log-spaced points, 20 Hz-20 kHz)."""
_FIT_EDGE = 0.45  # fit points stay below 0.45 x sample rate (the biquad design clamps there too)
FIT_BOUND_DB = 0.5
"""The designed change is realised within this RMS error over the held band where a 5-band EQ can."""
_STREAM_REDESIGN_DB = 0.1  # streaming: a designed change that moved less than this anywhere keeps its EQ
_STREAM_START_TOLERANCE_DB = 0.5  # streaming: a warm-started fit within this RMS error is kept (the fit bound)


SILENT_MESSAGE = ("the audio is silent or too short: no usable energy between 100 Hz and 10 kHz (silence, DC, "
                  "a lone click, or under about 0.1 s of sound): nothing to analyse or equalise")


def _require_energy(audio: np.ndarray, sample_rate: float) -> None:
    """Refuse audio with no usable energy (silence, DC, a lone click) in any 2 s stretch.

    Checked a stretch at a time, so a long recording costs one stretch, not a full analysis.
    """
    from .analysis import has_usable_energy

    step = int(frontend.WINDOW_S * sample_rate)
    if not any(has_usable_energy(audio[:, i : i + step], sample_rate) for i in range(0, audio.shape[1], step)):
        raise ParameterError(SILENT_MESSAGE)


def band_rms_db(curve_db: np.ndarray, freqs_hz: np.ndarray = CURVE_FREQS_HZ) -> float:
    """RMS of a curve over :data:`PROFILE_BAND_HZ` (100 Hz-10 kHz), in dB: the size of a change.

    ``freqs_hz``: the curve's grid (:data:`CURVE_FREQS_HZ` by default, or the analysis grid).
    """
    return float(np.sqrt(np.mean(np.asarray(curve_db)[..., frontend.in_band(freqs_hz)] ** 2)))


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
    request: "EQRequest | None" = None
    """The request this EQ answers (its target phrase as understood)."""
    dynamic: "DynamicPlan | None" = None
    """The dynamic part on top of the cascade (:mod:`semeq.dynamic`), or None."""

    @property
    def static(self) -> bool:
        return self.mode == "static"

    @property
    def params(self) -> EQParams | None:
        """The applied 5-band setting (None for the bypass)."""
        return self.cascade[0] if self.cascade else None

    @property
    def is_bypass(self) -> bool:
        """Nothing to do: no static EQ and no dynamic part (the input is returned unchanged)."""
        return not self.cascade and self.dynamic is None

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
        if self.request is not None:
            d["understood"] = self.request.target.to_dict()
            if self.request.blend is not None:
                d["blend_understood"] = self.request.blend.to_dict()
            d["intensity_source"] = self.request.intensity_source
        if self.designed_db is not None:
            d["designed_change_db"] = {"freqs_hz": GRID_FREQS_HZ.round(1).tolist(), "gain_db": np.round(self.designed_db, 2).tolist()}
        if self.balance is not None:
            d["cutoff_hz"] = round(self.balance.cutoff_hz, 1)
        if self.fit is not None:
            d["fit_5band"] = self.fit.params.to_dict() | {"rms_error_db": round(self.fit.rms_error_db, 3),
                                                          "max_error_db": round(self.fit.max_error_db, 3)}
        if self.dynamic is not None:
            d["dynamic"] = self.dynamic.to_dict()
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
    dynamic_trace: "DynamicTrace | None" = None
    """The dynamic gain over time per region (with ``dynamic=True``)."""

    def to_dict(self) -> dict:
        d = {"eq": self.eq.to_dict(), "output_gain_db": round(self.gain_db, 3), "before": self.stats_in.to_dict(),
             "after": self.stats_out.to_dict(), "notes": self.notes}
        if self.suggestion is not None:
            d["auto_intensity"] = vars(self.suggestion)
        if self.dynamic_trace is not None:
            d["dynamic_trace"] = self.dynamic_trace.to_dict()
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
        self._audio_encoder_dir: Path | None = None  # from_dir's encoder folder, loaded on first use
        self._word_curves: dict[str, np.ndarray] | None = None
        self._target_curves: dict[tuple, np.ndarray] = {}  # word_curve_db's cache
        self._understood: dict[str, "Interpretation"] = {}  # understand()'s cache
        self._reference_balances: dict[str, "Balance"] = {}  # reference_balance()'s cache
        self._stream_start: EQParams | None = None  # the streaming engine's previous fit (a warm start)
        self._stream_last: tuple | None = None  # (target key, designed change, cascade) of the last streaming design

    @property
    def audio_encoder(self) -> "AudioEncoder":
        """The trained audio encoder (loaded on first use)."""
        if self._audio_encoder is None:
            from .audio_encoder import AudioEncoder

            encoder = AudioEncoder.load(self._audio_encoder_dir)
            _check_pair(self.eq_model, encoder)
            self._audio_encoder = encoder
        return self._audio_encoder

    @classmethod
    def from_dir(cls, path: str | Path) -> "SemanticEQ":
        """Load trained models from a folder holding eq_vae.* files, and, if present,
        audio_encoder.* (read only by ``mode="latent"``; else the shipped encoder, loaded on first
        use) and music_reference.json (else the shipped reference)."""
        from .eq_model import EQModel
        from .reference import MusicReference

        path = Path(path)
        reference = MusicReference.load(path / "music_reference.json") if (path / "music_reference.json").is_file() else None
        engine = cls(EQModel.load(path), reference=reference)
        if (path / "audio_encoder.safetensors").is_file():
            engine._audio_encoder_dir = path  # loaded on first use, by mode="latent" only
        return engine

    @classmethod
    def load(cls, models: str | Path | None = None) -> "SemanticEQ":
        """The shipped models (``models=None``) or those of a folder (:meth:`from_dir`)."""
        return cls() if models is None else cls.from_dir(models)

    # -- what the user asked for ------------------------------------------------------------------
    def understand(self, text: "str | Interpretation") -> "Interpretation":
        """A phrase, understood against the vocabulary (:func:`semeq.phrases.understand`; cached).

        Raises
        ------
        UnknownWordError
            Nothing in the text could be understood; the message suggests known words.
        """
        from .phrases import Interpretation, understand

        if isinstance(text, Interpretation):
            return text
        if not isinstance(text, str):
            raise ParameterError(f"the target must be a word or a phrase, got {type(text).__name__}")
        hit = self._understood.get(text)
        if hit is None:
            hit = understand(text, self.eq_model)
            if len(self._understood) < 1024:
                self._understood[text] = hit
        return hit

    def request(self, target: "str | Interpretation", intensity: "float | str | None" = None, *,
                mode: str | None = None, static: bool = False, blend: "str | Interpretation | None" = None,
                alpha: float | None = None, reference: "str | Path | tuple[np.ndarray, float] | None" = None,
                loudness_match: bool = True, true_peak_ceiling_dbtp: float = -1.0, dynamic: bool = False,
                lookahead_ms: float = 0.0) -> "EQRequest":
        """Build the one :class:`~semeq.request.EQRequest` a front end passes down.

        Parameters
        ----------
        target : str or Interpretation
            A word or a phrase ("warm", "a bit darker", "less harsh", "más cálido").
        intensity : float in [0, 1], "auto" or None
            A number wins; ``"auto"`` chooses it from the recording; None takes the phrase's amount
            words ("a touch", "much more"), else :data:`semeq.request.DEFAULT_INTENSITY`.
        mode : {"toward", "match", "static", "latent"}, optional
            Default "match" with a reference recording, else "toward". ``static=True`` is "static".
        blend, alpha : a second word or phrase, and its weight (default 0.5 with a blend)
        reference : path or (audio, sample_rate), optional
            A recording whose balance ``match`` moves toward.
        dynamic : bool
            Add the dynamic part (:mod:`semeq.dynamic`) on top of the toward or static change.
        lookahead_ms : float in [0, 50]
            With ``dynamic``, offline: how far ahead the detector looks (default 0, zero latency).
        """
        from .request import DEFAULT_INTENSITY, EQRequest, check_mode

        if mode is None and reference is not None and not static:
            mode = "match"
        mode = check_mode(mode, static)
        interp = self.understand(target)
        blend_interp = None if blend is None else self.understand(blend)
        if alpha is None:
            alpha = 0.5 if blend is not None else 0.0
        notes: list[str] = []
        if isinstance(intensity, str):
            if intensity != "auto":
                raise ParameterError(f"intensity must be a number in [0, 1] or 'auto', got {intensity!r}")
            value, source = None, "auto"
        elif intensity is None:
            value, source = (interp.intensity, "amount") if interp.intensity is not None else (DEFAULT_INTENSITY, "default")
        else:
            value, source = intensity, "given"
        if interp.intensity is not None and source in ("given", "auto"):
            what = "auto-intensity" if source == "auto" else f"intensity {float(intensity):.2f}"
            notes.append(f"the amount \"{interp.amount}\" ({interp.intensity:.2f}) was overridden by the explicit {what}")
        ref = reference
        if isinstance(reference, (str, Path)):
            ref = Path(reference)
        return EQRequest(target=interp, intensity=value, intensity_source=source, mode=mode, blend=blend_interp,
                         alpha=alpha, reference=ref, loudness_match=loudness_match,
                         true_peak_ceiling_dbtp=true_peak_ceiling_dbtp, notes=tuple(notes), dynamic=dynamic,
                         lookahead_ms=lookahead_ms)

    def as_request(self, target, intensity: "float | None" = None, **keywords) -> "EQRequest":
        """The request of the keyword API (``apply``, ``adaptive_eq``, ``apply_file``...).

        There ``intensity=None`` means auto-intensity (as it always has), and ``reference_audio``
        is ``(audio, sample_rate)`` of a reference recording. A request passes through unchanged;
        a request together with keywords other than their defaults is refused (one or the other).
        """
        from .request import EQRequest

        if isinstance(target, EQRequest):
            given = [k for k, v in keywords.items() if not _is_default_keyword(k, v)]
            if intensity is not None:
                given.insert(0, "intensity")
            if given:
                raise ParameterError(f"pass either a request or a word with its settings, not both "
                                     f"(got a request and {', '.join(given)})")
            return target
        reference_audio = keywords.pop("reference_audio", None)
        if reference_audio is not None:
            keywords["reference"] = reference_audio
        return self.request(target, "auto" if intensity is None else intensity, **keywords)

    # -- the latent space (words) ---------------------------------------------------------------
    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """The audio encoder's latent of a recording (32,): what ``mode="latent"`` reads."""
        audio, sample_rate = check_audio(audio), check_sample_rate(sample_rate)
        return np.asarray(self.audio_encoder.encode(audio, sample_rate), dtype=np.float64)

    def _term_latent(self, term) -> np.ndarray:
        if term.latent is not None:
            return np.asarray(term.latent, dtype=np.float64)
        return np.asarray(self.eq_model.embedding(term.word), dtype=np.float64)

    def _weighted_terms(self, target, blend=None, alpha: float = 0.0) -> list[tuple[float, int, np.ndarray]]:
        """``(weight, sign, latent)`` of every term of the target (x (1 - alpha)) and the blend (x alpha)."""
        alpha = _check_unit("alpha", alpha)
        target = self.understand(target)
        if blend is None and alpha != 0.0:
            raise ParameterError("alpha needs a blend word")
        parts = [(target, 1.0 - alpha)] + ([(self.understand(blend), alpha)] if blend is not None else [])
        return [(share * t.weight, int(t.sign), self._term_latent(t)) for interp, share in parts for t in interp.terms
                if share * t.weight > 0.0 or len(parts) == 1]

    def target_latent(self, target, blend=None, alpha: float = 0.0) -> np.ndarray:
        """The latent of a target: a word's embedding, ``(1 - alpha) * target + alpha * blend``, or
        the weighted mean of a phrase's words. Only for words that all point the same way: a
        phrase mixing "more X" and "less Y" has no single latent (ParameterError)."""
        terms = self._weighted_terms(target, blend, alpha)
        if len({s for _, s, _ in terms}) > 1:
            raise ParameterError("a phrase that mixes 'more' and 'less' has no single latent")
        total = sum(a for a, _, _ in terms)
        return sum(a * z for a, _, z in terms) / total

    def target_sign(self, target, blend=None, alpha: float = 0.0) -> int:
        """+1 (toward the words), -1 (away from them: "less X"), 0 (a mix of both)."""
        signs = {s for _, s, _ in self._weighted_terms(target, blend, alpha)}
        return signs.pop() if len(signs) == 1 else 0

    def word_curve_db(self, target, blend=None, alpha: float = 0.0) -> np.ndarray:
        """The target's own EQ curve ``w(f)`` on the analysis grid (dB, 44.1 kHz design).

        One word: its decoded embedding's response. Words that point the same way: the response
        of their latent interpolation (what ``--blend`` has always done), with the sign of the
        phrase ("less X": exactly ``-w_X``). A phrase mixing "more" and "less": the weighted sum
        of the signed curves.
        """
        from .analysis import GRID_FREQS_HZ

        key = (self.understand(target), None if blend is None else self.understand(blend), float(alpha))
        curve = self._target_curves.get(key)
        if curve is None:
            terms = self._weighted_terms(target, blend, alpha)
            sign = self.target_sign(target, blend, alpha)
            if sign != 0:
                curve = sign * eq_response(self.eq_model.decode(self.target_latent(target, blend, alpha)), GRID_FREQS_HZ)
            else:
                total = sum(a for a, _, _ in terms)
                curve = sum(a / total * s * eq_response(self.eq_model.decode(z), GRID_FREQS_HZ) for a, s, z in terms)
            curve = np.asarray(curve, dtype=np.float64) + 0.0  # -0.0 -> 0.0
            curve.setflags(write=False)
            if len(self._target_curves) < 256:  # a few words and blends per session; bounded anyway
                self._target_curves[key] = curve
        return curve

    def static_eq(self, target, blend=None, alpha: float = 0.0) -> EQParams:
        """The target's own 5-band EQ at intensity 1 (``mode="static"``): the decoded latent, its exact
        inverse for "less X", or a 5-band fit of the curve of a phrase mixing "more" and "less"."""
        sign = self.target_sign(target, blend, alpha)
        if sign != 0:
            p = self.eq_model.decode(self.target_latent(target, blend, alpha))
            return p if sign > 0 else p.inverted()
        from .analysis import GRID_FREQS_HZ
        from .fitting import fit_eq

        return fit_eq(self.word_curve_db(target, blend, alpha), GRID_FREQS_HZ, sample_rate=44100.0).params

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
            raise ParameterError(SILENT_MESSAGE)
        return m

    def balance(self, audio: np.ndarray, sample_rate: float) -> "Balance":
        """The recording's balance against the music reference's centre, with the corridor."""
        return self.reference.balance(self.measure(audio, sample_rate))

    def _profile_band(self, balance: "Balance") -> np.ndarray:
        from .analysis import GRID_FREQS_HZ

        return balance.held & frontend.in_band(GRID_FREQS_HZ)

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

    def score(self, audio: np.ndarray, sample_rate: float, word) -> float:
        """Where the recording stands along a word (or a phrase's curve): its music percentile / 100, in [0, 1]."""
        m = self.measure(audio, sample_rate)
        band = self._profile_band(self.reference.balance(m))
        curve = self.word_curve_db(word)
        return float(self.reference.percentiles(m.spectrum_db, curve[None], band)[0]) / 100.0

    # -- the rules -------------------------------------------------------------------------------
    @staticmethod
    def intensity_for_distance(distance_db: float) -> float:
        """Match mode's auto-intensity ``g(d) / d`` with ``g(d) = M (1 - exp(-d / M))``."""
        m = AUTO_INTENSITY_MAX_CHANGE_DB
        d = max(float(distance_db), 0.0)
        return 1.0 if d < 1e-9 else float(m * -math.expm1(-d / m) / d)

    def reference_balance(self, reference) -> "Balance":
        """The balance of a reference recording (a path, read as the analysis reads any file, or
        ``(audio, sample_rate)``); a path's is cached."""
        if isinstance(reference, tuple):
            return self.balance(*reference)
        key = str(reference)
        hit = self._reference_balances.get(key)
        if hit is None:
            from .io import read_analysis_excerpt

            excerpt, sample_rate, _ = read_analysis_excerpt(reference)
            hit = self.balance(excerpt, sample_rate)
            if len(self._reference_balances) < 8:
                self._reference_balances[key] = hit
        return hit

    def designed_change_db(self, balance: "Balance", request: "EQRequest", intensity: float | None = None, *,
                           audio: tuple[np.ndarray, float] | None = None) -> np.ndarray:
        """The change (dB on the analysis grid, 0 outside the held band) the request's mode asks for.

        ``intensity`` overrides the request's; ``audio`` ``(audio, sample_rate)`` is needed by
        ``mode="latent"`` only (its encoder reads the audio, not the measurement).
        """
        from . import semantics

        held = balance.held
        intensity = request.intensity if intensity is None else intensity
        w = self.word_curve_db(request.target, request.blend, request.alpha)
        if request.mode == "toward":
            return semantics.toward_change_db(balance.balance_db, w, held, intensity)
        if request.mode == "match":
            if request.reference is not None:
                ref = self.reference_balance(request.reference)
                held = held & ref.held
                w = np.where(held, np.nan_to_num(ref.balance_db), 0.0)
            return semantics.match_change_db(balance.balance_db, w, held, intensity)
        if request.mode == "latent":
            return self._latent_change_db(request, intensity, audio, held)
        raise ParameterError(f"mode {request.mode!r} has no designed change")

    def _latent_change_db(self, request: "EQRequest", intensity: float, audio, held: np.ndarray) -> np.ndarray:
        """The seed's rule: ``z_final = z_audio + I (z_target - z_audio)``; the change is
        ``decode(z_final)`` after undoing ``decode(z_audio)`` (the recording's own EQ, as the encoder
        reads it), as one curve in dB."""
        from .analysis import GRID_FREQS_HZ

        if audio is None:
            raise ParameterError("mode 'latent' reads the audio with the encoder: it needs the recording, "
                                 "not only its spectrum (it has no streaming form)")
        if self.target_sign(request.target, request.blend, request.alpha) <= 0:
            raise ParameterError("mode 'latent' moves toward a point of the latent space: it takes words to move "
                                 "toward, not 'less X' (use mode 'toward')")
        z_audio = self.encode(*audio)
        z_target = self.target_latent(request.target, request.blend, request.alpha)
        z_final = z_audio + intensity * (z_target - z_audio)
        change = eq_response(self.eq_model.decode(z_final), GRID_FREQS_HZ) - eq_response(
            self.eq_model.decode(z_audio), GRID_FREQS_HZ)
        return np.where(held, change, 0.0)

    def suggest_intensity(self, audio: np.ndarray | None, sample_rate: float, target, blend=None,
                          alpha: float = 0.0, *, mode: str = "toward", balance: "Balance | None" = None,
                          reference_audio: tuple[np.ndarray, float] | None = None) -> IntensitySuggestion:
        """How far to go, from how much the recording needs the word (continuous, monotone, 0 if nothing).

        ``target`` may be an :class:`~semeq.request.EQRequest` (then the other keywords are unused).
        """
        request = self.as_request(target, "auto", blend=blend, alpha=alpha, mode=mode, reference_audio=reference_audio) \
            if not _is_request(target) else target.replace(intensity=None, intensity_source="auto")
        balance = self.balance(audio, sample_rate) if balance is None else balance
        return self._suggest(request, balance, None if audio is None else (audio, sample_rate))

    def _suggest(self, request: "EQRequest", balance: "Balance", audio) -> IntensitySuggestion:
        from . import semantics
        from .analysis import GRID_FREQS_HZ

        name = request.label
        if request.mode == "toward":
            w = self.word_curve_db(request.target, request.blend, request.alpha)
            u = semantics.need(balance.balance_db, w, balance.held)
            intensity = semantics.intensity_for_need(u)
            change = band_rms_db(self.designed_change_db(balance, request, intensity), GRID_FREQS_HZ)
            text = (f"the recording needs {u:.2f} of '{name}' (0: it already has it, 1: typical music, up to 2: far "
                    f"from it); intensity tanh({u:.2f}) = {intensity:.2f} changes it by {change:.1f} dB RMS")
            return IntensitySuggestion(intensity=intensity, need=u, change_db=change, explanation=text)
        d = band_rms_db(self.designed_change_db(balance, request, 1.0, audio=audio), GRID_FREQS_HZ)
        intensity = self.intensity_for_distance(d)
        # match is linear in the intensity; the latent rule is not: measure its change at that intensity
        change = intensity * d if request.mode == "match" else band_rms_db(
            self.designed_change_db(balance, request, intensity, audio=audio), GRID_FREQS_HZ)
        what = "the reference" if request.reference is not None else f"'{name}'"
        text = (f"the recording is {d:.1f} dB (RMS, 100 Hz-10 kHz) from {what}; "
                f"intensity {intensity:.2f} (= g(d)/d, g(d) = {AUTO_INTENSITY_MAX_CHANGE_DB:g} dB (1 - exp(-d / "
                f"{AUTO_INTENSITY_MAX_CHANGE_DB:g} dB))) changes it by {change:.1f} dB")
        return IntensitySuggestion(intensity=intensity, need=d, change_db=change, explanation=text)

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
        from .fitting import fit_errors, fit_eq
        from .reference import held_mask
        from .semantics import taper_above

        held = balance.held  # analysed: held by the recording and covered by the reference
        content = held_mask(balance.cutoff_hz)
        extended = np.array(designed_db, dtype=np.float64)
        if held.any():  # between the analysed band and the content's cut the change holds its last value
            last = int(np.flatnonzero(held)[-1])
            extended[last + 1:] = np.where(content[last + 1:], extended[last], 0.0)
        points = GRID_FREQS_HZ < _FIT_EDGE * float(sample_rate)
        target = taper_above(extended, content | held)[points]
        freqs = GRID_FREQS_HZ[points]
        mask = held[points]
        fitted = fit_errors(fit_eq(target, freqs, sample_rate=float(sample_rate), start=start,
                                   start_tolerance_db=_STREAM_START_TOLERANCE_DB).params, target, freqs, sample_rate, mask)
        if start is None and fitted.rms_error_db > FIT_BOUND_DB:  # a harder curve: a wider search
            wider = fit_errors(fit_eq(target, freqs, sample_rate=float(sample_rate), n_random_starts=24, seed=1).params,
                               target, freqs, sample_rate, mask)
            if wider.rms_error_db < fitted.rms_error_db:
                fitted = wider
        return fitted

    def design(self, measurement: "Measurement", sample_rate: float, request: "EQRequest", *,
               intensity: float | None = None, audio: tuple[np.ndarray, float] | None = None, fit: bool = True,
               start: EQParams | None = None, typical_db: np.ndarray | None = None) -> AdaptiveEQ:
        """The EQ for a measured recording (the file path, the web app and the streaming engine call this).

        ``intensity`` overrides the request's (which must then not be auto); ``audio`` is needed by
        ``mode="latent"`` only; ``fit=False`` designs without realising (an empty cascade);
        ``start`` warm-starts the 5-band fit. ``typical_db``: with a dynamic request, the recording's
        typical balance per region (:class:`semeq.dynamic.FrameBalance`; read from ``audio`` when
        not given).
        """
        from . import semantics

        intensity = request.intensity if intensity is None else _check_unit("intensity", intensity)
        if intensity is None:
            raise ParameterError("auto-intensity: decide() chooses the intensity before designing")
        balance = self.reference.balance(measurement)
        notes: list[str] = list(request.notes)
        designed = None
        cascade: tuple[EQParams, ...] = ()
        fitted = None
        if request.mode == "static":
            if intensity > 0:
                from .fitting import FitResult

                p = self.static_eq(request.target, request.blend, request.alpha).scaled(intensity)
                cascade = (p,)
                fitted = FitResult(params=p, rms_error_db=0.0, mae_db=0.0, max_error_db=0.0)
        else:
            designed = self.designed_change_db(balance, request, intensity, audio=audio)
            if intensity == 0.0:
                pass
            elif float(np.max(np.abs(designed))) < semantics.NOTHING_NEEDED_DB:
                what = "the reference's balance" if request.reference is not None else f"'{request.label}'"
                notes.append(f"the recording already has {what} in every band it holds: nothing to do, "
                             "the input is returned unchanged" if request.mode == "toward" else
                             f"the recording already matches {what}: the input is returned unchanged")
            elif fit:
                fitted = self.realise(designed, balance, sample_rate, start=start)
                cascade = (fitted.params,)
        plan = None
        if request.dynamic and intensity > 0.0:
            if typical_db is None and audio is not None:
                typical_db = _typical_balance(*audio)
            plan = self.dynamic_plan(measurement, sample_rate, request, intensity, cascade, typical_db=typical_db)
            if plan is None:
                notes.append("dynamic: the word moves no region (lows, low-mids, mids, presence, highs) by 1 dB "
                             "or more here: nothing to do dynamically")
            elif not cascade:
                notes = [n.replace("the input is returned unchanged", "the static part is flat (the dynamic part still acts)")
                         for n in notes]
        if intensity == 0.0:
            notes.append("intensity 0: the input is returned unchanged")
        below = CURVE_FREQS_HZ < 0.5 * float(sample_rate)
        curve = np.zeros_like(CURVE_FREQS_HZ)
        if cascade:
            curve[below] = eq_response(list(cascade), CURVE_FREQS_HZ[below], sample_rate)
            curve[~below] = curve[below][-1]
        word_db = None if request.mode == "static" else np.where(
            balance.held, self.word_curve_db(request.target, request.blend, request.alpha), np.nan)
        z_target = None
        if self.target_sign(request.target, request.blend, request.alpha) != 0:
            z_target = self.target_latent(request.target, request.blend, request.alpha)
        return AdaptiveEQ(target=request.target.label, intensity=intensity, mode=request.mode, cascade=cascade,
                          curve_db=curve, fit=fitted, designed_db=designed, word_db=word_db, balance=balance,
                          z_target=z_target, blend=None if request.blend is None else request.blend.label,
                          alpha=request.alpha, notes=tuple(notes), request=request, dynamic=plan)

    def dynamic_plan(self, measurement: "Measurement", sample_rate: float, request: "EQRequest", intensity: float,
                     cascade: tuple[EQParams, ...], *, typical_db: np.ndarray | None = None) -> "DynamicPlan | None":
        """The dynamic part on top of ``cascade`` (:func:`semeq.dynamic.plan_dynamic`): its regions,
        signs, caps and the references its detectors compare against. None when nothing can move.

        ``typical_db``: the recording's median balance per region (:class:`semeq.dynamic.FrameBalance`);
        without it the long-term power balance stands in."""
        from .analysis import GRID_FREQS_HZ
        from .dynamic import DynamicSettings, plan_dynamic

        balance = self.reference.balance(measurement)
        static = np.zeros(GRID_FREQS_HZ.size)
        if cascade:
            below = GRID_FREQS_HZ < 0.5 * float(sample_rate)
            static[below] = eq_response(list(cascade), GRID_FREQS_HZ[below], sample_rate)
        return plan_dynamic(spectrum_db=measurement.spectrum_db, held=balance.held, word_db=self.word_curve_db(request.target, request.blend, request.alpha), static_db=static,
                            intensity=intensity, sample_rate=sample_rate, typical_db=typical_db,
                            settings=DynamicSettings(lookahead_ms=request.lookahead_ms))

    def dynamic_from_power(self, freqs_hz: np.ndarray, power: np.ndarray, request: "EQRequest",
                           cascade: tuple[EQParams, ...], *, typical_db: np.ndarray | None = None
                           ) -> "DynamicPlan | None":
        """The streaming engine's hook for the dynamic part: the plan for a window's PSD (the same
        uniform bins and scaling as :meth:`design_from_power`), the cascade designed from it, and
        the window's median balance per region (``typical_db``)."""
        from .reference import measure_psd

        freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
        sample_rate = 2.0 * float(freqs_hz[-1])
        if request.intensity is None or request.intensity == 0.0:
            return None
        m = measure_psd(freqs_hz, np.asarray(power, dtype=np.float64), sample_rate)
        return self.dynamic_plan(m, sample_rate, request, request.intensity, tuple(cascade), typical_db=typical_db)

    def design_from_measurement(self, measurement: "Measurement", sample_rate: float, target, intensity: float, *,
                                mode: str = "toward", blend=None, alpha: float = 0.0,
                                reference_audio: tuple[np.ndarray, float] | None = None, fit: bool = True,
                                start: EQParams | None = None) -> AdaptiveEQ:
        """:meth:`design` with the keyword API (a request built from the keywords)."""
        request = self.as_request(target, intensity, mode=mode, blend=blend, alpha=alpha, reference_audio=reference_audio)
        return self.design(measurement, sample_rate, request, fit=fit, start=start)

    def decide(self, request: "EQRequest", audio: np.ndarray | None, sample_rate: float, *,
               measurement: "Measurement | None" = None, typical_db: np.ndarray | None = None
               ) -> tuple[AdaptiveEQ, "IntensitySuggestion | None"]:
        """The EQ for a recording, and the auto-intensity suggestion when the request asks for it.

        The recording is measured once (unless ``measurement`` is given: the file pipeline
        measures a file block by block) for both. The array API and the file pipeline both call
        this, so they decide alike. ``typical_db``: for a dynamic request measured block by block,
        the recording's median balance per region (:class:`semeq.dynamic.FrameBalance`).

        Raises
        ------
        ParameterError
            Silent audio, or a request the recording cannot serve.
        """
        measurement = self.measure(audio, sample_rate) if measurement is None else measurement
        pair = None if audio is None else (audio, sample_rate)
        suggestion = None
        intensity = request.intensity
        if intensity is None:
            suggestion = self._suggest(request, self.reference.balance(measurement), pair)
            intensity = suggestion.intensity
        return self.design(measurement, sample_rate, request, intensity=intensity, audio=pair,
                           typical_db=typical_db), suggestion

    def design_from_power(self, freqs_hz: np.ndarray, power: np.ndarray, target, intensity: float | None = None, *,
                          blend=None, alpha: float = 0.0, mode: str = "toward") -> tuple[EQParams, ...]:
        """The streaming engine's hook: the cascade (one EQParams, or empty) for a window's PSD.

        ``target`` is the stream's :class:`~semeq.request.EQRequest` (what ``set_target`` built),
        or a word or phrase with ``intensity``, ``blend``, ``alpha`` and ``mode``.

        ``freqs_hz`` are uniform bins from 0 Hz to the stream's Nyquist frequency, ``power`` the
        window's one-sided PSD. The same reference, held band, rule and fit as the file path;
        the fit is warm-started from this analyzer's previous streaming fit (kept when within
        0.5 dB RMS, the fit bound of the file path), and a designed change that moved by less
        than 0.1 dB anywhere since the last window keeps the last EQ without a fit.
        """
        from .reference import measure_psd

        if _is_request(target):
            request = target
        else:
            if intensity is None:
                raise ParameterError("streaming takes a fixed intensity, not auto-intensity")
            request = self.as_request(target, intensity, blend=blend, alpha=alpha, mode=mode)
        if request.mode == "latent":
            raise ParameterError("mode 'latent' reads the audio with the encoder: it has no streaming form")
        if request.intensity is None:
            raise ParameterError("streaming takes a fixed intensity, not auto-intensity")
        freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
        sample_rate = 2.0 * float(freqs_hz[-1])
        m = measure_psd(freqs_hz, np.asarray(power, dtype=np.float64), sample_rate)
        key = (request, sample_rate)
        designed = self.designed_change_db(self.reference.balance(m), request) if request.mode != "static" else None
        last = self._stream_last
        if (last is not None and last[0] == key and designed is not None
                and float(np.max(np.abs(designed - last[1]))) < _STREAM_REDESIGN_DB):
            return last[2]  # the design has not moved: the same EQ (no fit)
        eq = self.design(m, sample_rate, request, start=self._stream_start)
        if eq.cascade:
            self._stream_start = eq.cascade[0]
        self._stream_last = (key, designed, eq.cascade)
        return eq.cascade

    def adaptive_eq(self, audio: np.ndarray, sample_rate: float, target, intensity: float | None = None, *,
                    mode: str = "toward", blend=None, alpha: float = 0.0, static: bool = False,
                    reference_audio: tuple[np.ndarray, float] | None = None, fit: bool = True) -> AdaptiveEQ:
        """The EQ for this recording.

        Parameters
        ----------
        audio : ndarray [shape=(channels, samples)]
        sample_rate : float
        target : str, Interpretation or EQRequest
            A word or a phrase ("warm", "a bit darker", "less harsh"), or a whole request (then
            the other keywords are unused).
        intensity : float in [0, 1]
        mode : {"toward", "match", "static", "latent"}
            See the module docstring. ``static=True`` is the same as ``mode="static"``.
        blend, alpha : str, float in [0, 1]
            Blend the target with a second word (latent interpolation).
        reference_audio : (ndarray, float), optional
            ``(audio, sample_rate)`` of a reference recording: ``match`` moves toward its balance.
        fit : bool
            Realise the change as a 5-band EQ (False: design only, an empty cascade).
        """
        if not _is_request(target) and intensity is None:
            raise ParameterError("adaptive_eq needs an intensity in [0, 1] (apply() chooses one when given None)")
        request = self.as_request(target, intensity, mode=mode, blend=blend, alpha=alpha, static=static,
                                   reference_audio=reference_audio)
        if request.intensity is None:
            raise ParameterError("adaptive_eq needs an intensity in [0, 1] (apply() chooses one when given None)")
        measurement = self.measure(audio, sample_rate)
        return self.design(measurement, sample_rate, request, fit=fit, audio=(check_audio(audio), sample_rate))

    def apply(self, audio: np.ndarray, sample_rate: float, target, intensity: float | None = None, *,
              mode: str = "toward", blend=None, alpha: float = 0.0, static: bool = False,
              reference_audio: tuple[np.ndarray, float] | None = None, loudness_match: bool = True,
              true_peak_ceiling_dbtp: float = -1.0, dynamic: bool = False,
              lookahead_ms: float = 0.0) -> tuple[np.ndarray, ApplyResult]:
        """Process a recording. ``intensity=None`` chooses it with :meth:`suggest_intensity`.

        ``target`` is a word, a phrase or an :class:`~semeq.request.EQRequest` (then the other
        keywords are unused). ``mode``, ``blend``, ``alpha``, ``static`` and ``reference_audio``
        are those of :meth:`adaptive_eq`. ``dynamic=True`` adds the dynamic part
        (:mod:`semeq.dynamic`; ``lookahead_ms`` lets its detector look ahead); its gain trace is
        ``result.dynamic_trace``.

        Returns
        -------
        out : ndarray [shape=(channels, samples)]
            Same shape as the input. Intensity 0 returns the input values unchanged.
        result : ApplyResult
        """
        # The same steps, and the same level functions, as the file pipeline (semeq.pipeline.apply_file).
        from .loudness import level_stats, output_gain

        audio, sample_rate = check_audio(audio), check_sample_rate(sample_rate)
        request = self.as_request(target, intensity, mode=mode, blend=blend, alpha=alpha, static=static,
                                   reference_audio=reference_audio, loudness_match=loudness_match,
                                   true_peak_ceiling_dbtp=true_peak_ceiling_dbtp, dynamic=dynamic,
                                   lookahead_ms=lookahead_ms)
        eq, suggestion = self.decide(request, audio, sample_rate)
        stats_in = level_stats(audio, sample_rate, true_peak=False)  # only the output's true peak matters
        if eq.is_bypass:
            return audio.copy(), ApplyResult(eq=eq, gain_db=0.0, stats_in=stats_in, stats_out=stats_in,
                                             suggestion=suggestion, notes=list(eq.notes))
        out, trace = audio, None
        if eq.dynamic is not None:  # the dynamic part reads and moves the input; the static EQ follows
            from .dynamic import render_dynamic

            out, trace = render_dynamic(audio, sample_rate, eq.dynamic)
        out = apply_eq(out, sample_rate, list(eq.cascade)) if eq.cascade else np.array(out, dtype=np.float64)
        stats_eq = level_stats(out, sample_rate)
        gain_db, notes = output_gain(stats_in, stats_eq, loudness_match=request.loudness_match,
                                     true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp)
        notes = list(eq.notes) + list(notes)
        out *= 10.0 ** (gain_db / 20.0)
        return out, ApplyResult(eq=eq, gain_db=gain_db, stats_in=stats_in, stats_out=stats_eq.shifted(gain_db),
                                suggestion=suggestion, notes=notes, dynamic_trace=trace)


def _typical_balance(audio: np.ndarray, sample_rate: float) -> np.ndarray | None:
    """The recording's median balance per dynamic region (:class:`semeq.dynamic.FrameBalance`),
    fed in the file pipeline's blocks so the array and file paths count the same frames."""
    from .dynamic import FrameBalance
    from .io import BLOCK_FRAMES

    balance = FrameBalance(sample_rate, audio.shape[0])
    for i in range(0, audio.shape[1], BLOCK_FRAMES):
        balance.update(audio[:, i : i + BLOCK_FRAMES])
    return balance.median_db()


_KEYWORD_DEFAULTS = {"mode": "toward", "blend": None, "alpha": 0.0, "static": False, "reference_audio": None,
                     "loudness_match": True, "true_peak_ceiling_dbtp": -1.0, "dynamic": False, "lookahead_ms": 0.0}


def _is_default_keyword(name: str, value: object) -> bool:
    default = _KEYWORD_DEFAULTS.get(name, None)
    return value is default or (isinstance(value, (int, float, str)) and value == default)


def _is_request(value: object) -> bool:
    from .request import EQRequest

    return isinstance(value, EQRequest)

