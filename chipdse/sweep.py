"""Sweeps: every combination of chips (power modes included), models, precisions, batch sizes,
prompt and generate lengths in one table, each point accounted exactly as ``chipdse estimate``
accounts it (:func:`chipdse.api.estimate_arrays`).

The work is grouped by (chip, model, precision, generate length): a group's batch x prompt
points go through the vectorised evaluator at once, and groups run serially or, given a Dask
scheduler, on its workers (the results are identical either way). A sweep is at most
:data:`MAX_POINTS` points."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chipdse.cost import CostOptions
from chipdse.errors import UserError
from microarch.excerpt import excerpt

__all__ = ["SweepSpec", "run_sweep", "sweep_figures", "summary_table", "MAX_POINTS",
           "COLUMNS"]

MAX_POINTS = 1_000_000
"""Most points one sweep evaluates (about a minute on one core)."""

_AXIS_COLUMNS = ("chip", "chips", "power_mode", "model", "precision", "batch",
                 "prompt_tokens", "generate_tokens")
_COST_COLUMNS = ("cost_usd", "cost_usd_low", "cost_usd_high")
COLUMNS = _AXIS_COLUMNS + ("prefill_s", "decode_s", "decode_s_per_token",
           "decode_tokens_per_s", "total_s", "energy_j", "prefill_energy_j",
           "decode_energy_j_per_token", "idle_energy_j", "weights_bytes", "kv_cache_bytes",
           "memory_bytes", "dram_capacity_bytes", "fits_in_memory", "prefill_bottleneck",
           "decode_bottleneck") + _COST_COLUMNS
"""Columns of a sweep table, in order (SI units, as their names say; ``chip`` is a chip or a
multi-chip system of ``chips`` chips; ``cost_usd`` is the chips' unit cost with its band from
:func:`microarch.cost_usd.chip_cost`, NaN where it cannot be priced); the per-bound time
breakdowns of single chips follow as ``prefill_<bound>_s`` and ``decode_<bound>_s``."""


def _ints(name: str, values: Sequence[int], lo: int) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise UserError(f"sweep: {name} values must be integers >= {lo}, got {excerpt(v)}")
        out.append(int(v))
    if not out:
        raise UserError(f"sweep: {name} needs at least one value")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep covers: the cartesian product of every axis.

    Attributes:
        chips: chip presets or files (``NAME@MODE`` picks a power mode).
        systems: multi-chip system presets or files (:mod:`microarch.system`), costed by
            their split (:func:`chipdse.system.estimate_system`).
        models: model presets or files.
        precisions: :class:`~workloads.precision.Precision` values.
        batch / prompt / generate: batch sizes, prompt lengths, generated tokens.
    """

    chips: tuple[str, ...]
    models: tuple[str, ...]
    precisions: tuple[Any, ...]
    batch: tuple[int, ...] = (1,)
    prompt: tuple[int, ...] = (1024,)
    generate: tuple[int, ...] = (16,)
    systems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("chips", "models", "precisions", "systems"):
            v = tuple(dict.fromkeys(getattr(self, name)))
            if not v and name in ("models", "precisions"):
                raise UserError(f"sweep: {name} needs at least one value")
            object.__setattr__(self, name, v)
        if not self.chips and not self.systems:
            raise UserError("sweep: give at least one chip or system")
        object.__setattr__(self, "batch", _ints("batch", self.batch, 1))
        object.__setattr__(self, "prompt", _ints("prompt", self.prompt, 1))
        object.__setattr__(self, "generate", _ints("generate", self.generate, 0))
        if self.n_points > MAX_POINTS:
            raise UserError(f"sweep: {self.n_points:,} points exceed the limit of "
                            f"{MAX_POINTS:,}; sweep fewer values")

    @property
    def n_points(self) -> int:
        return ((len(self.chips) + len(self.systems)) * len(self.models) * len(self.precisions)
                * len(self.batch) * len(self.prompt) * len(self.generate))

    def groups(self) -> list[tuple[str, str, Any, int, bool]]:
        """(chip or system, model, precision, generate, is a system) of every group, in table
        order: chips first, then systems."""
        return ([(c, m, p, g, False) for c, m, p, g in itertools.product(
            self.chips, self.models, self.precisions, self.generate)]
                + [(c, m, p, g, True) for c, m, p, g in itertools.product(
                    self.systems, self.models, self.precisions, self.generate)])


def _group(chip: str, model: str, precision: Any, generate: int, batch: tuple[int, ...],
           prompt: tuple[int, ...], options: CostOptions) -> dict[str, Any]:
    """The columns of one group (batch-major over the batch x prompt grid)."""
    from chipdse import api

    c, m = api.load_chip(chip), api.load_model(model)
    if not m.causal and generate > 0:
        raise UserError(f"sweep: {m.name} is an encoder (causal: false) and has no decode "
                        f"phase; sweep it with generate 0")
    api.check_formats(c, m, precision)
    bb, pp = np.meshgrid(np.asarray(batch, dtype=float), np.asarray(prompt, dtype=float),
                         indexing="ij")
    bb, pp = bb.reshape(-1), pp.reshape(-1)
    a = api.estimate_arrays(c, m, precision, bb, pp, generate, options)
    n = len(bb)
    cols: dict[str, Any] = {
        "chip": [c.name] * n, "chips": np.ones(n, dtype=np.int64),
        "power_mode": [c.power_mode or ""] * n, "model": [m.name] * n,
        "precision": [precision.label()] * n, "batch": bb.astype(np.int64),
        "prompt_tokens": pp.astype(np.int64),
        "generate_tokens": np.full(n, generate, dtype=np.int64)}
    for k in COLUMNS[len(_AXIS_COLUMNS):-len(_COST_COLUMNS)]:
        cols[k] = np.asarray(a[k]).reshape(-1).copy()
    cols.update(_cost(c, n))
    for phase in ("prefill", "decode"):
        for bound, v in a[f"{phase}_time_by_bound"].items():
            cols[f"{phase}_{bound}_s"] = np.asarray(v, dtype=float).reshape(-1).copy()
    return cols


def _cost(chip: Any, n: int) -> dict[str, np.ndarray]:
    """The chip's cost columns (NaN where the cost model cannot price it)."""
    from microarch.cost_usd import chip_cost

    try:
        k = chip_cost(chip)
        vals = (k.cost_usd, k.cost_usd_low, k.cost_usd_high)
    except (ValueError, KeyError):
        vals = (np.nan, np.nan, np.nan)
    return {name: np.full(n, float(v)) for name, v in zip(_COST_COLUMNS, vals)}


def _system_group(ref: str, model: str, precision: Any, generate: int,
                  batch: tuple[int, ...], prompt: tuple[int, ...],
                  options: CostOptions) -> dict[str, Any]:
    """The columns of one system group, point by point (split as the system says)."""
    from chipdse.system import estimate_system
    from microarch.system import load_system

    s = load_system(ref)
    rows = [estimate_system(s, model, precision, b, q, generate, options)
            for b in batch for q in prompt]
    n = len(rows)
    cols: dict[str, Any] = {
        "chip": [s.name] * n, "chips": np.full(n, s.count, dtype=np.int64),
        "power_mode": [s.chip.power_mode or ""] * n, "model": [rows[0].model] * n,
        "precision": [precision.label()] * n,
        "batch": np.array([r.batch for r in rows], dtype=np.int64),
        "prompt_tokens": np.array([r.prompt_tokens for r in rows], dtype=np.int64),
        "generate_tokens": np.full(n, generate, dtype=np.int64)}
    for k in COLUMNS[len(_AXIS_COLUMNS):-len(_COST_COLUMNS)]:
        if k == "decode_s":
            vals = [r.decode_s_per_token * generate if generate else 0.0 for r in rows]
        elif k == "memory_bytes":
            vals = [r.memory_bytes_per_chip for r in rows]  # per chip, against its DRAM
        else:
            vals = [getattr(r, k) if hasattr(r, k) else getattr(r.per_chip, k) for r in rows]
        cols[k] = np.asarray(vals)
    cost = _cost(s.chip, n)
    cols.update({k: v * s.count for k, v in cost.items()})
    return cols


def run_sweep(spec: SweepSpec, options: CostOptions = CostOptions(), scheduler: Any = None,
              progress: Any = None):
    """Evaluate ``spec``: a DataFrame of :data:`COLUMNS` (and the per-bound breakdowns), one
    row per point. ``scheduler`` is a Dask scheduler address or Client; ``progress`` is called
    with (groups done, groups) after each group."""
    import pandas as pd

    groups = spec.groups()
    args = [((_system_group if sys else _group), (c, m, p, g, spec.batch, spec.prompt, options))
            for c, m, p, g, sys in groups]
    parts: list[dict[str, Any]] = []
    if scheduler is None:
        for i, (fn, a) in enumerate(args):
            parts.append(fn(*a))
            if progress is not None:
                progress(i + 1, len(args))
    else:
        client, own = _client(scheduler)
        try:
            futures = [client.submit(fn, *a, pure=False) for fn, a in args]
            for i, f in enumerate(futures):
                parts.append(f.result())
                if progress is not None:
                    progress(i + 1, len(args))
        finally:
            if own:
                client.close()
    frames = [pd.DataFrame(p) for p in parts]
    t = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    bound_cols = sorted(c for c in t.columns if c not in COLUMNS)
    return t[list(COLUMNS) + bound_cols].fillna({c: 0.0 for c in bound_cols})


def _client(scheduler: Any) -> tuple[Any, bool]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise UserError("--scheduler needs Dask: pip install 'chipdse[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    from chipdse.search.run import _check_scheduler_address

    _check_scheduler_address(str(scheduler))
    try:
        return Client(str(scheduler), set_as_default=False, timeout="10s"), True
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None


def summary_table(t) -> Any:
    """The sweep in readable units (ms, tok/s, mJ/token, GB), one row per point, without the
    axes that hold a single value."""
    import pandas as pd

    out = pd.DataFrame({
        "chip": t.chip + np.where(t.power_mode != "", "@" + t.power_mode, ""),
        "chips": t.chips,
        "model": t.model, "precision": t.precision, "batch": t.batch,
        "prompt": t.prompt_tokens, "generate": t.generate_tokens,
        "prefill_ms": t.prefill_s * 1e3, "decode_ms_per_token": t.decode_s_per_token * 1e3,
        "tok_per_s": t.decode_tokens_per_s, "total_ms": t.total_s * 1e3,
        "mJ_per_token": t.decode_energy_j_per_token * 1e3,
        "memory_GB": t.memory_bytes / 1e9, "fits": t.fits_in_memory,
        "decode_bound": t.decode_bottleneck, "chip_usd": t.cost_usd})
    keep = [c for c in out.columns
            if c in ("chip", "model", "tok_per_s", "total_ms") or out[c].nunique() > 1]
    return out[keep]


def sweep_figures(t) -> dict[str, Any]:
    """Comparison figures: decode tokens/s and energy per token by model and chip (one panel
    per precision, at the sweep's first batch / prompt / generate), and tokens/s against batch
    when the sweep has several batch sizes."""
    import matplotlib.pyplot as plt

    figs: dict[str, Any] = {}
    first = t[(t.batch == t.batch.iloc[0]) & (t.prompt_tokens == t.prompt_tokens.iloc[0])
              & (t.generate_tokens == t.generate_tokens.iloc[0])]
    chips = list(dict.fromkeys(first.chip + np.where(first.power_mode != "",
                                                     "@" + first.power_mode, "")))
    first = first.assign(label=first.chip + np.where(first.power_mode != "",
                                                     "@" + first.power_mode, ""))
    precisions = list(dict.fromkeys(first.precision))
    models = list(dict.fromkeys(first.model))
    where = (f"batch {t.batch.iloc[0]}, {t.prompt_tokens.iloc[0]}-token prompt, "
             f"{t.generate_tokens.iloc[0]} generated")
    for fname, col, scale, ylabel in (
            ("tokens_per_s.png", "decode_tokens_per_s", 1.0, "decode tokens / s"),
            ("energy_per_token.png", "decode_energy_j_per_token", 1e3,
             "decode energy per token (mJ)")):
        if first[col].isna().all():
            continue
        fig, axes = plt.subplots(1, len(precisions), figsize=(
            max(5.0, 1.0 + 0.6 * len(models) * len(chips)) * len(precisions), 4.0),
            squeeze=False, sharey=True)
        w = 0.8 / max(1, len(chips))
        x = np.arange(len(models))
        for ax, prec in zip(axes[0], precisions):
            sub = first[first.precision == prec]
            for i, chip in enumerate(chips):
                vals = [sub[(sub.model == m) & (sub.label == chip)][col].mean() * scale
                        for m in models]
                ax.bar(x + (i - (len(chips) - 1) / 2) * w, vals, width=w, label=chip)
            ax.set_xticks(x)
            ax.set_xticklabels(models, rotation=20, ha="right", fontsize=8)
            ax.set_title(prec, fontsize=9)
            ax.grid(True, axis="y", lw=0.3, alpha=0.5)
        axes[0][0].set_ylabel(ylabel)
        axes[0][-1].legend(fontsize=7)
        fig.suptitle(f"{ylabel} by model and chip ({where})", fontsize=9)
        fig.tight_layout()
        figs[fname] = fig
    if t.batch.nunique() > 1 and not t.decode_tokens_per_s.isna().all():
        # Colour: chip; line style: model; marker: precision (all three explained).
        t2 = t[(t.prompt_tokens == t.prompt_tokens.iloc[0])
               & (t.generate_tokens == t.generate_tokens.iloc[0])]
        t2 = t2.assign(label=t2.chip + np.where(t2.power_mode != "", "@" + t2.power_mode, ""))
        colours = dict(zip(dict.fromkeys(t2.label), plt.cm.tab10.colors * 10))
        styles = dict(zip(dict.fromkeys(t2.model), ("-", "--", ":", "-.") * 10))
        markers = dict(zip(dict.fromkeys(t2.precision), "osD^vP*X" * 10))
        fig, ax = plt.subplots(figsize=(8.5, 4.4))
        for (label, model, prec), g in t2.groupby(["label", "model", "precision"], sort=False):
            g = g.sort_values("batch")
            ax.plot(g.batch, g.decode_tokens_per_s, ls=styles[model], marker=markers[prec],
                    ms=4, color=colours[label])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ticks = sorted(t2.batch.unique())
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(b) for b in ticks])
        ax.set_xlabel("batch")
        ax.set_ylabel("decode tokens / s (all sequences)")
        ax.set_title(f"throughput against batch ({t2.prompt_tokens.iloc[0]}-token prompt, "
                     f"{t2.generate_tokens.iloc[0]} generated)", fontsize=9)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
        handles = ([plt.Line2D([], [], color=c, lw=2, label=k) for k, c in colours.items()]
                   + [plt.Line2D([], [], color="grey", ls=v, label=k)
                      for k, v in styles.items()]
                   + [plt.Line2D([], [], color="grey", marker=v, ls="", label=k)
                      for k, v in markers.items()])
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        figs["batch_scaling.png"] = fig
    return figs
