"""Figures of where a recording stands and what a word does to it (matplotlib, drawn on demand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["draw_corridor", "draw_dynamic_trace", "plot_balance", "save_figure"]


def draw_corridor(ax, balance, *, label: str = "this recording") -> None:
    """Shade the reference's 10-90 % and 25-75 % corridor and draw the recording's balance on ``ax``."""
    f = balance.freqs_hz
    c = balance.corridor_db
    ax.fill_between(f, c[10], c[90], color="tab:blue", alpha=0.15, linewidth=0, label="reference music, 10-90 %")
    ax.fill_between(f, c[25], c[75], color="tab:blue", alpha=0.25, linewidth=0, label="25-75 %")
    ax.semilogx(f, c[50], color="tab:blue", linewidth=0.8, linestyle=":", label="median (the centre)")
    ax.semilogx(f, balance.balance_db, color="black", linewidth=2, label=label)
    if balance.cutoff_hz < f[-1]:
        ax.axvspan(balance.cutoff_hz, f[-1] * 1.2, color="0.85", alpha=0.6, label=f"not held (cut at {balance.cutoff_hz / 1000:.1f} kHz)")
    ax.set_xscale("log")
    ax.set_xlim(f[0], f[-1] * 1.1)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("dB against the reference centre (level-free)")
    ax.grid(True, which="both", alpha=0.3)


def draw_dynamic_trace(ax, trace, plan=None) -> None:
    """Draw the dynamic gain over time per region (the gain-reduction trace) on ``ax``.

    ``trace`` is a :class:`semeq.dynamic.DynamicTrace`; with ``plan`` (its
    :class:`~semeq.dynamic.DynamicPlan`) each region's cap is drawn as a dotted line.
    """
    from .dynamic import REGIONS

    names = [r.name for r in REGIONS]
    for i, name in enumerate(trace.regions):
        lo, hi = trace.min_db[i], trace.max_db[i]
        (line,) = ax.plot(trace.times_s, trace.gain_db[i], linewidth=1.0,
                          label=f"{name}: {lo:+.1f} .. {hi:+.1f} dB")
        if plan is not None and plan.sign[names.index(name)] != 0:
            k = names.index(name)
            ax.axhline(plan.sign[k] * plan.cap_db[k], color=line.get_color(), linewidth=0.8, linestyle=":")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("dynamic gain (dB)")
    ax.set_title("dynamic part: gain per region over time (dotted: cap)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=7)


def plot_balance(path: str | Path, balance, *, title: str, force: bool = False, extra: dict | None = None) -> Path:
    """Draw a recording's balance inside the music corridor to a PNG, written atomically.

    ``extra`` maps labels to curves on ``balance.freqs_hz`` drawn on top (a word's target, a change).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import check_output_path

    path = check_output_path(path, force=force)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    draw_corridor(ax, balance)
    for label, curve in (extra or {}).items():
        ax.semilogx(balance.freqs_hz, curve, linewidth=1.6, label=label)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=7)
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Lay out, write atomically as PNG, and close a matplotlib figure (closed on failure too)."""
    import matplotlib.pyplot as plt

    from .io import atomic_output

    try:
        fig.tight_layout()
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
