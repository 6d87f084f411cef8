"""Plots: the roofline with operators placed on it, and predicted vs measured.

Figures are built with pyplot; the backend is the application's choice (the command line
selects the file-only Agg backend), never this module's."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from microarch.chip import Chip

__all__ = ["roofline_figure", "scatter_figure", "ROOFLINE_LABELS"]

_PHASE_COLOURS = {"prefill": "tab:blue", "decode": "tab:orange"}


ROOFLINE_LABELS = 8
"""Operators named on a roofline per phase: the ones that take the most of the phase's time."""


def roofline_figure(chip: Chip, ops: pd.DataFrame, title: str = ""):
    """Log-log roofline against ops per DRAM byte: one roof per distinct datasheet dense peak
    (formats that share a peak share one labelled roof), the DRAM slope, and the operators (from
    :func:`chipdse.api.operator_table`) at their intensity and achieved ops/s, marker area by
    each operator's share of its phase's time and the :data:`ROOFLINE_LABELS` largest named.
    An operator that reads no DRAM is drawn hollow at its on-chip intensity (ops per on-chip
    byte) against the dotted on-chip slopes, which apply to those markers only."""
    fig, ax = plt.subplots(figsize=(11.5, 6.2))
    key: list[str] = []
    x = np.logspace(-2, 5, 400)
    by_peak: dict[float, list[str]] = {}
    for fmt, peak in chip.matrix.peak_dense_ops_per_s.items():
        by_peak.setdefault(float(peak), []).append(fmt)
    top = max(by_peak)
    for peak, fmts in sorted(by_peak.items()):
        ax.axhline(peak, color="0.5", lw=0.8, ls="--")
        ax.text(x[-1], peak, f" {'/'.join(fmts)} {peak / 1e12:.4g} T", va="center", fontsize=8)
    ax.axhline(chip.vector.peak_ops_per_s, color="tab:green", lw=0.8, ls=":")
    ax.text(x[0], chip.vector.peak_ops_per_s, " vector", va="bottom", fontsize=8,
            color="tab:green")
    for level in chip.memory:
        y = np.minimum(level.bandwidth_bytes_per_s * x, top)
        dram = level.kind.value == "dram"
        ax.plot(x, y, lw=1.6 if dram else 0.9, ls="-" if dram else ":",
                label=f"{level.name} {level.bandwidth_bytes_per_s / 1e9:.4g} GB/s"
                + ("" if dram else " (hollow markers)"))
    for phase, grp in ops.groupby("phase"):
        share = (grp["total_s"] / max(grp["total_s"].sum(), 1e-30)).to_numpy()
        dram = grp["dram_bytes"].to_numpy()
        onchip = (grp["sram_bytes"] + grp["kv_bytes"]).to_numpy()
        flops = grp["flops"].to_numpy()
        hollow = dram <= 0
        inten = np.where(hollow, flops / np.maximum(onchip, 1.0), flops / np.maximum(dram, 1.0))
        perf = flops / np.maximum(grp["time_s"].to_numpy(), 1e-30)
        keep = flops > 0
        c = _PHASE_COLOURS.get(str(phase), "k")
        sizes = 20 + 400 * share
        ax.scatter(inten[keep & ~hollow], perf[keep & ~hollow], s=sizes[keep & ~hollow],
                   color=c, alpha=0.7, label=f"{phase} operators")
        ax.scatter(inten[keep & hollow], perf[keep & hollow], s=sizes[keep & hollow],
                   facecolors="none", edgecolors=c, alpha=0.7)
        # Numbers on the markers, names in a key beside the plot: names of operators at
        # one point would print over each other.
        named = [i for i in np.argsort(-share) if keep[i]][:ROOFLINE_LABELS]
        for rank, i in enumerate(named):
            k = len(key) + 1
            ax.annotate(str(k), (inten[i], perf[i]), fontsize=7, color=c, weight="bold",
                        xytext=(5 + 7 * (rank % 4), 3), textcoords="offset points")
            key.append(f"{k:>2} {phase} {grp['name'].iloc[i]} {share[i]:.0%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(top / 1e6, top * 3)
    ax.set_xlabel("arithmetic intensity (ops per DRAM byte; hollow: per on-chip byte)")
    ax.set_ylabel("achieved ops / s")
    ax.set_title(title or chip.name, fontsize=10)
    ax.legend(fontsize=7, loc="lower right", title="marker area: share of the phase's time; "
              f"the {ROOFLINE_LABELS} largest named", title_fontsize=7)
    ax.grid(True, which="both", alpha=0.2)
    if key:
        ax.text(1.16, 1.0, "operators (share of\nthe phase's time)\n" + "\n".join(key),
                transform=ax.transAxes, va="top", fontsize=7, family="monospace")
    fig.tight_layout()
    return fig


_ROLE_MARKERS = {"calibration": "o", "transfer": "^", "other-stack": "X"}
_ROLE_INDEX = {r: i for i, r in enumerate(_ROLE_MARKERS)}


def scatter_figure(results: pd.DataFrame, title: str = "chipdse predicted vs measured"):
    """Log-log predicted vs measured, one panel per phase, one colour per device; marker shape
    by the row's role (circle: calibration, triangle: transfer to a chip the fit never saw,
    cross: another software stack); filled: the chips as they are; open: leave-one-model-out."""
    phases = [p for p in ("decode", "prefill") if (results.phase == p).any()]
    fig, axes = plt.subplots(1, max(len(phases), 1), figsize=(5.2 * max(len(phases), 1), 4.8),
                             squeeze=False)
    devices = sorted(results.device.unique())
    colours = plt.get_cmap("tab10")
    for ax, phase in zip(axes[0], phases):
        t = results[results.phase == phase]
        for i, dev in enumerate(devices):
            d = t[t.device == dev]
            if d.empty:
                continue
            c = colours(i % 10)
            roles = d.role if "role" in d else pd.Series("calibration", index=d.index)
            for j, (role, marker) in enumerate(_ROLE_MARKERS.items()):
                r = d[roles == role]
                if r.empty:
                    continue
                ax.scatter(r.measured, r.predicted, color=c, s=22, marker=marker,
                           label=dev if j == min(_ROLE_INDEX[x] for x in set(roles)) else None)
                if "loo_predicted" in r and r.loo_predicted.notna().any():
                    ax.scatter(r.measured, r.loo_predicted, facecolors="none", edgecolors=c,
                               s=30, marker=marker)
        lo = float(np.nanmin([t.measured.min(), t.predicted.min()])) / 1.5
        hi = float(np.nanmax([t.measured.max(), t.predicted.max()])) * 1.5
        xs = np.array([lo, hi])
        ax.plot(xs, xs, color="black", lw=0.8)
        for f, ls in ((0.1, ":"), (0.2, "--")):
            ax.plot(xs, xs * (1 + f), color="grey", lw=0.6, ls=ls)
            ax.plot(xs, xs * (1 - f), color="grey", lw=0.6, ls=ls)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        unit = "tokens/s (aggregate)" if phase == "decode" else "s"
        ax.set_xlabel(f"measured {phase} {unit}")
        ax.set_ylabel(f"predicted {phase} {unit}")
        ax.set_title(f"{phase} (lines: ±10 %, ±20 %)", fontsize=9)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{title}\nfilled: chip as loaded; open: leave-one-model-out; o calibration, "
                 "^ transfer (never fitted), X other software stack", fontsize=9)
    fig.tight_layout()
    return fig
