"""PNG timeline of a simulation: slot occupancy, request latencies against deadlines,
utilisation of each unit and KV-cache occupancy over time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from chipdse.sim.plan import PHASES, UNITS

__all__ = ["timeline_figure"]

_PHASE_COLOURS = {"encode": "tab:green", "prefill": "tab:blue", "decode": "tab:orange",
                  "draft": "tab:purple", "verify": "tab:brown", "action": "tab:red"}
_UNIT_COLOURS = {"matrix": "tab:blue", "vector": "tab:green", "dram": "tab:red",
                 "sram": "tab:purple", "kv_sram": "tab:brown"}


def timeline_figure(result):
    """Four stacked panels sharing the time axis (seconds)."""
    fig, axes = plt.subplots(4, 1, figsize=(12, 10), sharex=True,
                             gridspec_kw={"height_ratios": [1.2, 1.4, 1.2, 0.8]})
    ax_g, ax_l, ax_u, ax_k = axes
    slots = [r[len("slot:"):] for r in result.resources["resource"] if r.startswith("slot:")]
    spans = result.spans
    if spans is not None and len(spans):
        for si, _ in enumerate(slots):
            for pi, ph in enumerate(PHASES):
                m = (spans["slot"] == si) & (spans["phase"] == pi)
                if m.any():
                    s = spans.loc[m, "start_s"].to_numpy()
                    w = spans.loc[m, "end_s"].to_numpy() - s
                    ax_g.broken_barh(list(zip(s, w)), (si - 0.4, 0.8),
                                     facecolors=_PHASE_COLOURS[ph], label=ph)
    rc = result.reconfigurations
    if len(rc):
        ax_g.broken_barh(list(zip(rc["start_s"], rc["end_s"] - rc["start_s"])),
                         (len(slots) - 0.4, 0.8), facecolors="k", label="reconfiguration")
    ax_g.set_yticks(range(len(slots) + (1 if len(rc) else 0)))
    ax_g.set_yticklabels(slots + (["reconfig"] if len(rc) else []))
    handles, labels = ax_g.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    if uniq:
        ax_g.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper right", ncol=4)
    ax_g.set_title(f"{result.totals['chip']} ({result.totals['phase_mode']}), trace "
                   f"{result.totals['trace']}: {result.totals['requests']} requests, "
                   f"{result.totals['deadline_misses']} deadline misses")

    rq = result.requests
    for k, (name, grp) in enumerate(rq.groupby("stream", sort=False)):
        colour = f"C{k}"
        ok = ~grp["missed"].to_numpy()
        ax_l.plot(grp["arrival_s"][ok], grp["latency_s"][ok] * 1e3, ".", color=colour,
                  label=f"{name}")
        ax_l.plot(grp["arrival_s"][~ok], grp["latency_s"][~ok] * 1e3, "x", color=colour,
                  label=f"{name} (missed)")
        ax_l.axhline(grp["deadline_s"].iloc[0] * 1e3, color=colour, ls="--", lw=0.8)
    ax_l.set_ylabel("latency (ms)")
    if ax_l.get_legend_handles_labels()[0]:
        ax_l.legend(fontsize=7, loc="upper left")

    u = result.utilisation
    mid = 0.5 * (u["t_start_s"] + u["t_end_s"])
    for name in UNITS:
        if u[name].max() > 0:
            ax_u.plot(mid, u[name], lw=0.8, color=_UNIT_COLOURS[name], label=name)
    ax_u.set_ylabel("utilisation")
    ax_u.set_ylim(0, 1.05)
    if ax_u.get_legend_handles_labels()[0]:
        ax_u.legend(fontsize=7, loc="upper right", ncol=5)

    ax_k.plot(mid, u["kv_sram_used_bytes"] / 1e6, lw=0.8, label="KV SRAM")
    ax_k.plot(mid, u["kv_dram_used_bytes"] / 1e6, lw=0.8, label="KV in DRAM")
    ax_k.set_ylabel("KV cache (MB)")
    ax_k.set_xlabel("time (s)")
    ax_k.legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.grid(True, alpha=0.2)
    ax_k.set_xlim(0, float(np.max(u["t_end_s"])) if len(u) else 1.0)
    fig.tight_layout()
    return fig
