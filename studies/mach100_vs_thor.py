"""Li Auto M100 against NVIDIA DRIVE Thor-U, per phase: does one M100 have the claimed 2x
(LLM) and 3x (VLA) effective compute, and where (prefill, decode, end to end)?

Claims examined (press; docs/reference/chips.md section 3, "Effective compute claims"): one
M100 has about 2x the effective compute of a Thor-U for LLMs (LatePost, Aug 2025, via
wanbiaoku.com/new/705312469454696448) and 3x "running the VLA" (Li Auto, Feb 2026, via
reportify.ai and hawkinsight.com/en/article/8WSjW). "Effective compute" is read as a latency
ratio on the same workload, latency(Thor-U) / latency(M100), and "about" as at least 80 % of
the stated ratio (an assumption of this study).

Each claim is judged per phase, because the phases are bound by different resources and the
two chips share one DRAM bandwidth (273 GB/s): prefill (the compute-bound pass; for the VLA
frame the vision encoder plus the language prefill), decode, and end to end.

* ``m100-llm-2x`` on an LLM request (batch 1, 1024-token prompt, 128 generated tokens, an
  assumption: an assistant turn), geometric mean over the Qwen3 LLMs from 0.6B to 30B-A3B.
* ``m100-vla-3x`` on one frame of the 10 Hz driving VLA trace (6 cameras through a ViT-L/14,
  1024-token prefill, 16 action tokens) whose language model is a small on-chip MoE like the
  one Li Auto describes (about 0.4B parameters, 8 experts). Its shape is an assumption
  modelled on that public description (:func:`vla_model`): Qwen3-0.6B's attention, width and
  vocabulary, 16 layers of 8 SwiGLU experts (top-2, 384 wide), 0.41B parameters in total.

Both precision paths are judged: W8A8 INT8 with an FP16 KV cache on every chip (the same
arithmetic: equal work), and each chip's own 4-bit path (Thor NVFP4 W4A4, Orin INT4 W4A16,
M100 INT4 W4A8: a comparison of deployments, not of equal work).

Uncertainty: every claim on every draw (``Uncertain`` over the M100, Thor-U, Jetson AGX Thor
and Orin, drawn at once). M100 and Thor are different families, so their terms and their
prediction errors are drawn independently; the M100 clock (not disclosed, 1.0-1.8 GHz in
li-m100.yaml) is one of the drawn numbers, as are Thor-U's SM clock and static power. Thor-U's
INT8 GEMM efficiency is inherited from Thor's measured GEMM efficiency (0.70, 0.63-0.83).

Sweeps: the prefill / decode mix (generated tokens at a 1024-token prompt) and the model size
(the 0.4B MoE to 30B-A3B, LLM request and VLA frame), each with 5-95 % bands. Controls: the
dies are nearly iso-area (399.8 and 415 mm^2 published) and Li Auto states an identical power
budget; the ratios are also reported per mm^2 and per watt of modelled peak power. Jetson AGX
Thor (the full Thor configuration) is the strongest NVIDIA alternative. Mach-100-style M100
variants (KV SRAM, MoE engine, phase reconfiguration, 2x SRAM, all of them) and a 2x-DRAM
what-if are re-scored on the same draws (paired: each draw's M100 with the feature added).
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
)

NAME = "mach100-vs-thor"
ORDER = 7  # reading order in `chipdse study list`
QUESTION = ("Per phase (prefill, decode, end to end), does the Li Auto M100 reach the claimed "
            "2x (LLM) and 3x (VLA, on a small on-chip MoE) effective compute of a DRIVE Thor-U "
            "under the model's uncertainty, across the prefill / decode mix and model size, and "
            "what do Mach-100-style features add at what area and peak power?")

CLAIM_LLM, CLAIM_VLA = 2.0, 3.0  # press (docs/reference/chips.md section 3)
CLAIM_SHARE = 0.8  # assumption: "about 2x / 3x" read as at least 80 % of the stated ratio
LLM = claim("m100-llm-2x", "one M100 has about 2x the effective LLM compute of a DRIVE Thor-U",
            "latency(Thor-U) / latency(M100)", CLAIM_SHARE * CLAIM_LLM, ">=",
            "LatePost Aug 2025 (docs/reference/chips.md section 3)")
VLA = claim("m100-vla-3x", "one M100 has about 3x the effective compute of a DRIVE Thor-U "
            "running the VLA", "latency(Thor-U) / latency(M100)", CLAIM_SHARE * CLAIM_VLA, ">=",
            "Li Auto Feb 2026 (docs/reference/chips.md section 3)")
REFERENCE = "drive-thor-u"
M100 = "li-m100"
BASELINES = ("drive-thor-u", "jetson-agx-thor", "jetson-agx-orin-64gb")
TRACE = "vla-drive-10hz"
LLM_PROMPT, LLM_GENERATE = 1024, 128  # assumption: an assistant turn
PHASES = ("prefill", "decode", "end to end")
TIERS = ("8-bit", "4-bit")
TIER_LABEL = {"8-bit": "W8A8 INT8 on every chip", "4-bit": "each chip's 4-bit path"}
KV_SRAM_BYTES = 128 * 2**20  # holds qwen3-1.7b's 1,040-token KV cache (114 MiB at FP16)
RECONFIG_S = 10e-6           # assumption, as in the phase-aware study
VLA_MODEL = "vla-moe-0.4b"


def vla_model():
    """The on-chip VLA language model: an ASSUMED shape modelled on Li Auto's public
    description (about 0.4B parameters, a mixture of 8 experts). Qwen3-0.6B's attention
    (16 x 128 query heads, 8 KV heads, QK norm), width 1024 and tied 151,936-token vocabulary;
    16 layers of 8 SwiGLU experts of width 384, top-2 routing (top-k not described:
    assumption). 0.41B parameters in total, 0.29B touched per token (LM head included)."""
    base = api.load_model("qwen3-0.6b")
    return dataclasses.replace(
        base, name=VLA_MODEL, n_layers=16, d_ff=0, n_experts=8, top_k=2, d_ff_expert=384,
        source="assumption: shape modelled on Li Auto's public description of its on-chip VLA "
               "language model (~0.4B parameters, 8 experts), built on Qwen3-0.6B's attention")


def _llm_models(quick: bool) -> list[str]:
    return ["qwen3-1.7b", "qwen3-30b-a3b"] if quick else \
        ["qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-30b-a3b"]


def _size_models(quick: bool) -> list[str]:
    return [VLA_MODEL, "qwen3-1.7b", "qwen3-30b-a3b"] if quick else \
        [VLA_MODEL, "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-30b-a3b"]


def _mix_generate(quick: bool) -> tuple[int, ...]:
    return (1, LLM_GENERATE) if quick else (1, 16, LLM_GENERATE, 1024)


def precision_paths(chip) -> dict[str, object]:
    """The two precision paths, in formats each chip family runs natively.

    8-bit: W8A8 INT8, FP16 KV cache, on every chip. 4-bit: Thor runs NVFP4 weights and
    activations (the TensorRT Edge-LLM NVFP4 path its family efficiencies were fitted to);
    Orin runs INT4 AWQ with FP16 activations (its fitted path; Ampere has no FP4); the M100
    runs INT4 weights with INT8 activations (assumption: its TCU takes 1-byte operands and the
    M100 precisions are not disclosed)."""
    four = {"thor": ("nvfp4", "nvfp4"), "orin": ("int4", "fp16")}.get(chip.family,
                                                                     ("int4", "int8"))
    return {"8-bit": api.make_precision("int8", "int8", "fp16"),
            "4-bit": api.make_precision(four[0], four[1], "fp16")}


def _features(full: bool) -> dict[str, dict]:
    """Mach-100-style features (suffix -> chip_variant arguments), and the what-if."""
    feats = {
        "+kv-sram": dict(kv_sram_bytes=KV_SRAM_BYTES),
        "+moe-engine": dict(native_moe=True),
        "+reconfigurable": dict(phase_mode="reconfigurable",
                                reconfiguration_latency_s=RECONFIG_S),
        "+2x-sram": dict(sram_scale=2.0),
    }
    if not full:
        feats.pop("+reconfigurable")
        feats.pop("+2x-sram")
    feats["+all"] = {k: v for kw in list(feats.values()) for k, v in kw.items()}
    feats["+2x-dram"] = dict(dram_bandwidth_scale=2.0)  # a what-if, not a Mach-100 feature
    return feats


def _single(chips: dict, factors: dict) -> tuple[dict, dict]:
    """One chip per name and its time factors as one-draw arrays (nominal values and tornado
    ends go through the same vectorised path as the draws)."""
    return ({k: [c] for k, c in chips.items()},
            {k: {p: np.array([float(v)]) for p, v in f.items()} for k, f in factors.items()})


class Bench:
    """Per-phase latencies of chips on a set of draws: ``chips`` (name -> one chip per draw)
    and ``factors`` (name -> phase -> time factor per draw) of the drawn chips, with the M100
    variants built from each draw's M100 (paired) and sharing its time factors."""

    def __init__(self, u: Uncertain, chips: dict, factors: dict, features: dict[str, dict]):
        self.nominal = dict(u.chips)
        per, tf = dict(chips), dict(factors)
        for suffix, kw in features.items():
            label = M100 + suffix
            self.nominal[label] = api.chip_variant(u.chips[M100], label, **kw)
            per[label] = [api.chip_variant(c, label, **kw) for c in chips[M100]]
            tf[label] = factors[M100]
        self.labels = [k for k in self.nominal if k in per]
        self.n = len(next(iter(per.values())))
        self.draws = dataclasses.replace(u.draws, n=self.n, chips=per, time_factor=tf)
        self.models = {VLA_MODEL: vla_model()}
        self.trace = api.load_trace(TRACE)  # parsed once: every frame is costed on it
        self._cache: dict = {}

    def model(self, name: str):
        if name not in self.models:
            self.models[name] = api.load_model(name)
        return self.models[name]

    def llm(self, label: str, tier: str, model: str, generate: int = LLM_GENERATE):
        """{phase: seconds per draw} of the LLM request."""
        key = ("llm", label, tier, model, generate)
        if key not in self._cache:
            c = self.nominal[label]
            s = api.estimate_samples(c, self.model(model), precision_paths(c)[tier], 1,
                                     LLM_PROMPT, generate, self.draws)
            self._cache[key] = {"prefill": s["prefill_s"], "decode": s["decode_s"],
                                "end to end": s["total_s"], "energy": s["energy_j"]}
        return self._cache[key]

    def vla(self, label: str, tier: str, model: str = VLA_MODEL):
        """{phase: seconds per draw} of one VLA frame (prefill = encoder + language prefill)."""
        key = ("vla", label, tier, model)
        if key not in self._cache:
            c = self.nominal[label]
            s = api.frame_estimate_samples(c, self.draws, model=self.model(model),
                                           trace=self.trace,
                                           precision=precision_paths(c)[tier])
            self._cache[key] = {"prefill": s["encode_s"] + s["prefill_s"],
                                "decode": s["decode_s"], "end to end": s["total_s"],
                                "energy": s["energy_j"]}
        return self._cache[key]

    def ratio(self, label: str, tier: str, kind: str, models, phase: str,
              generate: int = LLM_GENERATE) -> np.ndarray:
        """latency(Thor-U) / latency(label) per draw, geometric mean over ``models``."""
        logs = []
        for m in models:
            if kind == "llm":
                ref, own = self.llm(REFERENCE, tier, m, generate), self.llm(label, tier, m,
                                                                            generate)
            else:
                ref, own = self.vla(REFERENCE, tier, m), self.vla(label, tier, m)
            logs.append(np.log(ref[phase] / own[phase]))
        return np.exp(np.mean(logs, axis=0))

    def peak_power_w(self, label: str) -> np.ndarray:
        return np.array([float(api.chip_peak_power_w(c)["total_w"])
                         for c in self.draws.chips[label]])


def _pct(x) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.percentile(np.asarray(x, float), (5, 50, 95)))


def _verdict_metrics(b: Bench, llm_models) -> dict[tuple[str, str, str], np.ndarray]:
    """(claim key, tier, phase) -> latency ratio per draw of the claim's workload."""
    out = {}
    for tier in TIERS:
        for ph in PHASES:
            out[(LLM.key, tier, ph)] = b.ratio(M100, tier, "llm", llm_models, ph)
            out[(VLA.key, tier, ph)] = b.ratio(M100, tier, "vla", [VLA_MODEL], ph)
    return out


def _tornado(u: Uncertain, kind: str, models, phase: str, tier: str) -> pd.DataFrame:
    """Uncertain.tornado of the M100 / Thor-U ratio of one claim's workload and phase; each
    chip's latency is cached, so a number of one chip re-costs only that chip."""
    cache: dict = {}

    def latency(chip, f) -> float:
        key = (id(chip), tuple(f.values()))
        if key not in cache:
            b = Bench(u, *_single({chip.name: chip}, {chip.name: f}), {})
            b.nominal[chip.name] = chip  # the perturbed chip as it is
            logs = [np.log((b.llm(chip.name, tier, m) if kind == "llm" else
                            b.vla(chip.name, tier, m))[phase][0]) for m in models]
            cache[key] = (float(np.exp(np.mean(logs))), chip)
        return cache[key][0]

    def metric(chips, factors):
        return (latency(chips[REFERENCE], factors[REFERENCE])
                / latency(chips[M100], factors[M100]))

    t = u.tornado(metric, top=None)
    return t[t.swing > 1e-12].head(10).reset_index(drop=True)


def _rows(b: Bench, nom: Bench, sizes, llm_models, quick: bool) -> pd.DataFrame:
    """Long table: per (chip, tier, workload, model, phase) the nominal latency, the ratio to
    Thor-U (nominal, 5 / 50 / 95 %) and the claim the number tests."""
    rows = []

    def add(label, tier, kind, model, generate=LLM_GENERATE, tests=""):
        for ph in PHASES:
            lat = (nom.llm(label, tier, model, generate) if kind == "llm" else
                   nom.vla(label, tier, model))[ph][0]
            r_nom = nom.ratio(label, tier, kind, [model], ph, generate)[0]
            p05, p50, p95 = _pct(b.ratio(label, tier, kind, [model], ph, generate))
            rows.append(dict(chip=label, tier=tier, precision=precision_paths(
                nom.nominal[label])[tier].label(), workload="LLM request" if kind == "llm"
                else "VLA frame", model=model, params_b=nom.model(model).total_params / 1e9,
                prompt=LLM_PROMPT if kind == "llm" else "trace",
                generate=generate if kind == "llm" else "trace", phase=ph,
                latency_ms=lat * 1e3, ratio_vs_thor_u=r_nom, ratio_p05=p05, ratio_p50=p50,
                ratio_p95=p95, tests=tests))

    for tier in TIERS:
        for m in sizes:
            for label in (REFERENCE, M100):
                add(label, tier, "llm", m, tests=LLM.key if m in llm_models else
                    "size sweep (LLM)")
                add(label, tier, "vla", m, tests=VLA.key if m == VLA_MODEL else
                    "size sweep (VLA language model)")
        for label in BASELINES[1:]:
            for m in llm_models:
                add(label, tier, "llm", m, tests="control")
            add(label, tier, "vla", VLA_MODEL, tests="control")
    return pd.DataFrame(rows)


def _mix(b: Bench, nom: Bench, llm_models, generates) -> pd.DataFrame:
    """End-to-end ratio of the LLM request against the generated tokens (1024-token prompt),
    with each limit (prefill alone, decode alone) and Thor-U's prefill share of its time."""
    rows = []
    for tier in TIERS:
        for g in generates:
            e2e = b.ratio(M100, tier, "llm", llm_models, "end to end", g)
            pre_share = np.mean([nom.llm(REFERENCE, tier, m, g)["prefill"][0]
                                 / nom.llm(REFERENCE, tier, m, g)["end to end"][0]
                                 for m in llm_models])
            p05, p50, p95 = _pct(e2e)
            rows.append(dict(tier=tier, prompt=LLM_PROMPT, generate=g,
                             thor_u_prefill_share=pre_share,
                             ratio=nom.ratio(M100, tier, "llm", llm_models, "end to end", g)[0],
                             ratio_p05=p05, ratio_p50=p50, ratio_p95=p95,
                             tests=LLM.key + (" (headline mix)" if g == LLM_GENERATE else "")))
    return pd.DataFrame(rows)


def _summary(b: Bench, nom: Bench, llm_models) -> pd.DataFrame:
    """Per chip and tier: the claims' ratios per phase (nominal and 5-95 %), area, peak
    power, the ratios per mm^2 and per watt, and the energy of a VLA frame."""
    rows = []
    a_ref = api.chip_area_mm2(nom.nominal[REFERENCE])
    pub_ref = nom.nominal[REFERENCE].technology.die_area_mm2
    p_ref = b.peak_power_w(REFERENCE)
    for label in b.labels:
        chip = nom.nominal[label]
        kind = ("reference" if label == REFERENCE else "baseline" if label in BASELINES else
                "m100" if not label.endswith("+2x-dram") else "what-if")
        area = api.chip_area_mm2(chip)
        pub = chip.technology.die_area_mm2
        p_w = b.peak_power_w(label)
        p_nom = float(api.chip_peak_power_w(chip)["total_w"])
        for tier in TIERS:
            row = dict(chip=label, kind=kind, tier=tier,
                       precision=precision_paths(chip)[tier].label())
            for wl, models in (("llm", llm_models), ("vla", [VLA_MODEL])):
                for ph in PHASES:
                    col = f"{wl}_{ph.replace(' ', '_')}"
                    r = b.ratio(label, tier, wl, models, ph)
                    row[col] = float(nom.ratio(label, tier, wl, models, ph)[0])
                    row[f"{col}_p05"], _, row[f"{col}_p95"] = _pct(r)
                # Per watt: each draw's own peak powers (clock and static power drawn).
                r = b.ratio(label, tier, wl, models, "end to end")
                row[f"{wl}_end_to_end_per_w"] = row[f"{wl}_end_to_end"] * float(
                    api.chip_peak_power_w(nom.nominal[REFERENCE])["total_w"]) / p_nom
                row[f"{wl}_end_to_end_per_w_p05"], _, row[f"{wl}_end_to_end_per_w_p95"] = \
                    _pct(r * p_ref / p_w)
                row[f"{wl}_end_to_end_per_mm2"] = row[f"{wl}_end_to_end"] * a_ref / area
            row["frame_energy_j"] = float(nom.vla(label, tier)["energy"][0])
            row["frame_energy_j_p05"], _, row["frame_energy_j_p95"] = \
                _pct(b.vla(label, tier)["energy"])
            row.update(area_model_mm2=area, area_published_mm2=np.nan if pub is None else pub,
                       vla_end_to_end_per_published_mm2=(row["vla_end_to_end"] * pub_ref / pub
                                                         if pub else np.nan),
                       peak_power_w=p_nom, peak_power_w_p05=_pct(p_w)[0],
                       peak_power_w_p95=_pct(p_w)[2],
                       int8_tops=chip.matrix.peak("int8") / 1e12,
                       dram_gb_per_s=chip.dram.bandwidth_bytes_per_s / 1e9)
            rows.append(row)
    return pd.DataFrame(rows)


# ---- figures --------------------------------------------------------------------------------


def _whiskers(ax, x, mid, lo, hi, **kw):
    mid, lo, hi = (np.asarray(v, float) for v in (mid, lo, hi))
    ax.errorbar(x, mid, yerr=[np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)], fmt="none",
                ecolor="k", capsize=3, lw=0.9, **kw)


def _phase_figure(verdicts: list[Verdict]):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    colours = {"8-bit": "tab:blue", "4-bit": "tab:orange"}
    for ax, c, stated in ((axes[0], LLM, CLAIM_LLM), (axes[1], VLA, CLAIM_VLA)):
        vs = [v for v in verdicts if v.claim.key == c.key]
        x = np.arange(len(PHASES))
        for j, tier in enumerate(TIERS):
            g = {v.scope.split(", ")[1]: v for v in vs if v.scope.startswith(tier)}
            nomv = [g[p].nominal for p in PHASES]
            lo = [g[p].band[0] for p in PHASES]
            hi = [g[p].band[1] for p in PHASES]
            xs = x + (j - 0.5) * 0.36
            ax.bar(xs, nomv, width=0.36, color=colours[tier], alpha=0.85,
                   label=f"{tier}: {TIER_LABEL[tier]}")
            _whiskers(ax, xs, nomv, lo, hi)
            for xi, p in zip(xs, PHASES):
                ax.text(xi, g[p].band[1] + 0.05, g[p].word.replace("not supported", "not sup."),
                        ha="center", fontsize=6.5, rotation=0)
        ax.axhline(stated, color="k", ls=":", lw=0.9, label=f"stated {stated:g}x")
        ax.axhline(c.threshold, color="crimson", ls="--", lw=1.0,
                   label=f"threshold {c.threshold:g}x ({CLAIM_SHARE:.0%} of it)")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_xticks(x)
        ax.set_xticklabels(PHASES)
        ax.set_title(("LLM request (geo-mean over LLMs)" if c is LLM else
                      f"VLA frame ({VLA_MODEL}, assumed shape)"), fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("latency(Thor-U) / latency(M100)")
    axes[0].set_ylim(0, CLAIM_VLA + 0.6)
    fig.suptitle("M100 vs DRIVE Thor-U per phase: nominal bars, 5-95 % of draws as whiskers, "
                 "verdict above", fontsize=9)
    fig.tight_layout()
    return fig


def _size_figure(t: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    styles = {("LLM request", "prefill"): ("tab:blue", "-"),
              ("LLM request", "decode"): ("tab:orange", "-"),
              ("LLM request", "end to end"): ("k", "-"),
              ("VLA frame", "end to end"): ("tab:green", "--")}
    g = t[t.chip == M100]
    for ax, tier in zip(axes, TIERS):
        for (wl, ph), (col, ls) in styles.items():
            d = g[(g.tier == tier) & (g.workload == wl) & (g.phase == ph)].sort_values(
                "params_b")
            ax.plot(d.params_b, d.ratio_vs_thor_u, color=col, ls=ls, marker="o", ms=3,
                    label=f"{wl}, {ph}")
            ax.fill_between(d.params_b, d.ratio_p05, d.ratio_p95, color=col, alpha=0.12)
        ax.axhline(LLM.threshold, color="crimson", ls="--", lw=0.9,
                   label=f"LLM threshold {LLM.threshold:g}x")
        ax.axhline(VLA.threshold, color="tab:green", ls=":", lw=1.1,
                   label=f"VLA threshold {VLA.threshold:g}x")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("language model, total parameters (billions, log)")
        ax.set_title(f"{tier}: {TIER_LABEL[tier]}", fontsize=9)
        vla = g[(g.model == VLA_MODEL)].params_b.iloc[0]
        ax.annotate(f"{VLA_MODEL}\n(assumed)", (vla, 0.15), fontsize=7, ha="left")
    axes[0].set_ylabel("latency(Thor-U) / latency(M100)")
    axes[0].set_ylim(0, VLA.threshold + 0.4)
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle("Model-size sweep (bands: 5-95 % of draws); LLM request 1024 + "
                 f"{LLM_GENERATE} tokens, VLA frame {TRACE}", fontsize=9)
    fig.tight_layout()
    return fig


def _mix_figure(mix: pd.DataFrame, verdicts: list[Verdict]):
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    colours = {"8-bit": "tab:blue", "4-bit": "tab:orange"}
    for tier in TIERS:
        d = mix[mix.tier == tier]
        ax.plot(d.generate, d.ratio, marker="o", color=colours[tier],
                label=f"{tier} end to end ({TIER_LABEL[tier]})")
        ax.fill_between(d.generate, d.ratio_p05, d.ratio_p95, color=colours[tier], alpha=0.15)
        for ph, ls in (("prefill", "--"), ("decode", ":")):
            v = next(v for v in verdicts if v.claim is LLM and v.scope == f"{tier}, {ph}")
            ax.axhline(v.nominal, color=colours[tier], ls=ls, lw=0.9,
                       label=f"{tier} {ph} alone")
    ax.axhline(LLM.threshold, color="crimson", ls="--", lw=1.0,
               label=f"LLM threshold {LLM.threshold:g}x")
    ax.set_xscale("log")
    ax.set_xlabel(f"generated tokens after a {LLM_PROMPT}-token prompt (log)")
    ax.set_ylabel("latency(Thor-U) / latency(M100), geo-mean over LLMs")
    ax.set_ylim(0.5, max(2.2, float(mix.ratio_p95.max()) + 0.2))
    ax.set_title("Prefill / decode mix of the LLM request (bands: 5-95 % of draws)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    return fig


def _chips_figure(s: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(11, 4.8))
    labels = list(dict.fromkeys(s.chip))
    x = np.arange(len(labels))
    w = 0.2
    bars = (("8-bit", "llm", "LLM e2e, 8-bit", None), ("8-bit", "vla", "VLA frame, 8-bit", None),
            ("4-bit", "llm", "LLM e2e, 4-bit", "//"), ("4-bit", "vla", "VLA frame, 4-bit", "//"))
    for j, (tier, wl, lab, hatch) in enumerate(bars):
        g = s[s.tier == tier].set_index("chip").loc[labels]
        xs = x + (j - 1.5) * w
        ax.bar(xs, g[f"{wl}_end_to_end"], width=w, hatch=hatch, alpha=0.8 if hatch is None
               else 0.55, color="tab:blue" if wl == "llm" else "tab:orange", label=lab)
        _whiskers(ax, xs, g[f"{wl}_end_to_end"], g[f"{wl}_end_to_end_p05"],
                  g[f"{wl}_end_to_end_p95"])
    ax.axhline(LLM.threshold, color="tab:blue", ls="--", lw=0.8,
               label=f"LLM threshold {LLM.threshold:g}x")
    ax.axhline(VLA.threshold, color="tab:orange", ls="--", lw=0.8,
               label=f"VLA threshold {VLA.threshold:g}x")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xticks(x)
    area = s.drop_duplicates("chip").set_index("chip")
    ax.set_xticklabels([f"{c}\n{area.loc[c, 'area_model_mm2']:.0f} mm2, "
                        f"{area.loc[c, 'peak_power_w']:.0f} W" for c in labels],
                       rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("latency(Thor-U) / latency(chip), end to end")
    ax.set_title("Chips and M100 variants against Thor-U (whiskers: 5-95 % of paired draws; "
                 "labels: modelled area, peak power)", fontsize=9)
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    return fig


# ---- run ------------------------------------------------------------------------------------


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    llm_models, sizes = _llm_models(quick), _size_models(quick)
    generates = _mix_generate(quick)
    feats = _features(full=not quick)
    n = samples_for(quick)
    u = Uncertain([M100, *BASELINES], n, seed)
    nom = Bench(u, *_single(u.chips, u.ones), feats)
    b = Bench(u, u.draws.chips, u.draws.time_factor, feats)

    nm, dm = _verdict_metrics(nom, llm_models), _verdict_metrics(b, llm_models)
    tor = _tornado(u, "vla", [VLA_MODEL], "end to end", "8-bit")
    tor_llm = _tornado(u, "llm", llm_models, "prefill", "8-bit")
    swing = {(VLA.key, "8-bit", "end to end"): tor, (LLM.key, "8-bit", "prefill"): tor_llm}
    verdicts = []
    for (key, tier, ph), samples in dm.items():
        c = LLM if key == LLM.key else VLA
        tt = swing.get((key, tier, ph))
        verdicts.append(Verdict(c, float(nm[(key, tier, ph)][0]), samples, f"{tier}, {ph}",
                                ", ".join(tt.number.head(2).str.replace("family:", ""))
                                if tt is not None else ""))
    t = _rows(b, nom, sizes, llm_models, quick)
    mix = _mix(b, nom, llm_models, generates)
    s = _summary(b, nom, llm_models)
    by = s.set_index(["chip", "tier"])
    pre, thor = by.loc[(M100, "8-bit")], by.loc[(REFERENCE, "8-bit")]

    def v_txt(c, tier):
        return ", ".join(f"{v.scope.split(', ')[1]} {v.nominal:.2f}x ({v.band[0]:.2f}-"
                         f"{v.band[1]:.2f}, {v.word})"
                         for v in verdicts if v.claim is c and v.scope.startswith(tier))

    m_rows = t[(t.chip == M100) & (t.tier == "8-bit")]
    llm_pre = m_rows[(m_rows.workload == "LLM request") & (m_rows.phase == "prefill")]
    vla_e2e = m_rows[(m_rows.workload == "VLA frame") & (m_rows.phase == "end to end")]
    best = s[(s.tier == "8-bit") & (s.kind == "m100")]
    reach = best[(best.llm_end_to_end >= LLM.threshold) & (best.vla_end_to_end >=
                                                          VLA.threshold)].chip.tolist()
    top_var = best.loc[best.vla_end_to_end.idxmax()]
    dram = by.loc[(M100 + "+2x-dram", "8-bit")]
    on_chip = best[best.chip != M100]
    dec_gain = float((on_chip.llm_decode / pre.llm_decode).max())
    reconf = ""
    if (M100 + "+reconfigurable", "8-bit") in by.index:
        rc = by.loc[(M100 + "+reconfigurable", "8-bit")]
        if abs(rc.vla_end_to_end / pre.vla_end_to_end - 1) < 1e-3:
            reconf = (" Phase reconfiguration changes nothing: a lone, uncontended request "
                      "never has prefill and decode active at once.")
    g1, gmax = mix[mix.tier == "8-bit"].iloc[0], mix[mix.tier == "8-bit"].iloc[-1]
    answer = (
        f"LLM claim ({LLM.threshold:g}x needed; geo-mean over {', '.join(llm_models)}; nominal "
        f"(5-95 % of {n} draws)): 8-bit {v_txt(LLM, '8-bit')}; 4-bit {v_txt(LLM, '4-bit')}. "
        f"VLA claim ({VLA.threshold:g}x needed; {VLA_MODEL}, an assumed 0.41B 8-expert MoE): "
        f"8-bit {v_txt(VLA, '8-bit')}; 4-bit {v_txt(VLA, '4-bit')}. "
        f"Prefill, where the claim would live, is {span(llm_pre.ratio_vs_thor_u, '.2f')}x "
        f"over the model sizes ({', '.join(sizes)}; 8-bit); the VLA frame is "
        f"{span(vla_e2e.ratio_vs_thor_u, '.2f')}x across the language models, highest on the "
        f"small ones (fixed per-operator costs: "
        f"{api.load_chip(M100).dispatch.per_operator_s * 1e6:g} us per operator "
        f"on the M100 against Thor-U's "
        f"{api.load_chip(REFERENCE).dispatch.per_operator_s * 1e6:.2f} us launches). Mix: from "
        f"{g1.ratio:.2f}x at {g1.generate} generated token(s) to {gmax.ratio:.2f}x at "
        f"{gmax.generate} (8-bit), Thor-U's prefill share of its time falling from "
        f"{g1.thor_u_prefill_share:.0%} to {gmax.thor_u_prefill_share:.0%}. "
        f"Controls: both chips stream DRAM at {pre.dram_gb_per_s:.0f} / "
        f"{thor.dram_gb_per_s:.0f} GB/s; area (model / published) M100 "
        f"{pre.area_model_mm2:.0f} / {pre.area_published_mm2:.1f} mm^2, Thor-U "
        f"{thor.area_model_mm2:.0f} / {thor.area_published_mm2:.0f} mm^2; peak power (CPU "
        f"excluded) {pre.peak_power_w:.0f} W ({pre.peak_power_w_p05:.0f}-"
        f"{pre.peak_power_w_p95:.0f}) vs {thor.peak_power_w:.0f} W "
        f"({thor.peak_power_w_p05:.0f}-{thor.peak_power_w_p95:.0f}); per watt the 8-bit "
        f"end-to-end ratios become {pre.llm_end_to_end_per_w:.2f}x "
        f"({pre.llm_end_to_end_per_w_p05:.2f}-{pre.llm_end_to_end_per_w_p95:.2f}) LLM and "
        f"{pre.vla_end_to_end_per_w:.2f}x ({pre.vla_end_to_end_per_w_p05:.2f}-"
        f"{pre.vla_end_to_end_per_w_p95:.2f}) VLA, per mm^2 (model) "
        f"{pre.llm_end_to_end_per_mm2:.2f}x / {pre.vla_end_to_end_per_mm2:.2f}x. The full "
        f"Thor (Jetson AGX Thor) runs the frame "
        f"{by.loc[('jetson-agx-thor', '8-bit'), 'vla_end_to_end']:.2f}x as fast as Thor-U. "
        f"Variants (8-bit, LLM / VLA end to end): "
        + "; ".join(f"{r.chip.removeprefix(M100)} {r.llm_end_to_end:.2f}x / "
                    f"{r.vla_end_to_end:.2f}x (+{r.area_model_mm2 - pre.area_model_mm2:.0f} mm^2)"
                    for r in on_chip.itertuples())
        + f"; best VLA {top_var.chip} {top_var.vla_end_to_end:.2f}x "
        f"({top_var.vla_end_to_end_p05:.2f}-{top_var.vla_end_to_end_p95:.2f}); "
        f"reaching both thresholds: "
        f"{', '.join(reach) or 'none'}. On-chip features move LLM decode by at most "
        f"{dec_gain - 1:+.0%}; twice the DRAM bandwidth (a what-if) moves it "
        f"{dram.llm_decode / pre.llm_decode:.2f}x, to {dram.llm_end_to_end:.2f}x / "
        f"{dram.vla_end_to_end:.2f}x.{reconf} Energy per VLA frame (8-bit): M100 "
        f"{pre.frame_energy_j:.2f} J ({pre.frame_energy_j_p05:.2f}-{pre.frame_energy_j_p95:.2f}),"
        f" Thor-U {thor.frame_energy_j:.2f} J ({thor.frame_energy_j_p05:.2f}-"
        f"{thor.frame_energy_j_p95:.2f}).")
    req = api.load_trace(TRACE).streams[0].request
    vm = vla_model()
    figures = {"phase_verdicts.png": _phase_figure(verdicts), "size_sweep.png": _size_figure(t),
               "mix_sweep.png": _mix_figure(mix, verdicts),
               "effective_compute.png": _chips_figure(s),
               "tornado.png": tornado_figure(
                   tor, "VLA frame latency(Thor-U) / latency(M100), 8-bit", VLA.threshold,
                   f"What swings the VLA end-to-end ratio ({VLA_MODEL}, W8A8)"),
               "tornado_llm.png": tornado_figure(
                   tor_llm, "LLM prefill latency(Thor-U) / latency(M100), 8-bit", LLM.threshold,
                   "What swings the LLM prefill ratio (geo-mean over LLMs, W8A8)")}
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {M100} (clock drawn 1.0-1.8 GHz, li-m100.yaml), {', '.join(BASELINES)}; "
               f"M100 variants {', '.join(M100 + k for k in feats)} (+2x-dram a what-if, not a "
               "Mach-100 feature); KV SRAM "
               f"{KV_SRAM_BYTES / 2**20:g} MiB at the on-chip SRAM bandwidth; reconfiguration "
               f"{RECONFIG_S * 1e6:g} us (assumption)",
               f"LLM request: batch 1, prompt {LLM_PROMPT}, {LLM_GENERATE} generated tokens "
               f"(assumption); LLMs {', '.join(llm_models)} (geo-mean); mix sweep generate "
               f"{', '.join(map(str, generates))}; size sweep {', '.join(sizes)}",
               f"VLA frame: {TRACE} ({req.prefill_tokens}-token prefill, {req.action_tokens} "
               f"action tokens, the trace's ViT-L/14 encoder) with {VLA_MODEL}: ASSUMED shape "
               f"({vm.n_layers} layers, d {vm.d_model}, {vm.n_experts} experts top-{vm.top_k} of "
               f"width {vm.d_ff_expert}, {vm.total_params / 1e9:.2f}B parameters) modelled on Li "
               "Auto's public description (~0.4B, 8 experts)",
               "precision: 8-bit = W8A8 INT8 + FP16 KV everywhere (equal work); 4-bit = "
               + ", ".join(f"{c} {precision_paths(nom.nominal[c])['4-bit'].label()}"
                           for c in (M100, *BASELINES)),
               f"effective compute = latency(Thor-U) / latency(M100) per phase (VLA prefill = "
               f"encoder + language prefill); claims {CLAIM_LLM:g}x and {CLAIM_VLA:g}x, "
               f"thresholds {CLAIM_SHARE:.0%} of each (assumption: 'about')",
               f"uncertainty: {n} seeded joint draws (seed {seed}) of all four chips (api.draw; "
               "M100 and Thor families and prediction errors independent); variants paired with "
               "each draw's M100",
               "area: chipdse area model beside the published die area; peak power: every "
               "engine and memory level busy, CPU cluster excluded, per draw"],
        answer=answer, supports=None, table=t, figures=figures,
        extra_tables={"summary.csv": s, "mix.csv": mix, "tornado_llm.csv": tor_llm},
        config={"llm_models": llm_models, "size_models": sizes, "trace": TRACE,
                "reference": REFERENCE, "llm_prompt": LLM_PROMPT, "llm_generate": LLM_GENERATE,
                "mix_generate": list(generates), "draws": n,
                "vla_model": dataclasses.asdict(vm),
                "claims": {c.key: [c.direction, c.threshold] for c in (LLM, VLA)},
                "tornado_metric": "VLA frame end-to-end ratio, 8-bit",
                "features": {k: dict(kw) for k, kw in feats.items()}},
        verdicts=verdicts, tornado=tor)
