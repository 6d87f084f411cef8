"""Li Auto M100 and Mach-100-style variants against NVIDIA DRIVE Thor-U, Jetson AGX Thor and
Jetson AGX Orin: LLM and driving-VLA latency, energy, area and peak power.

Claims examined (press; docs/reference/chips.md section 3, "Effective compute claims", and
docs/reference/plas.md Sec. 6): one M100 has about 2x the effective compute of a Thor-U for LLMs
(LatePost, Aug 2025, via wanbiaoku.com/new/705312469454696448) and 3x for running the VLA (Li Auto,
Feb 2026, via reportify.ai and hawkinsight.com/en/article/8WSjW). "Effective compute" is read as a
latency ratio on the same workload: latency(Thor-U) / latency(M100).

The M100 preset already has dataflow dispatch (0.5 us per operator, no kernel launch) and fused
non-linear / conversion units; the variants add, one at a time and then together, a dedicated
KV-cache SRAM, a native MoE engine, phase-reconfigurable resources and twice the SRAM. A
further what-if doubles the DRAM bandwidth (not a Mach-100 feature; it shows what decode-bound
work would need). The M100 clock is not disclosed (the preset assumes one); the sensitivity
rows scale its compute to 1.2 and 1.8 GHz equivalents.

Precision tiers: the headline is the 8-bit tier, W8A8 INT8 with an FP16 KV cache on every
chip (the same format, so the ratio compares equal work). The 4-bit tier runs each chip's own
4-bit path (Thor NVFP4 W4A4, Orin INT4 W4A16, M100 INT4 W4A8): different formats, reported
apart and never pooled with the 8-bit tier.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import StudyResult, span

NAME = "mach100-vs-thor"
ORDER = 7  # reading order in `chipdse study list`
QUESTION = ("Does the Li Auto M100 (and Mach-100-style variants with KV SRAM, a native MoE "
            "engine, phase reconfiguration or more SRAM) reach the claimed 2x (LLM) and 3x (VLA) "
            "effective compute of a DRIVE Thor-U, at what area, peak power and energy per frame?")

# Press claims (docs/reference/chips.md section 3): M100 / Thor-U effective compute.
CLAIM_LLM = 2.0
CLAIM_VLA = 3.0
CLAIM_SHARE = 0.8  # "supported" needs at least 80 % of each claimed ratio
REFERENCE = "drive-thor-u"
M100 = "li-m100"
BASELINES = ("drive-thor-u", "jetson-agx-thor", "jetson-agx-orin-64gb")
TRACE = "vla-drive-10hz"
# LLM request: batch 1, 1024-token prompt (the driving prompt of docs/reference/plas.md),
# 128 generated tokens
# (assumption: an assistant turn, long enough that decode weighs as much as prefill).
LLM_PROMPT, LLM_GENERATE = 1024, 128
KV_SRAM_BYTES = 128 * 2**20  # holds qwen3-1.7b's 1,040-token KV cache (114 MiB at FP16)
RECONFIG_S = 10e-6           # assumption, as in the phase-aware study
SENSITIVITY_GHZ = (1.2, 1.8)
# The headline tier runs the same format (W8A8 INT8, FP16 KV) on every chip; the 4-bit tier is
# each chip's own 4-bit path (different formats), reported beside it.
HEADLINE_TIER = "8-bit"
NATIVE_TIER = "4-bit"
RATIOS = ("ratio_llm", "ratio_llm_prefill", "ratio_llm_decode", "ratio_vla")


def _m100_clock_ghz() -> float:
    """The clock of the li-m100 preset (not disclosed by Li Auto: an assumption there)."""
    return api.load_chip(M100).technology.clock_hz / 1e9


def _precisions(chip) -> dict[str, object]:
    """The two precision tiers, in formats each chip family runs natively.

    8-bit: W8A8 INT8, FP16 KV cache, on every chip. 4-bit weights: Thor runs NVFP4 weights and
    activations (the TensorRT Edge-LLM NVFP4 path its family efficiencies were fitted to);
    Orin runs INT4 AWQ with FP16 activations (its fitted TensorRT Edge-LLM path; Ampere has no
    FP4); the M100 runs INT4 weights with INT8 activations (assumption: its TCU takes 1-byte
    operands and the M100 precisions are not disclosed)."""
    four = {"thor": ("nvfp4", "nvfp4"), "orin": ("int4", "fp16")}.get(chip.family,
                                                                     ("int4", "int8"))
    return {"8-bit": api.make_precision("int8", "int8", "fp16"),
            "4-bit": api.make_precision(four[0], four[1], "fp16")}


def _variants(full: bool) -> list[tuple[str, str, object]]:
    """(label, kind, chip): the baselines, the M100 preset and its variants."""
    out = [(n, "baseline", api.load_chip(n)) for n in BASELINES]
    out.append((M100, "m100", api.load_chip(M100)))
    feats = {
        "+kv-sram": dict(kv_sram_bytes=KV_SRAM_BYTES),
        "+moe-engine": dict(native_moe=True),
        "+reconfigurable": dict(phase_mode="reconfigurable",
                                reconfiguration_latency_s=RECONFIG_S),
        "+2x-sram": dict(sram_scale=2.0),
    }
    if not full:
        feats.pop("+reconfigurable")
    for suffix, kw in feats.items():
        out.append((M100 + suffix, "m100", api.chip_variant(M100, M100 + suffix, **kw)))
    every = {k: v for kw in feats.values() for k, v in kw.items()}
    out.append((M100 + "+all", "m100", api.chip_variant(M100, M100 + "+all", **every)))
    out.append((M100 + "+2x-dram", "what-if",
                api.chip_variant(M100, M100 + "+2x-dram", dram_bandwidth_scale=2.0)))
    return out


def _measure(label: str, kind: str, chip, models: list[str]) -> list[dict]:
    rows = []
    area_model = api.chip_area_mm2(chip)
    power = api.chip_peak_power_w(chip)
    published = chip.technology.die_area_mm2
    for tier, p in _precisions(chip).items():
        for m in models:
            e = api.estimate(chip, m, p, 1, LLM_PROMPT, LLM_GENERATE)
            f = api.frame_estimate(chip, m, TRACE, p)
            rows.append(dict(
                chip=label, kind=kind, model=m, tier=tier, precision=p.label(),
                llm_prefill_ms=e.prefill_s * 1e3, llm_decode_ms_per_token=e.decode_s_per_token
                * 1e3, llm_total_ms=e.total_s * 1e3, llm_energy_j=e.energy_j,
                frame_encode_ms=f.encode_s * 1e3, frame_prefill_ms=f.prefill_s * 1e3,
                frame_decode_ms=f.decode_s * 1e3, frame_total_ms=f.total_s * 1e3,
                frame_energy_j=f.energy_j, area_model_mm2=area_model,
                area_published_mm2=np.nan if published is None else published,
                peak_power_w=float(power["total_w"]),
                int8_tops=chip.matrix.peak("int8") / 1e12,
                dram_gb_per_s=chip.dram.bandwidth_bytes_per_s / 1e9))
    return rows


def _geo(x: pd.Series) -> float:
    return float(np.exp(np.log(np.asarray(x, float)).mean()))


def _ratios(t: pd.DataFrame) -> pd.DataFrame:
    """Per (chip, model, tier): latency(Thor-U) / latency(chip) for the LLM request (total,
    prefill, decode) and the VLA frame."""
    ref = t[t.chip == REFERENCE].set_index(["model", "tier"])
    out = t.copy()
    key = list(zip(out.model, out.tier))
    for col, name in (("llm_total_ms", "ratio_llm"), ("llm_prefill_ms", "ratio_llm_prefill"),
                      ("llm_decode_ms_per_token", "ratio_llm_decode"),
                      ("frame_total_ms", "ratio_vla")):
        out[name] = [ref.loc[k, col] for k in key] / out[col]
    return out


def _summary(t: pd.DataFrame) -> pd.DataFrame:
    """Per chip: geometric mean of each ratio over the models, the headline (8-bit) tier
    unsuffixed and the native 4-bit tier suffixed ``_4bit``, with area, power and frame
    energy."""
    out = []
    for tier, suffix in ((HEADLINE_TIER, ""), (NATIVE_TIER, "_4bit")):
        g = t[t.tier == tier].groupby("chip", sort=False)
        cols = {f"{r}{suffix}": g[r].apply(_geo) for r in RATIOS}
        cols[f"frame_energy_j{suffix}"] = g.frame_energy_j.apply(_geo)
        cols[f"precision{suffix}"] = g.precision.first()
        out.append(pd.DataFrame(cols))
    g = t.groupby("chip", sort=False)
    s = pd.concat([pd.DataFrame({"kind": g.kind.first()})] + out, axis=1)
    for col in ("area_model_mm2", "area_published_mm2", "peak_power_w", "int8_tops",
                "dram_gb_per_s"):
        s[col] = g[col].first()
    s = s.reset_index()
    # Rule: a chip meets the claims when both headline (8-bit) ratios reach 80 % of the
    # claimed 2x and 3x.
    s["meets_llm"] = s.ratio_llm >= CLAIM_SHARE * CLAIM_LLM
    s["meets_vla"] = s.ratio_vla >= CLAIM_SHARE * CLAIM_VLA
    return s


def _sensitivity(models: list[str]) -> pd.DataFrame:
    rows = []
    clock = _m100_clock_ghz()
    ref = pd.DataFrame(_measure_latency(api.load_chip(REFERENCE), models, label=REFERENCE))
    ref = ref.set_index(["model", "tier"])
    for ghz in (SENSITIVITY_GHZ[0], clock, SENSITIVITY_GHZ[1]):
        chip = api.chip_variant(M100, f"{M100}@{ghz:g}GHz", compute_scale=ghz / clock)
        m = pd.DataFrame(_measure_latency(chip, models))
        row = dict(clock_ghz=ghz)
        for tier, suffix in ((HEADLINE_TIER, ""), (NATIVE_TIER, "_4bit")):
            mt = m[m.tier == tier]
            k = list(zip(mt.model, mt.tier))
            row[f"ratio_llm{suffix}"] = _geo([ref.loc[x, "llm"] for x in k] / mt.llm)
            row[f"ratio_vla{suffix}"] = _geo([ref.loc[x, "vla"] for x in k] / mt.vla)
        rows.append(row)
    return pd.DataFrame(rows)


def _measure_latency(chip, models, label=None) -> list[dict]:
    rows = []
    for tier, p in _precisions(chip).items():
        for m in models:
            rows.append(dict(chip=label or chip.name, model=m, tier=tier,
                             llm=api.estimate(chip, m, p, 1, LLM_PROMPT, LLM_GENERATE).total_s,
                             vla=api.frame_estimate(chip, m, TRACE, p).total_s))
    return rows


def _figure(s: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(11, 4.8))
    x = np.arange(len(s))
    w = 0.2
    ax.bar(x - 1.5 * w, s.ratio_llm, width=w, label=f"LLM, {HEADLINE_TIER} (W8A8 everywhere)")
    ax.bar(x - 0.5 * w, s.ratio_vla, width=w, label=f"VLA frame, {HEADLINE_TIER}")
    ax.bar(x + 0.5 * w, s.ratio_llm_4bit, width=w, hatch="//", alpha=0.6,
           label="LLM, each chip's native 4-bit path")
    ax.bar(x + 1.5 * w, s.ratio_vla_4bit, width=w, hatch="//", alpha=0.6,
           label="VLA frame, each chip's native 4-bit path")
    ax.axhline(CLAIM_LLM, color="tab:blue", ls="--", lw=0.8, label=f"claim LLM {CLAIM_LLM:g}x")
    ax.axhline(CLAIM_VLA, color="tab:orange", ls="--", lw=0.8, label=f"claim VLA {CLAIM_VLA:g}x")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(s.chip, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("latency(Thor-U) / latency(chip)")
    ax.set_title(f"Effective compute relative to DRIVE Thor-U (geometric mean over models; "
                 f"{TRACE})", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    models = ["qwen3-1.7b", "qwen3-30b-a3b"] + ([] if quick else ["qwen3-4b"])
    rows = []
    for label, kind, chip in _variants(full=not quick):
        rows.extend(_measure(label, kind, chip, models))
    t = _ratios(pd.DataFrame(rows))
    s = _summary(t)
    sens = _sensitivity(models)
    by = s.set_index("chip")
    pre = by.loc[M100]
    thor = by.loc[REFERENCE]
    clock = _m100_clock_ghz()
    # Verdict rule: on the headline (8-bit, same format on every chip) tier, SUPPORTED if the
    # M100 preset reaches >= 80 % of both claimed ratios, NOT SUPPORTED if it reaches neither,
    # MIXED if only one.
    halves = (bool(pre.meets_llm), bool(pre.meets_vla))
    supports = True if all(halves) else (False if not any(halves) else None)
    m100_rows = s[s.kind == "m100"]
    closing = m100_rows[m100_rows.meets_llm & m100_rows.meets_vla].chip.tolist()
    gains = "; ".join(
        f"{r.chip.removeprefix(M100)} {r.ratio_llm:.2f}x / {r.ratio_vla:.2f}x (4-bit "
        f"{r.ratio_llm_4bit:.2f}x / {r.ratio_vla_4bit:.2f}x)"
        for r in m100_rows.itertuples() if r.chip != M100)
    what_if = by.loc[M100 + "+2x-dram"]
    reconf_txt = ""
    if M100 + "+reconfigurable" in by.index:
        rc = by.loc[M100 + "+reconfigurable"]
        if abs(rc.ratio_vla / pre.ratio_vla - 1) < 1e-3:
            reconf_txt = (" Phase reconfiguration changes nothing here: a lone, uncontended "
                          "request never has prefill and decode active at once.")
    lo, hi = sens.iloc[0], sens.iloc[-1]
    head = t[(t.chip == M100) & (t.tier == HEADLINE_TIER)]
    four = {c: by.loc[c, "precision_4bit"].removesuffix("-kvfp16") for c in (M100, REFERENCE)}
    # DRAM: both chips' bandwidths from the presets; how far the on-chip features move decode.
    bw_m, bw_t = pre.dram_gb_per_s, thor.dram_gb_per_s
    bw_txt = (f"the same {bw_m:.0f} GB/s" if abs(bw_m / bw_t - 1) < 0.01 else
              f"{bw_m:.0f} GB/s (M100) and {bw_t:.0f} GB/s (Thor-U)")
    on_chip = m100_rows[m100_rows.chip != M100]
    dec_gain = float((on_chip.ratio_llm_decode / pre.ratio_llm_decode).max())
    dec_txt = (f"Decode of the two chips streams weights over {bw_txt}; the on-chip features "
               f"move the M100's LLM decode ratio by at most {dec_gain - 1:+.0%} (best "
               f"{on_chip.ratio_llm_decode.max():.2f}x vs {pre.ratio_llm_decode:.2f}x)")
    dw = what_if.ratio_llm_decode / pre.ratio_llm_decode
    dec_txt += (f", while doubling DRAM bandwidth (a what-if, not a Mach-100 feature) moves it "
                f"{dw:.2f}x, to {what_if.ratio_llm:.2f}x / {what_if.ratio_vla:.2f}x overall"
                + (": decode is held by DRAM bandwidth, not by on-chip resources."
                   if dw > 1.5 and dec_gain < 1.15 else "."))
    answer = (
        f"On the 8-bit tier (W8A8 INT8 with FP16 KV on every chip, so the same arithmetic), the "
        f"M100 preset reaches {pre.ratio_llm:.2f}x Thor-U on the LLM request (prefill "
        f"{pre.ratio_llm_prefill:.2f}x, decode {pre.ratio_llm_decode:.2f}x; models "
        f"{span(head.ratio_llm, '.2f')}x) and {pre.ratio_vla:.2f}x on the VLA frame (models "
        f"{span(head.ratio_vla, '.2f')}x), against claims of {CLAIM_LLM:g}x and {CLAIM_VLA:g}x "
        f"(needed: {CLAIM_SHARE * CLAIM_LLM:.1f}x and {CLAIM_SHARE * CLAIM_VLA:.1f}x). "
        f"Each chip's native 4-bit path (M100 {four[M100]}, Thor-U {four[REFERENCE]}: different "
        f"formats, so a comparison of deployments rather than of equal work) gives "
        f"{pre.ratio_llm_4bit:.2f}x / {pre.ratio_vla_4bit:.2f}x (LLM / VLA). "
        f"Variants, 8-bit LLM / VLA: {gains}. Variants reaching both thresholds on the 8-bit "
        f"tier: {', '.join(closing) or 'none'}.{reconf_txt} {dec_txt} Clock sensitivity "
        f"(compute scaled from the preset's {clock:g} GHz, 8-bit): {lo.clock_ghz:g} GHz "
        f"{lo.ratio_llm:.2f}x / {lo.ratio_vla:.2f}x, {hi.clock_ghz:g} GHz {hi.ratio_llm:.2f}x "
        f"/ {hi.ratio_vla:.2f}x. Area (model / published): M100 {pre.area_model_mm2:.0f} / "
        f"{pre.area_published_mm2:.1f} mm^2, Thor-U {thor.area_model_mm2:.0f} / "
        f"{thor.area_published_mm2:.0f} mm^2; the +kv-sram variant adds "
        f"{by.loc[M100 + '+kv-sram'].area_model_mm2 - pre.area_model_mm2:.0f} mm^2. "
        f"Peak accelerator power (CPU excluded): M100 {pre.peak_power_w:.0f} W, Thor-U "
        f"{thor.peak_power_w:.0f} W. Energy per VLA frame (geometric mean, 8-bit / native "
        f"4-bit): M100 {pre.frame_energy_j:.2f} / {pre.frame_energy_j_4bit:.2f} J, Thor-U "
        f"{thor.frame_energy_j:.2f} / {thor.frame_energy_j_4bit:.2f} J, Jetson AGX Thor "
        f"{by.loc['jetson-agx-thor'].frame_energy_j:.2f} / "
        f"{by.loc['jetson-agx-thor'].frame_energy_j_4bit:.2f} J, AGX Orin "
        f"{by.loc['jetson-agx-orin-64gb'].frame_energy_j:.2f} / "
        f"{by.loc['jetson-agx-orin-64gb'].frame_energy_j_4bit:.2f} J.")
    req = api.load_trace(TRACE).streams[0].request
    tiers_4 = ", ".join(f"{c} {by.loc[c, 'precision_4bit']}" for c in (*BASELINES, M100))
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {', '.join(BASELINES)}, {M100} (clock {clock:g} GHz, the preset's "
               f"assumption) and variants {', '.join(s.chip[s.kind != 'baseline'][1:])}",
               f"variants: KV SRAM {KV_SRAM_BYTES / 2**20:g} MiB at the chip's on-chip SRAM "
               f"bandwidth; reconfiguration {RECONFIG_S * 1e6:g} us (assumption); +2x-dram is "
               "a what-if, not a Mach-100 feature",
               f"models: {', '.join(models)}; headline tier 8-bit: "
               + (f"{s.precision.iloc[0]} on every chip" if s.precision.nunique() == 1 else
                  ", ".join(f"{c} {by.loc[c, 'precision']}" for c in by.index))
               + f"; native 4-bit tier (reported apart): {tiers_4}",
               f"LLM request: batch 1, prompt {LLM_PROMPT}, {LLM_GENERATE} generated tokens; VLA "
               f"frame: {TRACE} ({req.prefill_tokens}-token prefill, {req.action_tokens} action "
               "tokens, the trace's vision encoder), uncontended",
               f"effective compute = latency(Thor-U) / latency(chip), geometric mean over models "
               f"per tier; claims {CLAIM_LLM:g}x LLM and {CLAIM_VLA:g}x VLA (press, "
               f"docs/reference/chips.md "
               f"section 3); verdict on the 8-bit tier, threshold {CLAIM_SHARE:.0%} of each",
               "area: chipdse area model (die with fused-off units, CPU cluster and automotive "
               "uncore) beside the published die area where there is one; peak power: every "
               "engine and memory level busy, CPU cluster excluded"],
        answer=answer, supports=supports, table=t,
        figures={"effective_compute.png": _figure(s)},
        extra_tables={"summary.csv": s, "clock_sensitivity.csv": sens},
        config={"models": models, "trace": TRACE, "reference": REFERENCE,
                "llm_prompt": LLM_PROMPT, "llm_generate": LLM_GENERATE,
                "claims": {"llm": CLAIM_LLM, "vla": CLAIM_VLA, "share": CLAIM_SHARE},
                "headline_tier": HEADLINE_TIER, "m100_clock_ghz": clock})
