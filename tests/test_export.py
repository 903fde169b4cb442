"""Presets for real EQ plugins (semeq.export, semeq export, semeq apply --export).

The LSP preset is checked the way a user meets it: lilv (the LV2 host library) finds the bundle
on LV2_PATH and reads its port values, ``lv2apply`` renders a real recording through LSP
Parametric Equalizer x16 Stereo with them, and the result is compared with ``semeq apply``'s
output. The APO file is read back by an RBJ cookbook implementation written here (not semeq's).
The EasyEffects and Audacity files are checked against their formats' keys and ranges, as
EasyEffects and Audacity read them (sources cited at each check).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from semeq.cli import main
from semeq.errors import ParameterError
from semeq.export import FORMATS, AppliedSettings, export, export_bytes, load_settings, read_settings
from semeq.params import PARAM_NAMES, EQParams

LSP_URI = "http://lsp-plug.in/plugins/lv2/para_equalizer_x16_stereo"
LSP_TTL = Path("/usr/lib/lv2/lsp-plugins.lv2/para_equalizer_x16_stereo.ttl")
HERE = Path(__file__).parent

RENDER_RMS_TOL_DB = 0.25
"""Third-octave response (63 Hz - 12.5 kHz) of a plugin's render vs semeq's: RMS over bands."""
LEVEL_TOL_DB = 0.5
APO_RMS_TOL_DB = 0.25
AUDACITY_POINT_TOL_DB = 0.1
THIRD_OCTAVES_HZ = 1000.0 * 2.0 ** (np.arange(-12, 12) / 3.0)  # 63 Hz .. 12.5 kHz, 24 bands

needs_lv2 = pytest.mark.skipif(
    shutil.which("lv2apply") is None or not LSP_TTL.is_file(),
    reason="lv2apply (Debian lilv-utils) or LSP Parametric Equalizer (Debian lsp-plugins-lv2) not installed; "
           "scripts/test.sh installs both")


def _example_settings(sample_rate: float = 44100.0, output_gain_db: float = -2.3) -> AppliedSettings:
    params = EQParams(low_shelf_gain_db=3.0137, low_shelf_freq_hz=121.377, peak1_gain_db=-4.2468, peak1_freq_hz=401.519,
                      peak1_q=2.51234, peak2_gain_db=2.4951, peak2_freq_hz=1799.004, peak2_q=0.70731, peak3_gain_db=-6.0049,
                      peak3_freq_hz=4999.996, peak3_q=6.00049, high_shelf_gain_db=4.9951, high_shelf_freq_hz=9000.005)
    return AppliedSettings(params=params, output_gain_db=output_gain_db, sample_rate=sample_rate, label="test 0.50")


# -- an RBJ cookbook written here, independently of semeq.dsp -------------------------------
def rbj_section_db(kind: str, f0_hz: float, gain_db: float, q: float, freqs_hz: np.ndarray, sample_rate: float):
    """dB magnitude of one Audio EQ Cookbook biquad (peakingEQ, lowShelf, highShelf), evaluated on z = e^{jw}."""
    A = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0_hz / sample_rate
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "PK":
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind == "LSC":
        b = [A * ((A + 1) - (A - 1) * cw + 2 * math.sqrt(A) * alpha), 2 * A * ((A - 1) - (A + 1) * cw),
             A * ((A + 1) - (A - 1) * cw - 2 * math.sqrt(A) * alpha)]
        a = [(A + 1) + (A - 1) * cw + 2 * math.sqrt(A) * alpha, -2 * ((A - 1) + (A + 1) * cw),
             (A + 1) + (A - 1) * cw - 2 * math.sqrt(A) * alpha]
    elif kind == "HSC":
        b = [A * ((A + 1) + (A - 1) * cw + 2 * math.sqrt(A) * alpha), -2 * A * ((A - 1) + (A + 1) * cw),
             A * ((A + 1) + (A - 1) * cw - 2 * math.sqrt(A) * alpha)]
        a = [(A + 1) - (A - 1) * cw + 2 * math.sqrt(A) * alpha, 2 * ((A - 1) - (A + 1) * cw),
             (A + 1) - (A - 1) * cw - 2 * math.sqrt(A) * alpha]
    else:
        raise AssertionError(f"unexpected filter type {kind}")
    zi = np.exp(-1j * 2.0 * np.pi * np.asarray(freqs_hz) / sample_rate)
    h = (b[0] + b[1] * zi + b[2] * zi**2) / (a[0] + a[1] * zi + a[2] * zi**2)
    return 20.0 * np.log10(np.abs(h))


SEMEQ_KINDS = {"low_shelf": "LSC", "peak": "PK", "high_shelf": "HSC"}


def independent_net_db(settings: AppliedSettings, freqs_hz: np.ndarray) -> np.ndarray:
    """The applied curve from the settings' bands (clamped frequencies) through the RBJ above, plus the gain."""
    total = np.full(len(freqs_hz), settings.output_gain_db)
    for band in settings.bands:
        total += rbj_section_db(SEMEQ_KINDS[band.kind], band.freq_hz, band.gain_db, band.q, freqs_hz,
                                settings.sample_rate)
    return total


# -- measuring renders ------------------------------------------------------------------------
def third_octave_db(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Power in the 24 third-octave bands 63 Hz..12.5 kHz, dB, channels summed. audio: (samples, channels)."""
    spectrum = np.abs(np.fft.rfft(np.asarray(audio, dtype=np.float64), axis=0)) ** 2
    power = spectrum.sum(axis=1) if spectrum.ndim == 2 else spectrum
    freqs = np.fft.rfftfreq(len(audio), 1.0 / sample_rate)
    edges = 2.0 ** (1.0 / 6.0)
    return np.array([10 * np.log10(power[(freqs >= fc / edges) & (freqs < fc * edges)].sum()) for fc in THIRD_OCTAVES_HZ])


def compare_renders(plugin: np.ndarray, semeq: np.ndarray, sample_rate: float, bands: slice = slice(None)) -> tuple[float, float]:
    """(RMS over third-octave bands of the dB difference, overall level difference in dB)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # bands above Nyquist hold no power; left out by `bands`
        diff = (third_octave_db(plugin, sample_rate) - third_octave_db(semeq, sample_rate))[bands]
    level = 10 * np.log10(np.mean(np.asarray(plugin, dtype=np.float64) ** 2) / np.mean(np.asarray(semeq, dtype=np.float64) ** 2))
    return float(np.sqrt(np.mean(diff**2))), float(level)


def lv2apply(src: Path, dst: Path, ports: dict[str, float]) -> None:
    args = ["lv2apply", "-i", str(src), "-o", str(dst)]
    for symbol, value in ports.items():
        args += ["-c", symbol, repr(float(value))]
    proc = subprocess.run(args + [LSP_URI], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def lilv_presets(lv2_dir: Path) -> list[dict]:
    """The plugin's presets as lilv reads them with ``lv2_dir`` on LV2_PATH (tests/lv2_presets.py)."""
    default = [str(Path.home() / ".lv2"), "/usr/local/lib/lv2", "/usr/lib/lv2"]
    env = dict(os.environ, LV2_PATH=os.pathsep.join([str(lv2_dir)] + default))
    proc = subprocess.run([sys.executable, str(HERE / "lv2_presets.py"), LSP_URI], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def lsp_scale_points(symbol: str) -> dict[str, int]:
    """An enumeration port's labels -> values, read from the installed plugin's TTL."""
    text = LSP_TTL.read_text()
    start = text.index(f'lv2:symbol "{symbol}"')
    block = text[start: text.index("lv2:default", start)]
    return {label: int(value) for label, value in re.findall(r'rdfs:label "([^"]+)"; rdf:value (\d+)', block)}


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory, data_root) -> Path:
    """Six seconds of a development clip as a float WAV (outside the repository)."""
    import soundfile as sf

    path = data_root / "music-dev" / "d01_hard_rock_sectoid.flac"
    if not path.is_file():
        pytest.skip(f"development clip not found: {path}")
    info = sf.info(str(path))
    audio, sample_rate = sf.read(str(path), start=int(8 * info.samplerate), frames=int(6 * info.samplerate))
    out = tmp_path_factory.mktemp("export_clip") / "clip.wav"
    sf.write(str(out), audio, sample_rate, subtype="FLOAT")
    return out


@pytest.fixture(scope="module")
def applied(excerpt, tmp_path_factory):
    """``semeq apply --json --export ...`` on the excerpt: (facts, folder with the outputs)."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("export_apply")
    (folder / "lv2").mkdir()
    argv = ["apply", str(excerpt), "--target", "warm", "--intensity", "0.7", "-o", str(folder / "semeq.wav"), "--json",
            "--export", f"lsp:{folder / 'lv2' / 'warm.preset.lv2'}", "--export", f"apo:{folder / 'warm_apo.txt'}",
            "--export", f"easyeffects:{folder / 'warm.json'}", "--export", f"audacity:{folder / 'warm_audacity.txt'}",
            "--export", f"audacity-xml:{folder / 'warm.xml'}"]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    facts = json.loads(stdout.getvalue())
    return facts, folder


# -- the real renders -------------------------------------------------------------------------
@needs_lv2
def test_lsp_preset_loaded_by_lilv_renders_like_semeq_apply(applied, excerpt):
    import soundfile as sf

    facts, folder = applied
    assert facts["eq"]["cascade"], "the test needs a setting that filters"
    found = [p for p in lilv_presets(folder / "lv2") if "warm.preset.lv2" in p["uri"]]
    assert len(found) == 1 and found[0]["loaded"], found
    preset = found[0]
    assert preset["label"] == "semeq: warm 0.70"
    ports = preset["ports"]
    assert ports["g_out"] == pytest.approx(10 ** (facts["output_gain_db"] / 20), rel=1e-6)
    assert [ports[f"ft_{k}"] for k in range(16)] == [5, 1, 1, 1, 3] + [0] * 11  # shelf, 3 bells, shelf, rest off
    assert all(ports[f"fm_{k}"] == lsp_scale_points("fm_0")["APO (DR)"] for k in range(5))
    lv2apply(excerpt, folder / "lsp.wav", ports)
    plugin, sample_rate = sf.read(str(folder / "lsp.wav"))
    ours, sr2 = sf.read(str(folder / "semeq.wav"))
    assert sample_rate == sr2 and plugin.shape == ours.shape
    rms_db, level_db = compare_renders(plugin, ours, sample_rate)
    print(f"\nLSP x16 preset via lilv+lv2apply vs semeq apply: third-octave RMS {rms_db:.4f} dB, level "
          f"{level_db:+.4f} dB, max sample difference {np.max(np.abs(plugin - ours)):.2e}")
    assert rms_db <= RENDER_RMS_TOL_DB
    assert abs(level_db) <= LEVEL_TOL_DB


@needs_lv2
def test_easyeffects_preset_means_the_same_to_lsp(applied, excerpt):
    """EasyEffects' equalizer is LSP's: its labels, read as LSP's TTL enumerates them, render like semeq."""
    import soundfile as sf

    facts, folder = applied
    eq = json.loads((folder / "warm.json").read_text())["output"]["equalizer#0"]
    types, modes, slopes = lsp_scale_points("ft_0"), lsp_scale_points("fm_0"), lsp_scale_points("s_0")
    ports = {"g_in": 10 ** (eq["input-gain"] / 20), "g_out": 10 ** (eq["output-gain"] / 20), "mode": 0.0}
    for k in range(eq["num-bands"]):
        band = eq["left"][f"band{k}"]
        ports |= {f"ft_{k}": types[band["type"]], f"fm_{k}": modes[band["mode"]], f"s_{k}": slopes[band["slope"]],
                  f"f_{k}": band["frequency"], f"g_{k}": 10 ** (band["gain"] / 20), f"q_{k}": band["q"]}
    lv2apply(excerpt, folder / "ee.wav", ports)
    plugin, sample_rate = sf.read(str(folder / "ee.wav"))
    ours, _ = sf.read(str(folder / "semeq.wav"))
    rms_db, level_db = compare_renders(plugin, ours, sample_rate)
    print(f"\nEasyEffects preset through LSP vs semeq apply: third-octave RMS {rms_db:.4f} dB, level {level_db:+.4f} dB")
    assert rms_db <= RENDER_RMS_TOL_DB
    assert abs(level_db) <= LEVEL_TOL_DB


@needs_lv2
@pytest.mark.parametrize("sample_rate", [22050, 96000])
def test_lsp_preset_with_clamped_and_extreme_bands(tmp_path, rng, sample_rate):
    """Centre frequencies above 0.45 x sample rate are written as semeq clamps them; Q 10 and +-12 dB hold."""
    import soundfile as sf

    from semeq.dsp import apply_eq

    params = EQParams(low_shelf_gain_db=-12.0, low_shelf_freq_hz=22.0, peak1_gain_db=12.0, peak1_freq_hz=82.0,
                      peak1_q=10.0, peak2_gain_db=-9.0, peak2_freq_hz=2000.0, peak2_q=0.1, peak3_gain_db=8.0,
                      peak3_freq_hz=10000.0, peak3_q=4.0, high_shelf_gain_db=-10.0, high_shelf_freq_hz=20000.0)
    settings = AppliedSettings(params=params, output_gain_db=3.5, sample_rate=sample_rate)
    clamped = [b for b in settings.bands if b.clamped]
    assert bool(clamped) == (sample_rate == 22050)
    noise = 0.05 * rng.standard_normal((2, 4 * sample_rate))
    sf.write(str(tmp_path / "noise.wav"), noise.T, sample_rate, subtype="FLOAT")
    (tmp_path / "lv2").mkdir()
    export("lsp", settings, tmp_path / "lv2" / "x.preset.lv2")
    (preset,) = [p for p in lilv_presets(tmp_path / "lv2") if "x.preset.lv2" in p["uri"]]
    lv2apply(tmp_path / "noise.wav", tmp_path / "lsp.wav", preset["ports"])
    plugin, _ = sf.read(str(tmp_path / "lsp.wav"))
    ours = (apply_eq(noise, sample_rate, params) * 10 ** (settings.output_gain_db / 20)).astype(np.float32).T
    below = slice(None) if sample_rate > 30000 else slice(0, int(np.sum(THIRD_OCTAVES_HZ * 2 ** (1 / 6) < 0.5 * sample_rate)))
    rms_db, level_db = compare_renders(plugin, ours, sample_rate, below)
    print(f"\nLSP at {sample_rate} Hz (clamped bands: {[b.label for b in clamped]}): third-octave RMS {rms_db:.4f} dB, "
          f"level {level_db:+.4f} dB")
    assert rms_db <= RENDER_RMS_TOL_DB
    assert abs(level_db) <= LEVEL_TOL_DB


# -- APO: read back by the RBJ above --------------------------------------------------------
APO_FILTER = re.compile(r"^Filter\s*(\d+)\s*:\s*ON\s+([A-Z]+)\s+Fc\s*([-+0-9.eE]+)\s*Hz\s+Gain\s*([-+0-9.eE]+)\s*dB"
                        r"\s+Q\s*([-+0-9.eE]+)\s*$")
APO_PREAMP = re.compile(r"^Preamp:\s*([-+0-9.eE]+)\s*dB\s*$")
# EasyEffects' "Import APO preset" patterns (src/equalizer_apo.cpp), case-insensitive.
EE_PATTERNS = {"type": r"filter\s*\d*\s*:\s*on\s+([a-z]+(?:\s+(?:6|12)db)?)", "freq": r"fc\s+(\d+(?:,\d+)?(?:\.\d+)?)\s*hz",
               "gain": r"gain\s+([+-]?\d+(?:\.\d+)?)\s*db", "q": r"q\s+(\d+(?:\.\d+)?)",
               "preamp": r"preamp\s*:\s*([+-]?\d+(?:\.\d+)?)\s*db"}


def read_apo(text: str) -> tuple[float, list[tuple[str, float, float, float]]]:
    preamp, filters = None, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := APO_PREAMP.match(line):
            preamp = float(m.group(1))
            continue
        m = APO_FILTER.match(line)
        assert m, f"a line Equalizer APO would not read as a filter: {line!r}"
        fc = m.group(3)
        # Equalizer APO reads "1.000" as 1000 (a thousands separator): semeq must never write such a number.
        assert not (len(fc) >= 5 and fc[-4] == "." and "e" not in fc.lower()), fc
        filters.append((m.group(2), float(fc), float(m.group(4)), float(m.group(5))))
        for key in ("type", "freq", "gain", "q"):
            assert re.search(EE_PATTERNS[key], line, re.IGNORECASE), (key, line)
    assert preamp is not None
    return preamp, filters


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_apo_file_read_back_by_an_independent_rbj_matches_the_applied_curve(tmp_path, sample_rate):
    settings = _example_settings(sample_rate)
    if sample_rate == 22050:  # a centre above 0.45 fs: written clamped, as semeq designs it
        settings = AppliedSettings(params=EQParams(**(settings.params.to_dict() | {"high_shelf_freq_hz": 15000.0})),
                                   output_gain_db=settings.output_gain_db, sample_rate=sample_rate)
    path = export("apo", settings, tmp_path / "x.txt")
    text = path.read_text()
    preamp, filters = read_apo(text)
    assert [f[0] for f in filters] == ["LSC", "PK", "PK", "PK", "HSC"]
    if sample_rate == 22050:
        assert filters[-1][1] == pytest.approx(0.45 * sample_rate, abs=0.005)
    freqs = np.geomspace(20.0, min(20000.0, 0.49 * sample_rate), 400)
    apo_db = preamp + sum(rbj_section_db(kind, fc, gain, q, freqs, sample_rate) for kind, fc, gain, q in filters)
    applied_db = settings.net_response_db(freqs)
    rms = float(np.sqrt(np.mean((apo_db - applied_db) ** 2)))
    print(f"\nAPO at {sample_rate} Hz read back by an independent RBJ: {rms:.5f} dB RMS, "
          f"{np.max(np.abs(apo_db - applied_db)):.5f} dB max vs the applied curve")
    assert rms <= APO_RMS_TOL_DB
    assert re.search(EE_PATTERNS["preamp"], text, re.IGNORECASE)


@pytest.mark.parametrize("fmt", ["apo", "easyeffects", "lsp", "audacity", "audacity-xml"])
def test_apply_exports_hold_the_applied_setting(applied, fmt):
    """Each file ``semeq apply --export`` wrote holds the setting the --json output reports."""
    facts, folder = applied
    settings = read_settings(facts)
    expected = {"lsp": folder / "lv2" / "warm.preset.lv2", "apo": folder / "warm_apo.txt", "easyeffects": folder / "warm.json",
                "audacity": folder / "warm_audacity.txt", "audacity-xml": folder / "warm.xml"}[fmt]
    assert {"format": fmt, "path": str(expected)} in facts["exports"]
    files = {p.name: p.read_bytes() for p in expected.iterdir()} if expected.is_dir() else {expected.name: expected.read_bytes()}
    stem = "warm" if fmt == "lsp" else expected.stem
    assert files == FORMATS[fmt].render(settings, stem)


# -- EasyEffects: the keys and ranges EasyEffects reads -------------------------------------
# From https://github.com/wwmm/easyeffects (src/equalizer_preset.cpp; src/contents/kcfg/
# easyeffects_db_equalizer.kcfg and easyeffects_db_equalizer_channel.kcfg at ebfbacd8b).
EE_TYPES = ["Off", "Bell", "Hi-pass", "Hi-shelf", "Lo-pass", "Lo-shelf", "Notch", "Resonance", "Allpass", "Bandpass",
            "Ladder-pass", "Ladder-rej"]
EE_MODES = ["RLC (BT)", "RLC (MT)", "BWC (BT)", "BWC (MT)", "LRX (BT)", "LRX (MT)", "APO (DR)"]
EE_SLOPES = ["x1", "x2", "x3", "x4"]
EE_EQ_KEYS = {"bypass": bool, "input-gain": float, "output-gain": float, "mode": str, "decramp": str,
              "split-channels": bool, "balance": float, "pitch-left": float, "pitch-right": float, "num-bands": int,
              "left": dict, "right": dict}
EE_BAND_KEYS = {"type": str, "mode": str, "slope": str, "solo": bool, "mute": bool, "gain": float, "frequency": float,
                "q": float, "width": float}


def test_easyeffects_preset_validates_against_the_format(tmp_path):
    settings = _example_settings()
    preset = json.loads(export("easyeffects", settings, tmp_path / "x.json").read_text())
    out = preset["output"]
    assert out["plugins_order"] == ["equalizer#0"] and out["blocklist"] == []
    eq = out["equalizer#0"]
    assert set(eq) == set(EE_EQ_KEYS)
    for key, kind in EE_EQ_KEYS.items():
        assert isinstance(eq[key], kind) and (kind is not int or not isinstance(eq[key], bool)), key
    assert -36 <= eq["input-gain"] <= 36 and -36 <= eq["output-gain"] <= 36
    assert eq["output-gain"] == pytest.approx(settings.output_gain_db)
    assert eq["mode"] in ["IIR", "FIR", "FFT", "SPM"] and eq["decramp"] in ["Off", "x2", "x3", "x4", "x6", "x8"]
    assert 1 <= eq["num-bands"] <= 32 and eq["num-bands"] == 5
    assert -100 <= eq["balance"] <= 100 and -120 <= eq["pitch-left"] <= 120 and -120 <= eq["pitch-right"] <= 120
    assert eq["left"] == eq["right"] and set(eq["left"]) == {f"band{k}" for k in range(5)}
    for k, band in enumerate(settings.bands):
        b = eq["left"][f"band{k}"]
        assert set(b) == set(EE_BAND_KEYS)
        assert all(isinstance(b[key], kind) for key, kind in EE_BAND_KEYS.items())
        assert b["type"] in EE_TYPES and b["mode"] == "APO (DR)" and b["slope"] in EE_SLOPES
        assert b["type"] == {"low_shelf": "Lo-shelf", "peak": "Bell", "high_shelf": "Hi-shelf"}[band.kind]
        assert -36 <= b["gain"] <= 36 and 10 <= b["frequency"] <= 24000 and 0 <= b["q"] <= 100 and 0 <= b["width"] <= 12
        assert (b["gain"], b["frequency"], b["q"]) == pytest.approx((band.gain_db, band.freq_hz, band.q), abs=1e-5)
        assert not b["solo"] and not b["mute"]


# -- Audacity: the keys and ranges Audacity reads; the curve at its points ---------------------
def audacity_preset_points(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a Filter Curve EQ preset as Audacity does (BasicEffectUIServices::ImportPresets,
    EqualizationBase::VisitSettings in https://github.com/audacity/audacity)."""
    ident, sep, params = text.partition(":")
    assert sep and ident == "FilterCurve"  # GetSquashedName("Filter Curve")
    pairs = re.findall(r'(\w+)="([^"]*)"', params)
    assert " ".join(f'{k}="{v}"' for k, v in pairs) == params.strip()
    values = dict(pairs)
    assert len(values) == len(pairs)
    assert 21 <= int(values.pop("FilterLength")) <= 8191
    assert values.pop("InterpolateLin") in ("0", "1")
    assert values.pop("InterpolationMethod") in ("B-spline", "Cosine", "Cubic")
    n = len(values) // 2
    assert set(values) == {f"{c}{i}" for i in range(n) for c in "fv"} and n <= 200
    return (np.array([float(values[f"f{i}"]) for i in range(n)]), np.array([float(values[f"v{i}"]) for i in range(n)]))


def _check_curve(settings: AppliedSettings, freqs: np.ndarray, gains: np.ndarray) -> tuple[float, float]:
    assert np.all(np.diff(freqs) > 0) and freqs[0] == pytest.approx(20.0) and freqs[-1] < settings.sample_rate / 2
    assert np.all((gains >= -120) & (gains <= 60))  # the effect's envelope range
    at_points = float(np.max(np.abs(gains - independent_net_db(settings, freqs))))
    dense = np.geomspace(freqs[0], freqs[-1], 5000)  # Audacity joins the points linearly in log frequency
    between = float(np.max(np.abs(np.interp(np.log(dense), np.log(freqs), gains) - independent_net_db(settings, dense))))
    return at_points, between


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_audacity_preset_holds_the_net_curve(tmp_path, sample_rate):
    settings = _example_settings(sample_rate)
    freqs, gains = audacity_preset_points(export("audacity", settings, tmp_path / "x.txt").read_text())
    at_points, between = _check_curve(settings, freqs, gains)
    print(f"\nAudacity preset at {sample_rate} Hz: {len(freqs)} points, {at_points:.5f} dB max at the points, "
          f"{between:.4f} dB max between them")
    assert at_points <= AUDACITY_POINT_TOL_DB
    assert between <= AUDACITY_POINT_TOL_DB


def test_audacity_xml_holds_the_net_curve(tmp_path):
    settings = _example_settings()
    root = ET.parse(export("audacity-xml", settings, tmp_path / "x.xml")).getroot()
    assert root.tag == "equalizationeffect"
    (curve,) = list(root)
    assert curve.tag == "curve" and curve.get("name") == "semeq test 0.50"
    assert all(p.tag == "point" and set(p.attrib) == {"f", "d"} for p in curve)
    freqs = np.array([float(p.get("f")) for p in curve])
    gains = np.array([float(p.get("d")) for p in curve])
    at_points, between = _check_curve(settings, freqs, gains)
    assert at_points <= AUDACITY_POINT_TOL_DB and between <= AUDACITY_POINT_TOL_DB


# -- refusals: never a preset that sounds different ------------------------------------------
@pytest.mark.parametrize(("fmt", "gain_db", "match"), [
    ("lsp", 20.5, r"lsp: the output gain \+20.50 dB is outside the plugin's range \(at most \+20 dB"),
    ("apo", -36.5, r"apo: the output gain -36.50 dB is outside the preamp range"),
    ("easyeffects", 37.0, r"easyeffects: the output gain \+37.00 dB is outside"),
    ("audacity", -125.0, r"audacity: the net curve reaches .* outside the effect's -120..\+60 dB"),
])
def test_a_setting_the_plugin_cannot_hold_is_refused_and_nothing_written(tmp_path, fmt, gain_db, match):
    settings = _example_settings(output_gain_db=gain_db)
    target = tmp_path / ("x.preset.lv2" if fmt == "lsp" else "x.out")
    with pytest.raises(ParameterError, match=match):
        export(fmt, settings, target)
    assert list(tmp_path.iterdir()) == []


def test_lsp_limits_name_the_band(monkeypatch):
    from semeq.export import lsp

    monkeypatch.setattr(lsp, "Q_RANGE", (0.0, 5.0))  # a plugin with a narrower Q range than semeq's
    with pytest.raises(ParameterError, match=r"lsp: peak 3 Q 6.00049 is outside the plugin's range 0 \.\. 5;"):
        lsp.port_values(_example_settings())


# -- reading saved settings ------------------------------------------------------------------
def _values(settings: AppliedSettings) -> dict:
    return settings.params.to_dict()


def test_reader_accepts_each_documented_shape(tmp_path):
    s = _example_settings()
    bands = _values(s)
    apply_json = {"input": "a.wav", "sample_rate": 44100, "output_gain_db": -2.3,
                  "eq": {"target": "warm", "intensity": 0.5, "blend": None, "cascade": [bands],
                         "fit_5band": bands | {"rms_error_db": 0.1, "max_error_db": 0.2}}}
    web_download = {"semeq": "x", "input": {"sample_rate": 44100}, "output_gain_db": -2.3,
                    "settings": {"target": "warm", "blend": None}, "intensity": 0.5, "bands": bands, "bands_exact": True,
                    "cascade": [bands]}
    ledger_five = {"output_gain_db": -2.3, "sample_rate": 44100, "bands": [
        {"name": "low_shelf", "gain_db": 3.0137, "freq_hz": 121.377}, {"gain_db": -4.2468, "freq_hz": 401.519, "q": 2.51234},
        {"gain_db": 2.4951, "freq_hz": 1799.004, "q": 0.70731}, {"gain_db": -6.0049, "freq_hz": 4999.996, "q": 6.00049},
        {"name": "high_shelf", "gain_db": 4.9951, "freq_hz": 9000.005, "q": 0.71}]}
    ledger_13 = {"output_gain_db": -2.3, "sample_rate": 44100, "fit_5band": s.params.to_vector().tolist()}
    for obj in (apply_json, web_download, ledger_five, ledger_13, s.to_dict(), {"files": [apply_json]}):
        got = read_settings(obj)
        assert got.params == s.params and got.output_gain_db == -2.3 and got.sample_rate == 44100
    assert read_settings(apply_json).label == "warm 0.50"
    lines = tmp_path / "ledger.jsonl"
    lines.write_text(json.dumps(ledger_13 | {"output_gain_db": 1.0}) + "\n" + json.dumps(ledger_five) + "\n")
    assert load_settings(lines, entry=2).output_gain_db == -2.3
    assert load_settings(lines, entry=1).output_gain_db == 1.0
    with pytest.raises(ParameterError, match=r"holds 2 lines of settings: choose one with --entry N \(1..2\)"):
        load_settings(lines)


def test_reader_bypass_is_a_flat_setting():
    got = read_settings({"sample_rate": 48000, "output_gain_db": 0.0, "eq": {"cascade": [], "target": "warm", "intensity": 0.0}})
    assert got.params == EQParams.flat()
    assert np.allclose(got.net_response_db([100.0, 1000.0, 10000.0]), 0.0)


@pytest.mark.parametrize(("obj", "match"), [
    ({"sample_rate": 44100, "output_gain_db": 0, "cascade": [{}, {}]}, r"a cascade of 2 settings"),
    ({"sample_rate": 44100, "output_gain_db": 0, "bands": {}, "bands_exact": False}, r"bands_exact is false"),
    ({"output_gain_db": 0, "bands": "x"}, r"must hold the 13 named EQ values"),
    ({"output_gain_db": 0, "bands": {n: 0.0 for n in PARAM_NAMES[:-1]}}, r"lacks high_shelf_freq_hz"),
    ({"sample_rate": 44100, "output_gain_db": 0, "note": 1}, r"no EQ found"),
    ({"output_gain_db": 0, "fit_5band": list(EQParams().to_vector())}, r"does not record sample_rate: give it with --sample-rate HZ"),
    ({"sample_rate": 44100, "fit_5band": list(EQParams().to_vector())}, r"does not record output_gain_db"),
    ({"sample_rate": 44100, "output_gain_db": 0, "bands": [{"gain_db": 1, "freq_hz": 100, "q": 2}] + [{}] * 4},
     r"low shelf: semeq's shelves have the fixed Q 0.71"),
])
def test_reader_refusals(obj, match):
    with pytest.raises(ParameterError, match=match):
        read_settings(obj)


def test_reader_takes_missing_values_from_the_caller_but_never_contradicts_the_file():
    obj = {"fit_5band": list(EQParams().to_vector())}
    got = read_settings(obj, sample_rate=48000, output_gain_db=-1.0)
    assert (got.sample_rate, got.output_gain_db) == (48000, -1.0)
    with pytest.raises(ParameterError, match=r"records sample_rate=44100; --sample-rate 48000 contradicts it"):
        read_settings(obj | {"sample_rate": 44100}, sample_rate=48000, output_gain_db=0.0)


# -- writing ----------------------------------------------------------------------------------
def test_export_never_clobbers_and_replaces_only_a_bundle(tmp_path):
    from semeq.errors import AudioFileError

    s = _example_settings()
    path = export("apo", s, tmp_path / "x.txt")
    with pytest.raises(AudioFileError, match="already exists"):
        export("apo", s, path)
    bundle = export("lsp", s, tmp_path / "w.preset.lv2")
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.ttl", "w.ttl"]
    with pytest.raises(AudioFileError, match="already exists"):
        export("lsp", s, bundle)
    louder = _example_settings(output_gain_db=6.0)
    export("lsp", louder, bundle, force=True)
    assert "pset:value 1.99526" in (bundle / "w.ttl").read_text()  # g_out of +6 dB
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    (tmp_path / "plain.lv2").mkdir()
    with pytest.raises(AudioFileError, match="not an LV2 bundle"):
        export("lsp", s, tmp_path / "plain.lv2", force=True)
    with pytest.raises(ParameterError, match=r"a folder whose name ends in \.lv2"):
        export("lsp", s, tmp_path / "w.ttl")


def test_export_bytes_for_a_download():
    s = _example_settings()
    name, data = export_bytes("lsp", s)
    assert name == "semeq_test_0.50.preset.lv2.zip"
    with zipfile.ZipFile(BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["semeq_test_0.50.preset.lv2/manifest.ttl", "semeq_test_0.50.preset.lv2/semeq_test_0.50.ttl"]
    for fmt in ("apo", "easyeffects", "audacity", "audacity-xml"):
        name, data = export_bytes(fmt, s, name="my take")
        assert name == "my_take" + FORMATS[fmt].suffix and data == FORMATS[fmt].render(s, "my_take")[name]


# -- the command line -------------------------------------------------------------------------
def test_cli_export_list_and_write(tmp_path, capsys):
    assert main(["export", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(re.search(rf"^{re.escape(name)}\s", listed, re.M) for name in FORMATS)
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps(_example_settings().to_dict()))
    out = tmp_path / "s_apo.txt"
    assert main(["export", str(settings), "--format", "apo", "-o", str(out)]) == 0
    assert read_apo(out.read_text())[0] == pytest.approx(-2.3)
    assert main(["export", str(settings), "--format", "apo", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err
    assert main(["export", str(settings), "--format", "vst", "-o", str(tmp_path / "y")]) == 2
    assert "unknown export format 'vst'; known: lsp, apo, easyeffects, audacity, audacity-xml" in capsys.readouterr().err


def test_cli_apply_checks_export_targets_before_any_audio_work(tmp_path, rng, capsys):
    import soundfile as sf

    sf.write(str(tmp_path / "in.wav"), 0.1 * rng.standard_normal((44100, 2)), 44100)
    (tmp_path / "taken.txt").write_text("mine")
    argv = ["apply", str(tmp_path / "in.wav"), "--target", "warm", "-o", str(tmp_path / "out.wav")]
    assert main(argv + ["--export", f"apo:{tmp_path / 'taken.txt'}"]) == 2
    assert "taken.txt: already exists" in capsys.readouterr().err
    assert main(argv + ["--export", f"apo:{tmp_path / 'out.wav'}"]) == 2
    assert "is already another output of this command" in capsys.readouterr().err
    assert main(argv + ["--export", "apo"]) == 2
    assert "expected FORMAT:PATH" in capsys.readouterr().err
    assert not (tmp_path / "out.wav").exists() and (tmp_path / "taken.txt").read_text() == "mine"


def test_cli_stream_refuses_export_with_the_reason(tmp_path, capsys):
    assert main(["stream", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav"), "--target", "warm",
                 "--export", f"apo:{tmp_path / 'x.txt'}"]) == 2
    err = capsys.readouterr().err
    assert "redesigned every analysis window" in err and err.count("\n") == 1
