"""``audacity`` and ``audacity-xml``: Audacity's Filter Curve EQ, sampled from the net curve.

Audacity's Filter Curve EQ is a linear-phase FIR drawn from a curve of (frequency, dB) points,
joined by straight lines on a log-frequency axis from 20 Hz (the default, "linear frequency
scale" off); it has no output gain of its own, so the curve written is the *net* change:
semeq's EQ response plus the output gain. The points are chosen so that those straight lines
follow semeq's curve: starting from one point per octave (20 Hz .. 20 kHz, or just below
Nyquist), the point of a 2048-point log grid where the lines stray most is added, until they
stray less than :data:`SAMPLING_TOLERANCE_DB` everywhere or :data:`MAX_POINTS` are used.

Two containers, one curve:

- ``audacity``: a Filter Curve EQ preset file, what "Presets & settings -> Export..." writes
  and "Import..." reads in Audacity 2.4 and later (3.x included)::

      FilterCurve:FilterLength="8191" InterpolateLin="0" InterpolationMethod="B-spline" f0="20.0000" v0="-1.2345" ...

  (``BasicEffectUIServices::ImportPresets`` and ``EqualizationBase::VisitSettings`` in
  https://github.com/audacity/audacity: at most 200 points ``f0``/``v0`` .. ``f199``/``v199``,
  frequencies > 0; the same text is a Macro / mod-script-pipe command).
- ``audacity-xml``: an EQCurves XML file (``<equalizationeffect><curve name=..><point f= d=/>``),
  the curve files of the older Equalization effect's "Save/Manage Curves -> Import" (Audacity
  up to 2.3; Audacity 2.4 stopped loading XML curves, ``EQCurveReader::LoadCurves``).

Values: dB within the effect's envelope range -120..+60 dB (refused outside).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

import numpy as np

from ..errors import ParameterError
from .settings import AppliedSettings

__all__ = ["curve_points", "render_preset", "render_xml", "MAX_POINTS", "SAMPLING_TOLERANCE_DB"]

MAX_POINTS = 200
"""Audacity reads at most 200 curve points (f0..f199)."""
SAMPLING_TOLERANCE_DB = 0.01
"""Target largest gap between the straight lines through the points and semeq's curve."""
LOW_HZ = 20.0
"""Audacity's log-frequency axis starts at 20 Hz."""
HIGH_HZ = 20000.0
DB_RANGE = (-120.0, 60.0)
_N_GRID = 2048


def curve_points(settings: AppliedSettings) -> tuple[np.ndarray, np.ndarray]:
    """The curve's points: frequencies (Hz, increasing) and the net change in dB there.

    Returns
    -------
    freqs_hz, gain_db : ndarray [shape=(n,)], n <= MAX_POINTS
    """
    high = min(HIGH_HZ, 0.49 * settings.sample_rate)
    if high <= LOW_HZ * 2:
        raise ParameterError(f"audacity: a {settings.sample_rate:g} Hz recording leaves no band above 20 Hz to draw")
    grid = np.geomspace(LOW_HZ, high, _N_GRID)
    log_grid = np.log(grid)
    curve = settings.net_response_db(grid)
    n_octaves = int(np.ceil(np.log2(high / LOW_HZ)))
    chosen = set(np.unique(np.round(np.linspace(0, _N_GRID - 1, n_octaves + 1)).astype(int)).tolist())
    while len(chosen) < MAX_POINTS:
        idx = np.array(sorted(chosen))
        error = np.abs(np.interp(log_grid, log_grid[idx], curve[idx]) - curve)
        worst = int(np.argmax(error))
        if error[worst] < SAMPLING_TOLERANCE_DB:
            break
        chosen.add(worst)
    idx = np.array(sorted(chosen))
    freqs, gains = grid[idx], curve[idx]
    low, high_db = DB_RANGE
    if gains.min() < low or gains.max() > high_db:
        raise ParameterError(f"audacity: the net curve reaches {gains.min():+.1f}..{gains.max():+.1f} dB, outside "
                             f"the effect's {low:g}..{high_db:+g} dB")
    return freqs, gains


def render_preset(settings: AppliedSettings, stem: str) -> dict[str, bytes]:
    """One preset file ``STEM.txt`` for Filter Curve EQ's "Presets & settings -> Import..."."""
    freqs, gains = curve_points(settings)
    points = " ".join(f'f{i}="{f:.4f}" v{i}="{d:.4f}"' for i, (f, d) in enumerate(zip(freqs, gains)))
    text = f'FilterCurve:FilterLength="8191" InterpolateLin="0" InterpolationMethod="B-spline" {points}'
    return {f"{stem}.txt": text.encode("utf-8")}


def render_xml(settings: AppliedSettings, stem: str) -> dict[str, bytes]:
    """One EQCurves file ``STEM.xml`` holding one curve named after the settings."""
    freqs, gains = curve_points(settings)
    lines = ['<?xml version="1.0" standalone="no" ?>', "<equalizationeffect>",
             f"\t<curve name={quoteattr('semeq ' + settings.label)}>"]
    lines += [f'\t\t<point f="{f:.6f}" d="{d:.6f}"/>' for f, d in zip(freqs, gains)]
    lines += ["\t</curve>", "</equalizationeffect>"]
    return {f"{stem}.xml": ("\n".join(lines) + "\n").encode("utf-8")}
