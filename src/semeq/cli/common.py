"""Helpers shared by the command modules."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..io import check_output_path
from ..params import EQParams

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def add_subtype_option(parser) -> None:
    """``--subtype``: the output's sample format (PCM_16, PCM_24, PCM_32, FLOAT, DOUBLE)."""
    from ..io import SUBTYPE_CHOICES

    parser.add_argument("--subtype", type=str.upper, choices=SUBTYPE_CHOICES, metavar="FMT",
                        help=f"output sample format: {', '.join(SUBTYPE_CHOICES)} (default: the input's); "
                             "FLOAT keeps samples past full scale in a .wav")


def parse_band(text: str, *, with_q: bool) -> tuple[float, ...]:
    """Parse ``GAIN@FREQ`` or ``GAIN@FREQ/Q`` (``k`` suffix allowed on the frequency)."""
    pattern = rf"^\s*({_NUM})\s*(?:dB)?\s*@\s*({_NUM})\s*(k?)\s*(?:Hz)?" + (rf"\s*/\s*({_NUM})\s*$" if with_q else r"\s*$")
    m = re.match(pattern, text, flags=re.IGNORECASE)
    if not m:
        form = "GAIN@FREQ/Q, e.g. 3@1000/0.7" if with_q else "GAIN@FREQ, e.g. -2@120"
        raise ParameterError(f"cannot read band {text!r}: expected {form}")
    gain, freq = float(m.group(1)), float(m.group(2)) * (1000.0 if m.group(3) else 1.0)
    return (gain, freq, float(m.group(4))) if with_q else (gain, freq)


def params_from_args(low_shelf: str | None, peaks: list[str] | None, high_shelf: str | None) -> EQParams:
    """Build EQParams from the ``--low-shelf``, ``--peak`` and ``--high-shelf`` options."""
    values: dict[str, float] = {}
    if low_shelf:
        values["low_shelf_gain_db"], values["low_shelf_freq_hz"] = parse_band(low_shelf, with_q=False)
    peaks = peaks or []
    if len(peaks) > 3:
        raise ParameterError(f"at most three --peak bands, got {len(peaks)}")
    for i, peak in enumerate(peaks, start=1):
        g, f, q = parse_band(peak, with_q=True)
        values[f"peak{i}_gain_db"], values[f"peak{i}_freq_hz"], values[f"peak{i}_q"] = g, f, q
    if high_shelf:
        values["high_shelf_gain_db"], values["high_shelf_freq_hz"] = parse_band(high_shelf, with_q=False)
    return EQParams(**values)


def plot_curves(path: str | Path, freqs_hz: np.ndarray, curves: dict[str, np.ndarray], *, title: str,
                ylabel: str = "gain (dB)", force: bool = False, spectra: dict[str, np.ndarray] | None = None,
                dynamic_trace=None, dynamic_plan=None) -> Path:
    """Draw response curves on a log-frequency axis to a PNG, written atomically; with
    ``dynamic_trace`` a second panel shows the dynamic gain over time per region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_output_path(path, force=force)
    if dynamic_trace is not None:
        fig, (ax, ax_dyn) = plt.subplots(2, 1, figsize=(8, 7.5), dpi=110, gridspec_kw={"height_ratios": [3, 2]})
        from ..plots import draw_dynamic_trace

        draw_dynamic_trace(ax_dyn, dynamic_trace, dynamic_plan)
    else:
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for label, curve in curves.items():
        ax.semilogx(freqs_hz, curve, label=label, linewidth=2)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlim(freqs_hz[0], freqs_hz[-1])
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if spectra:
        ax2 = ax.twinx()
        for label, spectrum in spectra.items():
            ax2.semilogx(freqs_hz, spectrum, label=label, linewidth=1, alpha=0.6, linestyle="--")
        ax2.set_ylabel("long-term spectrum (dB, loudness-normalised)")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="best", fontsize=8)
    else:
        ax.legend(loc="best")
    from ..plots import save_figure

    return save_figure(fig, path)


def log_freqs(n: int = 256, low_hz: float = 20.0, high_hz: float = 20000.0) -> np.ndarray:
    return np.geomspace(low_hz, high_hz, n)
