"""``easyeffects``: an EasyEffects output preset (JSON) whose equalizer holds the five bands.

Format: what EasyEffects itself saves and loads (``src/equalizer_preset.cpp``,
``src/presets_manager.cpp``; key ranges from ``src/contents/kcfg/easyeffects_db_equalizer*.kcfg``
in https://github.com/wwmm/easyeffects)::

    {"output": {"blocklist": [], "plugins_order": ["equalizer#0"],
                "equalizer#0": {"bypass": false, "input-gain": 0.0, "output-gain": -1.54,
                                "mode": "IIR", "num-bands": 5, "split-channels": false, ...,
                                "left":  {"band0": {"type": "Lo-shelf", "mode": "APO (DR)", "slope": "x1",
                                                    "solo": false, "mute": false, "gain": 0.44,
                                                    "frequency": 132.64, "q": 0.71, "width": 4.0}, ...},
                                "right": {... the same ...}}}}

EasyEffects' equalizer is LSP Parametric Equalizer x32 LeftRight: ``type`` and ``mode`` are
LSP's labels ("Lo-shelf", "Bell", "Hi-shelf"; "APO (DR)" = RBJ cookbook biquads), gains and
the output gain are in dB (EasyEffects converts them to LSP's linear factors). Ranges: band
gain and output gain -36..+36 dB, frequency 10 Hz..24 kHz, Q 0..100. ``width`` (octaves) is
written at EasyEffects' default, 4; it does not shape Bell or shelf filters.

Hosts: EasyEffects 7.0 and later (Presets -> Import a preset file, or copy into
``~/.config/easyeffects/output/`` (7.x) / ``~/.local/share/easyeffects/output/`` (8.x)).
"""

from __future__ import annotations

import json

from ..errors import ParameterError
from .settings import AppliedSettings, check_bands

__all__ = ["render", "BAND_TYPES", "INSTANCE"]

INSTANCE = "equalizer#0"
BAND_TYPES = {"low_shelf": "Lo-shelf", "peak": "Bell", "high_shelf": "Hi-shelf"}
BAND_MODE = "APO (DR)"
GAIN_RANGE_DB = (-36.0, 36.0)
FREQ_RANGE_HZ = (10.0, 24000.0)
Q_RANGE = (0.0, 100.0)
DEFAULT_WIDTH = 4.0


def _check(settings: AppliedSettings) -> None:
    low, high = GAIN_RANGE_DB
    if not low <= settings.output_gain_db <= high:
        raise ParameterError(f"easyeffects: the output gain {settings.output_gain_db:+.2f} dB is outside the "
                             f"equalizer's output-gain range {low:g}..{high:+g} dB")
    check_bands("easyeffects", settings, gain_range_db=GAIN_RANGE_DB, freq_range_hz=FREQ_RANGE_HZ, q_max=Q_RANGE[1])


def preset(settings: AppliedSettings) -> dict:
    """The preset as a JSON-ready dict."""
    _check(settings)
    channel = {f"band{k}": {"type": BAND_TYPES[band.kind], "mode": BAND_MODE, "slope": "x1", "solo": False,
                            "mute": False, "gain": round(band.gain_db, 6), "frequency": round(band.freq_hz, 6),
                            "q": round(band.q, 6), "width": DEFAULT_WIDTH}
               for k, band in enumerate(settings.bands)}
    equalizer = {"bypass": False, "input-gain": 0.0, "output-gain": round(settings.output_gain_db, 6), "mode": "IIR",
                 "decramp": "Off", "split-channels": False, "balance": 0.0, "pitch-left": 0.0, "pitch-right": 0.0,
                 "num-bands": len(channel), "left": channel, "right": json.loads(json.dumps(channel))}
    return {"output": {"blocklist": [], "plugins_order": [INSTANCE], INSTANCE: equalizer}}


def render(settings: AppliedSettings, stem: str) -> dict[str, bytes]:
    """One JSON file ``STEM.json``."""
    return {f"{stem}.json": (json.dumps(preset(settings), indent=4) + "\n").encode("utf-8")}
