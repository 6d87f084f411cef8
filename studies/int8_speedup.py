"""INT8 over FP16, per phase: conventional GPU-style chips (non-linear operators and precision
conversions on the vector units, one launch each) against chips with native mixed precision
and fused operators, with the speed-up's shortfall from 2x split into its causes.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 5): "INT8 gives 1.3-1.6x instead of
2x on conventional platforms (non-linear operators, precision conversions): native mixed
precision and operator fusion are needed." Read as four claims, each judged per phase (prefill
of a 1024-token prompt; decode of 16 tokens at a 1024-token context, batch 1, the driving
request of arXiv 2602.10377), on the geometric mean over the models:

* ``int8-conventional-ceiling`` / ``-floor``: on each conventional chip (Jetson AGX Orin,
  Jetson AGX Thor) the INT8 (W8A8, FP16 KV) over FP16 speed-up is at most 1.6x / at least 1.3x;
* ``int8-native-near-2x``: on native / fused chips (the Li Auto M100 and the two conventional
  chips with fused non-linear and conversion units, a what-if at the area the model gives it)
  it is at least 1.8x (90 % of the ideal);
* ``int8-shortfall-mechanism``: on each conventional chip, non-linear operators and
  conversions cause at least half of the time INT8 loses against an ideal 2x.

The mechanism is separated by counterfactual runs of the same chip: INT8 with conversions fused
(their cost removed), FP16 and INT8 with non-linear operators and conversions fused, and INT8
with the KV cache also in INT8 (every byte halved). The time INT8 loses against half the FP16
time, gap = T8 - T16 / 2, splits exactly into conversions (T8 - T8[conv fused]), non-linear
operators (the rest of T8 - T8[fused] beyond half of FP16's own T16 - T16[fused]), KV bytes
INT8 weights leave in FP16 (T8[fused] - T8kv8[fused]) and the rest (per-operator launches,
GEMM shape and efficiency, traffic that does not halve: T8kv8[fused] - T16[fused] / 2).

Uncertainty: every claim on every draw of the chips' uncertain numbers (``Uncertain``). Every
format inherits the chip's measured GEMM efficiency, so the matrix efficiency cancels in a
prefill speed-up; what does not cancel is the vector efficiency, the launch cost and the
conversion cost. Orin and Thor are their families' calibration chips, where a chip file's own
numbers are held; no W8A8 row exists to identify ``quant.conversion_ops_per_element`` (ops to
quantise one activation element), so this study also draws it uniformly from its stated range
(1-4) on them, and adds it to the tornado. The cost model's prediction error is one factor per
chip and phase, common to its FP16 and INT8 runs, so it cancels in a speed-up (the tornado
shows it). Variants take their base chip's draws (paired what-ifs).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

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
    write_result,
)

NAME = "int8-speedup"
ORDER = 6  # reading order in `chipdse study list`
QUESTION = ("Per phase, is the INT8-over-FP16 speed-up within the claimed 1.3-1.6x on a "
            "conventional GPU-style chip and near 2x on a chip with native mixed precision and "
            "fused operators, and do non-linear operators and conversions cause the shortfall?")
SOURCE = "docs/reference/plas.md Sec. 6, conclusion 5"
CLAIM_BAND = (1.3, 1.6)
NATIVE_TARGET = 1.8  # "approach 2x": at least 90 % of the ideal
MECHANISM_SHARE = 0.5  # "caused by": at least half of the lost time
CEILING = claim("int8-conventional-ceiling", "INT8 gives at most 1.6x over FP16 on a "
                "conventional chip", "INT8 / FP16 speed-up", CLAIM_BAND[1], "<=", SOURCE)
FLOOR = claim("int8-conventional-floor", "INT8 gives at least 1.3x over FP16 on a "
              "conventional chip", "INT8 / FP16 speed-up", CLAIM_BAND[0], ">=", SOURCE)
NATIVE = claim("int8-native-near-2x", "INT8 approaches 2x over FP16 with native mixed "
               "precision and fused operators", "INT8 / FP16 speed-up", NATIVE_TARGET, ">=",
               SOURCE)
MECHANISM = claim("int8-shortfall-mechanism", "non-linear operators and conversions cause the "
                  "INT8 shortfall from 2x on a conventional chip", "share of the time lost vs 2x",
                  MECHANISM_SHARE, ">=", SOURCE)
CONVENTIONAL = ("jetson-agx-orin-64gb", "jetson-agx-thor")
M100 = "li-m100"
PHASES = ("prefill", "decode")
PROMPT, GENERATE = 1024, 16  # the driving request (arXiv 2602.10377 Sec. 4)
CONVERSION_PATH = "quant.conversion_ops_per_element"
FP16 = api.make_precision("fp16", "fp16", "fp16")
INT8 = api.make_precision("int8", "int8", "fp16")
INT8_KV8 = api.make_precision("int8", "int8", "int8")
# run -> (chip variant, precision): the measured pair and the counterfactuals that remove one
# cause of the shortfall at a time.
RUNS = {"fp16": ("", FP16), "int8": ("", INT8), "int8_conv_fused": ("+conv", INT8),
        "fp16_fused": ("+fused", FP16), "int8_fused": ("+fused", INT8),
        "int8_kv8_fused": ("+fused", INT8_KV8)}
VARIANTS = {"": {}, "+conv": dict(fused_conversion=True),
            "+fused": dict(fused_conversion=True, fused_nonlinear=True)}
CAUSES = ("conversion", "nonlinear", "kv_fp16", "rest")
CAUSE_LABELS = {"conversion": "precision conversions", "nonlinear": "non-linear operators",
                "kv_fp16": "KV cache left in FP16", "rest": "launches, GEMM shape, other traffic"}


def _models(quick: bool) -> list[str]:
    return ["qwen2.5-0.5b", "qwen3-1.7b"] if quick else \
        ["qwen2.5-0.5b", "qwen3-0.6b", "llama-3.2-1b", "qwen3-1.7b", "qwen3-4b"]


def _geo(x) -> np.ndarray:
    return np.exp(np.mean(np.log(np.asarray(x, dtype=float)), axis=0))


def _single(chips: dict, factors: dict) -> tuple[dict, dict]:
    """One chip per name and its time factors as one-draw arrays (nominal values and tornado
    ends go through the same vectorised path as the draws)."""
    return ({k: [c] for k, c in chips.items()},
            {k: {p: np.array([float(v)]) for p, v in f.items()} for k, f in factors.items()})


class Runs:
    """Per-phase times of every (chip, run, model) on a set of draws: ``chips`` (name -> one
    chip per draw) and ``factors`` (name -> phase -> time factor per draw); the conventional
    chips with ``conversion`` (their conversion cost per draw) when given, and their paired
    variants."""

    def __init__(self, u: Uncertain, chips: dict, factors: dict, models: list[str],
                 conversion: dict[str, np.ndarray] | None = None):
        self.models = [api.load_model(m) for m in models]
        self.u = u
        base = {}
        for name in (*CONVENTIONAL, M100):
            per = chips[name]
            if conversion is not None and name in conversion:
                per = [api.chip_at(c, {CONVERSION_PATH: float(v)})
                       for c, v in zip(per, conversion[name])]
            base[name] = per
        self.chips, self.nominal, tf = {}, {}, {}
        for name, per in base.items():
            for suffix, kw in (VARIANTS.items() if name in CONVENTIONAL else [("", {})]):
                label = name + suffix
                self.chips[label] = [api.chip_variant(c, label, **kw) if kw else c for c in per]
                nom = u.chips[name]
                self.nominal[label] = api.chip_variant(nom, label, **kw) if kw else nom
                tf[label] = factors[name]
        n = len(next(iter(self.chips.values())))
        self.draws = dataclasses.replace(u.draws, n=n, chips=self.chips, time_factor=tf)
        self._cache: dict = {}

    def times(self, chip: str, run: str) -> dict[str, np.ndarray]:
        """{phase: (models, draws) array of seconds} of ``run`` on base chip ``chip``."""
        key = (chip, run)
        if key not in self._cache:
            suffix, p = RUNS[run]
            label = chip + suffix if chip in CONVENTIONAL else chip
            c = self.nominal[label]
            out = {ph: [] for ph in PHASES}
            for m in self.models:
                s = api.estimate_samples(c, m, p, 1, PROMPT, GENERATE, self.draws)
                out["prefill"].append(s["prefill_s"])
                out["decode"].append(s["decode_s"])
            self._cache[key] = {ph: np.array(v) for ph, v in out.items()}
        return self._cache[key]

    def speedup(self, chip: str, phase: str, fused: bool = False) -> np.ndarray:
        """Per model and draw: FP16 / INT8 time (on the +fused variant with ``fused``)."""
        a = self.times(chip, "fp16_fused" if fused else "fp16")[phase]
        b = self.times(chip, "int8_fused" if fused else "int8")[phase]
        return a / b

    def causes(self, chip: str, phase: str) -> dict[str, np.ndarray]:
        """Per model and draw: the share of the time lost against 2x by each cause."""
        t = {r: self.times(chip, r)[phase] for r in RUNS}
        gap = t["int8"] - t["fp16"] / 2
        conv = t["int8"] - t["int8_conv_fused"]
        both = (t["int8"] - t["int8_fused"]) - (t["fp16"] - t["fp16_fused"]) / 2
        kv = t["int8_fused"] - t["int8_kv8_fused"]
        return {"conversion": conv / gap, "nonlinear": (both - conv) / gap, "kv_fp16": kv / gap,
                "rest": 1.0 - (both + kv) / gap, "gap_s": gap}


def _native_speedup(r: Runs, phase: str) -> np.ndarray:
    """Geometric mean over the native / fused chips and models (per draw)."""
    parts = [r.speedup(M100, phase)] + [r.speedup(c, phase, fused=True) for c in CONVENTIONAL]
    return _geo(np.concatenate(parts, axis=0))


def _metrics(r: Runs) -> dict[tuple[str, str, str], np.ndarray]:
    """(claim key, scope chip, phase) -> per-draw value of the claim's metric."""
    out = {}
    for ph in PHASES:
        for c in CONVENTIONAL:
            s = _geo(r.speedup(c, ph))
            out[(CEILING.key, c, ph)] = s
            out[(FLOOR.key, c, ph)] = s
            cs = r.causes(c, ph)
            out[(MECHANISM.key, c, ph)] = np.mean(cs["conversion"] + cs["nonlinear"], axis=0)
        out[(NATIVE.key, "native / fused", ph)] = _native_speedup(r, ph)
    return out


def _conversion_draws(u: Uncertain, n: int, seed: int) -> dict[str, np.ndarray]:
    """Uniform draws of the conversion cost on the conventional (calibration) chips, from the
    range their files state; one draw per chip (a chip-file number, like the others)."""
    rng = np.random.default_rng(seed + 7919)  # a stream apart from the api's draws
    out = {}
    for c in CONVENTIONAL:
        v = next(x for x in api.uncertain_numbers(u.chips[c]) if x.path == CONVERSION_PATH)
        out[c] = rng.uniform(v.low, v.high, n)
    return out


def _tornado(u: Uncertain, models: list[str], chip: str, phase: str) -> pd.DataFrame:
    """Tornado of the conventional chip's INT8 speed-up in ``phase``: the api's numbers
    (Uncertain.tornado) plus the conversion cost this study draws itself."""
    cache: dict = {}

    def metric(chips, factors, conversion=None):
        key = (id(chips[chip]), tuple(factors[chip].values()), conversion)
        if key not in cache:
            conv = None if conversion is None else {chip: np.array([conversion])}
            r = Runs(u, *_single({k: chips[k] for k in (*CONVENTIONAL, M100)}, factors),
                     models, conv)
            cache[key] = (float(_geo(r.speedup(chip, phase))[0]), chips[chip])
        return cache[key][0]

    t = u.tornado(metric, top=None)
    v = next(x for x in api.uncertain_numbers(u.chips[chip]) if x.path == CONVERSION_PATH)
    lo, hi = (metric(u.chips, u.ones, x) for x in (v.low, v.high))
    row = dict(number=f"{chip}:{CONVERSION_PATH} (study)", low=v.low, high=v.high,
               nominal=v.nominal, metric_low=lo, metric_high=hi, kind="assumption",
               base=float(t.base.iloc[0]), swing=abs(hi - lo))
    t = pd.concat([t, pd.DataFrame([row])], ignore_index=True)
    return t.sort_values("swing", ascending=False).reset_index(drop=True)


def _gap_ms(r: Runs, chip: str, phase: str) -> float:
    """Mean over models of the nominal time INT8 loses against 2x, in ms."""
    return float(np.mean(r.causes(chip, phase)["gap_s"][:, 0]) * 1e3)


def _table(nom: Runs, r: Runs, models: list[str]) -> pd.DataFrame:
    """One row per (chip, model, phase): nominal times and speed-ups, the causes of the
    shortfall and the speed-up's band over the draws."""
    rows = []
    chips = [(c, "conventional", False) for c in CONVENTIONAL] + \
        [(c + "+fused", "fused what-if", True) for c in CONVENTIONAL] + [(M100, "native", False)]
    for label, kind, fused in chips:
        base = label.removesuffix("+fused")
        for ph in PHASES:
            s_nom = nom.speedup(base, ph, fused)[:, 0]
            s_all = r.speedup(base, ph, fused)
            t16 = nom.times(base, "fp16_fused" if fused else "fp16")[ph][:, 0]
            t8 = nom.times(base, "int8_fused" if fused else "int8")[ph][:, 0]
            cs = nom.causes(base, ph) if kind == "conventional" else None
            for i, m in enumerate(models):
                row = dict(chip=label, kind=kind, model=m, phase=ph, fp16_s=t16[i], int8_s=t8[i],
                           speedup=s_nom[i], speedup_p05=np.percentile(s_all[i], 5),
                           speedup_p95=np.percentile(s_all[i], 95))
                if cs is not None:
                    row["gap_s"] = cs["gap_s"][i, 0]
                    for k in CAUSES:
                        row[f"share_{k}"] = cs[k][i, 0]
                rows.append(row)
    return pd.DataFrame(rows)


def _summary(nom: Runs, r: Runs) -> pd.DataFrame:
    """Per (chip, phase): geometric-mean speed-up (nominal, p05, p50, p95) and, on the
    conventional chips, the mean share of each cause (nominal and 5-95 %)."""
    rows = []
    chips = [(c, False) for c in CONVENTIONAL] + [(c, True) for c in CONVENTIONAL] + \
        [(M100, False)]
    for c, fused in chips:
        for ph in PHASES:
            s = _geo(r.speedup(c, ph, fused))
            row = dict(chip=c + ("+fused" if fused else ""), phase=ph,
                       speedup=float(_geo(nom.speedup(c, ph, fused))[0]),
                       speedup_p05=np.percentile(s, 5), speedup_p50=np.percentile(s, 50),
                       speedup_p95=np.percentile(s, 95),
                       area_mm2=api.chip_area_mm2(nom.nominal[c + ("+fused" if fused else "")]),
                       peak_power_w=float(api.chip_peak_power_w(
                           nom.nominal[c + ("+fused" if fused else "")])["total_w"]))
            if c in CONVENTIONAL and not fused:
                cn, cr = nom.causes(c, ph), r.causes(c, ph)
                for k in CAUSES:
                    row[f"share_{k}"] = float(np.mean(cn[k][:, 0]))
                    d = np.mean(cr[k], axis=0)
                    row[f"share_{k}_p05"] = np.percentile(d, 5)
                    row[f"share_{k}_p95"] = np.percentile(d, 95)
                both = np.mean(cr["conversion"] + cr["nonlinear"], axis=0)
                row["share_conv_nl_p05"] = np.percentile(both, 5)
                row["share_conv_nl_p95"] = np.percentile(both, 95)
            rows.append(row)
    return pd.DataFrame(rows)


def _speedup_figure(s: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(9, 4.6))
    chips = list(dict.fromkeys(s.chip))
    x = np.arange(len(chips))
    w = 0.36
    lo, hi = CLAIM_BAND
    ax.axhspan(lo, hi, color="0.88", zorder=0, label=f"claimed {lo}-{hi}x (conventional)")
    ax.axhline(2.0, color="k", ls="--", lw=0.8, label="ideal 2x")
    ax.axhline(NATIVE_TARGET, color="tab:green", ls=":", lw=1.0,
               label=f"'near 2x' ({NATIVE_TARGET}x)")
    for j, (ph, col) in enumerate((("prefill", "tab:blue"), ("decode", "tab:orange"))):
        g = s[s.phase == ph].set_index("chip").loc[chips]
        ax.bar(x + (j - 0.5) * w, g.speedup, width=w, color=col, alpha=0.85,
               label=f"{ph} (nominal; whiskers 5-95 % of draws)")
        ax.errorbar(x + (j - 0.5) * w, g.speedup_p50,
                    yerr=[g.speedup_p50 - g.speedup_p05, g.speedup_p95 - g.speedup_p50],
                    fmt="none", ecolor="k", capsize=3, lw=0.9)
    ax.set_xticks(x)
    ax.set_xticklabels([c.replace("+fused", "\n+fused (what-if)") for c in chips], fontsize=8)
    ax.set_ylabel("INT8 / FP16 speed-up (geometric mean over models)")
    ax.set_ylim(1.0, 2.3)
    ax.set_title(f"INT8 (W8A8, FP16 KV) over FP16 per phase: batch 1, {PROMPT}-token prompt, "
                 f"{GENERATE} tokens decoded", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


def _causes_figure(s: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(8, 4.4))
    g = s[s.share_conversion.notna()].reset_index(drop=True)
    x = np.arange(len(g))
    colours = {"conversion": "tab:red", "nonlinear": "tab:purple", "kv_fp16": "tab:cyan",
               "rest": "0.6"}
    pos = np.zeros(len(g))
    neg = np.zeros(len(g))
    for k in CAUSES:
        v = g[f"share_{k}"].to_numpy(float)
        bottom = np.where(v >= 0, pos, neg)
        ax.bar(x, v, bottom=bottom, color=colours[k], label=CAUSE_LABELS[k], width=0.6)
        pos, neg = pos + np.maximum(v, 0), neg + np.minimum(v, 0)
    both = g.share_conversion + g.share_nonlinear
    lo, hi = g.share_conv_nl_p05, g.share_conv_nl_p95
    ax.errorbar(x + 0.33, both, yerr=[np.maximum(both - lo, 0), np.maximum(hi - both, 0)],
                fmt="o", color="k", ms=3, capsize=3, lw=0.9,
                label="conversions + non-linear (5-95 % of draws)")
    ax.axhline(MECHANISM_SHARE, color="crimson", ls="--", lw=1.0,
               label=f"claim threshold ({MECHANISM_SHARE:.0%})")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r.chip}\n{r.phase}" for r in g.itertuples()], fontsize=8)
    ax.set_ylabel("share of the time INT8 loses against 2x")
    ax.set_ylim(min(-0.1, float(neg.min()) - 0.05), 1.25)
    ax.set_title("Where the INT8 shortfall goes (nominal; mean over models)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    return fig


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    models = _models(quick)
    n = samples_for(quick)
    u = Uncertain([*CONVENTIONAL, M100], n, seed)
    nom = Runs(u, *_single(u.chips, u.ones), models)
    r = Runs(u, u.draws.chips, u.draws.time_factor, models, _conversion_draws(u, n, seed))
    nm, dm = _metrics(nom), _metrics(r)
    claims = {c.key: c for c in (CEILING, FLOOR, NATIVE, MECHANISM)}
    head_chip, head_phase = "jetson-agx-thor", "prefill"
    full_tornado = _tornado(u, models, head_chip, head_phase)
    moving = full_tornado.swing > 1e-9
    tornado = full_tornado[moving].head(10).reset_index(drop=True)
    pe = full_tornado[full_tornado.kind == "prediction error"]
    pe_cancels = bool(len(pe)) and bool((pe.swing <= 1e-9).all())
    top = ", ".join(tornado.number.head(2).str.replace("family:", ""))
    verdicts = []
    for (key, scope_chip, ph), samples in dm.items():
        scope = f"{scope_chip}, {ph}"
        verdicts.append(Verdict(claims[key], float(nm[(key, scope_chip, ph)][0]), samples,
                                scope, top if (scope_chip, ph) == (head_chip, head_phase)
                                and key in (CEILING.key, FLOOR.key) else ""))
    order = {CEILING.key: 0, FLOOR.key: 1, MECHANISM.key: 2, NATIVE.key: 3}
    verdicts.sort(key=lambda v: (order[v.claim.key], v.scope.split(", ")[0],
                                 PHASES.index(v.scope.split(", ")[1])))
    t = _table(nom, r, models)
    s = _summary(nom, r)
    by = s.set_index(["chip", "phase"])

    def sp(c, ph):
        x = by.loc[(c, ph)]
        return f"{x.speedup:.2f}x ({x.speedup_p05:.2f}-{x.speedup_p95:.2f})"

    conv_txt = "; ".join(f"{c}: prefill {sp(c, 'prefill')}, decode {sp(c, 'decode')}"
                         for c in CONVENTIONAL)
    fused_txt = "; ".join(f"{c}+fused: prefill {sp(c + '+fused', 'prefill')}, decode "
                          f"{sp(c + '+fused', 'decode')}" for c in CONVENTIONAL)
    cause_txt = "; ".join(
        f"{c} {ph} (gap {_gap_ms(nom, c, ph):.1f} ms): " + ", ".join(
            f"{CAUSE_LABELS[k]} {by.loc[(c, ph), f'share_{k}']:.0%}" for k in CAUSES)
        for c in CONVENTIONAL for ph in PHASES)
    largest = {(c, ph): max(CAUSES, key=lambda k: by.loc[(c, ph), f"share_{k}"])
               for c in CONVENTIONAL for ph in PHASES}
    area = {c: (by.loc[(c + "+fused", "prefill"), "area_mm2"]
                - by.loc[(c, "prefill"), "area_mm2"]) for c in CONVENTIONAL}
    per_model = t[t.kind == "conventional"]
    over = s[s.speedup > 2.0]
    answer = (
        f"INT8 (W8A8, FP16 KV) over FP16, geometric mean over {len(models)} models, nominal "
        f"(5-95 % of {n} draws). Conventional chips: {conv_txt}; per model "
        f"{span(per_model.speedup, '.2f')}x. Native M100: prefill {sp(M100, 'prefill')}, decode "
        f"{sp(M100, 'decode')}"
        + (f" (above 2x in {', '.join(f'{r.chip} {r.phase}' for r in over.itertuples())})"
           if len(over) else "")
        + f". Fused what-ifs: {fused_txt}; the fused units add "
        + ", ".join(f"{area[c]:.1f} mm^2 to {c}" for c in CONVENTIONAL)
        + " in the area model. Time INT8 loses against 2x, by cause (nominal, mean share over "
        f"models): {cause_txt}. The largest cause: "
        + "; ".join(f"{c} {ph} {CAUSE_LABELS[k]}" for (c, ph), k in largest.items())
        + f". The {head_chip} {head_phase} speed-up swings most with "
        + ", ".join(f"{r.number.replace('family:', '')} ({r.metric_low:.2f}x at its low end, "
                    f"{r.metric_high:.2f}x at its high end)" for r in tornado.head(3).itertuples())
        + (f"; the prediction error is common to a chip's FP16 and INT8 runs and cancels (zero "
           f"swing in all {len(pe)} of its tornado entries)" if pe_cancels else "") + ".")
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: conventional {', '.join(CONVENTIONAL)}; native {M100}; what-ifs "
               + ", ".join(f"{c}+fused" for c in CONVENTIONAL)
               + " (fused non-linear and conversion units, the same chip otherwise)",
               f"models: {', '.join(models)}; batch 1, prompt {PROMPT}, {GENERATE} generated "
               "tokens (arXiv 2602.10377 driving request); prefill and decode judged apart",
               "precisions: FP16 (w/a/kv fp16) against INT8 (w8a8, kv fp16); INT8 KV (w8a8kv8) "
               "only as the counterfactual that halves the KV bytes",
               "counterfactuals for the causes: conversions fused (+conv), non-linear operators "
               "and conversions fused (+fused), INT8 KV on +fused",
               f"uncertainty: {n} seeded draws (seed {seed}) of the chips' ranged numbers, plus "
               f"{CONVERSION_PATH} drawn uniformly in its range on the conventional calibration "
               "chips; prediction error common to a chip's runs (cancels)",
               f"iso-chip by construction (FP16 and INT8 on one chip); area / peak power in "
               f"summary.csv: Orin {by.loc[(CONVENTIONAL[0], 'prefill'), 'area_mm2']:.0f} mm^2 "
               f"{by.loc[(CONVENTIONAL[0], 'prefill'), 'peak_power_w']:.0f} W, Thor "
               f"{by.loc[(CONVENTIONAL[1], 'prefill'), 'area_mm2']:.0f} mm^2 "
               f"{by.loc[(CONVENTIONAL[1], 'prefill'), 'peak_power_w']:.0f} W, M100 "
               f"{by.loc[(M100, 'prefill'), 'area_mm2']:.0f} mm^2 "
               f"{by.loc[(M100, 'prefill'), 'peak_power_w']:.0f} W (area model; peak power "
               "with every engine busy)"],
        answer=answer, supports=None, table=t,
        figures={"speedup.png": _speedup_figure(s), "causes.png": _causes_figure(s),
                 "tornado.png": tornado_figure(
                     tornado, f"INT8 / FP16 prefill speed-up on {head_chip}", CLAIM_BAND[1],
                     f"What swings the {head_phase} speed-up on {head_chip} (ceiling claim "
                     f"{CLAIM_BAND[1]}x dashed)")},
        extra_tables={"summary.csv": s},
        config={"models": models, "prompt": PROMPT, "generate": GENERATE, "draws": n,
                "claims": {c.key: [c.direction, c.threshold] for c in claims.values()},
                "tornado_metric": f"{head_chip} {head_phase} speed-up"},
        verdicts=verdicts, tornado=tornado)


def main(out_dir: str | Path, quick: bool = False, seed: int = 0) -> Path:
    return write_result(run(out_dir, quick, seed), out_dir, quick, seed)
