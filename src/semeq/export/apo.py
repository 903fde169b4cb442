"""``apo``: an Equalizer APO / REW filter text file.

Format: Equalizer APO's configuration reference (https://sourceforge.net/p/equalizerapo/wiki/Configuration%20reference/),
read as its parser reads it (``filters/BiQuadFilterFactory.cpp``, ``filters/BiQuad.cpp``)::

    Preamp: -1.542 dB
    Filter 1: ON LSC Fc 132.64 Hz Gain 0.443 dB Q 0.7100
    Filter 2: ON PK Fc 364.44 Hz Gain 4.161 dB Q 0.4300
    ...
    Filter 5: ON HSC Fc 5514.27 Hz Gain -3.656 dB Q 0.7100

- ``PK`` is the RBJ peaking biquad with the given Q. ``LSC`` / ``HSC`` are the RBJ shelves with
  the given Q at the given (cookbook "midpoint") frequency, exactly semeq's shelves. (``LS`` /
  ``HS`` with a Q would be taken as a *corner* frequency and moved; semeq never writes them.)
- ``Preamp`` is a gain before the filters; a linear cascade, so it equals semeq's output gain
  after them.
- Numbers have a point as decimal mark, three decimals for dB and two for Hz: Equalizer APO
  multiplies a frequency written with three decimals ("1.000") by 1000, taking the point for a
  thousands separator (a Room EQ Wizard habit).

Hosts: Equalizer APO (Windows), Peace; EasyEffects ("Import APO preset": LSC/HSC/PK keep their
Q and become LSP filters in "APO (DR)" mode, Preamp becomes the input gain); LSP Parametric
Equalizer's "Import Equalizer APO settings". The ranges written are those every one of them
holds: frequency 10 Hz..24 kHz, gains and preamp -36..+36 dB, Q in (0, 100] (EasyEffects
resets a value outside its ranges to the default, which would sound different: refused here).
The file carries no sample rate: semeq's frequencies are those designed at the recording's
rate (a centre clamped below its Nyquist is written clamped).
"""

from __future__ import annotations

from ..errors import ParameterError
from .settings import AppliedSettings, check_bands

__all__ = ["render", "FILTER_TYPES"]

FILTER_TYPES = {"low_shelf": "LSC", "peak": "PK", "high_shelf": "HSC"}
FREQ_RANGE_HZ = (10.0, 24000.0)
GAIN_RANGE_DB = (-36.0, 36.0)
Q_MAX = 100.0


def _check(settings: AppliedSettings) -> None:
    low, high = GAIN_RANGE_DB
    if not low <= round(settings.output_gain_db, 2) <= high:
        raise ParameterError(f"apo: the output gain {settings.output_gain_db:+.2f} dB is outside the preamp range "
                             f"{low:g}..{high:+g} dB that importers hold")
    check_bands("apo", settings, gain_range_db=GAIN_RANGE_DB, freq_range_hz=FREQ_RANGE_HZ, q_max=Q_MAX)


def render(settings: AppliedSettings, stem: str) -> dict[str, bytes]:
    """One text file ``STEM.txt``."""
    _check(settings)
    lines = [f"# semeq: {settings.label} (designed at {settings.sample_rate:g} Hz; RBJ cookbook biquads)",
             f"Preamp: {settings.output_gain_db:.3f} dB"]
    for n, band in enumerate(settings.bands, start=1):
        lines.append(f"Filter {n}: ON {FILTER_TYPES[band.kind]} Fc {band.freq_hz:.2f} Hz "
                     f"Gain {band.gain_db:.3f} dB Q {band.q:.4f}")
    # CRLF: the Windows hosts' own files; every parser here reads lines either way.
    return {f"{stem}.txt": ("\r\n".join(lines) + "\r\n").encode("utf-8")}
