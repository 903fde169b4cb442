"""What the user asked for, as one frozen object built once at the edge and passed down.

The CLI, the web app, batch and streaming each build an :class:`EQRequest` once (usually with
:meth:`semeq.SemanticEQ.request`, which understands the target phrase) and pass it to the
library: :meth:`semeq.SemanticEQ.decide`, :meth:`semeq.SemanticEQ.apply`,
:func:`semeq.pipeline.apply_file`. Every check of a combination of settings is made here, once.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ParameterError
from .params import check_unit
from .phrases import Interpretation

__all__ = ["EQRequest", "MODES", "Mode", "DEFAULT_INTENSITY", "INTENSITY_SOURCES", "check_intensity", "check_mode"]

Mode = Literal["toward", "match", "static", "latent"]
MODES: tuple[str, ...] = ("toward", "match", "static", "latent")
"""toward (default, direction-safe), match (the whole balance to a point), static (the word's own
EQ), latent (the seed's rule in the EQ model's latent space). See :mod:`semeq.adaptive`."""
MODES_READING_AUDIO: tuple[str, ...] = ("toward", "match", "latent")
"""The modes that read the recording (and so can choose their own intensity)."""
INTENSITY_SOURCES: tuple[str, ...] = ("given", "amount", "auto", "default")
"""Where a request's intensity came from."""
DEFAULT_INTENSITY = 0.5
"""The intensity when the user names none (no number, no amount word, no auto)."""


def check_intensity(value: object, name: str = "intensity") -> float:
    """A number in [0, 1], as a float; ParameterError otherwise (:func:`semeq.params.check_unit`)."""
    return check_unit(name, value)


def check_mode(mode: object, static: bool = False) -> str:
    """The mode, with ``static=True`` meaning ``"static"``; ParameterError for anything else."""
    if static:
        if mode not in (None, "toward", "static"):
            raise ParameterError(f"static contradicts mode {mode!r}; use mode 'static'")
        return "static"
    if mode is None:
        return "toward"
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return str(mode)


@dataclass(frozen=True, kw_only=True)
class EQRequest:
    """One request for the adaptive EQ.

    Attributes
    ----------
    target : Interpretation
        The target phrase, understood (:meth:`semeq.SemanticEQ.understand`).
    intensity : float in [0, 1] or None
        None: chosen from the recording (auto-intensity).
    intensity_source : str
        Where the intensity came from: ``"given"``, ``"amount"`` (the phrase's amount words),
        ``"auto"`` or ``"default"`` (:data:`DEFAULT_INTENSITY`).
    mode : {"toward", "match", "static", "latent"}
    blend : Interpretation or None
        A second target, blended in with weight ``alpha``.
    alpha : float in [0, 1]
    reference : Path, (audio, sample_rate) or None
        A reference recording (a file, or an array from the Python API): ``match`` moves toward
        its balance instead of the word's point.
    loudness_match : bool
        Bring the output to the input's loudness (below the true-peak ceiling).
    true_peak_ceiling_dbtp : float
    notes : tuple of str
        What the user should know about how the request was read (an amount word overridden...).
    """

    target: Interpretation
    intensity: float | None = DEFAULT_INTENSITY
    intensity_source: str = "default"
    mode: Mode = "toward"
    blend: Interpretation | None = None
    alpha: float = 0.0
    reference: "Path | tuple | None" = None
    loudness_match: bool = True
    true_peak_ceiling_dbtp: float = -1.0
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.target, Interpretation):
            raise ParameterError(f"target must be an understood phrase (SemanticEQ.understand), got {self.target!r}")
        if self.intensity is not None:
            object.__setattr__(self, "intensity", check_intensity(self.intensity))
        object.__setattr__(self, "mode", check_mode(self.mode))
        if self.intensity_source not in INTENSITY_SOURCES:
            raise ParameterError(f"intensity_source must be one of {', '.join(INTENSITY_SOURCES)}, got {self.intensity_source!r}")
        object.__setattr__(self, "alpha", check_intensity(self.alpha, "alpha"))
        if self.blend is None and self.alpha != 0.0:
            raise ParameterError("alpha needs a blend word")
        if self.blend is not None and not isinstance(self.blend, Interpretation):
            raise ParameterError(f"blend must be an understood phrase, got {self.blend!r}")
        if self.intensity is None and self.mode not in MODES_READING_AUDIO:
            raise ParameterError(f"auto-intensity measures the recording: it does not go with mode '{self.mode}'")
        if self.reference is not None:
            if not isinstance(self.reference, tuple):  # (audio, sample_rate) from the array API stays as it is
                object.__setattr__(self, "reference", Path(self.reference))
            if self.mode != "match":
                raise ParameterError("a reference recording goes with mode 'match'")
        if not math.isfinite(float(self.true_peak_ceiling_dbtp)):
            raise ParameterError(f"the true-peak ceiling must be a finite number of dBTP, got {self.true_peak_ceiling_dbtp!r}")

    @property
    def auto(self) -> bool:
        """The intensity is chosen from the recording."""
        return self.intensity is None

    @property
    def label(self) -> str:
        """The target (and blend) as the user would name them."""
        if self.blend is None:
            return self.target.label
        return f"{self.target.label} + {self.blend.label} ({self.alpha:.2f})"

    def replace(self, **changes) -> "EQRequest":
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"target": self.target.to_dict(), "intensity": None if self.intensity is None else round(self.intensity, 4),
                "intensity_source": self.intensity_source, "mode": self.mode,
                "blend": None if self.blend is None else self.blend.to_dict(), "alpha": round(self.alpha, 4),
                "reference": None if self.reference is None else
                ("<audio array>" if isinstance(self.reference, tuple) else str(self.reference)),
                "loudness_match": self.loudness_match, "true_peak_ceiling_dbtp": self.true_peak_ceiling_dbtp,
                "notes": list(self.notes)}
