"""The applied settings an export writes, and the reader of settings saved earlier.

An export describes what semeq *applied* to a recording: the one 5-band setting
(:class:`~semeq.params.EQParams`), the output gain after it (loudness match and true-peak
ceiling) and the sample rate it was designed at (centre frequencies are clamped below Nyquist
there, as :mod:`semeq.dsp.biquad` designs them).

What :func:`read_settings` accepts
----------------------------------
A JSON object (a ``dict``) of any of these shapes; unknown keys are ignored:

* ``semeq apply --json`` for one file: ``{"sample_rate", "output_gain_db", "eq": {"target",
  "intensity", "cascade": [13 named values] or [], "fit_5band": {...}}}``.
* ``semeq apply --json`` for a folder: ``{"files": [one of the above, ...]}``: pick one with
  ``entry`` (1-based).
* The web page's settings download (``/api/jobs/{job}/settings.json``) and the
  ``X-Semeq-Settings`` header of ``/api/apply``: ``{"input": {"sample_rate"}, "sample_rate"?,
  "output_gain_db", "settings": {"target"...}, "intensity", "is_bypass", "bands": {13 named
  values} or null, "eq": {"target", "intensity", "cascade": [...]}}`` (``eq`` as the CLI prints it).
* A batch ledger line: ``{"bands": ..., "output_gain_db", "sample_rate"}``, ``bands`` (or
  ``fit_5band``) given as the 13 named values of :data:`semeq.params.PARAM_NAMES`, as a list of
  13 numbers in that order, or as a list of five band objects ``{"gain_db", "freq_hz", "q"}``
  in band order (low shelf, peaks 1-3, high shelf; a shelf's ``q``, if given, must be the
  fixed 0.71; an optional ``"name"`` must match the band's).

Which EQ is read: ``cascade`` (the EQs applied, in order) when present -- empty is the exact
bypass, exported as a flat setting -- else ``bands``, ``fit_5band``, ``params``. A cascade of
more than one EQ, or ``bands_exact: false`` (bands fitted to, not equal to, what was applied),
is refused: a preset of it would not sound like the render. The output gain is
``output_gain_db`` and the sample rate ``sample_rate`` or ``input.sample_rate``; a file that
lacks one takes it from the caller (``--output-gain-db``, ``--sample-rate``), else is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..dsp.biquad import NYQUIST_FRACTION, eq_response
from ..dsp.validation import check_sample_rate
from ..errors import ParameterError
from ..params import BANDS, N_PARAMS, PARAM_NAMES, SHELF_Q, EQParams

__all__ = ["AppliedSettings", "ExportBand", "read_settings", "load_settings", "BAND_LABELS"]

BAND_LABELS = {"low_shelf": "low shelf", "peak1": "peak 1", "peak2": "peak 2", "peak3": "peak 3",
               "high_shelf": "high shelf"}
"""How bands are named in messages, as ``EQParams.describe`` and the CLI name them."""


@dataclass(frozen=True, kw_only=True)
class ExportBand:
    """One band as a plugin must be set to sound like semeq's design.

    ``freq_hz`` is the frequency semeq's biquad design actually uses (clamped to
    ``NYQUIST_FRACTION * sample_rate / 2``); ``set_freq_hz`` is the setting before clamping.
    """

    name: str
    kind: str
    gain_db: float
    freq_hz: float
    q: float
    set_freq_hz: float

    @property
    def label(self) -> str:
        return BAND_LABELS[self.name]

    @property
    def clamped(self) -> bool:
        return self.freq_hz != self.set_freq_hz


@dataclass(frozen=True, kw_only=True)
class AppliedSettings:
    """What semeq applied: one 5-band setting, the output gain after it, the sample rate.

    Parameters
    ----------
    params : EQParams
        The applied 5-band setting (flat for the exact bypass).
    output_gain_db : float
        Gain applied after the EQ (loudness match, true-peak ceiling), in dB.
    sample_rate : float
        Sample rate (Hz) the EQ was designed at.
    label : str
        A short human name ("warm 0.70"), used in preset names.

    Examples
    --------
    >>> s = AppliedSettings(params=EQParams(peak2_gain_db=3.0, peak2_freq_hz=1000.0, peak2_q=1.0),
    ...                     output_gain_db=-1.5, sample_rate=44100)
    >>> round(float(s.net_response_db([1000.0])[0]), 6)
    1.5
    """

    params: EQParams
    output_gain_db: float
    sample_rate: float
    label: str = "semeq"

    def __post_init__(self) -> None:
        if not isinstance(self.params, EQParams):
            raise ParameterError(f"params must be an EQParams, got {type(self.params).__name__}")
        gain = _number("output_gain_db", self.output_gain_db)
        object.__setattr__(self, "output_gain_db", gain)
        object.__setattr__(self, "sample_rate", check_sample_rate(_number("sample_rate", self.sample_rate)))
        label = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", str(self.label)).split())[:80]
        object.__setattr__(self, "label", label or "semeq")

    @property
    def bands(self) -> tuple[ExportBand, ...]:
        """The five bands in filter order, with the frequencies semeq's design uses."""
        values = self.params.to_vector()
        f_max = NYQUIST_FRACTION * self.sample_rate / 2.0
        out = []
        for band in BANDS:
            freq = float(values[band.freq_col])
            out.append(ExportBand(name=band.name, kind=band.kind, gain_db=float(values[band.gain_col]),
                                  freq_hz=min(freq, f_max), set_freq_hz=freq,
                                  q=float(values[band.q_col]) if band.q_col is not None else SHELF_Q))
        return tuple(out)

    def net_response_db(self, freqs_hz) -> np.ndarray:
        """The whole change in dB at ``freqs_hz`` (below Nyquist): the EQ's response plus the output gain."""
        return eq_response(self.params, freqs_hz, self.sample_rate) + self.output_gain_db

    def to_dict(self) -> dict[str, Any]:
        """A ledger-style object :func:`read_settings` reads back."""
        return {"label": self.label, "sample_rate": self.sample_rate, "output_gain_db": self.output_gain_db,
                "bands": self.params.to_dict()}


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value}")
    return value


def _params_from(bands: object, where: str) -> EQParams:
    """13 named values, 13 numbers, or five band objects -> EQParams (ParameterError naming ``where``)."""
    if isinstance(bands, dict):
        missing = [n for n in PARAM_NAMES if n not in bands]
        if missing:
            raise ParameterError(f"{where} lacks {', '.join(missing)}")
        return EQParams(**{n: _number(f"{where}.{n}", bands[n]) for n in PARAM_NAMES})
    if isinstance(bands, list) and len(bands) == N_PARAMS and all(not isinstance(v, (dict, list)) for v in bands):
        return EQParams.from_vector([_number(f"{where}[{i}]", v) for i, v in enumerate(bands)])
    if isinstance(bands, list) and len(bands) == len(BANDS) and all(isinstance(b, dict) for b in bands):
        values: dict[str, float] = {}
        for spec, b in zip(BANDS, bands):
            label = f"{where}: {BAND_LABELS[spec.name]}"
            if "name" in b and str(b["name"]).replace(" ", "_") not in (spec.name, spec.name.replace("peak", "peak_")):
                raise ParameterError(f"{label}: expected the band named {spec.name!r} in this place, got {b['name']!r}")
            for key in ("gain_db", "freq_hz"):
                if key not in b:
                    raise ParameterError(f"{label} lacks {key}")
                values[f"{spec.name}_{key}"] = _number(f"{label} {key}", b[key])
            if spec.q_col is not None:
                if "q" not in b:
                    raise ParameterError(f"{label} lacks q")
                values[f"{spec.name}_q"] = _number(f"{label} q", b["q"])
            elif "q" in b and abs(_number(f"{label} q", b["q"]) - SHELF_Q) > 1e-6:
                raise ParameterError(f"{label}: semeq's shelves have the fixed Q {SHELF_Q}, got q={b['q']}")
        return EQParams(**values)
    raise ParameterError(f"{where} must hold the 13 named EQ values, 13 numbers in SAFE order, "
                         f"or five band objects with gain_db, freq_hz, q")


def _eq_from(obj: dict, where: str) -> EQParams:
    eq = obj.get("eq") if isinstance(obj.get("eq"), dict) else {}
    cascade = eq.get("cascade", obj.get("cascade"))
    if cascade is not None:
        if not isinstance(cascade, list):
            raise ParameterError(f"{where}: 'cascade' must be a list of EQ settings")
        if not cascade:
            return EQParams.flat()  # the exact bypass: nothing was filtered
        if len(cascade) > 1:
            raise ParameterError(f"{where}: the applied EQ is a cascade of {len(cascade)} settings; "
                                 "a 5-band preset of it would not sound like the render")
        return _params_from(cascade[0], f"{where}: cascade[0]")
    if obj.get("bands_exact") is False:
        raise ParameterError(f"{where}: 'bands' is a 5-band fit of the applied curve, not what was applied "
                             f"(bands_exact is false); a preset of it would not sound like the render")
    for key, holder in (("bands", obj), ("fit_5band", obj), ("fit_5band", eq), ("params", obj)):
        if holder.get(key) is not None:
            return _params_from(holder[key], f"{where}: {key}")
    if obj.get("is_bypass") is True:
        return EQParams.flat()
    raise ParameterError(f"{where}: no EQ found (expected 'eq.cascade', 'cascade', 'bands' or 'fit_5band')")


def _label_from(obj: dict) -> str:
    eq = obj.get("eq") if isinstance(obj.get("eq"), dict) else {}
    settings = obj.get("settings") if isinstance(obj.get("settings"), dict) else {}
    target = obj.get("label") or eq.get("target") or settings.get("target") or obj.get("target")
    if not target:
        return "semeq"
    target = str(target)
    blend = eq.get("blend") or settings.get("blend")
    if blend:
        target += f" + {blend}"
    intensity = eq.get("intensity", obj.get("intensity_applied", obj.get("intensity")))
    if isinstance(intensity, (int, float)) and not isinstance(intensity, bool) and not obj.get("label"):
        target += f" {float(intensity):.2f}"
    return target


def read_settings(obj: object, *, sample_rate: float | None = None, output_gain_db: float | None = None,
                  entry: int | None = None, where: str = "settings") -> AppliedSettings:
    """The applied settings recorded in a JSON object (see the module notes for the shapes).

    Parameters
    ----------
    obj : dict
        Parsed JSON.
    sample_rate, output_gain_db : float, optional
        Used when ``obj`` does not record them; refused when it records a different value.
    entry : int >= 1, optional
        Which file of a folder's ``{"files": [...]}`` output.
    where : str
        How to name ``obj`` in error messages (a file name).

    Raises
    ------
    ParameterError
        Nothing usable, a missing value, or a setting that no 5-band preset reproduces.
    """
    if not isinstance(obj, dict):
        raise ParameterError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if isinstance(obj.get("files"), list):
        files = obj["files"]
        entry = _pick_entry(files, entry, where, "files' settings")
        return read_settings(files[entry - 1], sample_rate=sample_rate, output_gain_db=output_gain_db,
                             where=f"{where} entry {entry}")
    if entry not in (None, 1):
        raise ParameterError(f"{where} holds one setting; --entry {entry} does not apply")
    params = _eq_from(obj, where)
    inp = obj.get("input") if isinstance(obj.get("input"), dict) else {}
    recorded_rate = obj.get("sample_rate", inp.get("sample_rate"))
    rate = _given(where, "sample_rate", recorded_rate, sample_rate, "--sample-rate HZ")
    gain = _given(where, "output_gain_db", obj.get("output_gain_db"), output_gain_db, "--output-gain-db DB")
    return AppliedSettings(params=params, output_gain_db=gain, sample_rate=rate, label=_label_from(obj))


def _given(where: str, key: str, recorded: object, given: float | None, option: str) -> float:
    if recorded is None:
        if given is None:
            raise ParameterError(f"{where} does not record {key}: give it with {option}")
        return _number(option.split()[0], given)
    value = _number(f"{where}: {key}", recorded)
    if given is not None and abs(float(given) - value) > 1e-9 * max(1.0, abs(value)):
        raise ParameterError(f"{where} records {key}={value:g}; {option.split()[0]} {given:g} contradicts it (leave it out)")
    return value


def load_settings(path: str | os.PathLike, *, sample_rate: float | None = None, output_gain_db: float | None = None,
                  entry: int | None = None) -> AppliedSettings:
    """Read applied settings from a file: one JSON object, or JSON Lines (a ledger; pick a line with ``entry``).

    Raises
    ------
    ParameterError
        Unreadable or malformed file, or settings :func:`read_settings` refuses.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path}: cannot read settings ({exc.__class__.__name__}: {exc})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as first:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            records = [json.loads(ln) for ln in lines]
        except json.JSONDecodeError:
            raise ParameterError(f"{path}: not JSON ({first.msg} at line {first.lineno}) nor JSON Lines") from None
        entry = _pick_entry(records, entry, str(path), "lines of settings")
        return read_settings(records[entry - 1], sample_rate=sample_rate, output_gain_db=output_gain_db,
                             where=f"{path} line {entry}")
    return read_settings(obj, sample_rate=sample_rate, output_gain_db=output_gain_db, entry=entry, where=str(path))


def check_bands(fmt: str, settings: "AppliedSettings", *, gain_range_db: tuple[float, float],
                freq_range_hz: tuple[float, float], q_max: float) -> None:
    """Refuse a band a format's ranges cannot hold, naming the band and the limit (ParameterError)."""
    low, high = gain_range_db
    for band in settings.bands:
        if not freq_range_hz[0] <= band.freq_hz <= freq_range_hz[1]:
            raise ParameterError(f"{fmt}: {band.label} frequency {band.freq_hz:g} Hz is outside "
                                 f"{freq_range_hz[0]:g} Hz..{freq_range_hz[1] / 1000:g} kHz")
        if not low <= band.gain_db <= high:
            raise ParameterError(f"{fmt}: {band.label} gain {band.gain_db:+.2f} dB is outside {low:g}..{high:+g} dB")
        if not 0.0 < band.q <= q_max:
            raise ParameterError(f"{fmt}: {band.label} Q {band.q:g} is outside (0, {q_max:g}]")


def _pick_entry(items: list, entry: int | None, where: str, what: str) -> int:
    """The 1-based entry of several settings to read: required when there are several."""
    if entry is None:
        if len(items) != 1:
            raise ParameterError(f"{where} holds {len(items)} {what}: choose one with --entry N (1..{len(items)})")
        return 1
    if not 1 <= entry <= len(items):
        raise ParameterError(f"{where}: --entry must be in 1..{len(items)}, got {entry}")
    return entry
