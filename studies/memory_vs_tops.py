"""Elasticity of the driving VLA frame latency to DRAM bandwidth, peak TOPS, SRAM and KV SRAM.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 2): memory bandwidth and cache efficiency
decide real performance more than peak TOPS; reserve fast SRAM for the KV cache and attention.
Elasticity e_x = d ln(latency) / d ln(x), by a central difference at x * 1.25^(+-1) around each chip
preset; -1 means latency falls in proportion, 0 means x does not matter. A KV SRAM is absent
from the presets, so its effect is measured by adding one sized to the frame's KV cache."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import StudyResult, span

NAME = "memory-vs-tops"
ORDER = 3  # reading order in `chipdse study list`
QUESTION = ("For the driving VLA frame, how elastic is latency to DRAM bandwidth, to peak TOPS "
            "and to SRAM / KV-cache SRAM size around Orin and Thor, and does bandwidth matter more "
            "than TOPS?")
STEP = 1.25
TRACE = "vla-drive-10hz"


def _lat(chip, model, p) -> tuple[float, float, float, float]:
    e = api.frame_estimate(chip, model, TRACE, p)
    return e.total_s, e.encode_s, e.prefill_s, e.decode_s


def _kv_text(t: pd.DataFrame, kv_tokens: int) -> str:
    """What a KV SRAM buys, and how the KV cache compares with the weights, from ``t``."""
    kv_w = t.kv_cache_mib / t.weights_mib
    text = (f"A KV SRAM holding the frame's KV cache ({kv_tokens} tokens, "
            f"{span(t.kv_sram_mib, '.0f')} MiB with 10 % headroom) speeds decode "
            f"{span(t.kv_sram_decode_gain, '.3f')}x and the frame "
            f"{span(t.kv_sram_frame_gain, '.3f')}x; the KV cache is {span(kv_w, '.1%')} of the "
            f"weight bytes a decode step streams")
    bw_dec = t.e_dram_bandwidth_decode.median()
    if (kv_w < 1).all() and t.kv_sram_decode_gain.max() < 1.1 and bw_dec < -0.5:
        text += (", so at this context the weights, not the KV cache, are the DRAM traffic an "
                 "SRAM would have to hold to matter (decode elasticity to bandwidth "
                 f"{bw_dec:+.2f}).")
    elif (kv_w >= 1).any():
        text += f"; it exceeds the weights on {int((kv_w >= 1).sum())}/{len(t)} points."
    else:
        text += "."
    return text


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    chips = ["jetson-agx-orin-64gb", "jetson-agx-thor"] + ([] if quick else ["drive-thor-u"])
    models = ["qwen2.5-0.5b"] + ([] if quick else ["qwen3-1.7b", "qwen3-4b"])
    precisions = [api.make_precision("int8", "int8", "fp16"),
                  api.make_precision("int4", "fp16", "fp16")]
    knobs = {
        "dram_bandwidth": lambda c, f: api.chip_variant(c, dram_bandwidth_scale=f),
        "peak_tops": lambda c, f: api.chip_variant(c, compute_scale=f),
        "sram_size": lambda c, f: api.chip_variant(c, sram_scale=f),
    }
    req = api.load_trace(TRACE).streams[0].request
    # The frame's KV cache at the end of its decode: the prefill plus the action tokens.
    kv_tokens = req.prefill_tokens + req.action_tokens
    rows = []
    for chip in chips:
        base_chip = api.load_chip(chip)
        for m in models:
            for p in precisions:
                kv_mib = api.load_model(m).kv_bytes_per_token(p.kv.bytes_per_element) \
                    * kv_tokens / 2**20
                base = _lat(base_chip, m, p)
                row = dict(chip=chip, model=m, precision=p.label(), frame_ms=base[0] * 1e3,
                           encode_ms=base[1] * 1e3, prefill_ms=base[2] * 1e3,
                           decode_ms=base[3] * 1e3)
                for knob, make in knobs.items():
                    up = _lat(make(base_chip, STEP), m, p)
                    down = _lat(make(base_chip, 1 / STEP), m, p)
                    for i, phase in enumerate(("frame", "encode", "prefill", "decode")):
                        if base[i] > 0:
                            row[f"e_{knob}_{phase}"] = (np.log(up[i]) - np.log(down[i])) / \
                                (2 * np.log(STEP))
                # KV SRAM holding the whole KV cache of the frame (10 % headroom), at the
                # chip's on-chip SRAM bandwidth.
                kv = api.chip_variant(base_chip, kv_sram_bytes=kv_mib * 2**20 * 1.1)
                with_kv = _lat(kv, m, p)
                row["kv_cache_mib"] = kv_mib
                row["kv_sram_mib"] = kv_mib * 1.1
                row["weights_mib"] = api.estimate(base_chip, m, p, 1, 1024, 16).weights_bytes \
                    / 2**20
                row["kv_sram_frame_gain"] = base[0] / with_kv[0]
                row["kv_sram_decode_gain"] = base[3] / with_kv[3]
                rows.append(row)
    t = pd.DataFrame(rows)
    bw, tops = t.e_dram_bandwidth_frame, t.e_peak_tops_frame
    bw_wins = float((bw.abs() > tops.abs()).mean())
    supports = True if bw_wins >= 0.75 else (False if bw_wins <= 0.25 else None)
    answer = (
        f"Frame elasticity to DRAM bandwidth {bw.median():+.2f} (median; range {bw.min():+.2f} to "
        f"{bw.max():+.2f}) vs to peak TOPS {tops.median():+.2f} (range {tops.min():+.2f} to "
        f"{tops.max():+.2f}); bandwidth matters more in {bw_wins:.0%} of the "
        f"{len(t)} (chip, model, precision) points. By phase (median): decode "
        f"{t.e_dram_bandwidth_decode.median():+.2f} to bandwidth vs "
        f"{t.e_peak_tops_decode.median():+.2f} to TOPS; prefill "
        f"{t.e_dram_bandwidth_prefill.median():+.2f} vs {t.e_peak_tops_prefill.median():+.2f}; "
        f"vision encoder {t.e_dram_bandwidth_encode.median():+.2f} vs "
        f"{t.e_peak_tops_encode.median():+.2f}. SRAM size: {t.e_sram_size_frame.median():+.2f}. "
        + _kv_text(t, kv_tokens))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels = [f"{r.chip.replace('jetson-', '')}\n{r.model}\n{r.precision}" for r in t.itertuples()]
    x = np.arange(len(t))
    for i, (col, lab) in enumerate((("e_dram_bandwidth_frame", "DRAM bandwidth"),
                                    ("e_peak_tops_frame", "peak TOPS"),
                                    ("e_sram_size_frame", "SRAM size"))):
        ax.bar(x + (i - 1) * 0.27, t[col], width=0.27, label=lab)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel("elasticity of frame latency")
    ax.set_title(f"{TRACE}: d ln(latency) / d ln(resource) around each preset")
    ax.legend(fontsize=8)
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {', '.join(chips)} (presets, family efficiencies)",
               f"models: {', '.join(models)}; "
               f"precisions: {', '.join(q.label() for q in precisions)}",
               f"frame: {TRACE} ("
               + (f"{req.vision.cameras} x {req.vision.encoder.name} at "
                  f"{req.vision.image_size} px, " if req.vision else "")
               + f"{req.prefill_tokens}-token prefill, {req.action_tokens} action tokens), "
               "uncontended; KV cache sized from the trace's tokens and each precision's KV "
               "format",
               f"elasticity: central difference at x{STEP:g} and x1/{STEP:g}"],
        answer=answer, supports=supports, table=t, figures={"elasticity.png": fig},
        config={"chips": chips, "models": models, "step": STEP})
