"""``lsp``: an LV2 preset bundle for LSP Parametric Equalizer x16 Stereo.

The bundle ``NAME.preset.lv2/`` holds ``manifest.ttl`` and ``NAME.ttl``: one ``pset:Preset``
(LV2 Presets extension, http://lv2plug.in/ns/ext/presets) that ``lv2:appliesTo`` the plugin
``http://lsp-plug.in/plugins/lv2/para_equalizer_x16_stereo`` (Debian ``lsp-plugins-lv2``) and
sets its control ports by symbol. Any LV2 host that finds the bundle on ``LV2_PATH`` (or in
``~/.lv2``) lists it among the plugin's presets: Ardour, Carla, jalv, Qtractor, Zrythm...

Port meanings, read from the plugin's own TTL (``para_equalizer_x16_stereo.ttl``, LSP 1.2.5):

- ``ft_k`` filter type (0 Off, 1 Bell, 3 Hi-shelf, 5 Lo-shelf), ``fm_k`` filter mode
  (6 = "APO (DR)": RBJ cookbook biquads designed directly in the digital domain, the forms
  semeq designs), ``s_k`` slope (0 = x1: one biquad), ``xs_k`` / ``xm_k`` solo / mute;
- ``f_k`` frequency in Hz [10, 24000], ``q_k`` Q [0, 100], ``g_k`` gain as a **linear factor**
  [0.015850, 63.095749] (-36 .. +36 dB), not dB;
- ``g_in`` / ``g_out`` input / output gain, linear factors in [0, 10] (up to +20 dB);
  ``mode`` 0 = IIR; ``bal`` balance; ``frqs`` frequency shift in semitones.

Filters 0-4 are semeq's five bands in order (low shelf, peaks 1-3, high shelf), shelves with
Q 0.71; filters 5-15 are off; ``g_out`` carries the output gain (loudness match).
"""

from __future__ import annotations

import math

from ..errors import ParameterError
from .settings import AppliedSettings

__all__ = ["PLUGIN_URI", "N_FILTERS", "port_values", "render"]

PLUGIN_URI = "http://lsp-plug.in/plugins/lv2/para_equalizer_x16_stereo"
N_FILTERS = 16
MODE_APO_DR = 6
FILTER_TYPES = {"peak": 1, "high_shelf": 3, "low_shelf": 5}  # the TTL's ft_k scale points
FREQ_RANGE_HZ = (10.0, 24000.0)
BAND_GAIN_RANGE = (0.015850, 63.095749)  # linear, the TTL's g_k bounds
Q_RANGE = (0.0, 100.0)
OUTPUT_GAIN_RANGE = (0.0, 10.0)  # linear, g_out


def _db_to_linear(gain_db: float) -> float:
    return 10.0 ** (gain_db / 20.0)


def _check(what: str, value: float, bounds: tuple[float, float], shown: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ParameterError(f"lsp: {what} is outside the plugin's range {shown}; "
                             "LSP Parametric Equalizer cannot hold this setting")


def _db(linear: float) -> str:
    return f"{20.0 * math.log10(linear):+.0f} dB" if linear > 0 else "-inf dB"


def port_values(settings: AppliedSettings) -> dict[str, float]:
    """Control port symbol -> value, in the order they are written.

    Raises
    ------
    ParameterError
        A value outside the plugin's port range, naming the band and the limit.
    """
    g_out = _db_to_linear(settings.output_gain_db)
    _check(f"the output gain {settings.output_gain_db:+.2f} dB", g_out, OUTPUT_GAIN_RANGE,
           f"(at most {_db(OUTPUT_GAIN_RANGE[1])}, g_out <= {OUTPUT_GAIN_RANGE[1]:g})")
    ports: dict[str, float] = {"enabled": 1.0, "mode": 0.0, "g_in": 1.0, "g_out": g_out, "bal": 0.0, "frqs": 0.0}
    for k in range(N_FILTERS):
        ports[f"ft_{k}"] = 0.0
        ports[f"fm_{k}"] = float(MODE_APO_DR)
        ports[f"s_{k}"] = 0.0
        ports[f"xs_{k}"] = 0.0
        ports[f"xm_{k}"] = 0.0
    for k, band in enumerate(settings.bands):
        gain = _db_to_linear(band.gain_db)
        _check(f"{band.label} frequency {band.freq_hz:g} Hz", band.freq_hz, FREQ_RANGE_HZ,
               f"{FREQ_RANGE_HZ[0]:g} .. {FREQ_RANGE_HZ[1]:g} Hz")
        _check(f"{band.label} gain {band.gain_db:+.2f} dB", gain, BAND_GAIN_RANGE,
               f"{_db(BAND_GAIN_RANGE[0])} .. {_db(BAND_GAIN_RANGE[1])}")
        _check(f"{band.label} Q {band.q:g}", band.q, Q_RANGE, f"{Q_RANGE[0]:g} .. {Q_RANGE[1]:g}")
        ports[f"ft_{k}"] = float(FILTER_TYPES[band.kind])
        ports[f"f_{k}"] = band.freq_hz
        ports[f"g_{k}"] = gain
        ports[f"q_{k}"] = band.q
    return ports


def _turtle_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def _turtle_number(value: float) -> str:
    # A Turtle decimal (always with a point): read as a double by lilv/sratom, as hosts expect.
    text = repr(float(value))
    return text if ("." in text or "e" in text) else text + ".0"


_PREFIXES = ("@prefix lv2: <http://lv2plug.in/ns/lv2core#> .\n"
             "@prefix pset: <http://lv2plug.in/ns/ext/presets#> .\n"
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\n")


def render(settings: AppliedSettings, stem: str) -> dict[str, bytes]:
    """The bundle's files: ``manifest.ttl`` and ``STEM.ttl``."""
    ports = port_values(settings)
    preset_file = f"{stem}.ttl"
    label = f"semeq: {settings.label}"
    manifest = (_PREFIXES + f"<{preset_file}>\n    a pset:Preset ;\n    lv2:appliesTo <{PLUGIN_URI}> ;\n"
                f"    rdfs:seeAlso <{preset_file}> .\n")
    port_lines = ",\n".join(f'        [ lv2:symbol "{symbol}" ; pset:value {_turtle_number(value)} ]'
                            for symbol, value in ports.items())
    comment = "".join(f"# {line}\n" for line in _band_comments(settings))
    preset = (_PREFIXES + comment + f"<{preset_file}>\n    a pset:Preset ;\n    lv2:appliesTo <{PLUGIN_URI}> ;\n"
              f"    rdfs:label {_turtle_string(label)} ;\n    lv2:port\n{port_lines} .\n")
    return {"manifest.ttl": manifest.encode("utf-8"), preset_file: preset.encode("utf-8")}


def _band_comments(settings: AppliedSettings) -> list[str]:
    lines = [f"Written by semeq for a {settings.sample_rate:g} Hz recording; filters 0-4 in 'APO (DR)' mode,",
             "gains as linear factors (g = 10^(dB/20)); output gain g_out "
             f"{settings.output_gain_db:+.2f} dB."]
    for k, band in enumerate(settings.bands):
        q = f" Q {band.q:.3f}"
        clamp = f" (set {band.set_freq_hz:.1f} Hz, clamped below Nyquist as semeq designs it)" if band.clamped else ""
        lines.append(f"filter {k}: {band.label} {band.gain_db:+.2f} dB @ {band.freq_hz:.2f} Hz{q}{clamp}")
    return lines
