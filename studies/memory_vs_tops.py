"""Memory bandwidth against peak TOPS at equal die area and equal power, and what a fast SRAM
is best spent on: the KV cache, resident weights, or a wider DRAM bus of the same area.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 2): memory bandwidth and cache
efficiency decide real performance more than peak TOPS; reserve fast SRAM for the KV cache and
attention.

Design.

* **Exchange rates.** Around each chip (Jetson AGX Orin, AGX Thor, DRIVE Thor-U, Li Auto M100)
  the driving VLA frame (``vla-drive-10hz``: vision encoder, 1,024-token prefill, action
  tokens) is costed with DRAM bandwidth x1.25 (more LPDDR5X channels at the chip's pin rate)
  and, apart, with compute x1.25 (more matrix and vector units). Each change's die area comes
  from the area model (``api.chip_area_mm2``) and its peak power from ``api.chip_peak_power_w``;
  the claim's metric is the latency gain (-d ln latency) per mm^2 of DRAM interface over the
  gain per mm^2 of compute (and per W). Above 1, a mm^2 moved from compute to the DRAM
  interface shortens the frame: bandwidth "matters more" at equal area, which is the
  comparison the claim needs (a local elasticity compares a 25 % wider bus, 5 mm^2, with 25 %
  more compute, 9-13 mm^2, as if they cost the same).
* **Iso-area and iso-power lines.** The same chips with the DRAM bus scaled x0.5-x2 and compute
  re-sized to keep die area (or peak power) as it is: the latency-optimal split on each line,
  per draw.
* **What a fast SRAM is for.** 64 MiB (assumption: half the M100's 128 MiB of on-chip SRAM) added
  to Orin, Thor-U and the M100 as a KV-cache SRAM, as a weight SRAM (resident weights only, at
  the same bandwidth), or its die area spent on a wider DRAM bus instead; decode of 64 tokens
  after 1k and 16k tokens of context at batch 1 and 4, on an MHA model (Llama-2-7B: 32 KV heads),
  a GQA model of the same class (Llama-3-8B: 8 KV heads), a VLA-sized GQA model
  (Qwen2.5-0.5B: 2 KV heads) and a hybrid (Qwen3.5-2B: Gated DeltaNet on three of every four
  layers, whose fixed recurrent state replaces their KV cache), 4-bit weights and an FP16 KV
  cache. A byte of SRAM saves one
  byte of DRAM traffic per decode step whichever it holds, so the two uses differ only where
  one of them no longer fills the SRAM: the claim needs a 1 % margin to count. Sizing curves
  on the M100 from 8 to 256 MiB and 1k to 32k tokens.

Uncertainty. Every verdict is judged on seeded joint draws of the chips' ranged numbers and the
cost model's prediction error (``studies.base.Uncertain``; the variants of a chip share its
draw), and of two area assumptions of the study, drawn log-uniform and independent: the LPDDR5X
PHY area per 16-bit channel x0.5-x2 of the area model's 1.25 mm^2, and the compute-lane area
x0.7-x1.4 of its TPU-v1-derived figure (``microarch.area``). Peak-power deltas are taken at the
chips' nominal energies.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import (
    StudyResult,
    Uncertain,
    Verdict,
    claim,
    samples_for,
    span,
    tornado_figure,
)
from studies.mach100_vs_thor import VLA_MODEL, precision_paths, vla_model

NAME = "memory-vs-tops"
ORDER = 3  # reading order in `chipdse study list`
QUESTION = ("At equal die area and equal power, does DRAM bandwidth buy more VLA frame latency "
            "than peak TOPS on Orin, Thor, Thor-U and the M100, and is fast SRAM better spent "
            "on the KV cache than on weights or on a wider DRAM bus?")
SOURCE = "docs/reference/plas.md Sec. 6, conclusion 2"
TRACE = "vla-drive-10hz"
STEP = 1.25  # the +25 % step of bandwidth and of compute the exchange rates are taken at
CHIPS = ("jetson-agx-orin-64gb", "jetson-agx-thor", "drive-thor-u", "li-m100")
CHIPS_QUICK = ("jetson-agx-orin-64gb", "li-m100")
SHORT = {"jetson-agx-orin-64gb": "AGX Orin", "jetson-agx-thor": "AGX Thor",
         "drive-thor-u": "Thor-U", "li-m100": "M100"}
FRAME_MODELS = (VLA_MODEL, "qwen2.5-0.5b", "qwen3-1.7b")
FRAME_MODELS_QUICK = (VLA_MODEL, "qwen2.5-0.5b")
TIERS = ("8-bit", "4-bit")
PHASES = ("frame", "encode", "prefill", "decode")
# Study-level area assumptions (log-uniform factors on microarch.area's figures): the LPDDR5X
# PHY per x16 channel (1.25 mm^2 there, itself an assumption) and the compute-lane area
# (TPU v1's 28 nm MAC lane scaled by logic density, an estimate).
PHY_AREA_FACTOR = (0.5, 2.0)
LANE_AREA_FACTOR = (0.7, 1.4)
BUS_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)
KV_CHIPS = ("jetson-agx-orin-64gb", "drive-thor-u", "li-m100")
KV_CHIPS_QUICK = ("jetson-agx-orin-64gb", "li-m100")
KV_MODELS = {"MHA 7B": "llama-2-7b", "GQA 8B": "llama-3-8b", "GQA 0.5B": "qwen2.5-0.5b",
             "hybrid 2B": "qwen3.5-2b"}
SRAM_MIB = 64
CONTEXTS = (1024, 16384)
BATCHES = (1, 4)
GENERATE = 64
CURVE_CHIP = "li-m100"
CURVE_MODELS = ("llama-2-7b", "llama-3-8b", "qwen2.5-0.5b", "qwen3.5-2b")
CURVE_CONTEXTS = (1024, 4096, 16384, 32768)
CURVE_CONTEXTS_QUICK = (1024, 16384)
CURVE_MIB = (8, 16, 32, 64, 128, 256)
CURVE_MIB_QUICK = (16, 64, 256)

BW_AREA = claim("bandwidth-per-area",
                "At equal die area, DRAM bandwidth buys more frame latency than peak TOPS",
                "latency gain per mm^2, DRAM interface / compute", 1.0, ">=", SOURCE)
BW_POWER = claim("bandwidth-per-power",
                 "At equal peak power, DRAM bandwidth buys more frame latency than peak TOPS",
                 "latency gain per W, DRAM interface / compute", 1.0, ">=", SOURCE)
# "Better" needs a margin: a byte of SRAM saves one byte of DRAM traffic per decode step
# whichever of the two it holds, so ties are common and must not count as support.
KV_W = claim("kv-sram-vs-weight-sram",
             "Fast SRAM is better reserved for the KV cache than for resident weights",
             f"speed-up, {SRAM_MIB} MiB as KV SRAM / as weight SRAM", 1.01, ">=", SOURCE)
KV_BUS = claim("kv-sram-vs-dram-bus",
               "A KV SRAM buys more speed than a DRAM bus widened with at most its die area",
               f"speed-up, {SRAM_MIB} MiB KV SRAM / DRAM bus of at most its area", 1.0, ">=",
               SOURCE)
# The widest LPDDR5X interface on one die: 512 bits, 546 GB/s (Apple M4 Max, Apple newsroom,
# 2024-10-30). A wider bus is beachfront- and package-limited, which the area model does not
# see, so no alternative here widens a bus past it.
MAX_DRAM_BYTES_PER_S = 546e9
SRAM_PHASES = ("prefill", "decode")
# Verdicts on decode: prefill speed-ups from either SRAM use stay within 1 % (sram_use.csv)
# because prefill is compute-bound at these contexts.
VERDICT_PHASES = ("decode",)


@functools.lru_cache(maxsize=1)
def _trace():
    """The frame's trace, parsed once."""
    return api.load_trace(TRACE)


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float], n: int) -> np.ndarray:
    lo, hi = np.log(lo_hi[0]), np.log(lo_hi[1])
    return np.exp(rng.uniform(lo, hi, n))


class Bench:
    """Chips over a set of draws: ``chips`` (label -> one chip per draw), ``factors`` (label ->
    phase -> prediction-error factor per draw) and the study's area factors per draw. Variants
    are built from each draw's own chip and share its factors (paired comparisons)."""

    def __init__(self, template: Any, chips: dict[str, list], factors: dict[str, dict],
                 phy: np.ndarray, lane: np.ndarray):
        self.template = template
        self.chips = {k: list(v) for k, v in chips.items()}
        self.factors = dict(factors)
        self.phy, self.lane = np.asarray(phy, float), np.asarray(lane, float)
        self.n = len(self.phy)
        self.models = {VLA_MODEL: vla_model()}
        self._cache: dict = {}

    @classmethod
    def of_draws(cls, u: Uncertain, phy: np.ndarray, lane: np.ndarray) -> Bench:
        return cls(u.draws, u.draws.chips, u.draws.time_factor, phy, lane)

    @classmethod
    def single(cls, u: Uncertain, chips: dict, factors: dict, phy: float = 1.0,
               lane: float = 1.0) -> Bench:
        """One draw: the chips as given (nominal values, or a tornado end)."""
        return cls(u.draws, {k: [c] for k, c in chips.items()},
                   {k: {p: np.array([float(v)]) for p, v in f.items()}
                    for k, f in factors.items()}, np.array([phy]), np.array([lane]))

    def draws(self):
        return dataclasses.replace(self.template, n=self.n, chips=self.chips,
                                   time_factor=self.factors)

    def variant(self, label: str, base: str, kw: dict | list[dict]) -> str:
        """Add ``label``: ``api.chip_variant`` of ``base`` (one set of arguments, or one per
        draw)."""
        if label not in self.chips:
            kws = kw if isinstance(kw, list) else [kw] * self.n
            self.chips[label] = [api.chip_variant(c, label, **k)
                                 for c, k in zip(self.chips[base], kws)]
            self.factors[label] = self.factors[base]
        return label

    def model(self, name: str):
        if name not in self.models:
            self.models[name] = api.load_model(name)
        return self.models[name]

    def frame(self, label: str, model: str, precision) -> dict[str, np.ndarray]:
        """Seconds per draw of the VLA frame and of its phases."""
        key = ("frame", label, model, precision.label())
        if key not in self._cache:
            s = api.frame_estimate_samples(self.chips[label][0], self.draws(),
                                           model=self.model(model), trace=_trace(),
                                           precision=precision)
            self._cache[key] = {"frame": s["total_s"], "encode": s["encode_s"],
                                "prefill": s["prefill_s"], "decode": s["decode_s"]}
        return self._cache[key]

    def request(self, label: str, model: str, precision, batch: int, context: int
                ) -> dict[str, np.ndarray]:
        """Seconds per draw of the ``context``-token prefill and of decoding :data:`GENERATE`
        tokens after it."""
        key = ("request", label, model, precision.label(), batch, context)
        if key not in self._cache:
            s = api.estimate_samples(self.chips[label][0], self.model(model), precision, batch,
                                     context, GENERATE, self.draws())
            self._cache[key] = {"prefill": s["prefill_s"], "decode": s["decode_s"]}
        return self._cache[key]


@dataclasses.dataclass(frozen=True)
class Deltas:
    """What the +25 % steps cost on a chip (nominal area and power models)."""

    area_mm2: float
    power_w: float
    bw_area_mm2: float      # +25 % DRAM bandwidth
    compute_area_mm2: float  # +25 % compute
    bw_power_w: float
    compute_power_w: float
    sram_area_mm2: float    # + SRAM_MIB of on-chip SRAM


def _deltas(chip) -> Deltas:
    area = api.chip_area_mm2(chip)
    power = float(api.chip_peak_power_w(chip)["total_w"])
    bw = api.chip_variant(chip, dram_bandwidth_scale=STEP)
    cu = api.chip_variant(chip, compute_scale=STEP)
    kv = api.chip_variant(chip, kv_sram_bytes=SRAM_MIB * 2**20)
    return Deltas(area, power, api.chip_area_mm2(bw) - area, api.chip_area_mm2(cu) - area,
                  float(api.chip_peak_power_w(bw)["total_w"]) - power,
                  float(api.chip_peak_power_w(cu)["total_w"]) - power,
                  api.chip_area_mm2(kv) - area)


def _gain(base: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """-d ln latency of a change (positive when it is faster)."""
    return np.log(base) - np.log(changed)


def exchange(b: Bench, chip: str, d: Deltas, models, tiers) -> dict[str, Any]:
    """Per draw: gain per mm^2 and per W of bandwidth over compute, per phase, geometric mean
    over the models and precisions (and each of them apart)."""
    up_bw = b.variant(f"{chip}+bw", chip, dict(dram_bandwidth_scale=STEP))
    up_cu = b.variant(f"{chip}+compute", chip, dict(compute_scale=STEP))
    c0 = b.chips[chip][0]
    per: dict = {}
    for m in models:
        for tier in tiers:
            p = precision_paths(c0)[tier]
            base, bw, cu = b.frame(chip, m, p), b.frame(up_bw, m, p), b.frame(up_cu, m, p)
            for ph in PHASES:
                g_bw, g_cu = _gain(base[ph], bw[ph]), _gain(base[ph], cu[ph])
                with np.errstate(divide="ignore", invalid="ignore"):
                    area = (g_bw / (d.bw_area_mm2 * b.phy)) / (g_cu / (d.compute_area_mm2
                                                                        * b.lane))
                    power = (g_bw / d.bw_power_w) / (g_cu / d.compute_power_w)
                # No exchange rate where compute buys nothing (decode) or bandwidth nothing.
                ok = (g_cu > 1e-12) & (g_bw > 1e-12)
                area, power = np.where(ok, area, np.nan), np.where(ok, power, np.nan)
                per[(m, tier, ph)] = dict(
                    area=area, power=power, e_bw=-g_bw / np.log(STEP),
                    e_compute=-g_cu / np.log(STEP), latency_s=base[ph],
                    g_bw=g_bw / (d.bw_area_mm2 * b.phy), g_cu=g_cu / (d.compute_area_mm2
                                                                     * b.lane))
    out: dict[str, Any] = {"per": per}
    for ph in PHASES:
        for k in ("area", "power"):
            logs = [np.log(v[k]) for (m, t, q), v in per.items() if q == ph]
            with np.errstate(invalid="ignore"):
                out[(k, ph)] = np.exp(np.mean(logs, axis=0))
        for k in ("g_bw", "g_cu"):
            out[(k, ph)] = np.mean([v[k] for (m, t, q), v in per.items() if q == ph], axis=0)
    return out


def iso_lines(b: Bench, chip: str, d: Deltas, model: str, tier: str) -> dict[str, np.ndarray]:
    """Frame latency per draw along the iso-area and iso-power lines: the DRAM bus scaled by
    each of :data:`BUS_SCALES`, compute re-sized to keep area (power) as it is. Area and power
    are linear in each resource here: the +25 % steps give their slopes."""
    p = precision_paths(b.chips[chip][0])[tier]
    out = {}
    slope_a = (d.bw_area_mm2 * b.phy) / (d.compute_area_mm2 * b.lane)
    slope_p = np.full(b.n, d.bw_power_w / d.compute_power_w)
    for line, slope in (("area", slope_a), ("power", slope_p)):
        for k in BUS_SCALES:
            if k == 1.0:
                out[(line, k)] = b.frame(chip, model, p)["frame"]
                continue
            s = 1.0 - (k - 1.0) * slope
            ok = s > 0.05  # a draw whose compute would vanish has no point on the line
            if not ok.any() or k > bus_cap(b.chips[chip][0]) + 1e-9:
                out[(line, k)] = np.full(b.n, np.nan)
                continue
            kws = [dict(dram_bandwidth_scale=k, compute_scale=float(x) if good else 1.0)
                   for x, good in zip(s, ok)]
            label = b.variant(f"{chip}-iso-{line}-{k:g}", chip, kws)
            out[(line, k)] = np.where(ok, b.frame(label, model, p)["frame"], np.nan)
    return out


def bus_cap(chip) -> float:
    """The largest DRAM bandwidth scale of ``chip`` (:data:`MAX_DRAM_BYTES_PER_S`)."""
    return max(1.0, MAX_DRAM_BYTES_PER_S / chip.dram.bandwidth_bytes_per_s)


def sram_use(b: Bench, chip: str, d: Deltas, model: str, batch: int, context: int
             ) -> dict[str, Any]:
    """Prefill and decode speed-ups per draw from :data:`SRAM_MIB` as KV SRAM, as weight
    SRAM, and from its area spent on DRAM bus (up to :func:`bus_cap`)."""
    c0 = b.chips[chip][0]
    p = precision_paths(c0)["4-bit"]
    kv = b.variant(f"{chip}+kv", chip, dict(kv_sram_bytes=SRAM_MIB * 2**20))
    w = b.variant(f"{chip}+wsram", chip, dict(weight_sram_bytes=SRAM_MIB * 2**20))
    scales = np.minimum(1.0 + (STEP - 1.0) * d.sram_area_mm2 / (d.bw_area_mm2 * b.phy),
                        bus_cap(c0))
    bus = b.variant(f"{chip}+bus", chip, [dict(dram_bandwidth_scale=float(x)) for x in scales])
    base = b.request(chip, model, p, batch, context)
    out: dict[str, Any] = {"bus_scale": scales}
    for use, label in (("kv", kv), ("weights", w), ("bus", bus)):
        r = b.request(label, model, p, batch, context)
        out[use] = {ph: base[ph] / r[ph] for ph in SRAM_PHASES}
    return out


def _kv_store_bytes(arch, batch: int, tokens: int, bytes_per_element: float) -> float:
    """What a KV SRAM would hold: the KV cache of ``batch`` sequences of ``tokens`` and, for
    a hybrid, its recurrent state (placed like the KV cache)."""
    state = arch.recurrent_state_bytes() if arch.is_hybrid else 0.0
    return batch * (arch.kv_cache_bytes(tokens, bytes_per_element) + state)


def _geo(xs) -> np.ndarray:
    return np.exp(np.mean([np.log(x) for x in xs], axis=0))


def _pct(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return (float(np.percentile(x, 5)), float(np.percentile(x, 95))) if x.size else \
        (float("nan"), float("nan"))


def _curves(u: Uncertain, quick: bool) -> pd.DataFrame:
    """Nominal sizing curves on :data:`CURVE_CHIP`: decode speed-up against SRAM capacity for
    each use, context and model."""
    chip = u.chips[CURVE_CHIP]
    d = _deltas(chip)
    p = precision_paths(chip)["4-bit"]
    rows = []
    base_cache: dict = {}
    for m in CURVE_MODELS:
        arch = api.load_model(m)
        for ctx in (CURVE_CONTEXTS_QUICK if quick else CURVE_CONTEXTS):
            kv_mib = _kv_store_bytes(arch, 1, ctx + GENERATE, p.kv.bytes_per_element) / 2**20
            key = (m, ctx)
            if key not in base_cache:
                base_cache[key] = api.estimate(chip, arch, p, 1, ctx,
                                               GENERATE).decode_s_per_token
            base = base_cache[key]
            for mib in (CURVE_MIB_QUICK if quick else CURVE_MIB):
                area = d.sram_area_mm2 * mib / SRAM_MIB
                uses = {
                    "kv": api.chip_variant(chip, kv_sram_bytes=mib * 2**20),
                    "weights": api.chip_variant(chip, weight_sram_bytes=mib * 2**20),
                    "bus": api.chip_variant(chip, dram_bandwidth_scale=min(
                        1.0 + (STEP - 1.0) * area / d.bw_area_mm2, bus_cap(chip))),
                }
                row = dict(chip=CURVE_CHIP, model=m, context=ctx, sram_mib=mib,
                           sram_area_mm2=area, kv_cache_mib=kv_mib)
                for use, c in uses.items():
                    row[f"speedup_{use}"] = base / api.estimate(
                        c, arch, p, 1, ctx, GENERATE).decode_s_per_token
                rows.append(row)
    return pd.DataFrame(rows)


def _exchange_figure(ex_rows: pd.DataFrame):
    """Left: the frame's exchange rates per chip (per mm^2 and per W); right: each phase's
    latency gain per 10 mm^2 of DRAM interface and of compute."""
    chips = list(dict.fromkeys(ex_rows.chip))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw=dict(width_ratios=(1, 1.6)))
    x = np.arange(len(chips))
    fr = ex_rows[ex_rows.phase == "frame"].set_index("chip").loc[chips]
    ax = axes[0]
    for i, (kind, lab) in enumerate((("area", "per mm^2"), ("power", "per W"))):
        mid = fr[f"{kind}_nominal"].to_numpy(float)
        lo, hi = fr[f"{kind}_p05"].to_numpy(float), fr[f"{kind}_p95"].to_numpy(float)
        ax.bar(x + (i - 0.5) * 0.38, mid, width=0.38, label=lab, capsize=3,
               yerr=[np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)], error_kw=dict(lw=0.8))
    ax.axhline(1.0, color="crimson", ls="--", lw=1.0, label="claim threshold (1)")
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels([SHORT.get(c, c) for c in chips], fontsize=8)
    ax.set_ylabel("frame-latency gain, DRAM interface / compute", fontsize=8)
    ax.set_title("exchange rate (nominal; whiskers 5-95 % of draws)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", lw=0.3, alpha=0.5, which="both")
    ax = axes[1]
    w = 0.8 / (2 * len(PHASES))
    colours = dict(zip(PHASES, ("black", "tab:green", "tab:purple", "tab:brown")))
    for i, ph in enumerate(PHASES):
        t = ex_rows[ex_rows.phase == ph].set_index("chip").loc[chips]
        for j, (col, hatch) in enumerate((("bw", None), ("compute", "//"))):
            k = 2 * i + j
            mid = t[f"gain_{col}_pct_per_10mm2"].to_numpy(float)
            lo = t[f"gain_{col}_pct_per_10mm2_p05"].to_numpy(float)
            hi = t[f"gain_{col}_pct_per_10mm2_p95"].to_numpy(float)
            ax.bar(x + (k - len(PHASES) + 0.5) * w, mid, width=w, color=colours[ph],
                   alpha=0.8 if col == "bw" else 0.35, hatch=hatch, edgecolor=colours[ph],
                   yerr=[np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)],
                   error_kw=dict(lw=0.6), capsize=1.5)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([SHORT.get(c, c) for c in chips], fontsize=8)
    ax.set_ylabel("latency gain (%) per 10 mm^2", fontsize=8)
    ax.set_title("by phase: solid = DRAM interface, hatched = compute", fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[p], alpha=0.8, label=p)
               for p in PHASES]
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    ax.grid(True, axis="y", lw=0.3, alpha=0.5)
    fig.suptitle(f"{TRACE}: what a mm^2 / W of DRAM interface buys against compute "
                 "(mean over models and precisions)", fontsize=9)
    fig.tight_layout()
    return fig


def _iso_figure(iso: pd.DataFrame):
    chips = list(dict.fromkeys(iso.chip))
    fig, axes = plt.subplots(1, len(chips), figsize=(3.0 * len(chips) + 1, 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, chip in zip(axes, chips):
        for line, style in (("area", "-"), ("power", "--")):
            t = iso[(iso.chip == chip) & (iso.line == line)].sort_values("bus_scale")
            ax.plot(t.bus_scale, t.rel_nominal, style, marker="o", ms=3, color="tab:blue"
                    if line == "area" else "tab:orange", label=f"iso-{line}")
            ax.fill_between(t.bus_scale, t.rel_p05, t.rel_p95, alpha=0.15,
                            color="tab:blue" if line == "area" else "tab:orange")
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xticks(BUS_SCALES)
        ax.set_xticklabels([f"{k:g}" for k in BUS_SCALES], fontsize=7)
        ax.set_xlabel("DRAM bus width (x preset)", fontsize=8)
        ax.set_title(SHORT.get(chip, chip), fontsize=9)
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[0].set_ylabel("frame latency / preset's", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{TRACE}, {VLA_MODEL} 8-bit: compute re-sized to hold die area (solid) or "
                 "peak power (dashed); bands 5-95 % of draws", fontsize=9)
    fig.tight_layout()
    return fig


def _kv_figure(curves: pd.DataFrame):
    models = list(dict.fromkeys(curves.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.0 * len(models), 3.8), sharey=False)
    axes = np.atleast_1d(axes)
    ctxs = sorted(curves.context.unique())
    colours = dict(zip(ctxs, plt.cm.viridis(np.linspace(0.0, 0.85, len(ctxs)))))
    styles = {"kv": ("-", "KV SRAM"), "bus": ("--", "DRAM bus of <= its area (546 GB/s cap)"),
              "weights": (":", "weight SRAM")}
    for ax, m in zip(axes, models):
        for ctx in ctxs:
            t = curves[(curves.model == m) & (curves.context == ctx)].sort_values("sram_mib")
            for use, (ls, _) in styles.items():
                ax.plot(t.sram_mib, t[f"speedup_{use}"], ls, color=colours[ctx], lw=1.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("added SRAM (MiB)", fontsize=8)
        ax.set_title(m, fontsize=9)
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[0].set_ylabel("decode speed-up (64 tokens, batch 1)", fontsize=8)
    handles = [plt.Line2D([], [], color=colours[c], lw=2, label=f"{c // 1024}k context")
               for c in ctxs]
    handles += [plt.Line2D([], [], color="grey", ls=ls, label=lab)
                for ls, lab in styles.values()]
    fig.suptitle(f"{SHORT[CURVE_CHIP]}, 4-bit weights, FP16 KV cache: SRAM as KV cache, as "
                 "resident weights, or at most its area as DRAM bus", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(0.86, 0.5))
    return fig


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    chips = CHIPS_QUICK if quick else CHIPS
    models = FRAME_MODELS_QUICK if quick else FRAME_MODELS
    tiers = TIERS[:1] if quick else TIERS
    kv_chips = KV_CHIPS_QUICK if quick else KV_CHIPS
    n = samples_for(quick)
    u = Uncertain(sorted(set(chips) | set(kv_chips) | {CURVE_CHIP}), n, seed)
    rng = np.random.default_rng([seed, 7302])
    phy, lane = _log_uniform(rng, PHY_AREA_FACTOR, n), _log_uniform(rng, LANE_AREA_FACTOR, n)
    draws = Bench.of_draws(u, phy, lane)
    nominal = Bench.single(u, u.chips, u.ones)
    deltas = {c: _deltas(u.chips[c]) for c in u.chips}

    verdicts: list[Verdict] = []
    ex_rows, detail_rows, iso_rows = [], [], []
    for chip in chips:
        d = deltas[chip]
        ex_n, ex_d = exchange(nominal, chip, d, models, tiers), exchange(draws, chip, d, models,
                                                                          tiers)
        for ph in PHASES:
            row = dict(chip=chip, phase=ph, bw_area_mm2=d.bw_area_mm2,
                       compute_area_mm2=d.compute_area_mm2, bw_power_w=d.bw_power_w,
                       compute_power_w=d.compute_power_w, area_mm2=d.area_mm2,
                       peak_power_w=d.power_w)
            for k in ("area", "power"):
                row[f"{k}_nominal"] = float(ex_n[(k, ph)][0])
                row[f"{k}_p05"], row[f"{k}_p95"] = _pct(ex_d[(k, ph)])
            # latency gain (%) per 10 mm^2 of each resource, mean over models and precisions
            for k, col in (("g_bw", "bw"), ("g_cu", "compute")):
                row[f"gain_{col}_pct_per_10mm2"] = 1e3 * float(ex_n[(k, ph)][0])
                lo, hi = _pct(ex_d[(k, ph)])
                row[f"gain_{col}_pct_per_10mm2_p05"] = 1e3 * lo
                row[f"gain_{col}_pct_per_10mm2_p95"] = 1e3 * hi
            ex_rows.append(row)
        for (m, tier, ph), v in ex_n["per"].items():
            dv = ex_d["per"][(m, tier, ph)]
            detail_rows.append(dict(
                chip=chip, model=m, precision=tier, phase=ph,
                latency_ms=float(v["latency_s"][0]) * 1e3, e_bandwidth=float(v["e_bw"][0]),
                e_compute=float(v["e_compute"][0]), area_rate=float(v["area"][0]),
                area_rate_p05=_pct(dv["area"])[0], area_rate_p95=_pct(dv["area"])[1],
                power_rate=float(v["power"][0]), power_rate_p05=_pct(dv["power"])[0],
                power_rate_p95=_pct(dv["power"])[1]))
        verdicts.append(Verdict(BW_AREA, float(ex_n[("area", "frame")][0]),
                                ex_d[("area", "frame")], scope=f"{SHORT[chip]}, frame"))
        verdicts.append(Verdict(BW_POWER, float(ex_n[("power", "frame")][0]),
                                ex_d[("power", "frame")], scope=f"{SHORT[chip]}, frame"))
        iso_n = iso_lines(nominal, chip, d, VLA_MODEL, "8-bit")
        iso_d = iso_lines(draws, chip, d, VLA_MODEL, "8-bit")
        for line in ("area", "power"):
            ref_n, ref_d = iso_n[(line, 1.0)], iso_d[(line, 1.0)]
            stack = np.stack([iso_d[(line, k)] / ref_d for k in BUS_SCALES])
            best = np.asarray(BUS_SCALES)[np.nanargmin(np.where(np.isfinite(stack), stack,
                                                                np.inf), axis=0)]
            for i, k in enumerate(BUS_SCALES):
                lo, hi = _pct(stack[i])
                iso_rows.append(dict(chip=chip, line=line, bus_scale=k,
                                     rel_nominal=float(iso_n[(line, k)][0] / ref_n[0]),
                                     rel_p05=lo, rel_p95=hi,
                                     share_best=float(np.mean(best == k))))
    ex_t, detail, iso = pd.DataFrame(ex_rows), pd.DataFrame(detail_rows), pd.DataFrame(iso_rows)

    kv_rows = []
    for att, m in KV_MODELS.items():
        arch = api.load_model(m)
        for ctx in CONTEXTS:
            for batch in BATCHES:
                per_n, per_d = [], []
                for chip in kv_chips:
                    sn = sram_use(nominal, chip, deltas[chip], m, batch, ctx)
                    sd = sram_use(draws, chip, deltas[chip], m, batch, ctx)
                    per_n.append(sn)
                    per_d.append(sd)
                    for ph in SRAM_PHASES:
                        kvw, kvb = sd["kv"][ph] / sd["weights"][ph], sd["kv"][ph] / sd["bus"][ph]
                        kv_rows.append(dict(
                            chip=chip, attention=att, model=m, context=ctx, batch=batch,
                            phase=ph, kv_cache_mib=_kv_store_bytes(arch, batch, ctx + GENERATE,
                                                                   2.0) / 2**20,
                            speedup_kv=float(sn["kv"][ph][0]),
                            speedup_weights=float(sn["weights"][ph][0]),
                            speedup_bus=float(sn["bus"][ph][0]),
                            bus_scale=float(sn["bus_scale"][0]),
                            kv_vs_weights_p05=_pct(kvw)[0], kv_vs_weights_p95=_pct(kvw)[1],
                            kv_vs_bus_p05=_pct(kvb)[0], kv_vs_bus_p95=_pct(kvb)[1]))
                if batch != BATCHES[0]:
                    continue  # verdicts at batch 1 (the driving loop); batch 4 in the table
                for ph in VERDICT_PHASES:
                    scope = f"{att} {m}, {ctx // 1024}k context, {ph}"
                    for cl, alt in ((KV_W, "weights"), (KV_BUS, "bus")):
                        verdicts.append(Verdict(
                            cl, float(_geo([x["kv"][ph] / x[alt][ph] for x in per_n])[0]),
                            _geo([x["kv"][ph] / x[alt][ph] for x in per_d]), scope=scope))
    kv_t = pd.DataFrame(kv_rows)
    curves = _curves(u, quick)

    # Tornado: the bandwidth-per-area verdict nearest to undetermined, on its own metric.
    area_v = [v for v in verdicts if v.claim is BW_AREA]
    pivot = min(area_v, key=lambda v: abs(v.share_holding - 0.5))
    pivot_chip = next(c for c in chips if SHORT[c] == pivot.scope.split(",")[0])

    # Over the pivot chip's own numbers only (the other chips do not enter its metric).
    tu = Uncertain([pivot_chip], 1, seed)

    def metric(cs, f, phy_f=1.0, lane_f=1.0):
        b = Bench.single(tu, cs, f, phy_f, lane_f)
        return float(exchange(b, pivot_chip, deltas[pivot_chip], models,
                              tiers)[("area", "frame")][0])

    torn = tu.tornado(metric, top=None)
    base_val = metric(tu.chips, tu.ones)
    extra = []
    for label, rng_f, arg in (("study: LPDDR5X PHY area per x16 channel (x0.5-x2)",
                               PHY_AREA_FACTOR, "phy_f"),
                              ("study: compute-lane area (x0.7-x1.4)", LANE_AREA_FACTOR,
                               "lane_f")):
        ends = [metric(tu.chips, tu.ones, **{arg: x}) for x in rng_f]
        extra.append(dict(number=label, low=rng_f[0], high=rng_f[1], nominal=1.0,
                          metric_low=ends[0], metric_high=ends[1], kind="assumption",
                          base=base_val, swing=abs(ends[1] - ends[0])))
    torn = pd.concat([torn, pd.DataFrame(extra)], ignore_index=True) \
        .sort_values("swing", ascending=False).reset_index(drop=True).head(12)
    pivot.swing = ", ".join(torn.number.head(2))
    fig_t = tornado_figure(torn, f"{BW_AREA.metric} ({SHORT[pivot_chip]}, frame)",
                           BW_AREA.threshold, title=f"what swings the exchange rate on "
                           f"{SHORT[pivot_chip]}")

    # Answer, in numbers.
    fr = ex_t[ex_t.phase == "frame"].set_index("chip")
    best_area = iso[iso.line == "area"].loc[
        lambda t: t.groupby("chip").rel_nominal.transform("min") == t.rel_nominal]
    ph_t = ex_t.set_index(["phase", "chip"])

    def by_phase(ph: str) -> str:
        t = ph_t.loc[ph]
        return (f"{ph} {span(t.gain_bw_pct_per_10mm2, '.1f')} vs "
                f"{span(t.gain_compute_pct_per_10mm2, '.1f')}")

    def sram_text(cl, alt: str) -> str:
        vs = [v for v in verdicts if v.claim is cl]
        words = pd.Series([v.word for v in vs]).value_counts()
        parts = []
        for ph in SRAM_PHASES:
            t = kv_t[(kv_t.phase == ph) & (kv_t.batch == BATCHES[0])]
            parts.append(f"{ph} {span(t.speedup_kv / t[f'speedup_{alt}'], '.3f')}")
        return (f"{', '.join(parts)} (nominal, per chip and point); "
                + ", ".join(f"{k} in {n}/{len(vs)}" for k, n in words.items()))

    kv1 = kv_t[kv_t.batch == BATCHES[0]]
    bus_share = [(r.bus_scale - 1.0) / (STEP - 1.0) * deltas[r.chip].bw_area_mm2
                 / deltas[r.chip].sram_area_mm2 for r in kv1.drop_duplicates("chip").itertuples()]
    answer = (
        "Per mm^2 of die, a DRAM interface buys "
        + "; ".join(f"{SHORT[c]} {fr.loc[c, 'area_nominal']:.2f}x "
                    f"({fr.loc[c, 'area_p05']:.2f}-{fr.loc[c, 'area_p95']:.2f})"
                    for c in chips)
        + " the frame-latency gain of compute (+25 % bandwidth costs "
        + span([deltas[c].bw_area_mm2 for c in chips], ".1f") + " mm^2, +25 % compute "
        + span([deltas[c].compute_area_mm2 for c in chips], ".1f") + " mm^2); per W of peak "
        "power "
        + "; ".join(f"{SHORT[c]} {fr.loc[c, 'power_nominal']:.2f}x "
                    f"({fr.loc[c, 'power_p05']:.2f}-{fr.loc[c, 'power_p95']:.2f})"
                    for c in chips)
        + ". Latency gain in % per 10 mm^2, DRAM interface vs compute: "
        + "; ".join(by_phase(ph) for ph in PHASES)
        + ". On the iso-area line the fastest bus is "
        + ", ".join(f"{SHORT[r.chip]} x{r.bus_scale:g} ({r.rel_nominal:.2f} of the preset's "
                    f"frame latency; fastest in {r.share_best:.0%} of draws)"
                    for r in best_area.itertuples())
        + f". {SRAM_MIB} MiB as KV SRAM over as weight SRAM: " + sram_text(KV_W, "weights")
        + f"; over its die area ({span([deltas[c].sram_area_mm2 for c in kv_chips], '.0f')} "
        f"mm^2) as DRAM bus (x{span(kv1.bus_scale, '.2f')} bandwidth, capped at "
        f"{MAX_DRAM_BYTES_PER_S / 1e9:.0f} GB/s, so the bus uses "
        f"{span(bus_share, '.0%')} of the SRAM's area, and adds peak power): "
        + sram_text(KV_BUS, "bus")
        + f". KV cache at these points {span(kv1.kv_cache_mib, '.0f')} MiB; on "
        f"{SHORT[CURVE_CHIP]} the sizing curves (kv_sram_curves.csv) reach a decode speed-up "
        f"of {curves.speedup_kv.max():.2f}x from KV SRAM, {curves.speedup_weights.max():.2f}x "
        f"from weight SRAM and {curves.speedup_bus.max():.2f}x from the bus (the cap). Where "
        "the KV cache and the weights both exceed the SRAM the two SRAM uses tie by "
        "construction (a byte saves a byte per step; prefill KV re-reads are not modelled). "
        f"The iso-power optima sit at the grid's edge (x{BUS_SCALES[-1]:g}). Not counted: chip "
        "cost (LPDDR packages, pins), DRAM controller and NoC area beside the PHY.")
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {', '.join(chips)} (presets, family efficiencies); KV-SRAM points on "
               f"{', '.join(kv_chips)}",
               f"frame: {TRACE} with {', '.join(models)}; precisions "
               + ", ".join(tiers) + " (each chip's native path, as in mach100-vs-thor)",
               f"exchange rates: forward steps of x{STEP:g} in DRAM bandwidth and in compute; "
               "area from the chipdse area model, peak power from the power model (nominal "
               "energies)",
               f"iso lines: DRAM bus x{', x'.join(f'{k:g}' for k in BUS_SCALES)} with compute "
               "re-sized to the preset's area or peak power",
               f"SRAM use: +{SRAM_MIB} MiB (assumption) as KV SRAM, weight SRAM or at most its "
               "area of "
               f"DRAM bus; {', '.join(f'{a} {m}' for a, m in KV_MODELS.items())}, 4-bit "
               f"weights, FP16 KV, contexts {', '.join(str(c) for c in CONTEXTS)}, batch "
               f"{', '.join(str(b) for b in BATCHES)}, {GENERATE} decoded tokens",
               f"uncertainty: {n} seeded joint draws (seed {seed}) of the chips' ranged numbers "
               "and prediction error, and of the study's PHY-area (x0.5-x2) and compute-lane "
               "area (x0.7-x1.4) factors, log-uniform"],
        answer=answer, supports=None, table=ex_t, verdicts=verdicts, tornado=torn,
        extra_tables={"exchange_detail.csv": detail, "iso_lines.csv": iso,
                      "sram_use.csv": kv_t, "kv_sram_curves.csv": curves},
        figures={"exchange.png": _exchange_figure(ex_t), "iso_lines.png": _iso_figure(iso),
                 "kv_sram.png": _kv_figure(curves), "tornado.png": fig_t},
        config={"chips": list(chips), "models": list(models), "tiers": list(tiers),
                "step": STEP, "kv_chips": list(kv_chips), "sram_mib": SRAM_MIB,
                "contexts": list(CONTEXTS), "batches": list(BATCHES), "draws": n,
                "phy_area_factor": list(PHY_AREA_FACTOR),
                "lane_area_factor": list(LANE_AREA_FACTOR)})
