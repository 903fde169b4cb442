"""The 5-band parametric EQ of the SAFE plugin, declared once.

Thirteen numbers in the SAFE-DB column order: low shelf (gain, freq), three peaking bands
(gain, freq, Q), high shelf (gain, freq). Bands are numbered 1-3 for the peaks everywhere in
code, docs and CLI output. Shelves use the plugin's fixed Q of 0.71.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from .errors import ParameterError

__all__ = [
    "ParamSpec",
    "PARAMETERS",
    "PARAM_NAMES",
    "SHELF_Q",
    "N_PARAMS",
    "BandSpec",
    "BANDS",
    "N_BANDS",
    "GAIN_INDICES",
    "FREQ_INDICES",
    "Q_INDICES",
    "PEAK_BANDS",
    "LOG_INDICES",
    "PARAM_LOWS",
    "PARAM_HIGHS",
    "UNIT_LOWS",
    "UNIT_HIGHS",
    "values_to_unit",
    "values_from_unit",
    "band_values",
    "EQParams",
]

SHELF_Q = 0.71
"""Fixed Q of the SAFE plugin's shelves."""

GAIN_DB_RANGE = (-12.0, 12.0)
Q_RANGE = (0.1, 10.0)


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One EQ parameter: its name, unit, range and the scale of its normalised form."""

    name: str
    unit: Literal["dB", "Hz", ""]
    low: float
    high: float
    scale: Literal["linear", "log"]

    def to_unit(self, value: np.ndarray | float) -> np.ndarray:
        """Map a value in physical units to [0, 1] (log-scaled for frequencies and Q)."""
        value = np.asarray(value, dtype=np.float64)
        if self.scale == "log":
            return (np.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, value_unit: np.ndarray | float) -> np.ndarray:
        """Inverse of :meth:`to_unit`."""
        value_unit = np.asarray(value_unit, dtype=np.float64)
        if self.scale == "log":
            return np.exp(math.log(self.low) + value_unit * (math.log(self.high) - math.log(self.low)))
        return self.low + value_unit * (self.high - self.low)


def _gain(name: str) -> ParamSpec:
    return ParamSpec(name=name, unit="dB", low=GAIN_DB_RANGE[0], high=GAIN_DB_RANGE[1], scale="linear")


def _freq(name: str, low: float, high: float) -> ParamSpec:
    return ParamSpec(name=name, unit="Hz", low=low, high=high, scale="log")


def _q(name: str) -> ParamSpec:
    return ParamSpec(name=name, unit="", low=Q_RANGE[0], high=Q_RANGE[1], scale="log")


PARAMETERS: tuple[ParamSpec, ...] = (
    _gain("low_shelf_gain_db"),
    _freq("low_shelf_freq_hz", 22.0, 1000.0),
    _gain("peak1_gain_db"),
    _freq("peak1_freq_hz", 82.0, 3900.0),
    _q("peak1_q"),
    _gain("peak2_gain_db"),
    _freq("peak2_freq_hz", 180.0, 4700.0),
    _q("peak2_q"),
    _gain("peak3_gain_db"),
    _freq("peak3_freq_hz", 220.0, 10000.0),
    _q("peak3_q"),
    _gain("high_shelf_gain_db"),
    _freq("high_shelf_freq_hz", 580.0, 20000.0),
)
"""The one ordered declaration of the 13 parameters, in SAFE-DB column order."""

PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMETERS)
N_PARAMS = len(PARAMETERS)

BandKind = Literal["low_shelf", "peak", "high_shelf"]


@dataclass(frozen=True, kw_only=True)
class BandSpec:
    """One band of the 5-band layout: its filter kind and where its values sit in the 13-vector.

    Attributes
    ----------
    name : str
        ``"low_shelf"``, ``"peak1"``..``"peak3"``, ``"high_shelf"`` (the prefix of its parameters).
    kind : {"low_shelf", "peak", "high_shelf"}
        RBJ cookbook section type.
    gain_col, freq_col : int
        Columns of its gain (dB) and centre/corner frequency (Hz).
    q_col : int or None
        Column of its Q; ``None`` for the shelves, which use the fixed :data:`SHELF_Q`.
    """

    name: str
    kind: BandKind
    gain_col: int
    freq_col: int
    q_col: int | None


def _band(name: str, kind: BandKind, with_q: bool) -> BandSpec:
    gain_col = PARAM_NAMES.index(f"{name}_gain_db")
    return BandSpec(name=name, kind=kind, gain_col=gain_col, freq_col=PARAM_NAMES.index(f"{name}_freq_hz"),
                    q_col=PARAM_NAMES.index(f"{name}_q") if with_q else None)


BANDS: tuple[BandSpec, ...] = (
    _band("low_shelf", "low_shelf", False),
    _band("peak1", "peak", True),
    _band("peak2", "peak", True),
    _band("peak3", "peak", True),
    _band("high_shelf", "high_shelf", False),
)
"""The five bands in filter order (the order their sections are cascaded and numbered)."""
N_BANDS = len(BANDS)
GAIN_INDICES: tuple[int, ...] = tuple(b.gain_col for b in BANDS)
"""Columns of the five band gains in the 13-vector: (0, 2, 5, 8, 11)."""
FREQ_INDICES: tuple[int, ...] = tuple(b.freq_col for b in BANDS)
"""Columns of the five band frequencies: (1, 3, 6, 9, 12)."""
Q_INDICES: tuple[int, ...] = tuple(b.q_col for b in BANDS if b.q_col is not None)
"""Columns of the three peaks' Q: (4, 7, 10)."""
PEAK_BANDS: tuple[int, ...] = tuple(i for i, b in enumerate(BANDS) if b.kind == "peak")
"""Band numbers (0-based positions in :data:`BANDS`) of the peaks: (1, 2, 3)."""
LOG_INDICES: tuple[int, ...] = tuple(i for i, p in enumerate(PARAMETERS) if p.scale == "log")
"""Columns normalised on a log scale (frequencies and Q)."""
PARAM_LOWS: np.ndarray = np.array([p.low for p in PARAMETERS], dtype=np.float64)
"""Lower bounds of the 13 parameters, SAFE order (read-only)."""
PARAM_HIGHS: np.ndarray = np.array([p.high for p in PARAMETERS], dtype=np.float64)
"""Upper bounds of the 13 parameters, SAFE order (read-only)."""
PARAM_LOWS.flags.writeable = False
PARAM_HIGHS.flags.writeable = False
_IS_LOG = np.array([p.scale == "log" for p in PARAMETERS])
# Bounds in the space the unit mapping is linear in: log for frequencies and Q.
UNIT_LOWS: np.ndarray = np.array([math.log(p.low) if p.scale == "log" else p.low for p in PARAMETERS])
UNIT_HIGHS: np.ndarray = np.array([math.log(p.high) if p.scale == "log" else p.high for p in PARAMETERS])
UNIT_LOWS.flags.writeable = False
UNIT_HIGHS.flags.writeable = False


def values_to_unit(values: np.ndarray) -> np.ndarray:
    """Physical values [shape=(..., 13)] in SAFE order -> normalised [0, 1] values (not clipped).

    Gains linearly, frequencies and Q on a log scale: the vectorised :meth:`ParamSpec.to_unit`.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mapped = np.where(_IS_LOG, np.log(np.where(_IS_LOG, values, 1.0)), values)
    return (mapped - UNIT_LOWS) / (UNIT_HIGHS - UNIT_LOWS)


def values_from_unit(values_unit: np.ndarray) -> np.ndarray:
    """Inverse of :func:`values_to_unit`: [0, 1] values [shape=(..., 13)] -> physical (not clipped)."""
    values_unit = np.asarray(values_unit, dtype=np.float64)
    lin = UNIT_LOWS + values_unit * (UNIT_HIGHS - UNIT_LOWS)
    return np.where(_IS_LOG, np.exp(np.where(_IS_LOG, lin, 0.0)), lin)


def band_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split physical values [shape=(..., 13)] into per-band arrays in :data:`BANDS` order.

    Returns
    -------
    gain_db, freq_hz, q : ndarray [shape=(..., 5)]
        The shelves' Q is :data:`SHELF_Q`.
    """
    values = np.asarray(values, dtype=np.float64)
    q = np.full(values.shape[:-1] + (N_BANDS,), SHELF_Q)
    for i, b in enumerate(BANDS):
        if b.q_col is not None:
            q[..., i] = values[..., b.q_col]
    return values[..., list(GAIN_INDICES)], values[..., list(FREQ_INDICES)], q


def check_unit(name: str, value: object) -> float:
    """``value`` as a float in [0, 1] (an intensity, a blend weight); ParameterError naming ``name`` otherwise.

    The one check of a unit value: a Python or NumPy real number (a 0-d array too); strings and
    booleans are refused (no silent parsing).
    """
    import numbers

    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ParameterError(f"{name} must be in [0, 1], got {value:g}")
    return value


# Values read from float32 files sit a hair outside the declared ranges (0.71000004...).
_RANGE_SLACK = 1e-6


@dataclass(frozen=True, kw_only=True)
class EQParams:
    """A SAFE 5-band EQ setting. Construct with keywords, or :meth:`from_vector`.

    Raises
    ------
    ParameterError
        If a value is not finite or lies outside its SAFE range. Use :meth:`clipped` for
        model outputs that may stray.

    Examples
    --------
    >>> p = EQParams.flat()
    >>> p.peak1_gain_db
    0.0
    >>> EQParams.from_vector(p.to_vector()) == p
    True
    """

    low_shelf_gain_db: float = 0.0
    low_shelf_freq_hz: float = 150.0
    peak1_gain_db: float = 0.0
    peak1_freq_hz: float = 560.0
    peak1_q: float = SHELF_Q
    peak2_gain_db: float = 0.0
    peak2_freq_hz: float = 1000.0
    peak2_q: float = SHELF_Q
    peak3_gain_db: float = 0.0
    peak3_freq_hz: float = 3300.0
    peak3_q: float = SHELF_Q
    high_shelf_gain_db: float = 0.0
    high_shelf_freq_hz: float = 8200.0

    def __post_init__(self) -> None:
        for spec in PARAMETERS:
            value = getattr(self, spec.name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"{spec.name} must be a number, got {value!r}") from None
            object.__setattr__(self, spec.name, value)
            if not math.isfinite(value):
                raise ParameterError(f"{spec.name} must be finite, got {value}")
            slack = _RANGE_SLACK * max(1.0, abs(spec.high))
            if not spec.low - slack <= value <= spec.high + slack:
                raise ParameterError(
                    f"{spec.name}={value:g} {spec.unit} is outside the SAFE range "
                    f"[{spec.low:g}, {spec.high:g}]".replace(" ]", "]")
                )

    @classmethod
    def flat(cls) -> EQParams:
        """All gains zero at the plugin's default frequencies: the identity EQ."""
        return cls()

    @classmethod
    def from_vector(cls, values: Sequence[float] | np.ndarray) -> EQParams:
        """Build from 13 values in SAFE-DB column order."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape != (N_PARAMS,):
            raise ParameterError(f"an EQ needs {N_PARAMS} values in SAFE order, got {values.size}")
        return cls(**{name: float(v) for name, v in zip(PARAM_NAMES, values)})

    def to_vector(self) -> np.ndarray:
        """The 13 values in SAFE-DB column order, float64."""
        return np.array([getattr(self, name) for name in PARAM_NAMES], dtype=np.float64)

    @classmethod
    def from_unit_vector(cls, values_unit: Sequence[float] | np.ndarray) -> EQParams:
        """Build from 13 normalised values in [0, 1] (clipped), as the models produce."""
        values_unit = np.clip(np.asarray(values_unit, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if values_unit.shape != (N_PARAMS,):
            raise ParameterError(f"an EQ needs {N_PARAMS} values, got {values_unit.size}")
        return cls.from_vector(values_from_unit(values_unit))

    def to_unit_vector(self) -> np.ndarray:
        """The 13 values normalised to [0, 1]: gains linearly, frequencies and Q in log."""
        return values_to_unit(self.to_vector())

    @classmethod
    def clipped(cls, values: Sequence[float] | np.ndarray) -> EQParams:
        """Build from 13 values in SAFE order, clipping each into its range (for model outputs)."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape != (N_PARAMS,):
            raise ParameterError(f"an EQ needs {N_PARAMS} values in SAFE order, got {values.size}")
        if not np.all(np.isfinite(values)):
            raise ParameterError("EQ values must be finite")
        return cls.from_vector(np.clip(values, PARAM_LOWS, PARAM_HIGHS))

    def inverted(self) -> EQParams:
        """The exact inverse EQ: every gain negated (RBJ shelves and peaks invert this way)."""
        return dataclasses.replace(self, **{PARAM_NAMES[i]: -getattr(self, PARAM_NAMES[i]) for i in GAIN_INDICES})

    def scaled(self, factor: float) -> EQParams:
        """Every gain multiplied by ``factor`` (clipped to the gain range)."""
        lo, hi = GAIN_DB_RANGE
        return dataclasses.replace(
            self,
            **{PARAM_NAMES[i]: float(np.clip(getattr(self, PARAM_NAMES[i]) * factor, lo, hi)) for i in GAIN_INDICES},
        )

    @property
    def gains_db(self) -> np.ndarray:
        """The five band gains (low shelf, peaks 1-3, high shelf)."""
        return self.to_vector()[list(GAIN_INDICES)]

    def describe(self) -> str:
        """A multi-line human summary, bands numbered as everywhere else."""
        return "\n".join(
            [
                f"  low shelf   {self.low_shelf_gain_db:+6.2f} dB @ {self.low_shelf_freq_hz:8.1f} Hz",
                f"  peak 1      {self.peak1_gain_db:+6.2f} dB @ {self.peak1_freq_hz:8.1f} Hz  Q {self.peak1_q:.2f}",
                f"  peak 2      {self.peak2_gain_db:+6.2f} dB @ {self.peak2_freq_hz:8.1f} Hz  Q {self.peak2_q:.2f}",
                f"  peak 3      {self.peak3_gain_db:+6.2f} dB @ {self.peak3_freq_hz:8.1f} Hz  Q {self.peak3_q:.2f}",
                f"  high shelf  {self.high_shelf_gain_db:+6.2f} dB @ {self.high_shelf_freq_hz:8.1f} Hz",
            ]
        )

    def to_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in PARAM_NAMES}
