"""The adaptive generator: where a recording stands, and the EQ that moves it toward a word.

Definitions (the contract every other part relies on)
----------------------------------------------------
Latent space
    The EQ model's 32-D space. ``decode(z)`` is an *absolute* EQ curve: the EQ that turns the
    reference balance (:mod:`semeq.analysis`) into some balance. A word's embedding is the
    balance that word describes: the reference with the word's typical EQ applied.
Where a recording stands
    ``z_audio = AudioEncoder.encode(audio)``: the latent of the EQ that turns the reference
    balance into the recording's balance.
Adaptive EQ
    ``z_final = z_audio + intensity * (z_target - z_audio)``; the EQ applied is the *change*
    between the two absolute curves, realised exactly as the cascade
    ``[decode(z_final), decode(z_audio).inverted()]`` (RBJ sections invert exactly when their
    gains are negated). Intensity 0 is an exact bypass (the input is returned sample for
    sample); an input already at the target gets (almost) no EQ; a dark and a bright input
    get different EQs for the same word.
Semantic profile
    For each word w, with the recording's curve ``c_a = curve(z_audio)`` and the word's curve
    ``c_w = curve(embedding(w))`` on the analysis grid over 100 Hz-10 kHz:
    ``s_w = <c_a, c_w> / (<c_w, c_w> + floor)``, the fraction of the word's EQ the recording
    already carries (1: all of it), and ``score = 1 / (1 + exp(-4 (s_w - 0.5)))`` in (0, 1)
    (0.5 at half of it). Adding a word's EQ to a recording raises ``s_w`` by about 1, so the
    score rises: it is calibrated in that sense (tested).
Auto-intensity
    With ``d`` the RMS distance in dB (100 Hz-10 kHz) between the recording's curve and the
    target's, the change asked for is ``g(d) = M (1 - exp(-d / M))`` dB with ``M = 6 dB`` (about
    ``d`` when small, never above M), and ``intensity = g(d) / d`` (1 as d -> 0). It is smooth,
    has no jumps, and decreases monotonically with d: a recording far from the word is moved
    part of the way. The latent path is not straight in dB, so the change actually made differs
    from g(d) (on the 12 development clips and five words: by 0.30 dB on average, 1.05 dB at most,
    largest change 5.6 dB); the suggestion reports the change actually made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .dsp import apply_eq, check_audio, eq_response
from .errors import DataError, ParameterError
from .params import EQParams, check_unit as _check_unit

if TYPE_CHECKING:
    from .audio_encoder import AudioEncoder
    from .eq_model import EQModel
    from .fitting import FitResult

__all__ = ["SemanticEQ", "AdaptiveEQ", "ProfileEntry", "Profile", "IntensitySuggestion", "ApplyResult",
           "PROFILE_BAND_HZ", "AUTO_INTENSITY_MAX_CHANGE_DB"]

PROFILE_BAND_HZ = (100.0, 10000.0)
"""Band over which curves are compared (profile scores, distances, change sizes)."""
PROFILE_MIN_CONFIDENCE = 0.5
"""Words below this vocabulary confidence are left out of the profile unless asked for."""
AUTO_INTENSITY_MAX_CHANGE_DB = 6.0
"""M in the auto-intensity rule: the RMS change (dB) the suggestion saturates at."""
_PROFILE_FLOOR_DB2 = 1.0  # 1 dB^2: words with a near-flat curve do not divide by ~0
_PROFILE_SLOPE = 4.0
CURVE_FREQS_HZ: np.ndarray = np.geomspace(20.0, 20000.0, 256)
"""Grid on which curves are reported and plotted (256 log-spaced points, 20 Hz-20 kHz)."""
_BAND = (CURVE_FREQS_HZ >= PROFILE_BAND_HZ[0]) & (CURVE_FREQS_HZ <= PROFILE_BAND_HZ[1])


def _require_energy(audio: np.ndarray, sample_rate: float) -> None:
    """Refuse audio with no usable energy (silence, DC, a lone click) in any 2 s stretch.

    Checked a stretch at a time, so a long recording costs one stretch, not a full analysis.
    """
    from .analysis import has_usable_energy

    step = int(2.0 * sample_rate)
    if not any(has_usable_energy(audio[:, i : i + step], sample_rate) for i in range(0, audio.shape[1], step)):
        raise ParameterError("the audio is silent or too short: no usable energy between 100 Hz and 10 kHz "
                             "(silence, DC, a lone click, or under about 0.1 s of sound): nothing to analyse or equalise")


def band_rms_db(curve_db: np.ndarray) -> float:
    """RMS of a curve on :data:`CURVE_FREQS_HZ` over :data:`PROFILE_BAND_HZ`, in dB."""
    return float(np.sqrt(np.mean(np.asarray(curve_db)[..., _BAND] ** 2)))


def _profile_score(curve_audio_db: np.ndarray, curve_word_db: np.ndarray) -> tuple[float, float]:
    """(fraction of the word's curve the recording carries, its logistic score in (0, 1))."""
    a, w = curve_audio_db[_BAND], curve_word_db[_BAND]
    fraction = float(a @ w) / (float(w @ w) + _PROFILE_FLOOR_DB2 * a.size)
    return fraction, 1.0 / (1.0 + math.exp(-_PROFILE_SLOPE * (fraction - 0.5)))


@dataclass(frozen=True, kw_only=True)
class ProfileEntry:
    word: str
    score: float
    fraction: float
    confidence: float
    low_confidence: bool
    language: str


@dataclass(frozen=True, kw_only=True)
class Profile:
    """The semantic profile of a recording: words ranked by how much of them it already has."""

    entries: list[ProfileEntry]
    z_audio: np.ndarray
    curve_db: np.ndarray
    """The recording's balance as an EQ curve on CURVE_FREQS_HZ (its decoded latent)."""

    def to_dict(self) -> dict:
        return {"profile": [vars(e) | {"score": round(e.score, 4), "fraction": round(e.fraction, 4),
                                       "confidence": round(e.confidence, 3)} for e in self.entries],
                "balance_curve_db": {"freqs_hz": CURVE_FREQS_HZ[::16].round(1).tolist(),
                                     "gain_db": self.curve_db[::16].round(2).tolist()}}


@dataclass(frozen=True, kw_only=True)
class IntensitySuggestion:
    intensity: float
    distance_db: float
    change_db: float
    explanation: str


@dataclass(frozen=True, kw_only=True)
class AdaptiveEQ:
    """The EQ chosen for one recording: exact cascade, curves, and a typeable 5-band fit."""

    target: str
    intensity: float
    static: bool
    cascade: tuple[EQParams, ...]
    """Applied in order; empty for the exact bypass."""
    curve_db: np.ndarray
    """Net applied change on CURVE_FREQS_HZ."""
    fit: "FitResult | None"
    """A single 5-band EQ approximating the net change (within SAFE ranges), with its error."""
    z_audio: np.ndarray | None = None
    z_target: np.ndarray | None = None
    z_final: np.ndarray | None = None
    blend: str | None = None
    alpha: float = 0.0

    @property
    def is_bypass(self) -> bool:
        return not self.cascade

    @property
    def change_rms_db(self) -> float:
        """Size of the applied change: RMS of the net curve over 100 Hz-10 kHz, in dB."""
        return band_rms_db(self.curve_db)

    def to_dict(self) -> dict:
        d = {"target": self.target, "blend": self.blend, "alpha": self.alpha, "intensity": round(self.intensity, 4),
             "mode": "static" if self.static else "adaptive", "change_rms_db": round(self.change_rms_db, 3),
             "net_curve_db": {"freqs_hz": CURVE_FREQS_HZ[::16].round(1).tolist(), "gain_db": self.curve_db[::16].round(2).tolist()},
             "cascade": [p.to_dict() for p in self.cascade]}
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
    """Adaptive semantic EQ: the EQ model and the audio encoder joined.

    Parameters
    ----------
    eq_model : EQModel, optional
        Defaults to the shipped weights.
    audio_encoder : AudioEncoder, optional
        Defaults to the shipped weights.
    encoder : {"cnn", "analytic"}
        Where a recording stands: the trained CNN (default) or balance -> fitted EQ -> latent.

    Examples
    --------
    >>> import numpy as np
    >>> seq = SemanticEQ()
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((2, 44100))
    >>> out, result = seq.apply(x, 44100, "warm", intensity=0.0)
    >>> bool(np.array_equal(out, x))
    True
    """

    def __init__(self, eq_model: "EQModel | None" = None, audio_encoder: "AudioEncoder | None" = None, encoder: str = "cnn"):
        if eq_model is None:
            from .eq_model import EQModel

            eq_model = EQModel.load()
        if encoder != "cnn":  # "analytic": balance -> fitted 5-band EQ -> latent (semeq.analytic_encoder)
            from .analytic_encoder import select_encoder
            audio_encoder = select_encoder(encoder, eq_model, audio_encoder)
        if audio_encoder is None:
            from .audio_encoder import AudioEncoder

            audio_encoder = AudioEncoder.load()
        _check_pair(eq_model, audio_encoder)
        self.eq_model = eq_model
        self.audio_encoder = audio_encoder
        self._word_curves: dict[str, np.ndarray] | None = None

    @classmethod
    def from_dir(cls, path: str | Path) -> "SemanticEQ":
        """Load trained models from a folder holding eq_vae.* and audio_encoder.* files."""
        from .audio_encoder import AudioEncoder
        from .eq_model import EQModel

        path = Path(path)
        return cls(EQModel.load(path), AudioEncoder.load(path))

    # -- the latent space -------------------------------------------------------------------
    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Where a recording stands: its latent (32,)."""
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
        """``(decode(z_final), decode(z_audio).inverted())`` for ``z_final`` between the two."""
        intensity = _check_unit("intensity", intensity)
        z_final = z_audio + intensity * (z_target - z_audio)
        return self.eq_model.decode(z_final), self.eq_model.decode(z_audio).inverted()

    # -- the three questions ----------------------------------------------------------------
    def _curves(self) -> dict[str, np.ndarray]:
        if self._word_curves is None:
            words = [entry.word for entry in self.eq_model.vocabulary]
            z = np.stack([self.eq_model.embedding(w) for w in words])
            params = self.eq_model.decode_batch(z)  # (n_words, 13)
            from .fitting import response_db_batch

            curves = response_db_batch(params, CURVE_FREQS_HZ)
            self._word_curves = dict(zip(words, curves))
        return self._word_curves

    def profile(self, audio: np.ndarray, sample_rate: float, top_k: int = 10, *,
                min_confidence: float = PROFILE_MIN_CONFIDENCE) -> Profile:
        """Rank the vocabulary by how much of each word the recording already has.

        Only words with at least ``min_confidence`` are ranked (by default the 19 well-supported
        words; 0 ranks all 638, most of them from two or three Audealize contributors).
        """
        if int(top_k) != top_k or top_k < 1:
            raise ParameterError(f"top_k must be a positive integer, got {top_k!r}")
        min_confidence = _check_unit("min_confidence", min_confidence)
        audio = check_audio(audio)
        _require_energy(audio, sample_rate)
        z = self.encode(audio, sample_rate)
        c_a = self.decode_curve(z)
        entries = []
        meta = {e.word: e for e in self.eq_model.vocabulary}
        for word, c_w in self._curves().items():
            e = meta[word]
            if e.confidence < min_confidence:
                continue
            frac, score = _profile_score(c_a, c_w)
            entries.append(ProfileEntry(word=word, score=score, fraction=frac, confidence=float(e.confidence),
                                        low_confidence=bool(e.low_confidence), language=e.language))
        entries.sort(key=lambda e: -e.score)
        chosen = entries[: int(top_k)]
        return Profile(entries=chosen, z_audio=z, curve_db=c_a)

    def score(self, audio: np.ndarray, sample_rate: float, word: str) -> float:
        """The profile score of one word."""
        z = self.encode(audio, sample_rate)
        return _profile_score(self.decode_curve(z), self._curves()[self.eq_model.entry(word).word])[1]

    @staticmethod
    def intensity_for_distance(distance_db: float) -> float:
        """The auto-intensity rule ``g(d) / d`` with ``g(d) = M (1 - exp(-d / M))``."""
        m = AUTO_INTENSITY_MAX_CHANGE_DB
        d = max(float(distance_db), 0.0)
        return 1.0 if d < 1e-9 else float(m * -math.expm1(-d / m) / d)

    def suggest_intensity(self, audio: np.ndarray, sample_rate: float, target: str, blend: str | None = None,
                          alpha: float = 0.0, *, z_audio: np.ndarray | None = None) -> IntensitySuggestion:
        """How far to go: continuous and monotone in the distance to the target."""
        z_target = self.target_latent(target, blend, alpha)
        z_audio = self.encode(audio, sample_rate) if z_audio is None else z_audio
        curve_audio = self.decode_curve(z_audio)
        d = band_rms_db(self.decode_curve(z_target) - curve_audio)
        intensity = self.intensity_for_distance(d)
        # The change that intensity really gives (the latent path is not straight in dB).
        change = band_rms_db(self.decode_curve(z_audio + intensity * (z_target - z_audio)) - curve_audio)
        name = target if blend is None else f"{target}+{blend}"
        text = (f"the recording is {d:.1f} dB (RMS, 100 Hz-10 kHz) from '{name}'; intensity {intensity:.2f} "
                f"(= g(d)/d, g(d) = {AUTO_INTENSITY_MAX_CHANGE_DB:g} dB (1 - exp(-d / {AUTO_INTENSITY_MAX_CHANGE_DB:g} dB))) "
                f"changes it by {change:.1f} dB")
        return IntensitySuggestion(intensity=intensity, distance_db=d, change_db=change, explanation=text)

    def adaptive_eq(self, audio: np.ndarray, sample_rate: float, target: str, intensity: float, *,
                    blend: str | None = None, alpha: float = 0.0, static: bool = False, fit: bool = True,
                    z_audio: np.ndarray | None = None) -> AdaptiveEQ:
        """The EQ for this recording (adaptive), or the word's own EQ scaled by intensity (static)."""
        intensity = _check_unit("intensity", intensity)
        z_target = self.target_latent(target, blend, alpha)
        if static:
            cascade: tuple[EQParams, ...] = (self.eq_model.decode(z_target).scaled(intensity),) if intensity > 0 else ()
            z_audio = z_final = None
        else:
            audio = check_audio(audio)
            z_audio = self.encode(audio, sample_rate) if z_audio is None else z_audio
            z_final = z_audio + intensity * (z_target - z_audio)
            cascade = self.cascade_for(z_audio, z_target, intensity) if intensity > 0 else ()
        # The response as designed at the recording's rate (frequencies clamp below Nyquist there);
        # above Nyquist, where the recording holds nothing, the curve is held at its last value.
        below = CURVE_FREQS_HZ < 0.5 * float(sample_rate)
        curve = np.zeros_like(CURVE_FREQS_HZ)
        if cascade:
            curve[below] = eq_response(list(cascade), CURVE_FREQS_HZ[below], sample_rate)
            curve[~below] = curve[below][-1]
        fitted = None
        if fit:
            from .fitting import fit_eq

            fitted = fit_eq(curve[below], CURVE_FREQS_HZ[below], sample_rate=float(sample_rate))
        return AdaptiveEQ(target=target, intensity=intensity, static=static, cascade=cascade, curve_db=curve, fit=fitted,
                          z_audio=z_audio, z_target=z_target, z_final=z_final, blend=blend, alpha=alpha)

    def apply(self, audio: np.ndarray, sample_rate: float, target: str, intensity: float | None = None, *,
              blend: str | None = None, alpha: float = 0.0, static: bool = False, loudness_match: bool = True,
              true_peak_ceiling_dbtp: float = -1.0) -> tuple[np.ndarray, ApplyResult]:
        """Process a recording. ``intensity=None`` chooses it with :meth:`suggest_intensity`.

        Returns
        -------
        out : ndarray [shape=(channels, samples)]
            Same shape as the input. Intensity 0 returns the input values unchanged.
        result : ApplyResult
        """
        from .loudness import level_stats, match_gain_db

        audio = check_audio(audio)
        _require_energy(audio, sample_rate)
        suggestion = None
        z_audio = None
        if intensity is None:
            if static:
                raise ParameterError("auto-intensity needs the adaptive mode (it measures the recording)")
            z_audio = self.encode(audio, sample_rate)
            suggestion = self.suggest_intensity(audio, sample_rate, target, blend, alpha, z_audio=z_audio)
            intensity = suggestion.intensity
        eq = self.adaptive_eq(audio, sample_rate, target, intensity, blend=blend, alpha=alpha, static=static, z_audio=z_audio)
        stats_in = level_stats(audio, sample_rate)
        notes: list[str] = []
        if eq.is_bypass:
            return audio.copy(), ApplyResult(eq=eq, gain_db=0.0, stats_in=stats_in, stats_out=stats_in,
                                             suggestion=suggestion, notes=["intensity 0: the input is returned unchanged"])
        out = apply_eq(audio, sample_rate, list(eq.cascade))
        stats_eq = level_stats(out, sample_rate)
        if loudness_match:
            gain_db = match_gain_db(stats_in, stats_eq, true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)
            if gain_db < stats_in.loudness_lufs - stats_eq.loudness_lufs - 0.01:
                notes.append(f"true-peak ceiling {true_peak_ceiling_dbtp:g} dBTP: the output is "
                             f"{stats_in.loudness_lufs - stats_eq.loudness_lufs - gain_db:.1f} dB below the input's loudness")
        else:  # keep the EQ's level, lowered only as far as the true-peak ceiling needs
            gain_db = min(0.0, true_peak_ceiling_dbtp - stats_eq.true_peak_dbtp)
            if gain_db < 0.0:
                notes.append(f"true peak {stats_eq.true_peak_dbtp:+.1f} dBTP: lowered by {-gain_db:.1f} dB to the "
                             f"{true_peak_ceiling_dbtp:g} dBTP ceiling")
        out *= 10.0 ** (gain_db / 20.0)
        return out, ApplyResult(eq=eq, gain_db=gain_db, stats_in=stats_in, stats_out=stats_eq.shifted(gain_db),
                                suggestion=suggestion, notes=notes)
