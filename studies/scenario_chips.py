"""Scenario-optimised chips: for each latency scenario of the PLAS paper's Table 2, the
smallest chip of the parametric template on which some PLAS model reaches that scenario's
loss target within its budget, and whether one chip could serve all four.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 6; arXiv 2602.10377 and its press
coverage): there are no universal chips, only scenario-optimised ("algorithm-defined") chips.
Budgets (Table 2): embodied AI < 20 ms decode; autonomous driving < 100 ms total; smart home
< 500 ms total; private serving < 2 s total; each a batch-1 request of 1,024 prompt and 16
generated tokens in FP16 (``api.WORKLOADS``).

Per scenario (:data:`TARGETS`): a loss target, the PLAS-law loss of the model class the
scenario ships, and a fixed part of the die (CPU cluster and uncore, :data:`FIXED`): only a
driving chip carries the automotive uncore (I/O, ISP, safety island) that the area model
derives from the Thor and M100 dies; the others are labelled assumptions with ranges.

Search (vectorised, exhaustive over the study's chip space). The chip space is the template's
with its bounds extended through the study's own template settings (matrix units of 1,024
MACs, a quarter of the template's, so compute can go below one template unit; a 16-bit to
1,024-bit DRAM bus; 0.125 MiB SRAM up); clock (2.0 GHz, the template's top: clock costs power,
not area), node (5 nm, the M100's N5A, so that areas compare), phase mode (fixed: a lone
request only loses with a static split, and reconfiguration adds area) and KV SRAM (none, see
:data:`CHIP_OPTIONS`) are held. Per scenario the PLAS grid is cut to the target-meeting shapes
no other target-meeting shape undercuts in depth, width, KV heads and r (a smaller shape is
never slower), then to those fastest on some of a seeded sample of chips, grown until the
whole cut finds nothing faster on the chips that are smallest at some budget; every chip is
scored against them. Scoring is vectorised: the template builds every chip at once, and the
(shape, chip) pairs go through one ``problem.score`` per expert configuration. A scenario's
chip is the one with the smallest accelerator area (die less the fixed part; ties: peak power)
on which some shape meets target and budget; the universal chip is the smallest meeting all
four. A chip at the floor of the extended space in every sized variable is flagged: its budget
is met by the smallest chip the template builds, so its area is an upper bound of the need.

Verdict (claim ``no-universal-chip``): the universal chip's over-size, max over scenarios of
its area / that scenario's own chip's area, on accelerator area and on die area (a universal
die carries the largest fixed part of the scenarios it serves; a chip used in another
scenario carries the larger of the two); the claim holds where it exceeds
:data:`UNIVERSAL_AREA_TOLERANCE`. Evaluated on every seeded draw of the template family's
ranged terms and prediction error (``chipdse.uncertainty.draw_family``, as
``chipdse.search.robustness`` draws a co-design problem) and of the fixed-part assumptions
(uniform in their ranges): on each draw every scenario's chip and the universal chip are
re-sized among candidates (per 1 % bin of accelerator area the fastest chip, within 1 % of the
nominal area-latency front, with latency 0.33-1.8x the budgets, per scenario and for all four
at once). The tests check this re-sizing against a search over every chip on two draws.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path
from statistics import NormalDist

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from chipdse.uncertainty import draw_family, family_numbers
from studies.base import StudyResult, Verdict, claim, samples_for, span, tornado_figure

NAME = "scenario-chips"
ORDER = 8  # reading order in `chipdse study list`
QUESTION = ("For each PLAS scenario (embodied AI < 20 ms decode, driving < 100 ms, smart home "
            "< 500 ms, private serving < 2 s), with the model class it ships and the CPU and "
            "uncore it needs, how small is the smallest chip and model that meet it, and could "
            "one chip serve all four within 1.25x of each scenario's own chip?")
SOURCE = "docs/reference/plas.md Sec. 6, conclusion 6; arXiv 2602.10377"
UNIVERSAL_AREA_TOLERANCE = 1.25  # a chip within 25 % of a scenario's own area counts as fit
NO_UNIVERSAL = claim("no-universal-chip", "there are no universal chips, only "
                     "scenario-optimised chips", "universal chip area / scenario chip area "
                     "(max over scenarios)", UNIVERSAL_AREA_TOLERANCE, ">=", SOURCE)
SCENARIOS = tuple(api.WORKLOADS)
# Loss target per scenario: the PLAS-law loss of the model class it ships.
TARGETS = {
    "embodied": ("qwen2.5-0.5b", "assumption: a sub-1B language backbone, as small VLAs ship "
                 "(SmolVLA, arXiv 2506.01844: a 0.45B VLM); range of classes: 0.5-1B"),
    "driving": ("qwen2.5-0.5b", "source: the paper's driving baseline, Qwen2.5-0.5B "
                "(arXiv 2602.10377 Sec. 5; docs/reference/plas.md Sec. 5)"),
    "smart-home": ("qwen3-1.7b", "assumption: an on-device assistant of 1-2B parameters "
                   "(Gemini Nano-1 has 1.8B, arXiv 2312.11805)"),
    "serving": ("llama-3.2-3b", "assumption: a 3B-class model, the largest class inside the "
                "law's fitted range (d <= 3072; an 8B model's d = 4096 is outside it)"),
}
CORE = "a78ae"  # CPU clusters counted in Cortex-A78AE-class cores (1.4 mm^2 at N5)
# Fixed part per scenario: (CPU cores, low, high), (uncore share of the automotive uncore,
# low, high), basis. The automotive uncore and its range come from the published dies.
FIXED = {
    "driving": ((12, 12, 24), (1.0, None, None),
                "CPU: Orin's 12 A78AE to M100's 24 (microarch/presets/dies.yaml); uncore: the "
                "automotive residual of the Thor and M100 dies (microarch.area), range the two"),
    "embodied": ((8, 6, 12), (0.5, 0.25, 1.0),
                 "assumption: 6-12 A78AE as Jetson Orin Nano / NX / AGX (docs/reference/"
                 "chips.md Sec. 1); uncore 25-100 % of the automotive one (camera I/O and "
                 "safety kept, no automotive networking)"),
    "smart-home": ((4, 2, 8), (0.10, 0.05, 0.25),
                   "assumption: 2-8 cores; uncore 5-25 % of the automotive one (Wi-Fi, USB, "
                   "audio and display I/O only)"),
    "serving": ((16, 8, 24), (0.30, 0.15, 0.50),
                "assumption: 8-24 cores (DGX Spark has 20 Arm cores); uncore 15-50 % of the "
                "automotive one (PCIe, networking, no ISP or safety island)"),
}
# The study's template: matrix units of 1,024 INT8 MACs, a quarter of the template's 4,096,
# with a quarter of its vector / special-function lanes and SRAM ports and an 8 x 16 x 8 tile
# (the same per-MAC figures and area), so that compute can go below one template unit.
UNIT_SCALE = 4
# The study's chip space: the template's variables with bounds extended (units below one
# template unit, a 16-bit DRAM bus (one LPDDR5X x16 channel) up to 1,024 bits (Apple M2
# Ultra's LPDDR5 width, an assumption for an NPU), 0.125 MiB SRAM); quick mode a coarser
# grid with the same bounds. Held variables have one option. KV SRAM is held at none: at 1,040
# tokens a PLAS model's KV cache is a few MB and a few % of decode traffic (the memory-vs-tops
# study), and with 8 and 32 MiB options in the space no scenario chose one (a trial run).
CHIP_OPTIONS = {
    "matrix_units": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512),
    "clock_ghz": (2.0,),
    "dram_bus_bits": (16, 32, 64, 128, 192, 256, 384, 512, 768, 1024),
    "sram_mib": (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256),
    "kv_sram_mib": (0,),
    "native_moe": (False, True),
    "fused_nonlinear": (False, True),
    "phase_mode": ("fixed",),
    "node_nm": (5,),
}
CHIP_OPTIONS_QUICK = {**CHIP_OPTIONS,
                      "matrix_units": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
                      "dram_bus_bits": (16, 32, 64, 128, 256, 512, 1024),
                      "sram_mib": (0.125, 0.5, 2, 8, 32, 128, 256)}
SIZED = ("matrix_units", "dram_bus_bits", "sram_mib")  # a floor here may hide a smaller optimum
NA = 5  # the PLAS variables come first in the co-design space
REF_CHIPS = 128  # seeded sample of chips the shapes are cut on
NEAR_BEST = 1.03  # a shape within 3 % of the fastest on a sample chip is kept
LADDER = (0.33, 1.8)  # latency / budget range of the chips re-sized among under the draws
FRONT_SLACK = 0.01  # ... within 1 % of the nominal area-latency front
AREA_BIN = 0.01  # ... one per 1 % bin of accelerator area
SHAPE_SLACK = 1.05  # ... with the shapes within 5 % of the fastest on each chip
LADDER_SCALES = np.geomspace(0.3, 3.0, 25)  # budget scales of the ladder figure and the check
Z90 = NormalDist().inv_cdf(0.95)
_ROWS_PER_CALL = 150_000  # rows of one stacked score call (bounds its memory)
COLOURS = dict(zip(SCENARIOS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))


def _score(problem, X: np.ndarray, keys) -> dict[str, np.ndarray]:
    """``problem.score`` of ``X``, the columns ``keys`` only (the cost model costs each
    distinct expert routing shape once, however the designs mix)."""
    s = problem.score(X)
    return {k: np.asarray(s[k]) for k in keys}


def _grid(sizes) -> np.ndarray:
    return np.array(list(itertools.product(*map(range, sizes))), dtype=int)


class Space:
    """The co-design space: the PLAS grid, the chip grid and their scores."""

    def __init__(self, quick: bool):
        w, _ = api.WORKLOADS["driving"]
        base = api.CoDesignProblem(w, api.Budgets(), objectives=("loss", "area_mm2"))
        opts = CHIP_OPTIONS_QUICK if quick else CHIP_OPTIONS
        chip_space = tuple(dataclasses.replace(v, options=opts[v.name])
                           for v in base.variables[NA:])
        tpl = base.template
        self.template = dataclasses.replace(
            tpl, macs_per_unit=tpl.macs_per_unit // UNIT_SCALE,
            vector_lanes_per_unit=tpl.vector_lanes_per_unit // UNIT_SCALE,
            sfu_lanes_per_unit=tpl.sfu_lanes_per_unit // UNIT_SCALE,
            sram_bytes_per_clk_per_unit=tpl.sram_bytes_per_clk_per_unit / UNIT_SCALE,
            kv_bytes_per_clk_per_unit=tpl.kv_bytes_per_clk_per_unit / UNIT_SCALE,
            tiling=dataclasses.replace(tpl.tiling, n=tpl.tiling.n // UNIT_SCALE))
        self.problem = api.CoDesignProblem(w, api.Budgets(), objectives=("loss", "area_mm2"),
                                           chip_space=chip_space, template=self.template)
        # The same request as a PLAS problem on one template chip (fixed phase mode, as every
        # chip of the space): draws re-score pairs through it with a stack of drawn chips.
        first = {v.name: v.options[0] for v in chip_space}
        self.plas = api.PlasProblem(self.template.build_chip("study-template", **first), w,
                                    api.Budgets())
        self.template_options = {v.name: v.options for v in base.variables[NA:]}
        p = self.problem
        self.chip_vars = [v.name for v in p.variables[NA:]]
        self.chip_sizes = [v.size for v in p.variables[NA:]]
        arch = _grid([v.size for v in p.variables[:NA]])
        X = np.hstack([arch, np.zeros((len(arch), p.n_var - NA), int)])
        self.arch = arch[p.valid(X)]
        self.chips = _grid(self.chip_sizes)
        s = _score(self.plas, self.arch, ("loss", "n_kv_heads", "law_in_range"))
        self.loss, self.kv, self.in_range = s["loss"], s["n_kv_heads"], s["law_in_range"]
        c = p.score(np.hstack([np.zeros((len(self.chips), NA), int), self.chips]))
        self.accel = np.asarray(c["accel_area_mm2"], float)
        self.power = np.asarray(c["power_w"], float)
        self.chip_info = {k: np.asarray(c[k]) for k in ("int8_tops", "dram_gb_per_s",
                                                         *self.chip_vars)}
        # Area order with ties broken by peak power, then index: every selection uses it.
        self.order = np.lexsort((np.arange(len(self.chips)), self.power, self.accel))
        self.rank = np.empty(len(self.chips), int)
        self.rank[self.order] = np.arange(len(self.chips))

    def template_chip(self, c: int = 0):
        """Chip row ``c`` built as a :class:`Chip` (its family's prediction error)."""
        v = self.problem.values(np.hstack([np.zeros((1, NA), int), self.chips[c:c + 1]]))
        return self.problem.template.build_chip(**{k: v[k] for k in self.chip_vars})

    def pairs(self, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Index rows of (architecture row, chip row) pairs."""
        return np.hstack([self.arch[a], self.chips[c]])

    def table(self, a: np.ndarray, c: np.ndarray, terms: dict | None = None
              ) -> dict[str, np.ndarray]:
        """prefill_s, decode_s and memory fit of every pair of architectures ``a`` x chips
        ``c`` (arrays of shape (len(c), len(a))), the family's terms at ``terms``."""
        a, c = np.asarray(a, int), np.asarray(c, int)
        rows = np.column_stack([np.repeat(np.arange(len(c)), len(a)), np.tile(a, len(c))])
        t = _rescore(self, rows, c, [terms or {}])
        return {k: v[0].reshape(len(c), len(a)) for k, v in t.items()}

    def on_bounds(self, c: int) -> tuple[list[str], list[str]]:
        """(variables of chip ``c`` at the lower bound of the study's space, at its upper)."""
        lo, hi = [], []
        for j, name in enumerate(self.chip_vars):
            if self.chip_sizes[j] == 1 or name not in SIZED:
                continue
            k = self.chips[c, j]
            (lo if k == 0 else hi if k == self.chip_sizes[j] - 1 else []).append(name)
        return lo, hi


def _latency(t: dict, metric: str) -> np.ndarray:
    return t["decode_s"] if metric == "decode" else t["prefill_s"] + t["decode_s"]


def _minimal_shapes(sp: Space, target: float) -> np.ndarray:
    """Target-meeting architectures no other target-meeting one undercuts in depth, width, KV
    heads and FFN ratio within its expert configuration (a smaller shape is never slower and
    never needs more memory)."""
    ok = np.flatnonzero(sp.loss <= target)
    if not ok.size:
        return ok
    # Loss falls with r: per (experts, depth, width, KV heads) only the smallest r that meets
    # the target can be minimal.
    f = pd.DataFrame({"i": ok, "e": sp.arch[ok, 2], "l": sp.arch[ok, 0], "d": sp.arch[ok, 1],
                      "kv": sp.kv[ok], "r": sp.arch[ok, 4]})
    f = f.loc[f.groupby(["e", "l", "d", "kv"]).r.idxmin()]
    keep = []
    for _, g in f.groupby("e"):
        x = g[["l", "d", "kv", "r"]].to_numpy(float)
        le = np.all(x[None, :, :] <= x[:, None, :], axis=2)
        lt = np.any(x[None, :, :] < x[:, None, :], axis=2)
        keep.append(g.i.to_numpy()[~np.any(le & lt, axis=1)])
    return np.sort(np.concatenate(keep))


def _best(lat: np.ndarray, fits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per chip row: the lowest latency over the architectures that fit, and its column."""
    x = np.where(fits, lat, np.inf)
    j = np.argmin(x, axis=1)
    return x[np.arange(len(x)), j], j


def _select(sp: Space, ok: np.ndarray, depth: int = 1) -> np.ndarray:
    """The ``depth`` smallest chips (area, then peak power) among the rows ``ok``."""
    idx = np.flatnonzero(ok)
    return idx[np.argsort(sp.rank[idx], kind="stable")[:depth]]


class Scenario:
    """One scenario's target, shape set, and each chip's fastest target-meeting latency."""

    def __init__(self, sp: Space, name: str, rng: np.random.Generator):
        self.name = name
        w, self.budget_s = api.WORKLOADS[name]
        self.metric = w.metric
        self.model = TARGETS[name][0]
        ref = api.score_model(api.load_chip("li-m100"), api.load_model(self.model))
        self.target = float(ref["loss"])  # the loss depends on the model only
        self.target_in_range = bool(ref["law_in_range"])
        self.minimal = _minimal_shapes(sp, self.target)
        refs = rng.choice(len(sp.chips), min(REF_CHIPS, len(sp.chips)), replace=False)
        t = sp.table(self.minimal, refs)
        lat = np.where(t["fits"], _latency(t, self.metric), np.inf)
        best = lat.min(axis=1, keepdims=True)
        near = np.isfinite(best) & (lat <= best * NEAR_BEST)
        self.shapes = self.minimal[np.flatnonzero(near.any(axis=0))]


def _fastest(sp: Space, scen: list[Scenario], cols: np.ndarray, t: dict):
    """Per scenario: fastest target-meeting latency of every chip and its architecture."""
    out = {}
    for s in scen:
        m = np.isin(cols, s.shapes)
        lat, j = _best(_latency(t, s.metric)[:, m], t["fits"][:, m])
        out[s.name] = (lat, cols[m][j])
    return out


def _nominal(sp: Space, scen: list[Scenario]) -> tuple[np.ndarray, dict, dict]:
    """Every chip against the union of the scenarios' shapes; each scenario's shapes grown
    until the whole minimal set finds nothing faster on its ladder chips."""
    all_chips = np.arange(len(sp.chips))
    cols = np.unique(np.concatenate([s.shapes for s in scen]))
    t = sp.table(cols, all_chips)
    for _ in range(4):
        fast = _fastest(sp, scen, cols, t)
        grown = False
        for s in scen:
            lat = fast[s.name][0]
            check = np.unique(np.concatenate([_select(sp, lat <= g * s.budget_s, 1)
                                              for g in LADDER_SCALES]))
            if not check.size:
                continue
            full = sp.table(s.minimal, check)
            lat_full = np.where(full["fits"], _latency(full, s.metric), np.inf)
            better = lat_full < lat[check][:, None] * (1 - 1e-9)
            add = s.minimal[np.flatnonzero(better.any(axis=0))]
            if add.size:
                s.shapes = np.union1d(s.shapes, add)
                grown = True
        if not grown:
            break
        new = np.setdiff1d(np.concatenate([s.shapes for s in scen]), cols)
        if new.size:
            tn = sp.table(new, all_chips)
            cols = np.concatenate([cols, new])
            t = {k: np.concatenate([t[k], tn[k]], axis=1) for k in t}
    return cols, t, _fastest(sp, scen, cols, t)


def _universal(sp: Space, scen: list[Scenario], fast: dict, scale: float = 1.0,
               depth: int = 1) -> np.ndarray:
    ok = np.ones(len(sp.chips), bool)
    for s in scen:
        ok &= fast[s.name][0] <= scale * s.budget_s
    return _select(sp, ok, depth)


def _front(sp: Space, lat: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The nominal area-latency front in bins of :data:`AREA_BIN` relative area: in each bin
    the fastest chip, kept when no smaller bin's is faster; with ``lat`` in [lo, hi]. A draw's
    smallest feasible chip then lies within one bin of a candidate's area, unless the draw
    reorders chips of different bins."""
    b = np.floor(np.log(sp.accel) / np.log1p(AREA_BIN)).astype(int)
    f = pd.DataFrame({"c": np.arange(len(lat)), "b": b, "lat": lat, "rank": sp.rank})
    f = f.sort_values(["b", "lat", "rank"]).drop_duplicates("b")
    x = f.lat.to_numpy()
    before = np.concatenate([[np.inf], np.minimum.accumulate(x)[:-1]])
    keep = (x < (1.0 + FRONT_SLACK) * before) & (x >= lo) & (x <= hi)
    return f.c.to_numpy()[keep]


def _candidates(sp: Space, scen: list[Scenario], fast: dict) -> np.ndarray:
    """Chips re-sized among under the draws: per scenario, and for all of them at once
    (latency as a share of each budget, the worst scenario), the chips within
    :data:`FRONT_SLACK` of the nominal area-latency front whose latency is within
    :data:`LADDER` of the budget."""
    c = [_front(sp, fast[s.name][0], LADDER[0] * s.budget_s, LADDER[1] * s.budget_s)
         for s in scen]
    worst = np.max(np.stack([fast[s.name][0] / s.budget_s for s in scen]), axis=0)
    c.append(_front(sp, worst, LADDER[0], LADDER[1]))
    # The nominal optima themselves (a bin's fastest chip need not be its smallest).
    c += [_select(sp, fast[s.name][0] <= s.budget_s) for s in scen]
    c.append(_select(sp, worst <= 1.0))
    return np.unique(np.concatenate(c))


def _fixed_area(core_mm2: float, cores, uncore) -> np.ndarray:
    return np.asarray(cores, float) * core_mm2 + np.asarray(uncore, float)


def _fixed_specs(template) -> dict[str, dict]:
    """Per scenario: nominal, low and high CPU cores and uncore (mm^2)."""
    auto = float(template.uncore_mm2)
    res = []
    for chip in ("drive-thor-u", "li-m100"):
        c = api.load_chip(chip)
        res.append(c.technology.die_area_mm2 - api.chip_area_mm2(c, uncore_mm2=0.0))
    out = {}
    for s, ((n, nlo, nhi), (u, ulo, uhi), basis) in FIXED.items():
        unc = (auto, min(res), max(res)) if ulo is None else (u * auto, ulo * auto, uhi * auto)
        out[s] = {"cores": (n, nlo, nhi), "uncore": unc, "basis": basis}
    return out


def _fixed_draws(specs: dict, n: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Uniform draws of every scenario's CPU cores and uncore in their stated ranges."""
    rng = np.random.default_rng(seed + 7919)  # a stream apart from the family draws
    return {s: {k: rng.uniform(v[k][1], v[k][2], n) for k in ("cores", "uncore")}
            for s, v in specs.items()}


def _metrics(sp: Space, scen: list[Scenario], feas: dict[str, np.ndarray], fixed: dict,
             cand: np.ndarray) -> dict[str, np.ndarray]:
    """Per draw (rows of ``feas``: draws x candidates): every scenario's chip and the universal
    chip among the candidates and the over-size on both area measures."""
    order = np.argsort(sp.rank[cand], kind="stable")
    cand_sorted = cand[order]
    n = next(iter(feas.values())).shape[0]

    def first(ok):
        ok = ok[:, order]
        hit = ok.any(axis=1)
        return np.where(hit, cand_sorted[np.argmax(ok, axis=1)], -1)

    own = {s.name: first(feas[s.name]) for s in scen}
    uni = first(np.all(np.stack([feas[s.name] for s in scen]), axis=0))
    area = lambda c: np.where(c >= 0, sp.accel[np.maximum(c, 0)], np.nan)  # noqa: E731
    f_all = np.stack([fixed[s.name] for s in scen])
    f_max = f_all.max(axis=0)
    a_ratio = np.stack([area(uni) / area(own[s.name]) for s in scen])
    d_ratio = np.stack([(area(uni) + f_max) / (area(own[s.name]) + fixed[s.name])
                        for s in scen])
    with np.errstate(invalid="ignore"):
        out = {"accelerator": np.max(a_ratio, axis=0), "die": np.max(d_ratio, axis=0)}
    out["universal"] = uni
    out.update({f"own:{k}": v for k, v in own.items()})
    out["n"] = np.full(n, n)
    return out


def _feasible(sp: Space, scen: list[Scenario], rows: np.ndarray, t: dict, cand: np.ndarray,
              factors=(1.0, 1.0)) -> dict[str, np.ndarray]:
    """Per scenario, draws x candidates: some shape meets target and budget (rows: the
    (candidate column, architecture) pairs re-scored, sorted by candidate; t: their times per
    draw)."""
    fp, fd = (np.asarray(f, float).reshape(-1, 1) for f in factors)
    pre, dec = t["prefill_s"] * fp, t["decode_s"] * fd
    starts = np.searchsorted(rows[:, 0], np.arange(len(cand)))
    has = np.bincount(rows[:, 0], minlength=len(cand)) > 0
    out = {}
    for s in scen:
        lat = dec if s.metric == "decode" else pre + dec
        ok = t["fits"] & (lat <= s.budget_s) & np.isin(rows[:, 1], s.shapes)[None, :]
        m = np.zeros((len(pre), len(cand)), bool)
        if has.any():
            m[:, has] = np.add.reduceat(ok.astype(int), starts[has], axis=1) > 0
        out[s.name] = m
    return out


def _draw_rows(sp: Space, scen: list[Scenario], cols: np.ndarray, t: dict,
               cand: np.ndarray) -> np.ndarray:
    """(candidate column, architecture row) pairs that could meet some scenario on a draw: its
    shapes within the latency window of its budget and within :data:`SHAPE_SLACK` of the
    chip's fastest one (sorted by candidate)."""
    pairs = []
    for s in scen:
        m = np.isin(cols, s.shapes)
        lat = np.where(t["fits"][cand][:, m], _latency({x: t[x][cand][:, m] for x in t},
                                                       s.metric), np.inf)
        best = lat.min(axis=1, keepdims=True)
        ok = (lat <= LADDER[1] * s.budget_s) & (lat <= SHAPE_SLACK * best)
        k, j = np.nonzero(ok)
        pairs.append(np.column_stack([k, cols[m][j]]))
    rows = np.unique(np.concatenate(pairs), axis=0)
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def _rescore(sp: Space, rows: np.ndarray, cand: np.ndarray, terms: list[dict]) -> dict:
    """Times of the pairs ``rows`` (candidate column, architecture row) for each family-term
    draw (draws x pairs). Every draw's candidate chips are built at once by the template
    (``arrays``) and mapped to the cost model's chip parameters; the pairs of all draws are
    then scored in one call per expert configuration, each row on its own drawn chip (a PLAS
    problem whose cost-model chip is that stack, as ``chipdse.search.robustness`` re-makes a
    problem per draw)."""
    vals = sp.problem.values(np.hstack([np.zeros((len(cand), NA), int), sp.chips[cand]]))
    design = {k: vals[k] for k in sp.chip_vars}
    n_t, n_c = len(terms), len(cand)
    cps = [api.ChipParams.from_figures(dataclasses.replace(
        sp.template, family_terms=tm or None).arrays(**design)["figures"]) for tm in terms]
    # Fields per (draw, candidate), flattened draw-major.
    stack = api.ChipParams.stack(cps).map(
        lambda a: np.broadcast_to(a.reshape(n_t, -1), (n_t, n_c)).reshape(-1)
        if a.ndim else a)
    out = {k: np.empty((n_t, len(rows))) for k in ("prefill_s", "decode_s", "g_memory")}
    for e in np.unique(sp.arch[rows[:, 1], 2]):
        cols = np.flatnonzero(sp.arch[rows[:, 1], 2] == e)
        step = max(1, _ROWS_PER_CALL // len(cols))
        for d0 in range(0, n_t, step):
            d1 = min(n_t, d0 + step)
            idx = (np.arange(d0, d1)[:, None] * n_c + rows[cols, 0][None, :]).reshape(-1)
            p = copy.copy(sp.plas)
            p._cp = stack.map(lambda a, idx=idx: a[idx] if a.ndim else a)
            sc = p.score(np.tile(sp.arch[rows[cols, 1]], (d1 - d0, 1)))
            for k in out:
                out[k][d0:d1, cols] = np.asarray(sc[k]).reshape(d1 - d0, len(cols))
    out["fits"] = out.pop("g_memory") <= 0
    return out


def _cross(sp: Space, scen: list[Scenario], chips: dict[str, int], coarse: bool) -> dict:
    """Best loss of every PLAS architecture on each given chip under each scenario's budget
    (the whole grid; every 2nd FFN ratio when ``coarse``)."""
    a = np.arange(len(sp.arch))
    if coarse:
        a = a[sp.arch[:, 4] % 2 == 0]
    names = list(chips)
    t = sp.table(a, np.array([chips[k] for k in names]))
    out = {}
    for i, name in enumerate(names):
        for s in scen:
            lat = _latency({k: v[i] for k, v in t.items()}, s.metric)
            ok = t["fits"][i] & (lat <= s.budget_s)
            j = a[ok][np.argmin(sp.loss[a][ok])] if ok.any() else -1
            out[(name, s.name)] = (float(sp.loss[j]) if j >= 0 else np.inf, int(j))
    return out


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    n = samples_for(quick)
    sp = Space(quick)
    rng = np.random.default_rng(seed)
    scen = [Scenario(sp, s, rng) for s in SCENARIOS]
    cols, t, fast = _nominal(sp, scen)
    own = {s.name: int(_select(sp, fast[s.name][0] <= s.budget_s)[0])
           if (fast[s.name][0] <= s.budget_s).any() else -1 for s in scen}
    uni_nom = _universal(sp, scen, fast)
    uni = int(uni_nom[0]) if uni_nom.size else -1
    specs = _fixed_specs(sp.problem.template)
    core_mm2 = _core_area(sp)
    fixed_nom = {s: float(_fixed_area(core_mm2, v["cores"][0], v["uncore"][0]))
                 for s, v in specs.items()}
    # Draws: the family's terms and prediction error, and the fixed-part assumptions.
    family = sp.problem.template.family
    terms, factors = draw_family(family, n, seed)
    fx = _fixed_draws(specs, n, seed)
    fixed_draw = {s: _fixed_area(core_mm2, fx[s]["cores"], fx[s]["uncore"]) for s in specs}
    cand = _candidates(sp, scen, fast)
    rows = _draw_rows(sp, scen, cols, t, cand)
    td = _rescore(sp, rows, cand, terms)
    feas = _feasible(sp, scen, rows, td, cand, (factors["prefill"], factors["decode"]))
    dm = _metrics(sp, scen, feas, fixed_draw, cand)
    tn = _rescore(sp, rows, cand, [{}])
    feas_nom = _feasible(sp, scen, rows, tn, cand)
    nm = _metrics(sp, scen, feas_nom, {s: np.array([v]) for s, v in fixed_nom.items()}, cand)
    verdicts = [Verdict(NO_UNIVERSAL, float(nm[m][0]), dm[m], f"{m} area")
                for m in ("accelerator", "die")]
    # How far the draws moved latencies: the candidates cover 1 / LADDER of them.
    fp, fd = factors["prefill"][:, None], factors["decode"][:, None]
    ratio = np.concatenate([((td["prefill_s"] * fp + td["decode_s"] * fd)
                             / (tn["prefill_s"] + tn["decode_s"])).ravel(),
                            (td["decode_s"] * fd / tn["decode_s"]).ravel()])
    window_ok = bool(ratio.min() >= 1 / LADDER[1] and ratio.max() <= 1 / LADDER[0])
    tor_all = _tornado(sp, scen, rows, cand, tn, family, specs, core_mm2, fixed_nom)
    head = min(verdicts, key=lambda v: (abs(v.share_holding - 0.5), v.scope != "die area"))
    tornado = tor_all[tor_all.scope == head.scope].drop(columns=["scope"]).reset_index(
        drop=True)
    moving = tornado[tornado.swing > 1e-12]
    head.swing = ", ".join(moving.number.head(2).str.replace("family:", ""))
    # Nominal own chips: reached by construction; a universal chip where one exists.
    chosen = {s.name: own[s.name] for s in scen}
    if uni >= 0:
        chosen["universal"] = uni
    cross = _cross(sp, scen, {k: v for k, v in chosen.items() if v >= 0}, quick)
    table = _chip_table(sp, scen, chosen, fast, cross, specs, fixed_nom, dm, cand, feas)
    cross_t = _cross_table(sp, scen, chosen, cross, fixed_nom, feas, cand)
    ladder = _ladder_table(sp, scen, fast)
    answer = _answer(sp, scen, table, cross_t, verdicts, tornado, specs, fixed_nom, dm, n,
                     quick)
    if not window_ok:
        answer += (f" Warning: a draw moved latencies by {ratio.min():.2f}-{ratio.max():.2f}x, "
                   "outside what the candidates cover: some re-sized chips may be too large.")
    opts = CHIP_OPTIONS_QUICK if quick else CHIP_OPTIONS
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=["scenarios (api.WORKLOADS, arXiv 2602.10377 Table 2): "
               + ", ".join(f"{s.name} < {s.budget_s * 1e3:g} ms {s.metric}" for s in scen)
               + "; batch 1, 1024 prompt + 16 generated tokens, FP16",
               "loss targets (PLAS law of the model class shipped): "
               + "; ".join(f"{s.name} {s.model} L* = {s.target:.3f} ({TARGETS[s.name][1]})"
                           for s in scen),
               "fixed part per scenario (CPU cores x 1.4 mm^2 at N5 + uncore): "
               + "; ".join(f"{s} {v['cores'][0]} cores ({v['cores'][1]}-{v['cores'][2]}) + "
                           f"{v['uncore'][0]:.0f} mm^2 ({v['uncore'][1]:.0f}-"
                           f"{v['uncore'][2]:.0f}): {v['basis']}" for s, v in specs.items()),
               "chip space (template variables, lower bounds extended): "
               + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in opts.items())
               + f" ({len(sp.chips)} chips); template defaults: "
               + "; ".join(f"{k} {min(v)}-{max(v)}" for k, v in sp.template_options.items()
                           if not isinstance(v[0], str) and len(v) > 2),
               f"model space: the PLAS grid ({len(sp.arch)} shapes); per scenario the "
               f"target-meeting shapes no smaller one undercuts, then those within "
               f"{NEAR_BEST - 1:.0%} of the fastest on {REF_CHIPS} seeded sample chips, grown "
               "until the whole cut finds nothing faster on the ladder chips",
               f"selection: smallest accelerator area (ties: peak power) meeting target and "
               f"budget; universal chip: smallest meeting all four; claim holds when its area is "
               f"> {UNIVERSAL_AREA_TOLERANCE:g}x some scenario's own (accelerator; die with the "
               "largest fixed part)",
               f"uncertainty: {n} draws (seed {seed}) of the {family} family's terms and "
               "prediction error (draw_family) and of the fixed-part ranges; chips re-sized "
               f"per draw among {len(cand)} candidates (within {FRONT_SLACK:.0%} of the nominal "
               f"area-latency fronts, latency {LADDER[0]:g}-{LADDER[1]:g}x the budgets)"],
        answer=answer, supports=None, table=table,
        figures={**_figures(sp, scen, table, cross_t, ladder, dm),
                 "tornado.png": tornado_figure(
                     moving if len(moving) else tornado, f"{NO_UNIVERSAL.metric} "
                     f"({head.scope})", NO_UNIVERSAL.threshold,
                     f"What swings the universal chip's over-size ({head.scope}); claim "
                     f"threshold {NO_UNIVERSAL.threshold:g}x dashed")},
        extra_tables={"cross_scenario.csv": cross_t, "ladder.csv": ladder,
                      "tornado_all.csv": tor_all,
                      "draws.csv": pd.DataFrame({"accelerator_oversize": dm["accelerator"],
                                                 "die_oversize": dm["die"],
                                                 **{f"accel_mm2_{s.name}": _area_or_nan(
                                                     sp, dm[f"own:{s.name}"]) for s in scen},
                                                 "accel_mm2_universal": _area_or_nan(
                                                     sp, dm["universal"])})},
        config={"draws": n, "targets": {s.name: [s.model, s.target] for s in scen},
                "fixed_mm2": fixed_nom, "area_tolerance": UNIVERSAL_AREA_TOLERANCE,
                "chip_options": {k: list(v) for k, v in opts.items()},
                "shapes": {s.name: [int(len(s.minimal)), int(len(s.shapes))] for s in scen},
                "candidates": int(len(cand)), "draw_pairs": int(len(rows)),
                "draw_latency_ratio": [float(ratio.min()), float(ratio.max())],
                "window_holds": window_ok,
                "draws_without_universal": int(np.sum(dm["universal"] < 0)),
                "draws_without_own": {s.name: int(np.sum(dm[f"own:{s.name}"] < 0))
                                      for s in scen},
                "tornado_metric": head.scope},
        verdicts=verdicts, tornado=tornado)


def _area_or_nan(sp: Space, c: np.ndarray) -> np.ndarray:
    return np.where(c >= 0, sp.accel[np.maximum(c, 0)], np.nan)


def _core_area(sp: Space) -> float:
    """Area of one CPU core of class :data:`CORE` at the space's node (mm^2)."""
    tpl = dataclasses.replace(sp.problem.template, cpu_cores={CORE: 1}, uncore_mm2=0.0)
    vals = sp.problem.values(np.hstack([np.zeros((1, NA), int), sp.chips[:1]]))
    area = tpl.arrays(**{k: vals[k] for k in sp.chip_vars})["area"]
    return float(np.asarray(area["cpu_mm2"]).reshape(-1)[0])


def _tornado(sp, scen, rows, cand, tn, family, specs, core_mm2, fixed_nom) -> pd.DataFrame:
    """Both over-size measures at each family term's low and high end, at the 5 / 95 %
    prediction error of each phase and at each fixed-part assumption's ends, the others as
    they are."""
    nums = family_numbers(family)
    ends = [{v.path.split(".", 1)[1]: x} for v in nums for x in (v.low, v.high)]
    td = _rescore(sp, rows, cand, ends)
    fixed1 = {s: np.array([v]) for s, v in fixed_nom.items()}
    out = []

    def both(t, factors=(1.0, 1.0), fixed=fixed1):
        m = _metrics(sp, scen, _feasible(sp, scen, rows, t, cand, factors), fixed, cand)
        return float(m["accelerator"][0]), float(m["die"][0])

    base = both(tn)
    one = lambda i: {k: v[i:i + 1] for k, v in td.items()}  # noqa: E731
    for j, v in enumerate(nums):
        lo, hi = both(one(2 * j)), both(one(2 * j + 1))
        out.append((v.path, v.low, v.high, v.nominal, lo, hi, "fitted" if v.fitted
                    else "assumption"))
    _, sig = api.prediction_error(sp.template_chip())
    for k, ph in enumerate(("prefill", "decode")):
        sg = float(sig.get(ph, 0.0))
        if sg <= 0:
            continue
        e = []
        for sgn in (-1.0, 1.0):
            f = [1.0, 1.0]
            f[k] = float(np.exp(sgn * Z90 * sg))
            e.append(both(tn, tuple(f)))
        out.append((f"prediction error ({family} transfer, {ph})", float(np.exp(-Z90 * sg)),
                    float(np.exp(Z90 * sg)), 1.0, e[0], e[1], "prediction error"))
    for s, v in specs.items():
        for what in ("cores", "uncore"):
            e = []
            for x in v[what][1:]:
                f = dict(fixed1)
                cores = x if what == "cores" else v["cores"][0]
                unc = x if what == "uncore" else v["uncore"][0]
                f[s] = np.array([_fixed_area(core_mm2, cores, unc)])
                e.append(both(tn, fixed=f))
            label = f"{s}: {'CPU cores' if what == 'cores' else 'uncore (mm^2)'}"
            out.append((label, v[what][1], v[what][2], v[what][0], e[0], e[1], "assumption"))
    rows_out = []
    for m, scope in ((0, "accelerator area"), (1, "die area")):
        for number, lo, hi, nom, e_lo, e_hi, kind in out:
            rows_out.append(dict(scope=scope, number=number, low=lo, high=hi, nominal=nom,
                                 metric_low=e_lo[m], metric_high=e_hi[m], kind=kind,
                                 base=base[m]))
    t = pd.DataFrame(rows_out)
    t["swing"] = (t.metric_high - t.metric_low).abs()
    return t.sort_values(["scope", "swing"], ascending=[True, False],
                         kind="stable").reset_index(drop=True)


def _chip_row(sp: Space, c: int) -> dict:
    info = {k: (v[c].item() if hasattr(v[c], "item") else v[c])
            for k, v in sp.chip_info.items()}
    lo, hi = sp.on_bounds(c)
    return {**info, "accel_area_mm2": sp.accel[c], "power_w": sp.power[c],
            "at_lower_bound": ", ".join(v for v in lo if v in SIZED),
            "at_upper_bound": ", ".join(hi),
            "at_floor": all(v in lo for v in SIZED)}


def _chip_table(sp, scen, chosen, fast, cross, specs, fixed_nom, dm, cand, feas):
    rows = []
    by = {s.name: s for s in scen}
    f_max = max(fixed_nom.values())
    for name, c in chosen.items():
        row = {"chip_of": name}
        if c < 0:
            rows.append(row)
            continue
        row.update(_chip_row(sp, c))
        if name in by:
            s = by[name]
            a = int(fast[name][1][c])
            row.update(budget_s=s.budget_s, metric=s.metric, target_model=s.model,
                       target_loss=s.target, target_in_range=s.target_in_range,
                       fixed_mm2=fixed_nom[name],
                       sizing_latency_s=float(fast[name][0][c]),
                       sizing_loss=float(sp.loss[a]),
                       **{f"sizing_{k}": v for k, v in _arch_row(sp, a).items()})
            draws = _area_or_nan(sp, dm[f"own:{name}"])
            row.update(accel_mm2_p05=np.nanpercentile(draws, 5),
                       accel_mm2_p95=np.nanpercentile(draws, 95),
                       own_found_share=float(np.mean(dm[f"own:{name}"] >= 0)))
            k = int(np.flatnonzero(cand == c)[0])
            row["meets_own_share"] = float(feas[name][:, k].mean())
        else:
            row.update(fixed_mm2=f_max)
            draws = _area_or_nan(sp, dm["universal"])
            row.update(accel_mm2_p05=np.nanpercentile(draws, 5),
                       accel_mm2_p95=np.nanpercentile(draws, 95))
        row["area_mm2"] = row["accel_area_mm2"] + row["fixed_mm2"]
        loss, j = cross[(name, name)] if name in by else (np.nan, -1)
        if j >= 0:
            row.update(best_loss=loss, law_in_range=bool(sp.in_range[j]),
                       **{f"best_{k}": v for k, v in _arch_row(sp, j).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _arch_row(sp: Space, a: int) -> dict:
    v = sp.problem.values(np.hstack([sp.arch[a:a + 1], sp.chips[:1]]))
    return {k: (v[k][0].item() if hasattr(v[k][0], "item") else v[k][0])
            for k in ("n_layers", "d_model", "experts", "kv_heads", "ffn_ratio")}


def _cross_table(sp, scen, chosen, cross, fixed_nom, feas, cand) -> pd.DataFrame:
    rows = []
    by = {s.name: s for s in scen}
    for a, ca in chosen.items():
        if ca < 0:
            continue
        k = int(np.flatnonzero(cand == ca)[0])
        fa = max(fixed_nom.values()) if a == "universal" else fixed_nom[a]
        for s in scen:
            cb = chosen[s.name]
            loss, _ = cross[(a, s.name)]
            # A chip serving scenario b carries b's CPU and uncore too (the larger part).
            die_a = sp.accel[ca] + max(fa, fixed_nom[s.name])
            rows.append(dict(
                chip_of=a, scenario=s.name, target_loss=by[s.name].target, best_loss=loss,
                model_in_budget=bool(np.isfinite(loss)),
                meets_target=bool(loss <= by[s.name].target),
                meets_target_share=float(feas[s.name][:, k].mean()),
                loss_gap=loss - by[s.name].target if np.isfinite(loss) else np.nan,
                accel_area_ratio=sp.accel[ca] / sp.accel[cb] if cb >= 0 else np.nan,
                die_area_ratio=die_a / (sp.accel[cb] + fixed_nom[s.name])
                if cb >= 0 else np.nan))
    return pd.DataFrame(rows)


def _ladder_table(sp: Space, scen: list[Scenario], fast: dict) -> pd.DataFrame:
    rows = []
    for g in LADDER_SCALES:
        for s in scen:
            c = _select(sp, fast[s.name][0] <= g * s.budget_s)
            rows.append(dict(budget_scale=g, chip_of=s.name, budget_s=g * s.budget_s,
                             accel_area_mm2=sp.accel[c[0]] if c.size else np.nan))
        c = _universal(sp, scen, fast, g)
        rows.append(dict(budget_scale=g, chip_of="universal", budget_s=np.nan,
                         accel_area_mm2=sp.accel[c[0]] if c.size else np.nan))
    return pd.DataFrame(rows)


def _answer(sp, scen, table, cross_t, verdicts, tornado, specs, fixed_nom, dm, n, quick):
    t = table.set_index("chip_of")
    parts = []
    desc = []
    for s in scen:
        if s.name not in t.index or not np.isfinite(t.loc[s.name].get("accel_area_mm2",
                                                                          np.nan)):
            desc.append(f"{s.name}: no chip of the space meets L* = {s.target:.3f}")
            continue
        r = t.loc[s.name]
        flag = (" [every sized variable at the space's floor]" if r.at_floor else
                f" [at the space's lower bound: {r.at_lower_bound}]" if r.at_lower_bound
                else "")
        flag += f" [at its upper bound: {r.at_upper_bound}]" if r.at_upper_bound else ""
        desc.append(
            f"{s.name} ({s.model}, L* {s.target:.3f}): {int(r.matrix_units)} x 1,024-MAC "
            f"units ({r.int8_tops:.1f} INT8 TOPS), {r.dram_gb_per_s:.0f} GB/s "
            f"({int(r.dram_bus_bits)}-bit), {r.sram_mib:g} MiB SRAM, "
            f"MoE engine {'on' if r.native_moe else 'off'}, "
            f"fused {'on' if r.fused_nonlinear else 'off'}: accelerator "
            f"{r.accel_area_mm2:.1f} mm^2 (5-95 % over draws {r.accel_mm2_p05:.1f}-"
            f"{r.accel_mm2_p95:.1f}), die {r.area_mm2:.0f} mm^2 with its "
            f"{r.fixed_mm2:.0f} mm^2 CPU + uncore; sized with "
            f"{int(r.sizing_n_layers)}x{int(r.sizing_d_model)} {r.sizing_experts} "
            f"r={r.sizing_ffn_ratio:g}; as sized it meets its target in {r.meets_own_share:.0%} "
            f"of the draws{flag}")
    parts.append("Scenario chips (nominal): " + "; ".join(desc) + ".")
    own_t = t.drop(index="universal", errors="ignore")
    floor = [x for x in own_t.index if bool(own_t.loc[x].get("at_floor", False))]
    lows = {v: [x for x in own_t.index if v in str(own_t.loc[x].at_lower_bound or "")]
            for v in SIZED}
    keys = own_t[["matrix_units", "dram_bus_bits", "sram_mib", "native_moe",
                  "fused_nonlinear"]].astype(str).agg("|".join, axis=1)
    same = [g for g in own_t.groupby(keys).groups.values() if len(g) > 1]
    parts.append(
        "Identical scenario chips: " + ("; ".join(" = ".join(g) for g in same) if same else
                                        "none") + ". Bounds of the extended space: "
        + (f"{', '.join(floor)} {'sits' if len(floor) == 1 else 'sit'} on its floor in every "
           "sized variable even with units of a quarter of the template's, a 16-bit bus and "
           "0.125 MiB SRAM: the budget is met by the smallest chip the template builds (a "
           "smaller accelerator, or none, might do), so its area is an upper bound of the "
           "scenario's need and every over-size against it a lower bound; " if floor else
           "no chip is on its floor in every sized variable; ")
        + "; ".join(f"{v} at its lowest option on {', '.join(x)}" for v, x in lows.items()
                    if x and v != "sram_mib")
        + (f"; SRAM at its lowest option ({min(sp.chip_info['sram_mib']):g} MiB) on "
           f"{', '.join(lows['sram_mib'])}: these chips stream weights from DRAM and need no "
           "scratchpad beyond the smallest" if lows["sram_mib"] else "") + ".")
    if "universal" in t.index:
        u = t.loc["universal"]
        same = [s.name for s in scen if s.name in t.index and int(u.matrix_units)
                == int(t.loc[s.name].matrix_units) and u.accel_area_mm2
                == t.loc[s.name].accel_area_mm2]
        parts.append(
            f"The smallest chip meeting all four is {u.accel_area_mm2:.1f} mm^2 of accelerator "
            + (f"(the {', '.join(same)} chip)" if same else "(no scenario's own chip)")
            + f", {u.area_mm2:.0f} mm^2 of die with the largest fixed part.")
    fx = pd.Series(fixed_nom)
    share = fx / (fx + t.loc[list(fx.index), "accel_area_mm2"])
    parts.append(f"Fixed parts: {span(fx, '.0f')} mm^2 ({span(share, '.0%')} of each "
                 "scenario's own die).")
    off = cross_t[(cross_t.chip_of != cross_t.scenario) & (cross_t.chip_of != "universal")]
    miss = off[~off.meets_target]
    parts.append(f"Used elsewhere, {len(miss)}/{len(off)} scenario chips miss the other "
                 "scenario's target" + (": " + "; ".join(
                     f"{r.chip_of} chip in {r.scenario} ("
                     + ("no PLAS model within budget" if not r.model_in_budget else
                        f"best loss {r.best_loss:.3f} vs {r.target_loss:.3f}") + ")"
                     for r in miss.itertuples()) if len(miss) else "") + ".")
    for v in verdicts:
        m = "accelerator" if v.scope.startswith("accel") else "die"
        parts.append(f"Universal over-size on {v.scope}: {v.nominal:.2f}x nominal "
                     f"({v.band[0]:.2f}-{v.band[1]:.2f}x over {n} draws; > "
                     f"{UNIVERSAL_AREA_TOLERANCE:g}x in {v.share_holding:.0%}): claim "
                     f"{v.word}" + (f" ({int(np.sum(~np.isfinite(dm[m])))} draws without a "
                                    "universal chip among the candidates)"
                                    if np.any(~np.isfinite(dm[m])) else "") + ".")
    mv = tornado[tornado.swing > 1e-12]
    parts.append("What swings it most: " + ("; ".join(
        f"{r.number.replace('family:', '')} ({r.metric_low:.2f}x to {r.metric_high:.2f}x)"
        for r in mv.head(3).itertuples()) if len(mv) else "nothing at its ends") + ".")
    return " ".join(parts)


def _figures(sp, scen, table, cross_t, ladder, dm) -> dict:
    return {"cross_loss.png": _cross_figure(scen, cross_t),
            "chip_parameters.png": _chip_figure(table),
            "ladder.png": _ladder_figure(ladder, dm)}


def _cross_figure(scen, cross_t):
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Patch, Rectangle

    rows = list(dict.fromkeys(cross_t.chip_of))
    cols = [s.name for s in scen]
    gap = cross_t.pivot(index="chip_of", columns="scenario", values="loss_gap").loc[rows, cols]
    g = gap.to_numpy(float)
    lim = max(0.02, float(np.nanmax(np.abs(g))) if np.isfinite(g).any() else 0.02)
    fig, ax = plt.subplots(figsize=(8.6, 5.6))
    im = ax.imshow(np.ma.masked_invalid(g), cmap="RdBu_r",
                   norm=TwoSlopeNorm(0.0, -lim, lim), aspect="auto")
    by = cross_t.set_index(["chip_of", "scenario"])
    for i, j in itertools.product(range(len(rows)), range(len(cols))):
        r = by.loc[(rows[i], cols[j])]
        if not r.model_in_budget:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.85", hatch="///",
                                   edgecolor="0.55", lw=0))
            txt = "no PLAS model\nwithin budget"
        else:
            txt = (f"{r.best_loss:.3f}\n{'meets' if r.meets_target else 'misses'} target"
                   f"\n(meets in {r.meets_target_share:.0%}\nof draws)")
        colour = "k" if not r.model_in_budget or abs(r.loss_gap) < 0.6 * lim else "w"
        ax.text(j, i, txt, ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([f"{s.name}\n< {s.budget_s * 1e3:g} ms {s.metric}\nL* {s.target:.3f}"
                        for s in scen], fontsize=7.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r} chip" for r in rows], fontsize=8)
    ax.set_xlabel("scenario the chip is used in (budget, loss target)")
    ax.set_title("Best predicted loss of each chip under each scenario's budget (whole PLAS "
                 "grid; nominal)\nshare of draws: the chip as sized at nominal, re-scored",
                 fontsize=9)
    fig.colorbar(im, ax=ax, label="best loss - scenario target (nats/token; < 0 meets)")
    ax.legend(handles=[Patch(facecolor="0.85", hatch="///", edgecolor="0.55",
                             label="infeasible: no PLAS model both runs within the budget on "
                                   "this chip and fits its DRAM")],
              loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _chip_figure(table: pd.DataFrame):
    t = table.dropna(subset=["accel_area_mm2"]).set_index("chip_of")
    names = list(t.index)[::-1]
    t = t.loc[names]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 0.55 * len(names) + 2.4),
                               gridspec_kw={"width_ratios": [1.0, 1.25]})
    y = np.arange(len(names))
    a.barh(y, t.accel_area_mm2, color="tab:blue", label="accelerator (nominal)")
    a.barh(y, t.fixed_mm2, left=t.accel_area_mm2, color="0.78",
           label="CPU cluster + uncore (the scenario's fixed part; the universal chip "
                 "carries the largest)")
    a.errorbar(t.accel_area_mm2, y, xerr=[np.maximum(t.accel_area_mm2 - t.accel_mm2_p05, 0),
                                          np.maximum(t.accel_mm2_p95 - t.accel_area_mm2, 0)],
               fmt="none", ecolor="k", capsize=3, lw=0.9,
               label="accelerator, 5-95 % of draws (re-sized per draw)")
    for i in range(len(names)):
        a.text(t.area_mm2.iloc[i] + 4, i, f"{t.accel_area_mm2.iloc[i]:.1f} + "
               f"{t.fixed_mm2.iloc[i]:.0f} mm^2", va="center", fontsize=7)
    a.set_yticks(y)
    a.set_yticklabels([f"{n} chip" for n in names], fontsize=8)
    a.set_xlim(0, float(t.area_mm2.max()) * 1.3)
    a.set_xlabel("die area (mm^2)")
    a.set_title("Accelerator and fixed part of each chip", fontsize=9)
    a.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    cols = [("matrix_units", "1,024-MAC\nunits", "{:g}"), ("int8_tops", "INT8\nTOPS", "{:.1f}"),
            ("dram_gb_per_s", "DRAM\nGB/s", "{:.0f}"), ("dram_bus_bits", "bus\nbits", "{:g}"),
            ("sram_mib", "SRAM\nMiB", "{:g}"), ("native_moe", "MoE\nengine", None),
            ("fused_nonlinear", "fused\nnon-linear", None)]
    shade = np.zeros((len(names), len(cols)))
    for j, (c, _, fmt) in enumerate(cols):
        v = t[c].astype(float).to_numpy()
        if fmt is None:
            shade[:, j] = v * 0.6
        else:
            lv = np.log(v)
            shade[:, j] = (lv - lv.min()) / (lv.max() - lv.min()) if np.ptp(lv) > 0 else 0.3
    b.imshow(shade, cmap="Blues", vmin=0, vmax=1.4, aspect="auto", origin="lower")
    for i, n in enumerate(names):
        lo = str(t.loc[n, "at_lower_bound"] or "")
        hi = str(t.loc[n, "at_upper_bound"] or "")
        for j, (c, _, fmt) in enumerate(cols):
            v = t.loc[n, c]
            txt = ("on" if bool(v) else "off") if fmt is None else fmt.format(float(v))
            if c in lo.split(", "):
                txt += "\n(floor)"
            elif c in hi.split(", "):
                txt += "\n(top)"
            b.text(j, i, txt, ha="center", va="center", fontsize=7.5)
    b.set_xticks(range(len(cols)))
    b.set_xticklabels([lab for _, lab, _ in cols], fontsize=7.5)
    b.xaxis.tick_top()
    b.set_yticks(y)
    b.set_yticklabels([f"{n} chip" for n in names], fontsize=8)
    b.set_title("Their resources (nominal; shade: log value within the column; '(floor)': at "
                "the space's lower bound)", fontsize=8, pad=28)
    fig.tight_layout()
    return fig


def _ladder_figure(ladder: pd.DataFrame, dm: dict):
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.3))
    for name, g in ladder.groupby("chip_of", sort=False):
        lab = (f"{name} chip" if name != "universal" else
               "universal chip (all four; dashed over the chip it equals)")
        met = g.budget_scale[np.isfinite(g.accel_area_mm2)]
        if len(met) < len(g):
            lab += f" (no chip of the space below {met.min():.2g}x)"
        a.step(g.budget_scale, g.accel_area_mm2, where="post", lw=1.4,
               color=COLOURS.get(name, "k"), ls="-" if name != "universal" else "--",
               label=lab)
    a.axvline(1.0, color="0.4", lw=0.8, ls=":")
    a.set_xscale("log")
    a.set_xticks([0.3, 0.5, 1.0, 2.0, 3.0])
    a.set_xticklabels(["0.3", "0.5", "1", "2", "3"])
    a.xaxis.set_minor_formatter(plt.NullFormatter())
    a.set_yscale("log")
    a.set_xlabel("latency budget / the scenario's budget (-)")
    a.set_ylabel("smallest accelerator meeting the target (mm^2)")
    a.set_title("How each scenario's chip grows as its budget tightens (nominal)", fontsize=9)
    a.grid(alpha=0.3, which="both", lw=0.4)
    a.legend(fontsize=7)
    bins = np.linspace(1.0, max(2.0, float(np.nanmax([np.nanmax(dm["accelerator"]),
                                                      np.nanmax(dm["die"])])) * 1.05), 30)
    for m, col in (("accelerator", "tab:blue"), ("die", "tab:orange")):
        v = dm[m][np.isfinite(dm[m])]
        b.hist(v, bins=bins, alpha=0.55, color=col, label=f"{m} area ({len(v)} draws)")
    b.axvline(UNIVERSAL_AREA_TOLERANCE, color="crimson", ls="--",
              label=f"claim threshold {UNIVERSAL_AREA_TOLERANCE:g}x")
    b.set_xlabel("universal chip area / scenario chip area, max over scenarios (-)")
    b.set_ylabel("draws")
    b.set_title("Universal chip's over-size over the draws", fontsize=9)
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig
