"""Reader for the Audealize / SocialEQ word curves, their dB calibration and 5-band fits.

Each word is a 40-band graphic EQ setting (peaking filters, Q 4.31, at
:data:`AUDEALIZE_CENTRES_HZ`) in relative units. semeq takes a word's *curve* to be the dB
magnitude response of that graphic EQ with gains ``scale_db * settings``, where ``scale_db`` is
one factor calibrated against the SAFE-DB mean curves of the words both datasets share
(:func:`calibrate_scale`). The curve is then fitted with the SAFE 5-band layout
(:func:`semeq.fitting.fit_eq_batch`, in :func:`semeq.training.eq.prepare_data`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dsp.biquad import closed_form_response_db
from ..errors import DataError

__all__ = ["AUDEALIZE_CENTRES_HZ", "AUDEALIZE_Q", "AudealizeData", "read_audealize", "graphic_eq_response_db",
           "calibrate_scale", "default_audealize_path", "LANGUAGES"]

AUDEALIZE_CENTRES_HZ = np.array([
    20, 50, 83, 120, 161, 208, 259, 318, 383, 455, 537, 628, 729, 843, 971, 1114, 1273, 1452, 1652, 1875, 2126,
    2406, 2719, 3070, 3462, 3901, 4392, 4941, 5556, 6244, 7014, 7875, 8839, 9917, 11124, 12474, 13984, 15675,
    17566, 19682], dtype=np.float64)
"""Centre frequencies of the 40 Audealize bands in Hz."""

AUDEALIZE_Q = 4.31
"""Q of the Audealize graphic EQ's peaking filters."""

LANGUAGES = {"English": "en", "Español": "es", "Espanol": "es", "Spanish": "es"}
"""The file's language names and the ISO 639-1 codes semeq stores."""


def default_audealize_path() -> Path:
    """``<data>/audealize/eqdescriptors.json`` (see :func:`semeq.data.paths.data_dir`)."""
    from .paths import data_dir

    return data_dir() / "audealize" / "eqdescriptors.json"


@dataclass(frozen=True, kw_only=True)
class AudealizeData:
    """The Audealize words.

    Attributes
    ----------
    words : tuple of str [length n]
        Lower-cased, stripped words (unique within a language).
    languages : tuple of str [length n]
        ``"en"`` or ``"es"``.
    settings : ndarray [shape=(n, 40)]
        Relative band weights (not dB).
    n_contributors : ndarray [shape=(n,), dtype=int]
        People who contributed each word.
    agreement : ndarray [shape=(n,)]
        Their agreement score.
    """

    words: tuple[str, ...]
    languages: tuple[str, ...]
    settings: np.ndarray
    n_contributors: np.ndarray
    agreement: np.ndarray

    def __len__(self) -> int:
        return len(self.words)


def read_audealize(path: str | Path | None = None) -> AudealizeData:
    """Read ``eqdescriptors.json``.

    Raises
    ------
    DataError
        If the file is missing, not JSON, not a list of word records, a record lacks a field or
        has other than 40 finite settings, a language is unknown, or no word is left.
    """
    path = Path(path) if path is not None else default_audealize_path()
    try:
        with open(path, encoding="utf-8") as fh:
            records = json.load(fh)
    except FileNotFoundError:
        raise DataError(f"{path}: Audealize JSON not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read Audealize JSON ({exc})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of word records, got {type(records).__name__}")
    words, langs, settings, nums, agreements = [], [], [], [], []
    seen: set[tuple[str, str]] = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"{path}: record {i} is not an object")
        missing = [k for k in ("word", "lang", "settings", "num", "agreement") if k not in rec]
        if missing:
            raise DataError(f"{path}: record {i} lacks {', '.join(missing)}")
        word = " ".join(str(rec["word"]).split()).lower()
        lang = LANGUAGES.get(str(rec["lang"]).strip())
        if lang is None:
            raise DataError(f"{path}: record {i} ({word!r}) has unknown language {rec['lang']!r}; known: English, Español")
        try:
            values = np.asarray(rec["settings"], dtype=np.float64)
            num = int(rec["num"])
            agreement = float(rec["agreement"])
        except (TypeError, ValueError, OverflowError):
            raise DataError(f"{path}: record {i} ({word!r}) has non-numeric settings, num or agreement") from None
        if values.shape != (AUDEALIZE_CENTRES_HZ.size,) or not np.all(np.isfinite(values)):
            raise DataError(f"{path}: record {i} ({word!r}) needs 40 finite settings, got shape {values.shape}")
        if not word or num < 1 or not math.isfinite(agreement):
            raise DataError(f"{path}: record {i} has an empty word, num < 1 or a non-finite agreement")
        if (word, lang) in seen:
            continue
        seen.add((word, lang))
        words.append(word)
        langs.append(lang)
        settings.append(values)
        nums.append(num)
        agreements.append(agreement)
    if not words:
        raise DataError(f"{path}: no Audealize words")
    return AudealizeData(words=tuple(words), languages=tuple(langs), settings=np.stack(settings),
                         n_contributors=np.array(nums, dtype=np.int64), agreement=np.array(agreements))


def graphic_eq_response_db(gains_db: np.ndarray, freqs_hz: np.ndarray, sample_rate: float = 44100.0) -> np.ndarray:
    """dB response of the 40-band Audealize graphic EQ (RBJ peaking filters, Q 4.31).

    Parameters
    ----------
    gains_db : ndarray [shape=(n, 40)]
    freqs_hz : ndarray [shape=(n_freqs,)]
    sample_rate : float

    Returns
    -------
    response_db : ndarray [shape=(n, n_freqs)]
        The sum of the 40 bands' dB responses.

    Notes
    -----
    RBJ peaking filters evaluated by :func:`semeq.dsp.biquad.closed_form_response_db`, the
    closed form every response in semeq uses (centres clamped below Nyquist as there).
    """
    gains_db = np.atleast_2d(np.asarray(gains_db, dtype=np.float64))  # (n, 40)
    n_bands = AUDEALIZE_CENTRES_HZ.size
    centres = np.broadcast_to(AUDEALIZE_CENTRES_HZ, gains_db.shape)
    q = np.full(gains_db.shape, AUDEALIZE_Q)
    return closed_form_response_db(np, ("peak",) * n_bands, gains_db, centres, q,
                                   np.asarray(freqs_hz, dtype=np.float64), float(sample_rate))


def calibrate_scale(settings: np.ndarray, target_curves_db: np.ndarray, weights: np.ndarray, freqs_hz: np.ndarray,
                    sample_rate: float = 44100.0) -> tuple[float, float]:
    """The relative-to-dB factor that best maps Audealize curves onto measured dB curves.

    Minimises ``sum_w weight_w * mean_f (target_w(f) - G(scale * settings_w)(f))^2`` over one
    scalar ``scale``, where ``G`` is :func:`graphic_eq_response_db`.

    Parameters
    ----------
    settings : ndarray [shape=(n_words, 40)]
        Audealize settings of the shared words.
    target_curves_db : ndarray [shape=(n_words, n_freqs)]
        Their mean SAFE-DB dB curves.
    weights : ndarray [shape=(n_words,)]
        Weight of each word (e.g. its number of SAFE settings).
    freqs_hz : ndarray [shape=(n_freqs,)]

    Returns
    -------
    scale_db : float
        dB per relative unit.
    rms_error_db : float
        Weighted RMS error at that scale.
    """
    from scipy.optimize import minimize_scalar

    if len(settings) == 0:
        raise DataError("no word is shared by SAFE-DB and Audealize: cannot calibrate the Audealize scale")
    w = np.asarray(weights, dtype=np.float64) / np.sum(weights)

    def loss(scale: float) -> float:
        err = graphic_eq_response_db(scale * settings, freqs_hz, sample_rate) - target_curves_db
        return float(np.sum(w * np.mean(err**2, axis=1)))

    res = minimize_scalar(loss, bounds=(0.01, 12.0), method="bounded", options={"xatol": 1e-4})
    return float(res.x), float(math.sqrt(res.fun))
