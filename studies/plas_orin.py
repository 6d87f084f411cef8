"""The source paper's PLAS result on Jetson AGX Orin, judged on every uncertainty draw: Pareto
fronts of predicted loss against prefill, decode and total latency at FP16 and INT8, the
architecture along them, what a native MoE engine changes, and the predicted perplexity gain
at the Qwen2.5-0.5B architecture's latency.

Claims examined (arXiv 2602.10377, Sec. 5; docs/reference/plas.md Sec. 5-6), each registered
with its source and threshold (``studies.base.claim``):

* ``moe-dominance`` (shared with moe-batch1: one threshold, ``MOE_DOMINANCE_SHARE``, and one
  latency budget, ``MOE_BUDGET_S`` = 100 ms total): "100 % of Pareto-optimal designs at batch 1
  are MoE", per front (FP16 / INT8 x prefill / decode / total);
* ``plas-top1``, ``plas-shallow``, ``plas-r-below-4``: "top-1 routing preferred; wide and
  shallow (usually < 20 layers); r well below 4", on the six fronts pooled;
* ``moe-engine-gain`` (conclusion 1, "chips need native sparse compute and dynamic routing"):
  the total-latency saving a native MoE engine (no per-expert launches) gives the MoE designs of
  the front, and the MoE share of the front with that engine;
* ``plas-perplexity-gain``: at the latency of the Qwen2.5-0.5B architecture the co-designed
  model has 19.42 % lower perplexity.

Method. Each (precision, chip variant) scores the whole PLAS grid (driving request: batch 1,
1024 prompt tokens, 16 generated; memory bounded by the chip's DRAM) once at the chip as it is.
Every uncertainty draw of the chip (``Uncertain``: its ranged numbers and the cost model's
prediction error per phase) is a Chip; the designs that can be on a front in some draw are
re-scored on every drawn chip at once (vectorised: one index matrix of designs per expert
shape, the drawn chips' achieved rates stacked along it) and the fronts recomputed per draw.

Which designs can be on a front (the screen): every design fitting DRAM within 1.25x the budget
except those another such design beats in loss and, by ``SCREEN_MARGIN`` (10 %), in both
prefill and decode time at the nominal chip. A draw moves all designs' times together and
their ratios by a few per cent, so such a design stays dominated. The screen is checked on
every case: the whole grid is scored on the draw that makes the candidates fastest (for the
budget cut) and on the draws that move the candidates' times furthest apart, widest first,
until one puts no design the screen dropped on a front; the designs found there are added
(a tail draw of a fitted term can reorder the grid far more than the others: the attention
efficiency's split normal reaches its 0.02 floor once in 200 draws).

The paper's pure roofline (``paper_model=True``: peak rates, no activation, KV-write or tiling
traffic) is scored at the nominal chip only, for comparison: it has no fitted terms to draw.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import (
    AGREE,
    CLAIMS,
    MOE_BUDGET_S,
    MOE_DOMINANCE_SHARE,
    StudyResult,
    Uncertain,
    Verdict,
    claim,
    samples_for,
    tornado_figure,
)

NAME = "plas-orin"
ORDER = 1  # reading order in `chipdse study list`
QUESTION = ("On Jetson AGX Orin, under every uncertainty draw, are the loss-vs-latency Pareto "
            "fronts of the PLAS grid all MoE, top-1, shallow (< 20 layers) and narrow in the FFN "
            "(r < 4), does a native MoE engine pay off, and is the predicted perplexity at "
            "Qwen2.5-0.5B's latency 19.42 % lower as the paper reports?")
CHIP = "jetson-agx-orin-64gb"
ENGINE_CHIP = f"{CHIP}+native-moe"
REFERENCE = "qwen2.5-0.5b"
BUDGET_S = MOE_BUDGET_S  # driving: < 100 ms total (arXiv 2602.10377, Table 2)
PAPER_GAIN = 0.1942  # 1 - 50.88 / 63.14 (arXiv 2602.10377, Sec. 5)
KINDS = ("prefill", "decode", "total")
PRECISIONS = ("fp16", "int8")
SOURCE = "arXiv 2602.10377 Sec. 5 (docs/reference/plas.md Sec. 5)"
MOE = CLAIMS["moe-dominance"]
TOP1 = claim("plas-top1", "top-1 routing is preferred by the MoE designs of the PLAS fronts",
             "top-1 share of MoE front designs", 0.5, ">=",
             SOURCE + ": 'top-1 routing preferred'; 'preferred' read as a majority (assumption)")
SHALLOW = claim("plas-shallow", "PLAS front designs are shallow (usually < 20 layers)",
                "share of front designs with < 20 layers", 0.5, ">=",
                SOURCE + ": 'usually < 20 layers'; 'usually' read as a majority (assumption)")
# "Pareto designs have r < 4" is a statement about every front design: read like "100 % MoE",
# with the same 5 % allowance for rounding at the extremes.
R_BELOW_4 = claim("plas-r-below-4", "PLAS front designs have r < 4 (r well below 4)",
                  "share of front designs with r < 4", MOE_DOMINANCE_SHARE, ">=",
                  SOURCE + ": 'r well below 4, often < 1'; read as every front design, 5 % "
                  "allowed at the extremes as for moe-dominance")
GAIN = claim("plas-perplexity-gain", "at the latency of the Qwen2.5-0.5B architecture on Orin a "
             "PLAS design has 19.42 % lower perplexity", "predicted perplexity reduction",
             PAPER_GAIN, ">=", SOURCE + ": 50.88 vs 63.14 WikiText-2 perplexity, measured after "
             "retraining; here the loss law's prediction")
ENGINE_SAVING = 0.05
ENGINE = claim("moe-engine-gain", "a native MoE engine (expert routing without per-expert "
               "launches) pays off at batch 1", "total-latency saving on the MoE front designs",
               ENGINE_SAVING, ">=",
               "docs/reference/plas.md Sec. 6, conclusion 1 ('chips need native sparse compute "
               "and dynamic routing'); the 5 % bar is an assumption (range 2-10 %): the smallest "
               "saving worth an engine's area")

# The candidate screen (see the module docstring).
SCREEN_MARGIN = 1.10
SCREEN_CUT = 1.25  # candidates up to 1.25x the budget (or the reference's latency) nominally
DRAW_CHUNK = 40  # drawn chips scored per vectorised call
MAX_PROBES = 8  # draws scored on the whole grid at most, to check the screen


# ---- the PLAS grid on every draw (moe-batch1 uses these too) ------------------------------


def grid_indices(problem: Any) -> np.ndarray:
    """Every distinct design of a PLAS problem's grid (index rows; decoding duplicates out)."""
    sizes = tuple(int(s) for s in problem.sizes)
    X = np.stack(np.unravel_index(np.arange(problem.grid_size), sizes), axis=1)
    return X[problem.valid(X)]


def _shape_groups(problem: Any, X: np.ndarray) -> list[np.ndarray]:
    """Row indices of ``X`` per expert shape (E x K). Scoring one shape at a time keeps the
    grouped-expert GEMM's row-tile count (a function of E, K, tokens and the tile alone) one
    number per shape rather than one per design: the whole grid scores 30x faster."""
    j = [v.name for v in problem.variables].index("experts")
    return [np.flatnonzero(X[:, j] == e) for e in np.unique(X[:, j])]


def score_grid(problem: Any, X: np.ndarray) -> pd.DataFrame:
    """Every metric of the designs ``X`` at the problem's chip as it is (one row per design,
    in the order of ``X``)."""
    parts, rows = [], []
    for idx in _shape_groups(problem, X):
        s = problem.score(X[idx])
        parts.append(pd.DataFrame({k: np.asarray(v) for k, v in s.items()}))
        rows.append(idx)
    frame = pd.concat(parts, ignore_index=True)
    frame.index = np.concatenate(rows)
    frame = frame.sort_index()
    heads = np.maximum(1, frame["d_model"].to_numpy() // 128)
    return frame.assign(gqa=heads / frame["n_kv_heads"].to_numpy())


def score_draws(problem: Any, X: np.ndarray, chips: Sequence[Any],
                factors: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """(draws x designs) arrays of prefill_s, decode_s, total_s (the prediction-error
    ``factors`` applied per phase) and feasible of the designs ``X`` on each drawn chip.

    As chipdse.search.robustness re-makes a PLAS problem per drawn chip (its achieved rates,
    ``ChipParams``), but with the drawn chips' rates stacked and repeated along the design axis,
    so that one vectorised call scores ``DRAW_CHUNK`` draws of every design of one shape."""
    n_d, n_x = len(chips), len(X)
    out = {"prefill_s": np.empty((n_d, n_x)), "decode_s": np.empty((n_d, n_x)),
           "feasible": np.empty((n_d, n_x), dtype=bool)}
    params = [api.ChipParams.from_chip(c, ideal=problem.options.ideal_chip) for c in chips]
    groups = _shape_groups(problem, X)
    for s0 in range(0, n_d, DRAW_CHUNK):
        chunk = params[s0:s0 + DRAW_CHUNK]
        stacked = api.ChipParams.stack(chunk)
        for idx in groups:
            p = copy.copy(problem)
            p._cp = _per_row(stacked, len(idx))
            s = p.score(np.tile(X[idx], (len(chunk), 1)))
            for k, v in out.items():
                v[s0:s0 + len(chunk), idx] = np.asarray(s[k]).reshape(len(chunk), len(idx))
    if factors is not None:
        out["prefill_s"] *= np.asarray(factors["prefill"], float)[:, None]
        out["decode_s"] *= np.asarray(factors["decode"], float)[:, None]
    out["total_s"] = out["prefill_s"] + out["decode_s"]
    return out


def _per_row(stacked: Any, n: int) -> Any:
    """Stacked chip parameters (one per draw) repeated for ``n`` designs per draw."""
    return stacked.map(lambda a: np.repeat(a, n) if a.ndim else a)


def probe_scores(problem: Any, X: np.ndarray, chip: Any, factors: dict[str, np.ndarray],
                 i: int) -> dict[str, np.ndarray]:
    """:func:`score_draws` of draw ``i`` alone (chip ``chip``), for every design of ``X``:
    the problem made on the drawn chip, scored one expert shape at a time."""
    s = score_grid(api.PlasProblem(chip, problem.workload, problem.budgets,
                                   options=problem.options), X)
    pre = s["prefill_s"].to_numpy(float)[None, :] * float(factors["prefill"][i])
    dec = s["decode_s"].to_numpy(float)[None, :] * float(factors["decode"][i])
    return {"prefill_s": pre, "decode_s": dec, "total_s": pre + dec,
            "feasible": s["feasible"].to_numpy(bool)[None, :]}


_LOSS_ORDERS: dict[tuple[int, int], np.ndarray] = {}


def _loss_order(loss: np.ndarray) -> np.ndarray:
    """``argsort(loss)`` (stable), remembered for the few loss vectors a run uses."""
    key = (len(loss), hash(loss.tobytes()))
    if key not in _LOSS_ORDERS:
        if len(_LOSS_ORDERS) > 64:
            _LOSS_ORDERS.clear()
        _LOSS_ORDERS[key] = np.argsort(loss, kind="stable")
    return _LOSS_ORDERS[key]


def front_mask(loss: Any, latency_s: Any, ok: Any) -> np.ndarray:
    """Designs non-dominated in (loss, latency) among those ``ok``, along the last axis (one
    row per draw); the same rule as ``api.pareto_mask`` (of identical designs the first)."""
    t = np.asarray(latency_s, float)
    ok = np.broadcast_to(np.asarray(ok, bool), t.shape)
    t = np.where(ok, t, np.inf)
    loss = np.asarray(loss, float)
    L = np.where(ok, np.broadcast_to(loss, t.shape), np.inf)
    if loss.ndim == 1:
        # Sorted by time, ties by loss: a stable sort of the time of the loss-sorted designs
        # (one sort per row rather than lexsort's two; the loss order is kept per grid).
        by_loss = _loss_order(loss)
        order = by_loss[np.argsort(t[..., by_loss], axis=-1, kind="stable")]
    else:
        order = np.lexsort((L, t), axis=-1)
    ts, Ls = np.take_along_axis(t, order, -1), np.take_along_axis(L, order, -1)
    best = np.minimum.accumulate(Ls, axis=-1)
    before = np.concatenate([np.full(Ls.shape[:-1] + (1,), np.inf), best[..., :-1]], axis=-1)
    on = (Ls < before) & np.isfinite(ts)
    mask = np.zeros(t.shape, dtype=bool)
    np.put_along_axis(mask, order, on, -1)
    return mask


def screen(frame: pd.DataFrame, columns: Sequence[str], margin: float,
           cut_s: float | None = None) -> np.ndarray:
    """Designs (a mask over ``frame``'s rows) that may be on a front in some draw: those fitting
    DRAM (with total latency at most ``cut_s``) that no other such design beats in loss and, by
    the factor ``margin``, in every one of ``columns`` (nominal times)."""
    ok = frame["feasible"].to_numpy(bool).copy()
    if cut_s is not None:
        ok &= frame["total_s"].to_numpy(float) <= cut_s
    if len(columns) not in (1, 2):
        raise ValueError("screen: one or two latency columns")
    idx = np.flatnonzero(ok)
    loss = frame["loss"].to_numpy(float)[idx]
    t = [frame[c].to_numpy(float)[idx] for c in columns]
    order = np.argsort(loss, kind="stable")
    if len(columns) == 1:
        beaten = _beaten(loss[order], t[0][order] * margin, None, loss, t[0], None)
    else:
        beaten = _beaten(loss[order], t[0][order] * margin, t[1][order] * margin, loss, t[0],
                         t[1])
    keep = np.zeros(len(frame), dtype=bool)
    keep[idx[~beaten]] = True
    return keep


def _beaten(lead_loss: np.ndarray, lead_a: np.ndarray, lead_b: np.ndarray | None,
            loss: np.ndarray, a: np.ndarray, b: np.ndarray | None, blocks: int = 256
            ) -> np.ndarray:
    """Which (loss, a[, b]) points some lead point (sorted by loss) beats: lower or equal in
    every coordinate. Exact with one coordinate; with two, a point is compared with the lead
    points of lower loss in whole blocks of ``blocks`` (a lead point in the point's own block
    is ignored: the answer can only err towards keeping a point)."""
    n = len(lead_loss)
    o = np.argsort(lead_a, kind="stable")
    a_sorted = lead_a[o]
    j = np.searchsorted(a_sorted, a, side="right") - 1  # lead points with a <= the point's
    jj = np.maximum(j, 0)
    if lead_b is None:
        # The lowest lead loss up to each time, searched at the point's time.
        return (j >= 0) & (np.minimum.accumulate(lead_loss[o])[jj] <= loss)
    m = np.searchsorted(lead_loss, loss, side="right")  # lead points with loss <= the point's
    step = max(1, -(-n // blocks))
    q = m // step  # whole blocks of lead points below the point's loss
    rank, b_sorted = o, lead_b[o]  # o holds each a-sorted lead point's rank in loss order
    out = np.zeros(len(loss), dtype=bool)
    for c in np.unique(q[q > 0]):
        rows = np.flatnonzero(q == c)
        run = np.minimum.accumulate(np.where(rank < c * step, b_sorted, np.inf))
        out[rows] = (j[rows] >= 0) & (run[jj[rows]] <= b[rows])
    return out


def draw_spread(nominal: pd.DataFrame, drawn: dict[str, np.ndarray]) -> np.ndarray:
    """Per draw: how far apart it moves the candidates' times (the widest range of
    ln(drawn / nominal time) over the candidates, of either phase): the wider, the likelier a
    design the screen dropped reaches a front."""
    spread = np.zeros(drawn["total_s"].shape[0])
    for ph in ("prefill_s", "decode_s"):
        r = np.log(drawn[ph] / nominal[ph].to_numpy(float)[None, :])
        spread = np.maximum(spread, r.max(axis=1) - r.min(axis=1))
    return spread


def checked_draws(nominal: pd.DataFrame, keep: np.ndarray,
                  score_rows: Callable[[np.ndarray], dict[str, dict[str, np.ndarray]]],
                  on_front: Callable[[int], np.ndarray], budgeted: bool = False
                  ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]], list[tuple[int, int]]]:
    """The screened designs ``keep`` scored on every draw, with the screen's check: the whole
    grid on the draws that move the candidates' times furthest apart (:func:`draw_spread`),
    widest first, until one puts no design the screen dropped on a front (``on_front(i)``: a
    mask over every design); with ``budgeted`` first also the draw that makes the candidates
    fastest (where a design the budget cut dropped is likeliest to come within the budget).
    The designs dropped that a probe finds are added and scored on every draw too.

    ``score_rows(rows)`` scores designs on every draw ({variant: {metric: (draws x rows)}},
    the first variant's times measure the spread). Returns (candidate rows, their scores,
    [(probed draw, designs it added)])."""
    cand = np.flatnonzero(keep)
    scores = score_rows(cand)
    first = next(iter(scores.values()))
    inside = keep.copy()
    probes: list[tuple[int, int]] = []

    def probe(i: int) -> int:
        missing = np.flatnonzero(on_front(i) & ~inside)
        probes.append((i, len(missing)))
        inside[missing] = True
        return len(missing)

    if budgeted:
        speed = np.median(first["total_s"] / nominal["total_s"].to_numpy(float)[cand], axis=1)
        probe(int(np.argmin(speed)))
    for i in np.argsort(-draw_spread(nominal.iloc[cand], first), kind="stable"):
        if any(i == j for j, _ in probes):
            continue
        if not probe(int(i)) or len(probes) >= MAX_PROBES:
            break
    extra = np.setdiff1d(np.flatnonzero(inside), cand)
    if len(extra):
        more = score_rows(extra)
        cand = np.concatenate([cand, extra])
        scores = {v: {k: np.concatenate([a, more[v][k]], axis=1) for k, a in d.items()}
                  for v, d in scores.items()}
    return cand, scores, probes


def shares(mask: np.ndarray, cond: Any, within: Any = True) -> np.ndarray:
    """Per row: the share of the front designs (``mask`` and ``within``) meeting ``cond``."""
    m = mask & np.asarray(within, bool)
    n = m.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (m & np.asarray(cond, bool)).sum(axis=-1) / n, np.nan)


# ---- this study ---------------------------------------------------------------------------


def _precisions() -> dict[str, object]:
    return {"fp16": api.make_precision("fp16", "fp16", "fp16"),
            "int8": api.make_precision("int8", "int8", "fp16")}


def _workload(prec: object) -> api.Workload:
    return api.Workload("driving", batch=1, prompt=1024, generate=16, precision=prec,
                        metric="total")


def engine_variant(chip: Any) -> Any:
    """The chip with a native MoE engine (expert routing and gather without a launch per
    expert); everything else, drawn numbers included, as it is."""
    return api.chip_variant(chip, ENGINE_CHIP, native_moe=True)


def _fronts(d: dict[str, Any], loss: Any) -> dict[str, np.ndarray]:
    """The three budgeted fronts (masks) of scores ``d`` (a frame or per-draw arrays)."""
    get = (lambda k: d[k].to_numpy()) if isinstance(d, pd.DataFrame) else d.__getitem__
    ok = np.asarray(get("feasible"), bool) & (np.asarray(get("total_s"), float) <= BUDGET_S)
    return {k: front_mask(loss, get(f"{k}_s"), ok) for k in KINDS}


def _best_below(loss: Any, total_s: np.ndarray, feasible: np.ndarray,
                limit_s: Any) -> np.ndarray:
    """Lowest loss of the designs fitting DRAM with total latency at most ``limit_s`` (per
    row)."""
    ok = feasible & (total_s <= np.asarray(limit_s, float)[..., None])
    return np.where(ok, np.broadcast_to(np.asarray(loss, float), ok.shape), np.inf).min(axis=-1)


def _saving(mask: np.ndarray, moe: np.ndarray, t_off: np.ndarray, t_on: np.ndarray
            ) -> np.ndarray:
    """Per row: median total-latency saving of the engine on the front's MoE designs."""
    m = np.atleast_2d(mask & moe)
    s = np.where(m, 1.0 - np.atleast_2d(t_on) / np.atleast_2d(t_off), np.nan)
    out = np.full(len(m), np.nan)
    has = m.any(axis=-1)
    out[has] = np.nanmedian(s[has], axis=-1)
    return out if np.ndim(mask) > 1 else out[0]


def _with_engine(problem: Any, X: np.ndarray, moe: np.ndarray, chips: Sequence[Any],
                 factors: dict[str, np.ndarray], off: dict[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """:func:`score_draws` of the designs ``X`` on the drawn chips with the engine: only the
    MoE designs are re-scored (the engine changes nothing for a dense one: ``off`` holds its
    scores without the engine)."""
    out = {k: v.copy() for k, v in off.items()}
    rows = np.flatnonzero(moe)
    d = score_draws(problem, X[rows], [engine_variant(c) for c in chips], factors)
    for k, v in d.items():
        out[k][:, rows] = v
    return out


class Case:
    """One precision: the whole grid at the nominal chip with and without the engine, the
    screened candidates scored on every draw, and the claims' metrics per draw."""

    def __init__(self, pname: str, prec: object, u: Uncertain):
        self.pname = pname
        self.w = _workload(prec)
        chip = u.chips[CHIP]
        self.off = api.PlasProblem(chip, self.w, api.Budgets())
        self.on = api.PlasProblem(engine_variant(chip), self.w, api.Budgets())
        self.X = grid_indices(self.off)
        self.nom = score_grid(self.off, self.X)
        self.nom_on = score_grid(self.on, self.X)
        self.ref = api.score_model(chip, REFERENCE, self.w)
        self.loss = self.nom["loss"].to_numpy(float)
        self.moe = self.nom["is_moe"].to_numpy(bool)
        self.u = u
        self._fronts_cache = None
        self._draw()

    def candidates(self) -> np.ndarray:
        cut = SCREEN_CUT * BUDGET_S
        both = ("prefill_s", "decode_s")
        keep = screen(self.nom, both, SCREEN_MARGIN, cut) | screen(self.nom_on, both,
                                                                    SCREEN_MARGIN, cut)
        # The matched-latency design: on the (loss, total) front up to the reference's latency.
        return keep | screen(self.nom, ("total_s",), SCREEN_MARGIN,
                             SCREEN_CUT * self.ref["total_s"])

    def _score(self, rows: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        chips, f = self.u.draws.chips[CHIP], self.u.draws.time_factor[CHIP]
        off = score_draws(self.off, self.X[rows], chips, f)
        return {"off": off,
                "on": _with_engine(self.on, self.X[rows], self.moe[rows], chips, f, off)}

    def _draw(self) -> None:
        # The reference on every draw, vectorised (the same accounting as score_model: a
        # dense model's decode at the mean context equals its token-by-token sum).
        self.ref_total = api.estimate_samples(
            self.u.chips[CHIP], api.load_model(REFERENCE), self.w.precision, self.w.batch,
            self.w.prompt, self.w.generate, self.u.draws)["total_s"]
        self.cand, d, self.probes = checked_draws(self.nom, self.candidates(), self._score,
                                                  self._on_front, budgeted=True)
        self.d_off, self.d_on = d["off"], d["on"]
        self.probe_exact = self.probes[-1][1] == 0

    def _on_front(self, i: int) -> np.ndarray:
        """Designs on a front of draw ``i`` (the whole grid scored), engine off or on, or the
        matched-latency design."""
        chips, f = self.u.draws.chips[CHIP], self.u.draws.time_factor[CHIP]
        full_off = probe_scores(self.off, self.X, chips[i], f, i)
        full_on = {k: v.copy() for k, v in full_off.items()}  # dense designs: unchanged
        rows = np.flatnonzero(self.moe)
        for k, v in probe_scores(self.on, self.X[rows], engine_variant(chips[i]), f, i).items():
            full_on[k][:, rows] = v
        on = np.zeros(len(self.X), dtype=bool)
        for d in (full_off, full_on):
            for m in _fronts(d, self.loss).values():
                on |= m[0]
        ok = full_off["feasible"][0] & (full_off["total_s"][0] <= self.ref_total[i])
        if ok.any():
            on[np.flatnonzero(ok)[np.argmin(self.loss[ok])]] = True
        return on

    # -- the claims' metrics: (nominal, per draw) --------------------------------------------
    def fronts(self) -> tuple[dict, dict, dict, dict]:
        """Nominal fronts (whole grid) and per-draw fronts (candidates), engine off and on."""
        if getattr(self, "_fronts_cache", None) is None:
            lc = self.loss[self.cand]
            self._fronts_cache = (_fronts(self.nom, self.loss), _fronts(self.d_off, lc),
                                  _fronts(self.nom_on, self.loss), _fronts(self.d_on, lc))
        return self._fronts_cache

    def metrics(self) -> dict[str, tuple[float, np.ndarray]]:
        n_off, d_off, n_on, d_on = self.fronts()
        mc = self.moe[self.cand]
        out = {}
        for k in KINDS:
            out[f"moe_{k}"] = (float(shares(n_off[k], self.moe)), shares(d_off[k], mc))
            out[f"moe_on_{k}"] = (float(shares(n_on[k], self.moe)), shares(d_on[k], mc))
        out["engine_saving"] = (
            float(_saving(n_off["total"], self.moe, self.nom["total_s"].to_numpy(),
                          self.nom_on["total_s"].to_numpy())),
            _saving(d_off["total"], mc, self.d_off["total_s"], self.d_on["total_s"]))
        best_nom = _best_below(self.loss, self.nom["total_s"].to_numpy(),
                               self.nom["feasible"].to_numpy(bool), self.ref["total_s"])
        best = _best_below(self.loss[self.cand], self.d_off["total_s"], self.d_off["feasible"],
                           self.ref_total)
        out["ppl_gain"] = (float(1.0 - np.exp(best_nom - self.ref["loss"])),
                           1.0 - np.exp(best - self.ref["loss"]))
        return out

    def pooled_counts(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per claim: (numerator, denominator) counts over this precision's three fronts,
        nominal first then per draw (pooled across precisions by the caller)."""
        n_off, d_off, _, _ = self.fronts()
        out = {}
        for label, fr, sel in (("nominal", n_off, slice(None)), ("draws", d_off, self.cand)):
            moe = self.moe[sel]
            top1 = self.nom["top_k"].to_numpy()[sel] == 1
            shallow = self.nom["n_layers"].to_numpy()[sel] < 20
            r4 = self.nom["ffn_ratio"].to_numpy()[sel] < 4
            for key, cond, within in (("top1", top1, moe), ("shallow", shallow, True),
                                      ("r4", r4, True)):
                num = sum((fr[k] & within & cond).sum(axis=-1) for k in KINDS)
                den = sum((fr[k] & within).sum(axis=-1) for k in KINDS)
                out[(key, label)] = (np.asarray(num, float), np.asarray(den, float))
        return out

    def tornado(self) -> pd.DataFrame:
        """``Uncertain.tornado`` of the MoE share of this precision's total front, every chip
        it asks for scored in one vectorised call: a first pass records the (chip, time
        factors) it asks for, in its order; a second answers them in the same order."""
        asked: list[tuple[Any, dict[str, float]]] = []

        def record(chips, factors):
            asked.append((chips[CHIP], dict(factors[CHIP])))
            return 0.0

        self.u.tornado(record, top=None)
        f = {ph: np.array([a[1][ph] for a in asked]) for ph in ("prefill", "decode")}
        d = score_draws(self.off, self.X[self.cand], [a[0] for a in asked], f)
        values = iter(shares(_fronts(d, self.loss[self.cand])["total"], self.moe[self.cand]))
        return self.u.tornado(lambda chips, factors: float(next(values)), top=None)


def front_summary(front: pd.DataFrame) -> dict[str, Any]:
    """Shares of the front's designs by kind: MoE, top-1 routing, expert counts, depth and FFN
    ratio (the paper's Sec. 5 observations)."""
    if front.empty:
        return {"n": 0}
    moe = front["n_experts"] > 1
    m = front[moe]
    nan = float("nan")
    return {
        "n": int(len(front)),
        "share_moe": float(moe.mean()),
        "share_top1_of_moe": float((m["top_k"] == 1).mean()) if len(m) else nan,
        "share_e8_of_moe": float((m["n_experts"] == 8).mean()) if len(m) else nan,
        "share_e16_of_moe": float((m["n_experts"] == 16).mean()) if len(m) else nan,
        "median_experts_moe": float(m["n_experts"].median()) if len(m) else nan,
        "share_layers_lt_20": float((front["n_layers"] < 20).mean()),
        "median_layers": float(front["n_layers"].median()),
        "median_d_model": float(front["d_model"].median()),
        "share_r_lt_4": float((front["ffn_ratio"] < 4).mean()),
        "share_r_lt_1": float((front["ffn_ratio"] < 1).mean()),
        "median_r": float(front["ffn_ratio"].median()),
        **({"median_gqa": float(front["gqa"].median())} if "gqa" in front else {}),
        **({"share_in_law_range": float(front["law_in_range"].mean())}
           if "law_in_range" in front else {}),
    }


def matched_latency_gain(frame: pd.DataFrame, reference_latency_s: float,
                         reference_loss: float, metric: str = "total_s") -> dict[str, Any]:
    """The lowest-loss design no slower than a reference model, and its predicted perplexity
    reduction ``1 - exp(loss) / exp(reference_loss)`` (the paper's 19.42 % comparison)."""
    ok = frame[(frame[metric] <= reference_latency_s) & frame["feasible"]]
    if ok.empty:
        return {"found": False}
    best = ok.loc[ok["loss"].idxmin()]
    return {"found": True, "reference_latency_s": float(reference_latency_s),
            "reference_loss": float(reference_loss), "best_loss": float(best["loss"]),
            "best_latency_s": float(best[metric]),
            "perplexity_reduction": 1.0 - float(np.exp(best["loss"] - reference_loss)),
            "best": {k: (v.item() if hasattr(v, "item") else v) for k, v in best.items()}}


def _tertiles(front: pd.DataFrame, kind: str) -> list[dict]:
    """Medians of the architecture variables in the fastest, middle and slowest third."""
    rows = []
    for label, idx in zip(("fast", "middle", "slow"), np.array_split(np.arange(len(front)), 3)):
        part = front.iloc[idx]
        if part.empty:
            continue
        moe = part[part["is_moe"]]
        rows.append(dict(third=label, n=len(part),
                         latency_ms_from=part[f"{kind}_s"].min() * 1e3,
                         latency_ms_to=part[f"{kind}_s"].max() * 1e3,
                         loss_from=part["loss"].max(), loss_to=part["loss"].min(),
                         share_moe=part["is_moe"].mean(),
                         share_top1_of_moe=(moe["top_k"] == 1).mean() if len(moe) else np.nan,
                         median_experts_moe=moe["n_experts"].median() if len(moe) else np.nan,
                         median_layers=part["n_layers"].median(),
                         median_d_model=part["d_model"].median(),
                         median_r=part["ffn_ratio"].median(), median_gqa=part["gqa"].median()))
    return rows


FRONT_COLUMNS = ["n_layers", "d_model", "experts", "kv_heads", "ffn_ratio", "n_experts", "top_k",
                 "n_kv_heads", "gqa", "is_moe", "loss", "perplexity", "prefill_s", "decode_s",
                 "total_s", "memory_bytes", "law_in_range"]


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    n = samples_for(quick)
    u = Uncertain([CHIP], n, seed)
    precs = _precisions()
    cases = {p: Case(p, prec, u) for p, prec in precs.items()}
    paper = {}
    for p, prec in precs.items():
        prob = api.PlasProblem(u.chips[CHIP], _workload(prec), api.Budgets(),
                               options=api.CostOptions.paper())
        frame = score_grid(prob, cases[p].X)
        paper[p] = (frame, api.score_model(CHIP, REFERENCE, _workload(prec),
                                           options=api.CostOptions.paper()),
                    _fronts(frame, frame["loss"].to_numpy()))
    metrics = {p: c.metrics() for p, c in cases.items()}

    # Tornado of the headline number: the MoE share of the FP16 total-latency front.
    full_t = cases["fp16"].tornado()
    tornado = full_t[full_t.swing > 1e-12].head(10).reset_index(drop=True)
    swing = ", ".join(tornado.number.head(2).str.replace("family:", "")) if len(tornado) else ""

    verdicts = []
    for p in PRECISIONS:
        for k in KINDS:
            nom, s = metrics[p][f"moe_{k}"]
            verdicts.append(Verdict(MOE, nom, s, f"{p}, {k} front",
                                    swing if (p, k) == ("fp16", "total") else ""))
    for p in PRECISIONS:
        nom, s = metrics[p]["moe_on_total"]
        verdicts.append(Verdict(MOE, nom, s, f"{p}, total front, native MoE engine"))
    for p in PRECISIONS:
        nom, s = metrics[p]["engine_saving"]
        verdicts.append(Verdict(ENGINE, nom, s, f"{p}, total front"))
    pooled = {}
    for key in ("top1", "shallow", "r4"):
        for label in ("nominal", "draws"):
            num = sum(cases[p].pooled_counts()[(key, label)][0] for p in PRECISIONS)
            den = sum(cases[p].pooled_counts()[(key, label)][1] for p in PRECISIONS)
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled[(key, label)] = np.where(den > 0, num / den, np.nan)
    for key, c in (("top1", TOP1), ("shallow", SHALLOW), ("r4", R_BELOW_4)):
        verdicts.append(Verdict(c, float(pooled[(key, "nominal")]), pooled[(key, "draws")],
                                "6 fronts pooled (FP16 / INT8 x prefill / decode / total)"))
    for p in PRECISIONS:
        nom, s = metrics[p]["ppl_gain"]
        verdicts.append(Verdict(GAIN, nom, s, f"{p}, at {REFERENCE}'s total latency"))

    # Tables: nominal fronts (whole grid) and their bands under the draws.
    rows, trend_rows, fronts = [], [], []
    models = [("chipdse", {p: (cases[p].nom, cases[p].fronts()[0]) for p in PRECISIONS}),
              ("chipdse+native-moe", {p: (cases[p].nom_on, cases[p].fronts()[2])
                                      for p in PRECISIONS}),
              ("paper-roofline", {p: (paper[p][0], paper[p][2]) for p in PRECISIONS})]
    for label, frames in models:
        for p in PRECISIONS:
            frame, masks = frames[p]
            for k in KINDS:
                fr = frame[masks[k]].sort_values(f"{k}_s")
                row = dict(cost_model=label, precision=p, latency=k,
                           fastest_ms=fr[f"{k}_s"].min() * 1e3,
                           slowest_ms=fr[f"{k}_s"].max() * 1e3, best_loss=fr["loss"].min(),
                           **front_summary(fr))
                key = {"chipdse": f"moe_{k}", "chipdse+native-moe": f"moe_on_{k}"}.get(label)
                if key:
                    s = metrics[p][key][1]
                    row.update(share_moe_p05=np.nanpercentile(s, 5),
                               share_moe_p95=np.nanpercentile(s, 95),
                               share_moe_holding=float(np.mean(MOE.holds(s))))
                rows.append(row)
                for t in _tertiles(fr, k):
                    trend_rows.append(dict(cost_model=label, precision=p, latency=k, **t))
                fronts.append(fr[FRONT_COLUMNS].assign(cost_model=label, precision=p,
                                                       latency=k))
    table = pd.DataFrame(rows)
    front_t = pd.concat(fronts, ignore_index=True)
    ref_t = _reference_table(cases, paper, metrics)
    draws_t = pd.DataFrame({"draw": np.arange(n)} | {
        f"{key}_{p}": metrics[p][key][1] for p in PRECISIONS for key in metrics[p]} | {
        f"pooled_{key}": pooled[(key, "draws")] for key in ("top1", "shallow", "r4")})
    screen_t = pd.DataFrame([dict(precision=p, designs=len(c.X), candidates=len(c.cand),
                                  screened=len(c.cand) - sum(m for _, m in c.probes),
                                  probes=len(c.probes),
                                  probe_draws=" ".join(str(i) for i, _ in c.probes),
                                  probe_missing=" ".join(str(m) for _, m in c.probes),
                                  probe_exact=c.probe_exact) for p, c in cases.items()])

    answer = _answer(verdicts, table, ref_t, tornado, n)
    figures = {"fronts.png": _fronts_figure(cases, paper, seed, quick),
               "claims.png": _claims_figure(verdicts, n),
               "tornado.png": tornado_figure(
                   tornado, "MoE share of the FP16 total-latency front (fraction of its "
                   "designs)", MOE.threshold,
                   f"What swings the MoE share of the FP16 total front on {CHIP} (claim "
                   f">= {MOE.threshold:.0%} dashed)"),
               }
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chip: {CHIP}; what-if {ENGINE_CHIP} (native MoE engine: no per-expert "
               f"launches, all else as drawn); reference architecture: {REFERENCE} (scored as "
               "the search scores designs: decode at the mean context)",
               "workload: batch 1, prompt 1024, 16 generated tokens (driving, "
               "docs/reference/plas.md Sec. 4); precisions FP16 (w/a/kv fp16) and INT8 (w8a8, "
               "kv fp16)",
               f"space: the PLAS grid (l 4..32, d 768..3072, E x K in 1x1, 8x1, 8x2, 16x1, "
               f"16x2, KV heads 1/2/4/8/n_h, r 0.25..6), {len(cases['fp16'].X)} distinct "
               "designs, every one scored at the nominal chip per (precision, variant); loss: "
               "the PLAS law (Eq. 15) at its 10B-token budget",
               f"fronts: designs with total latency <= {BUDGET_S * 1e3:.0f} ms (MOE_BUDGET_S, "
               "shared with moe-batch1) fitting DRAM, non-dominated in (loss, latency kind)",
               f"uncertainty: {n} seeded draws (seed {seed}) of {CHIP}'s ranged numbers and "
               f"the prediction error; per draw the {span_int(screen_t.candidates)} candidate "
               f"designs (screen margin {SCREEN_MARGIN:.2f}) re-scored and the fronts "
               f"recomputed; the screen checked on the whole grid of the widest draws "
               f"({span_int(screen_t.probes)} per precision, the designs it missed there "
               "added; screen.csv): "
               + ("exact on the last" if screen_t.probe_exact.all() else
                  f"NOT exact after {MAX_PROBES} probes"),
               "cost models: chipdse (calibrated efficiencies, activation / KV-write / tiling "
               "traffic, dispatch, per-expert launches) on every draw; the paper's pure "
               "roofline (paper_model=True) nominal only",
               f"a verdict needs {AGREE:.0%} of the draws to agree"],
        answer=answer, supports=None, table=table, figures=figures,
        extra_tables={"fronts.csv": front_t, "trends.csv": pd.DataFrame(trend_rows),
                      "reference.csv": ref_t, "draws.csv": draws_t, "screen.csv": screen_t},
        config={"chip": CHIP, "reference": REFERENCE, "budget_s": BUDGET_S, "draws": n,
                "screen_margin": SCREEN_MARGIN, "screen_cut": SCREEN_CUT,
                "claims": {c.key: [c.direction, c.threshold] for c in
                           (MOE, TOP1, SHALLOW, R_BELOW_4, ENGINE, GAIN)},
                "tornado_metric": "MoE share of the fp16 total front"},
        verdicts=verdicts, tornado=tornado)


def span_int(v: Any) -> str:
    v = pd.Series(v)
    return f"{v.min()}" if v.min() == v.max() else f"{v.min()}-{v.max()}"


def _reference_table(cases: dict, paper: dict, metrics: dict) -> pd.DataFrame:
    rows = []
    for label in ("chipdse", "paper-roofline"):
        for p in PRECISIONS:
            frame, ref = (cases[p].nom, cases[p].ref) if label == "chipdse" else paper[p][:2]
            gain = matched_latency_gain(frame, ref["total_s"], ref["loss"])
            row = dict(cost_model=label, precision=p, reference=REFERENCE,
                       ref_prefill_ms=ref["prefill_s"] * 1e3, ref_decode_ms=ref["decode_s"] * 1e3,
                       ref_total_ms=ref["total_s"] * 1e3, ref_loss=ref["loss"],
                       ref_perplexity=float(np.exp(ref["loss"])), found=gain["found"])
            if gain["found"]:
                best = gain["best"]
                row.update(best_loss=gain["best_loss"],
                           best_perplexity=float(np.exp(gain["best_loss"])),
                           best_total_ms=gain["best_latency_s"] * 1e3,
                           perplexity_reduction=gain["perplexity_reduction"],
                           best_layers=int(best["n_layers"]), best_d_model=int(best["d_model"]),
                           best_experts=best["experts"], best_kv_heads=best["kv_heads"],
                           best_ffn_ratio=float(best["ffn_ratio"]))
            if label == "chipdse":
                s = metrics[p]["ppl_gain"][1]
                row.update(perplexity_reduction_p05=np.percentile(s, 5),
                           perplexity_reduction_p95=np.percentile(s, 95),
                           ref_total_ms_p05=np.percentile(cases[p].ref_total, 5) * 1e3,
                           ref_total_ms_p95=np.percentile(cases[p].ref_total, 95) * 1e3)
            rows.append(row)
    return pd.DataFrame(rows)


def _answer(verdicts: list[Verdict], table: pd.DataFrame, ref_t: pd.DataFrame,
            tornado: pd.DataFrame, n: int) -> str:
    def v_text(v: Verdict) -> str:
        lo, hi = v.band
        return f"{v.nominal:.0%} ({lo:.0%}-{hi:.0%}, {v.word})"

    moe = [v for v in verdicts if v.claim is MOE and "engine" not in v.scope]
    moe_on = [v for v in verdicts if v.claim is MOE and "engine" in v.scope]
    eng = [v for v in verdicts if v.claim is ENGINE]
    pooled = {v.claim.key: v for v in verdicts if v.scope.startswith("6 fronts")}
    gain = [v for v in verdicts if v.claim is GAIN]
    cal = table[table.cost_model == "chipdse"].set_index(["precision", "latency"])
    pap = table[table.cost_model == "paper-roofline"].set_index(["precision", "latency"])
    fp16_total = cal.loc[("fp16", "total")]
    med = cal.groupby("latency")["median_experts_moe"].median()
    top = "; ".join(f"{r.number.replace('family:', '')} {r.metric_low:.0%} to "
                    f"{r.metric_high:.0%}" for r in tornado.head(3).itertuples())
    ref = ref_t[ref_t.cost_model == "chipdse"].set_index("precision")
    text = (
        f"On {CHIP} under the {BUDGET_S * 1e3:.0f} ms driving budget, nominal (5-95 % of {n} "
        "draws, verdict). MoE share of the fronts: "
        + "; ".join(f"{v.scope.replace(' front', '')} {v_text(v)}" for v in moe)
        + f" against the {MOE.threshold:.0%} of 'all MoE' (paper roofline, nominal: "
        + ", ".join(f"{p} {k} {pap.loc[(p, k), 'share_moe']:.0%}" for p in PRECISIONS
                    for k in KINDS) + "). "
        + f"The FP16 total front spans {fp16_total['fastest_ms']:.1f}-"
        f"{fp16_total['slowest_ms']:.1f} ms; its share swings most with {top}. "
        "With a native MoE engine the total fronts are "
        + ", ".join(f"{v.scope.split(',')[0]} {v_text(v)}" for v in moe_on)
        + " MoE, and the engine saves the MoE front designs "
        + ", ".join(f"{v.scope.split(',')[0]} {v.nominal:.1%} ({v.band[0]:.1%}-{v.band[1]:.1%},"
                    f" {v.word} against {ENGINE.threshold:.0%})" for v in eng)
        + " of their total latency. "
        + f"Top-1 routing among MoE front designs {v_text(pooled[TOP1.key])}; < 20 layers "
        f"{v_text(pooled[SHALLOW.key])}; r < 4 {v_text(pooled[R_BELOW_4.key])} (six fronts "
        "pooled). Median expert count of the MoE front designs: "
        + ", ".join(f"{k} {med.get(k, np.nan):.0f}" for k in KINDS)
        + " (paper: fewer / more / about 8). Predicted perplexity reduction at "
        f"{REFERENCE}'s total latency ("
        + ", ".join(f"{p} {ref.loc[p, 'ref_total_ms']:.0f} ms" for p in PRECISIONS)
        + "): " + "; ".join(
            f"{v.scope.split(',')[0]} {v.nominal:.1%} ({v.band[0]:.1%}-{v.band[1]:.1%}, "
            f"{v.word} against the paper's {PAPER_GAIN:.2%}; best design l="
            f"{ref.loc[v.scope.split(',')[0], 'best_layers']} d="
            f"{ref.loc[v.scope.split(',')[0], 'best_d_model']} "
            f"{ref.loc[v.scope.split(',')[0], 'best_experts']} r="
            f"{ref.loc[v.scope.split(',')[0], 'best_ffn_ratio']:g})" for v in gain)
        + ". Perplexities are the law's (exp of predicted loss at 10B tokens), not WikiText-2's "
        "(paper: 63.14 -> 50.88); the law has no precision term, so INT8 gains come from "
        "latency alone.")
    return text


EK_COLOURS = {"1x1": "tab:gray", "8x1": "tab:blue", "8x2": "tab:cyan", "16x1": "tab:orange",
              "16x2": "tab:olive"}


def _band(case: Case, kind: str, grid_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """5 / 95 % over the draws of the lowest loss reachable within each latency of
    ``grid_s`` (budgeted, fitting DRAM): the front's band."""
    d = case.d_off
    lc = case.loss[case.cand]
    ok = d["feasible"] & (d["total_s"] <= BUDGET_S)
    best = np.full((d["total_s"].shape[0], len(grid_s)), np.nan)
    for i in range(len(best)):
        t, L = d[f"{kind}_s"][i][ok[i]], lc[ok[i]]
        order = np.argsort(t)
        run_min = np.minimum.accumulate(L[order])
        j = np.searchsorted(t[order], grid_s, side="right") - 1
        best[i] = np.where(j >= 0, run_min[np.maximum(j, 0)], np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(best, 5, axis=0), np.nanpercentile(best, 95, axis=0)


def _fronts_figure(cases: dict, paper: dict, seed: int, quick: bool):
    rng = np.random.default_rng(seed)
    n_bg = 1500 if quick else 4000
    fig, axes = plt.subplots(2, 3, figsize=(13, 8), sharey=True)
    for i, p in enumerate(PRECISIONS):
        c = cases[p]
        frame = c.nom
        ok = frame[frame["feasible"] & (frame["total_s"] <= BUDGET_S)]
        bg = ok.iloc[rng.choice(len(ok), size=min(n_bg, len(ok)), replace=False)]
        masks, _, masks_on, _ = c.fronts()
        pmasks = paper[p][2]
        for j, k in enumerate(KINDS):
            ax = axes[i, j]
            ax.scatter(bg[f"{k}_s"] * 1e3, bg["loss"], s=2, c="0.85", rasterized=True,
                       label="designs within budget (sample)")
            fr = frame[masks[k]].sort_values(f"{k}_s")
            grid_s = np.linspace(fr[f"{k}_s"].min(), BUDGET_S if k == "total"
                                 else fr[f"{k}_s"].max() * 1.3, 120)
            lo, hi = _band(c, k, grid_s)
            ax.fill_between(grid_s * 1e3, lo, hi, step="post", color="tab:purple", alpha=0.4,
                            lw=0, zorder=2, label="front, 5-95 % of draws (lowest loss "
                            "within each latency)")
            ax.step(fr[f"{k}_s"] * 1e3, fr["loss"], where="post", color="k", lw=0.8,
                    label="front (chipdse, nominal)")
            on = c.nom_on[masks_on[k]].sort_values(f"{k}_s")
            ax.step(on[f"{k}_s"] * 1e3, on["loss"], where="post", color="tab:green", lw=0.9,
                    ls=":", label="front with a native MoE engine")
            pf = paper[p][0][pmasks[k]].sort_values(f"{k}_s")
            ax.step(pf[f"{k}_s"] * 1e3, pf["loss"], where="post", color="tab:red", lw=0.8,
                    ls="--", label="front (paper roofline)")
            for ek, colour in EK_COLOURS.items():
                sub = fr[fr["experts"] == ek]
                ax.scatter(sub[f"{k}_s"] * 1e3, sub["loss"], s=9, color=colour, zorder=3,
                           label=f"front design E x K = {ek}" + (" (dense)" if ek == "1x1"
                                                                  else ""))
            ref_ms = c.ref[f"{k}_s"] * 1e3
            xmax = max(fr[f"{k}_s"].max(), pf[f"{k}_s"].max()) * 1e3 * 1.08
            if k == "total":
                ax.axvline(BUDGET_S * 1e3, color="k", ls="-.", lw=0.7)
            if ref_ms <= xmax:
                ax.scatter([ref_ms], [c.ref["loss"]], marker="*", s=120, c="tab:red", zorder=4,
                           label=f"{REFERENCE} (reference)")
            else:
                ax.annotate(f"{REFERENCE} (reference): {ref_ms:.0f} ms, loss "
                            f"{c.ref['loss']:.2f}, off the axis", (0.02, 0.03),
                            xycoords="axes fraction", ha="left", fontsize=7, color="tab:red")
            ax.set_xlim(0, xmax)
            ax.set_xlabel(f"{k} latency (ms)")
            ax.set_title(f"{p.upper()}: loss vs {k} latency", fontsize=10)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("predicted loss (nats/token)")
    seen: dict[str, Any] = {}
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=5, fontsize=8)
    fig.suptitle(f"PLAS fronts on {CHIP}: total latency <= {BUDGET_S * 1e3:.0f} ms (dash-dot), "
                 "batch 1, 1024 + 16 tokens")
    # Fixed margins (tight_layout would lay every label out once more).
    fig.subplots_adjust(left=0.055, right=0.99, top=0.91, bottom=0.18, wspace=0.08, hspace=0.32)
    return fig


WORD_COLOURS = {"supported": "tab:green", "not supported": "tab:red",
                "undetermined": "tab:orange"}


def _claims_figure(verdicts: list[Verdict], n: int):
    """Every verdict: nominal value, 5-95 % band of the draws, and the claim's threshold."""
    fig, ax = plt.subplots(figsize=(9, 0.34 * len(verdicts) + 1.5))
    y = np.arange(len(verdicts))[::-1]
    for yi, v in zip(y, verdicts):
        lo, hi = v.band
        col = WORD_COLOURS[v.word]
        ax.plot([lo * 100, hi * 100], [yi, yi], color=col, lw=2.2, solid_capstyle="butt")
        ax.plot(v.nominal * 100, yi, "o", color=col, ms=5)
        ax.plot(v.claim.threshold * 100, yi, "|", color="k", ms=12, mew=1.6)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{v.claim.metric} [{v.scope}]" for v in verdicts], fontsize=7)
    ax.set_xlabel("claim metric (%): dot at the nominal chip, bar 5-95 % of the draws")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-0.7, len(verdicts) - 0.3)
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    handles = [plt.Line2D([], [], color=col, lw=2.2, label=f"{word} (>= {AGREE:.0%} of the "
                          f"{n} draws)" if word != "undetermined" else word)
               for word, col in WORD_COLOURS.items()]
    handles.append(plt.Line2D([], [], color="k", ls="", marker="|", ms=10, mew=1.6,
                              label="the claim's threshold"))
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=4)
    ax.set_title(f"PLAS claims on {CHIP} under uncertainty", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
