"""Scenario-optimised chips: joint chip + model co-design under each latency budget of the PLAS
paper's Table 2, and what a chip sized for one scenario costs in another.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 6; arXiv 2602.10377 and its press
coverage): there are no universal chips, only scenario-optimised ("algorithm-defined") chips.
Budgets (Table 2 of arXiv 2602.10377): embodied AI < 20 ms decode; autonomous driving < 100 ms
total; smart home < 500 ms total; private serving < 2 s total; each a batch-1 request of 1,024
prompt and 16 generated tokens as ``api.WORKLOADS`` defines them.

Selection rule. Every scenario must serve a model at least as good as the paper's baseline,
Qwen2.5-0.5B (its loss under the PLAS law is the target L*). A scenario's chip is the design of
the co-design search (objectives: loss and die area; the scenario's latency budget and the DRAM
capacity as constraints) with loss <= L* and the smallest accelerator area (die area less the
fixed CPU cluster and uncore), ties broken by lower peak power. The chip is then refined: one
chip variable at a time is moved to any option that lowers (accelerator area, peak power), and
the move is kept if some model of the PLAS grid still reaches L* within the budget on it (every
architecture of the grid is scored; quick mode takes every 4th FFN ratio), until no move is
kept.

Cross-scenario penalty: each scenario's chip is put under every other scenario's budget and the
whole PLAS grid is scored on it; the best loss it reaches is compared with the target and with
the other scenario's own chip, and its area with that chip's.

Verdict. The claim is judged on two area measures: the accelerator area (what a scenario adds)
and the die area (what is built, including the fixed CPU cluster and uncore every chip
carries). On each, a chip reaching L* in every scenario within 1.25x of that scenario's own
chip's area is universal (claim not supported); otherwise the claim holds when the areas of
the chips off the template's floor span more than 1.25x. A chip whose every sized variable sits
at its lower bound is flagged and left out of that spread: its optimum may lie below the
space. The verdict is MIXED when the two measures disagree.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import StudyResult, span

NAME = "scenario-chips"
ORDER = 8  # reading order in `chipdse study list`
QUESTION = ("Do the chips co-designed for the PLAS scenarios (embodied AI < 20 ms decode, "
            "driving < 100 ms, smart home < 500 ms, private serving < 2 s) differ, by how much, "
            "and what does using one scenario's chip for another cost?")
REFERENCE_MODEL = "qwen2.5-0.5b"  # the paper's baseline; its predicted loss is the target
OBJECTIVES = ("loss", "area_mm2")
N_ARCH_VARS = 5                   # the PLAS variables come first in the co-design space
UNIVERSAL_AREA_TOLERANCE = 1.25   # a chip within 25 % of a scenario's own area counts as fit
# Area measures the verdict is taken on: (chips column, cross-scenario ratio column). The
# accelerator area leaves out the die's fixed part (CPU cluster and automotive uncore), which
# every template chip carries.
MEASURES = {"accelerator": ("accel_area_mm2", "accel_area_ratio"),
            "die": ("area_mm2", "die_area_ratio")}
VERDICT_WORDS = {True: "supports", False: "does not support", None: "mixed"}
# Chip parameters compared between scenarios (numeric) and engine / mode settings.
NUMERIC = ("matrix_units", "clock_ghz", "int8_tops", "dram_gb_per_s", "sram_mib",
           "kv_sram_mib", "accel_area_mm2", "area_mm2", "power_w")
SETTINGS = ("native_moe", "fused_nonlinear", "phase_mode", "node_nm")
SIZED = ("matrix_units", "clock_ghz", "dram_bus_bits", "sram_mib", "kv_sram_mib")
CHIP_COLUMNS = NUMERIC + SETTINGS + ("dram_bus_bits",)
MODEL_COLUMNS = ("n_layers", "d_model", "experts", "kv_heads", "ffn_ratio", "loss",
                 "latency_s", "prefill_s", "decode_s", "total_s", "energy_j")


def _problem(scenario: str):
    w, budget = api.WORKLOADS[scenario]
    return api.CoDesignProblem(w, api.Budgets(latency_s=budget), objectives=OBJECTIVES)


def _arch_grid(problem, coarse: bool) -> np.ndarray:
    """Index rows of every valid PLAS architecture (every 4th FFN ratio when coarse)."""
    ranges = [range(v.size) for v in problem.variables[:N_ARCH_VARS]]
    if coarse:
        ranges[-1] = range(0, problem.variables[N_ARCH_VARS - 1].size, 4)
    grid = np.array(list(itertools.product(*ranges)), dtype=int)
    pad = np.zeros((len(grid), problem.n_var - N_ARCH_VARS), dtype=int)
    return grid[problem.valid(np.hstack([grid, pad]))]


def _score_chip(problem, chip_idx: np.ndarray, arch: np.ndarray) -> dict:
    """Scores of every architecture of ``arch`` on one chip; with the lowest-loss feasible
    row as ``best`` (None when no architecture meets the budget)."""
    X = np.hstack([arch, np.broadcast_to(chip_idx, (len(arch), len(chip_idx)))])
    s = problem.score(X)
    ok = np.flatnonzero(s["feasible"])
    best = None if ok.size == 0 else int(ok[np.argmin(s["loss"][ok])])
    return {"scores": s, "best": best}


def _chip_key(problem, chips: np.ndarray) -> np.ndarray:
    """(accelerator area, peak power) of chip index rows (the architecture does not matter)."""
    X = np.hstack([np.zeros((len(chips), N_ARCH_VARS), dtype=int), chips])
    s = problem.score(X)
    return np.column_stack([np.round(s["accel_area_mm2"], 6), s["power_w"]])


def _select(frame: pd.DataFrame, target: float) -> tuple[pd.Series, bool]:
    """The smallest-accelerator design reaching the target (ties: lower power, lower loss);
    when none does, the lowest-loss feasible design (flagged)."""
    feas = frame[frame["feasible"]]
    if feas.empty:
        raise RuntimeError("co-design found no design within the scenario's budget")
    ok = feas[feas["loss"] <= target]
    if ok.empty:
        return feas.loc[feas["loss"].idxmin()], False
    return ok.sort_values(["accel_area_mm2", "power_w", "loss"]).iloc[0], True


def _refine(problem, chip_idx: np.ndarray, arch: np.ndarray, target: float) -> np.ndarray:
    """Greedy descent on (accelerator area, peak power) keeping the loss target reachable."""
    sizes = problem.sizes[N_ARCH_VARS:]
    cur = chip_idx.copy()
    while True:
        cands = []
        for j, n in enumerate(sizes):
            for o in range(n):
                if o != cur[j]:
                    c = cur.copy()
                    c[j] = o
                    cands.append(c)
        cands = np.array(cands)
        keys = _chip_key(problem, np.vstack([cur[None, :], cands]))
        here, rest = keys[0], keys[1:]
        better = (rest[:, 0] < here[0]) | ((rest[:, 0] == here[0]) & (rest[:, 1] < here[1]))
        order = np.flatnonzero(better)[np.lexsort((rest[better, 1], rest[better, 0]))]
        for i in order:
            r = _score_chip(problem, cands[i], arch)
            if r["best"] is not None and r["scores"]["loss"][r["best"]] <= target:
                cur = cands[i]
                break
        else:
            return cur


def _row(scores: dict, i: int, cols) -> dict:
    out = {}
    for c in cols:
        v = np.asarray(scores[c])[i]
        out[c] = v.item() if hasattr(v, "item") else v
    return out


def _pairwise(chips: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for a, b in itertools.combinations(chips.index, 2):
        ra, rb = chips.loc[a], chips.loc[b]
        row = {"scenario_a": a, "scenario_b": b}
        spread = {}
        for p in NUMERIC:
            x, y = float(ra[p]), float(rb[p])
            r = x / y if y > 0 else (1.0 if x == 0 else np.inf)
            row[f"ratio_{p}"] = r
            # Design parameters only (area and power are outcomes); a KV SRAM present on one
            # chip only counts as a differing setting.
            if np.isfinite(r) and r > 0 and p not in ("area_mm2", "accel_area_mm2", "power_w"):
                spread[p] = max(r, 1 / r)
        diff = [p for p in SETTINGS if ra[p] != rb[p]]
        if (ra["kv_sram_mib"] > 0) != (rb["kv_sram_mib"] > 0):
            diff.append("kv_sram")
        top = max(spread, key=spread.get)
        row["max_parameter_ratio"] = spread[top]
        row["max_parameter"] = top
        row["settings_differing"] = ", ".join(diff) or "none"
        rows.append(row)
    return pd.DataFrame(rows)


def _figures(chips: pd.DataFrame, cross: pd.DataFrame, target: float) -> dict:
    scen = list(chips.index)
    m = cross.pivot(index="chip_of", columns="scenario", values="best_loss").loc[scen, scen]
    fig1, ax = plt.subplots(figsize=(6.5, 5))
    shown = np.where(np.isfinite(m.to_numpy(float)), m.to_numpy(float), np.nan)
    im = ax.imshow(shown, cmap="viridis_r")
    for i, j in itertools.product(range(len(scen)), range(len(scen))):
        v = m.iloc[i, j]
        txt = "no model\nin budget" if not np.isfinite(v) else f"{v:.3f}" + (
            "" if v <= target else "\n> target")
        ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks(range(len(scen)))
    ax.set_xticklabels(scen, fontsize=8)
    ax.set_yticks(range(len(scen)))
    ax.set_yticklabels([f"{s} chip" for s in scen], fontsize=8)
    ax.set_xlabel("scenario (budget)")
    ax.set_title(f"Best predicted loss of a scenario's chip elsewhere (target {target:.3f})",
                 fontsize=9)
    fig1.colorbar(im, ax=ax, label="loss (nats/token)")
    fig1.tight_layout()
    fig2, ax2 = plt.subplots(figsize=(9, 4.2))
    params = ["matrix_units", "clock_ghz", "dram_gb_per_s", "sram_mib", "accel_area_mm2",
              "power_w"]
    x = np.arange(len(params))
    width = 0.8 / len(scen)
    for k, s in enumerate(scen):
        vals = [float(chips.loc[s, p]) / float(chips[p].min()) for p in params]
        ax2.bar(x + (k - (len(scen) - 1) / 2) * width, vals, width=width, label=s)
    ax2.set_xticks(x)
    ax2.set_xticklabels(params, fontsize=8)
    ax2.set_ylabel("value / smallest across scenarios")
    ax2.set_title("Scenario-optimised chips (min accelerator area at the loss target)",
                  fontsize=9)
    ax2.legend(fontsize=8)
    fig2.tight_layout()
    return {"cross_loss.png": fig1, "chip_parameters.png": fig2}


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    pop, gens = (40, 15) if quick else (160, 80)
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    scenarios = list(api.WORKLOADS)
    # The loss depends on the model only; the chip passed here just sets unused latencies.
    ref = api.score_model(api.load_chip("li-m100"), api.load_model(REFERENCE_MODEL))
    target = float(ref["loss"])
    problems = {s: _problem(s) for s in scenarios}
    arch = _arch_grid(problems[scenarios[0]], coarse=quick)
    chip_vars = [v.name for v in problems[scenarios[0]].variables[N_ARCH_VARS:]]
    chosen, own_rows, n_eval = {}, [], {}
    for s in scenarios:
        frames = []
        for sd in seeds:
            r = api.codesign(workload=s, objectives=OBJECTIVES, method="nsga2", pop_size=pop,
                             generations=gens, seed=sd, simulator=None)
            frames.append(r.frame)
        frame = pd.concat(frames, ignore_index=True)
        n_eval[s] = len(frame)
        pick, reached = _select(frame, target)
        idx = np.array([int(pick[f"idx_{v}"]) for v in chip_vars])
        if reached:
            idx = _refine(problems[s], idx, arch, target)
        chosen[s] = idx
        res = _score_chip(problems[s], idx, arch)
        sc = res["scores"]
        i = res["best"] if res["best"] is not None else 0
        own_rows.append({"scenario": s, "budget_s": api.WORKLOADS[s][1],
                         **{f"idx_{v}": int(k) for v, k in zip(chip_vars, idx)},
                         "metric": api.WORKLOADS[s][0].metric, "target_reached": reached,
                         **_row(sc, i, CHIP_COLUMNS), **_row(sc, i, MODEL_COLUMNS),
                         "designs_evaluated": n_eval[s]})
    chips = pd.DataFrame(own_rows).set_index("scenario")
    cross_rows = []
    for a in scenarios:
        for b in scenarios:
            res = _score_chip(problems[b], chosen[a], arch)
            best = res["best"]
            loss = np.inf if best is None else float(res["scores"]["loss"][best])
            cross_rows.append({
                "chip_of": a, "scenario": b, "best_loss": loss,
                "meets_target": bool(loss <= target),
                "loss_penalty": loss - float(chips.loc[b, "loss"]),
                "perplexity_ratio": float(np.exp(loss - float(chips.loc[b, "loss"]))),
                "accel_area_ratio": float(chips.loc[a, "accel_area_mm2"]
                                          / chips.loc[b, "accel_area_mm2"]),
                "die_area_ratio": float(chips.loc[a, "area_mm2"] / chips.loc[b, "area_mm2"]),
                "power_ratio": float(chips.loc[a, "power_w"] / chips.loc[b, "power_w"])})
    cross = pd.DataFrame(cross_rows)
    floor = [s for s in scenarios if all(chosen[s][chip_vars.index(v)] == 0 for v in SIZED)]
    chips["at_floor"] = [s in floor for s in chips.index]
    free = [s for s in scenarios if s not in floor]
    verdicts, universal, spread, spread_all = {}, {}, {}, {}
    for measure, (col, ratio) in MEASURES.items():
        fits = cross.meets_target & (cross[ratio] <= UNIVERSAL_AREA_TOLERANCE)
        cross[f"fits_{measure}"] = fits
        universal[measure] = [a for a in scenarios if fits[cross.chip_of == a].all()]
        spread_all[measure] = float(chips[col].max() / chips[col].min())
        # Chips clamped at the template's floor are left out of the spread: their optimum may
        # lie below the space, so their areas are not what the scenario needs.
        spread[measure] = (float(chips.loc[free, col].max() / chips.loc[free, col].min())
                           if len(free) >= 2 else float("nan"))
        # Rule, per area measure: NOT SUPPORTED if some scenario's chip fits every scenario
        # (reaches L* within each budget at <= 1.25x that scenario's own chip's area: a
        # universal chip); SUPPORTED if none does and the areas of the chips off the floor
        # span more than 1.25x; MIXED otherwise.
        if universal[measure]:
            verdicts[measure] = False
        elif spread[measure] > UNIVERSAL_AREA_TOLERANCE:
            verdicts[measure] = True
        else:
            verdicts[measure] = None
    # Overall: the two measures' verdict when they agree, MIXED when they disagree.
    supports: bool | None = verdicts["accelerator"] if len(set(verdicts.values())) == 1 \
        else None
    pairs = _pairwise(chips)
    pairs["involves_floor"] = pairs.scenario_a.isin(floor) | pairs.scenario_b.isin(floor)
    fixed = chips.area_mm2 - chips.accel_area_mm2
    fixed_share = fixed / chips.area_mm2
    desc = "; ".join(
        f"{s}: {int(r.matrix_units)} units @ {r.clock_ghz:g} GHz ({r.int8_tops:.0f} INT8 TOPS), "
        f"{r.dram_gb_per_s:.0f} GB/s ({int(r.dram_bus_bits)}-bit), {r.sram_mib:g} MiB SRAM, "
        f"{r.kv_sram_mib:g} MiB KV SRAM, MoE engine {'on' if r.native_moe else 'off'}, fused "
        f"{'on' if r.fused_nonlinear else 'off'}, {r.phase_mode}, {r.node_nm:g} nm: accelerator "
        f"{r.accel_area_mm2:.1f} mm^2 (die {r.area_mm2:.0f}), {r.power_w:.0f} W; best model "
        f"{int(r.n_layers)}x{int(r.d_model)} {r.experts} loss {r.loss:.3f}"
        + ("" if r.target_reached else " (target not reached)")
        + (" [at the template's floor]" if r.at_floor else "")
        for s, r in chips.iterrows())
    groups: dict[tuple, list[str]] = {}
    for s in scenarios:
        groups.setdefault(tuple(int(i) for i in chosen[s]), []).append(s)
    same_txt = "; ".join(" = ".join(g) for g in groups.values() if len(g) > 1) or "none"
    off = cross[cross.chip_of != cross.scenario]
    misses = off[~off.meets_target]
    free_pairs = pairs[~pairs.involves_floor]
    worst = (free_pairs if len(free_pairs) else pairs).sort_values(
        "max_parameter_ratio").iloc[-1]
    worst_txt = (f"{worst.scenario_a} vs {worst.scenario_b} (largest parameter ratio "
                 f"{worst.max_parameter_ratio:.1f}x, {worst.max_parameter}; settings differing: "
                 f"{worst.settings_differing})")
    worst_txt = ("The most distant pair of chips off the floor is " if len(free_pairs)
                 else "The most distant pair (every pair involves a floor-clamped chip) is ") \
        + worst_txt
    oversize = off[off.meets_target].sort_values("accel_area_ratio")
    over_txt = (f"the largest over-sizing where a chip does serve another scenario is "
                f"{oversize.iloc[-1].chip_of} chip in {oversize.iloc[-1].scenario} "
                f"({oversize.iloc[-1].accel_area_ratio:.1f}x accelerator area, "
                f"{oversize.iloc[-1].die_area_ratio:.2f}x die)") if len(oversize) else \
        "no chip serves another scenario at the target"
    miss_txt = "; ".join(
        f"{r.chip_of} chip in {r.scenario}: "
        + ("no model within budget" if not np.isfinite(r.best_loss) else
           f"best loss {r.best_loss:.3f} (+{r.loss_penalty:.3f} vs its own chip, perplexity "
           f"x{r.perplexity_ratio:.2f})")
        for r in misses.itertuples()) or "none"
    measure_txt = []
    for measure, (col, ratio) in MEASURES.items():
        areas = chips[col]
        uni = universal[measure]
        txt = (f"on {measure} area ({areas.min():.1f}-{areas.max():.1f} mm^2): spread "
               + (f"{spread[measure]:.2f}x among the {len(free)} chips off the floor "
                  f"({', '.join(free)})" if len(free) >= 2 else
                  "not assessable (fewer than two chips off the floor)")
               + f", {spread_all[measure]:.2f}x with every chip; universal chips (L* in "
               f"every scenario at <= {UNIVERSAL_AREA_TOLERANCE:g}x that scenario's own "
               f"area): ")
        if uni:
            parts = []
            for a in uni:
                rows = cross[cross.chip_of == a]
                parts.append(f"{a} (reaches L* in all {len(rows)} scenarios at {measure} "
                             f"ratio <= {rows[ratio].max():.2f})")
            txt += ", ".join(parts)
        else:
            txt += "none"
        txt += f" -> {VERDICT_WORDS[verdicts[measure]]}"
        measure_txt.append(txt)
    # How far a universal chip on die area depends on the floor-clamped chips' areas: the die
    # ratio if their accelerators shrank to nothing (fixed part only).
    robust_txt = ""
    if universal["die"] and floor:
        worst_die = max(float(chips.loc[a, "area_mm2"] / fixed[b])
                        for a in universal["die"] for b in floor if a != b)
        robust_txt = (f" Even if the floor-clamped chips' accelerators shrank to nothing, the "
                      f"universal chip's die ratio would stay <= {worst_die:.2f}"
                      + (f" (within {UNIVERSAL_AREA_TOLERANCE:g}x)."
                         if worst_die <= UNIVERSAL_AREA_TOLERANCE else
                         f", above {UNIVERSAL_AREA_TOLERANCE:g}x: the die-area finding rests "
                         "on the template's floor."))
    if universal["accelerator"] and floor:
        robust_txt += (" On accelerator area a fit against a floor-clamped chip is optimistic: "
                       "that chip's own optimum may be smaller.")
    if len(set(verdicts.values())) == 1:
        close = " The two measures agree."
    elif verdicts["die"] is False and verdicts["accelerator"] is True:
        close = (" The two measures disagree, so the verdict is MIXED: the scenario chips "
                 "differ in the accelerator they add, but one die serves every scenario within "
                 "the tolerance.")
    else:
        close = " The two measures disagree, so the verdict is MIXED."
    uncore_txt = ("dominated by" if fixed_share.min() > 0.5 else "including")
    answer = (
        f"Loss target L* = {target:.3f} ({REFERENCE_MODEL} under the PLAS law). Scenario "
        f"chips: {desc}. Identical chips: {same_txt}; at the lower bound of every sized "
        f"variable of the template: {', '.join(floor) or 'none'}"
        + (" (their optimum may lie below the space, so they are left out of the spread)"
           if floor else "")
        + f". {worst_txt}. Die areas are {uncore_txt} the fixed part (CPU cluster and "
        f"uncore, {span(fixed, '.0f')} mm^2, {span(fixed_share, '.0%')} of the die). "
        f"Off-diagonal uses that miss the target: "
        f"{len(misses)}/{len(off)} ({miss_txt}); {over_txt}. By area measure: "
        + "; ".join(measure_txt) + "." + robust_txt
        + close)
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=["scenarios (api.WORKLOADS, arXiv 2602.10377 Table 2): "
               + ", ".join(f"{s} < {api.WORKLOADS[s][1] * 1e3:g} ms "
                           f"{api.WORKLOADS[s][0].metric}" for s in scenarios)
               + "; batch 1, 1024 prompt + 16 generated tokens, FP16",
               f"co-design: api.codesign, objectives {', '.join(OBJECTIVES)}, NSGA-II pop {pop} "
               f"x {gens} generations, seeds {', '.join(map(str, seeds))} merged",
               f"selection: smallest accelerator area with loss <= L* = {target:.3f} "
               f"({REFERENCE_MODEL}, PLAS law), ties by peak power; refined by greedy "
               "chip-variable moves, every PLAS architecture scored per move",
               f"cross-scenario: every PLAS architecture ({len(arch)}"
               + (", every 4th FFN ratio" if quick else "") + ") scored on each chip under "
               "each budget",
               f"universal chip: reaches L* in every scenario at <= "
               f"{UNIVERSAL_AREA_TOLERANCE:g}x that scenario's own chip's area, judged on "
               "accelerator area (die less CPU cluster and uncore) and on die area; verdict "
               "MIXED when the two disagree; chips at the template's floor (every sized "
               "variable at its lower bound) are left out of the area spread"],
        answer=answer, supports=supports, table=chips.reset_index(),
        figures=_figures(chips, cross, target),
        extra_tables={"cross_scenario.csv": cross, "pairwise.csv": pairs},
        config={"pop_size": pop, "generations": gens, "seeds": seeds, "target_loss": target,
                "reference_model": REFERENCE_MODEL, "objectives": list(OBJECTIVES),
                "area_tolerance": UNIVERSAL_AREA_TOLERANCE,
                "verdict_by_measure": {m: VERDICT_WORDS[v] for m, v in verdicts.items()},
                "floor_clamped": floor})
