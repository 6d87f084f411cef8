"""Published measurements: the CSV import format, its checks, and the mapping to presets.

One row is one published measurement of one (device, engine, model, precision, batch)::

    device, engine, model, precision, batch, input_tokens, output_tokens,
    decode_tok_s, prefill_tok_s, ttft_ms, source_url        (required columns)
    power_mode, params_b, notes                               (optional columns)

Conventions of the format (they follow the published TensorRT Edge-LLM ``llm_bench`` tables):

* ``decode_tok_s`` is the aggregate over the batch (all sequences' tokens per second), so one
  decode step takes ``batch / decode_tok_s`` seconds;
* ``prefill_tok_s`` is per sequence (``input_tokens / prefill time``); ``ttft_ms``, when given,
  is the prefill wall time of the whole batch and takes precedence;
* the decode step attends over ``input_tokens + output_tokens / 2`` cached tokens (the mean
  context of a generation after a prompt). Two engine conventions refine it: with no
  ``output_tokens`` the decode was measured right after the prompt (``llm_bench`` reports
  decode at pastKV = input length); ``llama-bench`` runs its ``tg`` test without a prompt, so
  only ``output_tokens / 2`` is cached. With neither count published the context is unknown
  and taken as 1 token (KV-cache traffic left out).

``power_mode`` names the mode a row was measured in (a mode of the chip preset, e.g. ``15W``);
``n/s`` (not stated) takes the preset's default mode, the highest-performance one, as NVIDIA's
Jetson benchmarking guidance has benchmarks run ("MAXN is preferred for comparable
performance numbers", NVIDIA jetson-llm-benchmark; ``sudo nvpmodel -m 0`` in TensorRT
Edge-LLM issue 95).

Device and model names map to chipdse presets through the tables below, through a preset of the
same name, or through ``NAME=FILE`` maps given by the user. Names that chipdse knows it cannot
represent (a model size or device without a preset) are *listed* as
unmapped with the reason; names it does not know at all are an error naming the row and column,
as are missing columns and non-numeric values. Every problem in a file is reported at once.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from microarch.loader import list_chips
from microarch.schema import SpecError, excerpt, read_text
from workloads.loader import list_models
from workloads.precision import Precision

__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "DEVICES", "MODELS", "PRECISIONS",
           "CALIBRATION_CHIPS",
           "Measurement", "Unmapped", "MeasurementSet", "load_measurements",
           "builtin_measurements_path", "parse_maps"]

COLUMNS = ("device", "engine", "model", "precision", "batch", "input_tokens",
           "output_tokens", "decode_tok_s", "prefill_tok_s", "ttft_ms", "source_url")
"""The standard header of a measurements CSV, in order."""
REQUIRED_COLUMNS = ("device", "model", "precision", "batch", "source_url")
"""Columns every measurements CSV has (a row also needs one of decode_tok_s, prefill_tok_s or
ttft_ms)."""
OPTIONAL_COLUMNS = tuple(c for c in COLUMNS if c not in REQUIRED_COLUMNS) + (
    "power_mode", "params_b", "notes")

# Published device names -> chip presets.
DEVICES: dict[str, str] = {
    "Jetson AGX Orin 64GB": "jetson-agx-orin-64gb",
    "Jetson AGX Thor Developer Kit (T5000)": "jetson-agx-thor",
    "RTX 4090": "rtx-4090",
    "RTX 4090 24GB": "rtx-4090",
    "A100 80GB": "a100-80gb",
    "Jetson Orin NX 16GB": "jetson-orin-nx-16gb",
    "Jetson Orin Nano 8GB": "jetson-orin-nano-8gb",
    "DGX Spark (GB10)": "dgx-spark",
}

CALIBRATION_CHIPS = ("jetson-agx-orin-64gb", "jetson-agx-thor", "rtx-4090", "a100-80gb",
                     "h100-sxm")
"""Chips whose rows the shipped family terms may be fitted to (the fidelity protocol: Jetson AGX
Orin, AGX Thor and the datacenter parts). Every other device is a test of transfer to a chip
the fit never saw: predicted with carried terms, never fitted."""
# Devices chipdse knows and cannot map to a preset, with the reason (listed, not dropped).
UNSUPPORTED_DEVICES: dict[str, str] = {
    "H100 PCIe 80GB": "no preset: h100-sxm is the SXM5 part (HBM3, 700 W), the PCIe card has "
                      "HBM2e at about 2.0 TB/s and 350 W; give a chip file with "
                      "--device 'H100 PCIe 80GB=FILE.yaml'",
}

# Published model names -> model presets.
MODELS: dict[str, str] = {
    "Qwen3-0.6B": "qwen3-0.6b",
    "Qwen3-1.7B": "qwen3-1.7b",
    "Qwen3-4B-Instruct-2507": "qwen3-4b",  # same config.json shape as Qwen3-4B
    "Qwen3-8B": "qwen3-8b",
    "Qwen3-30B-A3B": "qwen3-30b-a3b",
    "Qwen2.5-VL-7B-Instruct (LLM part)": "qwen2.5-vl-7b-llm",
    "Qwen2.5-VL-7B-Instruct (VLM engine, LLM part)": "qwen2.5-vl-7b-llm",
    # The Qwen3-VL language models have exactly the shape of Qwen3-1.7B / 4B / 8B (layers,
    # width, heads, FFN, vocabulary, tying; only RoPE differs, which adds no weight): their
    # Hugging Face text_config against the Qwen3 configs, and Edge-LLM's own decode rates of
    # each pair agree within 0.3 tok/s on Thor.
    "Qwen3-VL-2B-Instruct (VLM engine, LLM part)": "qwen3-1.7b",
    "Qwen3-VL-4B-Instruct (VLM engine, LLM part)": "qwen3-4b",
    "Qwen3-VL-8B-Instruct (VLM engine, LLM part)": "qwen3-8b",
    "Llama-2-7B": "llama-2-7b",
    "Llama-2-13B": "llama-2-13b",
    "Llama-2-70B": "llama-2-70b",
    "Llama-3-8B": "llama-3-8b",
    # Hybrids. A VLM engine row is its language model, as for Qwen3-VL (the ViT is not costed).
    "NVIDIA-Nemotron-3-Nano-4B": "nemotron-3-nano-4b",
    "Nemotron-3-Nano-4B": "nemotron-3-nano-4b",
    "NVIDIA-Nemotron-3-Nano-30B-A3B": "nemotron-3-nano-30b-a3b",
    **{f"{name}{suffix}": ref
       for name, ref in (("Qwen3.5-0.8B", "qwen3.5-0.8b"), ("Qwen3.5-2B", "qwen3.5-2b"),
                         ("Qwen3.5-4B", "qwen3.5-4b"), ("Qwen3.5-9B", "qwen3.5-9b"),
                         ("Qwen3.5-27B", "qwen3.5-27b"), ("Qwen3.5-35B-A3B", "qwen3.5-35b-a3b"),
                         ("Qwen3.6-35B-A3B", "qwen3.6-35b-a3b"))
       for suffix in ("", " (VLM engine, LLM part)", " (VLM)")},
}
# Model families the cost model cannot represent (regex on the name -> reason).
UNSUPPORTED_MODELS: tuple[tuple[str, str], ...] = (
    (r"^Qwen3\.[5-9]", "no model preset for this Qwen3.5 / 3.6 size (the hybrid operators "
                       "exist; add its config.json with --model NAME=config.json)"),
    (r"Nemotron-3\.5", "no model preset: the Nemotron 3.5 configuration is not among the "
                       "sourced presets"),
    (r"Nemotron-3", "no model preset for this Nemotron-3 size (the Mamba-2 operators exist; "
                    "add its config.json with --model NAME=config.json)"),
    (r"(?i)gemma-4", "no model preset: Gemma 4's global layers use their own head width and "
                     "KV heads (global_head_dim, num_global_key_value_heads), which one "
                     "attention shape per model does not describe"),
)


@dataclass(frozen=True)
class PrecisionSpec:
    """How a published precision label maps onto a :class:`Precision`, and why."""

    precision: Precision
    note: str


def _p(w: str, a: str, kv: str, head: str) -> Precision:
    return Precision(w, a, kv, head)


# Published precision labels (case and spacing ignored) -> formats.
PRECISIONS: dict[str, PrecisionSpec] = {
    "int4 awq": PrecisionSpec(_p("int4", "fp16", "fp16", "fp16"),
                              "W4A16 group-128 AWQ; LM head FP16 (TensorRT Edge-LLM quantises "
                              "lm_head only with --lm_head_quantization); KV FP16 (FP8 KV is "
                              "opt-in via --kv_cache_quantization)"),
    "int4 gptq": PrecisionSpec(_p("int4", "fp16", "fp16", "fp16"),
                               "W4A16 group-128 GPTQ checkpoint; LM head and KV FP16"),
    "nvfp4": PrecisionSpec(_p("nvfp4", "nvfp4", "fp16", "fp16"),
                           "W4A4 NVFP4: the Edge-LLM export uses the checkpoint's activation "
                           "scales and the W4A4 GEMM path unless --no-quantize-activations; LM "
                           "head FP16 and KV FP16 assumed (opt-in flags); the measured NVFP4 "
                           "decode being slightly slower than INT4 AWQ agrees with FP16 KV"),
    "nvfp4 (vit fp16)": PrecisionSpec(_p("nvfp4", "nvfp4", "fp16", "fp16"),
                                      "NVFP4 W4A4 language model of a VLM export, KV and LM head "
                                      "FP16 (the Qwen3-VL rows decode as fast as the Qwen3 rows "
                                      "of the same shape); the ViT is not costed (text-only "
                                      "prefill)"),
    "int4 awq (vit fp16)": PrecisionSpec(_p("int4", "fp16", "fp16", "fp16"),
                                         "W4A16 AWQ language model of a VLM export; LM head and "
                                         "KV FP16; the ViT is not costed (text-only prefill)"),
    "int4 gptq (vit fp16)": PrecisionSpec(_p("int4", "fp16", "fp16", "fp16"),
                                          "W4A16 GPTQ language model of a VLM export; LM head "
                                          "and KV FP16; the ViT is not costed"),
    "nvfp4 llm / fp16 vit": PrecisionSpec(_p("nvfp4", "nvfp4", "fp16", "fp16"),
                                          "NVFP4 W4A4 language model, FP16 ViT (not costed); "
                                          "LM head and KV FP16 (assumption)"),
    "fp16 (vit fp16)": PrecisionSpec(_p("fp16", "fp16", "fp16", "fp16"),
                                     "FP16 language model of a VLM export; the ViT is not "
                                     "costed"),
    "fp8 (vit fp16)": PrecisionSpec(_p("fp8", "fp8", "fp16", "fp16"),
                                    "FP8 language model of a VLM export; LM head and KV FP16 "
                                    "(assumption); the ViT is not costed"),
    "fp16": PrecisionSpec(_p("fp16", "fp16", "fp16", "fp16"), "FP16 weights, activations, KV"),
    # Generic labels, as papers and vendor tables write them (LM head and KV FP16, the
    # common default of the deployments: assumption).
    "bf16": PrecisionSpec(_p("bf16", "bf16", "bf16", "bf16"), "BF16 weights, activations, KV"),
    "int8": PrecisionSpec(_p("int8", "int8", "fp16", "fp16"),
                          "INT8 read as W8A8 (SmoothQuant-style, TensorRT's INT8 path); LM "
                          "head and KV FP16 (assumption); for weight-only INT8 write W8A16"),
    "w8a8": PrecisionSpec(_p("int8", "int8", "fp16", "fp16"),
                          "W8A8 INT8 weights and activations; LM head and KV FP16"),
    "w8a16": PrecisionSpec(_p("int8", "fp16", "fp16", "fp16"),
                           "INT8 weight-only; LM head and KV FP16"),
    "w4a16": PrecisionSpec(_p("int4", "fp16", "fp16", "fp16"),
                           "INT4 weight-only (AWQ / GPTQ style); LM head and KV FP16"),
    "w4a8": PrecisionSpec(_p("int4", "int8", "fp16", "fp16"),
                          "INT4 weights, INT8 activations; LM head and KV FP16"),
    "fp8 w8a8": PrecisionSpec(_p("fp8", "fp8", "fp16", "fp16"),
                              "FP8 weights and activations; LM head and KV FP16"),
    "fp8": PrecisionSpec(_p("fp8", "fp8", "fp16", "fp16"),
                         "FP8 weights and activations; LM head and KV FP16 (assumption)"),
    "int4 (q4f16_1)": PrecisionSpec(_p("int4", "fp16", "fp16", "int4"),
                                    "MLC q4f16_1: 4-bit groups of 32 with an FP16 scale "
                                    "(4.5 bit/weight; chipdse int4 stores 4.125, so weight bytes "
                                    "are 8 % low); LM head quantised too (assumption)"),
    "q4_0 gguf": PrecisionSpec(_p("int4", "fp16", "fp16", "int8"),
                               "llama.cpp Q4_0: 4-bit blocks of 32 with an FP16 scale "
                               "(4.5 bit/weight; chipdse int4 stores 4.125, so weight bytes are "
                               "8 % low); output.weight is kept at Q6_K (6.56 bit), costed as "
                               "int8"),
    "q4_k_m gguf": PrecisionSpec(_p("int4", "fp16", "fp16", "int8"),
                                 "llama.cpp Q4_K_M: mixed Q4_K / Q6_K, about 4.9 bit/weight "
                                 "on average (chipdse int4 stores 4.125, so weight bytes are "
                                 "about 16 % low); output.weight at Q6_K, costed as int8"),
}


# (model name pattern, precision label) -> formats, where one model's export differs from the
# label's general meaning.
PRECISION_OVERRIDES: tuple[tuple[str, str, PrecisionSpec], ...] = (
    (r"^Qwen2\.5-VL-7B", "nvfp4 (vit fp16)",
     PrecisionSpec(_p("nvfp4", "nvfp4", "fp16", "nvfp4"),
                   "NVFP4 W4A4 language model, KV FP16, LM head NVFP4: with an FP16 head the "
                   "published Qwen2.5-VL-7B decode (59.2 tok/s on AGX Thor) would need 290 GB/s, "
                   "above the 273 GB/s peak; the ViT is not costed (text-only prefill)")),
)


def _norm(label: str) -> str:
    return re.sub(r"\s+", " ", label.strip().lower())


@dataclass(frozen=True)
class Measurement:
    """One row of a measurements CSV, checked, with its mapping to presets.

    ``row`` is the 1-based data row (the header is not counted); ``line`` the file line.
    ``chip`` / ``model_ref`` are preset names or file paths, or None when unmapped.
    """

    row: int
    line: int
    device: str
    engine: str
    model: str
    precision_label: str
    batch: int
    input_tokens: int | None
    output_tokens: int | None
    decode_tok_s: float | None
    prefill_tok_s: float | None
    ttft_ms: float | None
    source: str
    notes: str = ""
    chip: str | None = None
    model_ref: str | None = None
    precision: Precision | None = None
    precision_note: str = ""
    power_mode: str | None = None

    @property
    def decode_context(self) -> int:
        """Cached tokens the measured decode step attends over (see the module docstring)."""
        out = self.output_tokens or 0
        if "llama-bench" in self.engine.lower():
            return max(out // 2, 1)
        return max((self.input_tokens or 0) + out // 2, 1)

    @property
    def decode_step_s(self) -> float | None:
        """Seconds per decode step of the whole batch."""
        return None if self.decode_tok_s is None else self.batch / self.decode_tok_s

    @property
    def prefill_s(self) -> float | None:
        """Prefill wall time of the whole batch, or None when it cannot be derived."""
        if self.ttft_ms is not None:
            return self.ttft_ms / 1e3
        if self.prefill_tok_s is not None and self.input_tokens:
            return self.input_tokens / self.prefill_tok_s
        return None

    @property
    def skipped_phases(self) -> dict[str, str]:
        """Phases with a published number that cannot be compared, and why."""
        out = {}
        if self.prefill_tok_s is not None and self.prefill_s is None:
            out["prefill"] = "prompt length (input_tokens) not published"
        return out


@dataclass(frozen=True)
class Unmapped:
    """A row that cannot be mapped, with the column at fault and the reason."""

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {excerpt(self.value)}: {self.reason}"


@dataclass
class MeasurementSet:
    """Mapped rows and unmapped rows of one CSV file."""

    path: str
    rows: list[Measurement] = field(default_factory=list)
    unmapped: list[tuple[Measurement, Unmapped]] = field(default_factory=list)

    @property
    def chips(self) -> list[str]:
        return sorted({m.chip for m in self.rows if m.chip})


def builtin_measurements_path() -> Path:
    """The built-in calibration data shipped with chipdse."""
    return Path(str(resources.files("chipdse"))) / "data" / "measurements.csv"


def parse_maps(items: tuple[str, ...] | list[str], option: str) -> dict[str, str]:
    """``["NAME=REF", ...]`` -> ``{NAME: REF}``; a malformed item is a :class:`SpecError`."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, ref = item.partition("=")
        if not sep or not name.strip() or not ref.strip():
            raise SpecError([f"{option}: {excerpt(item)} is not NAME=PRESET_OR_FILE"])
        out[name.strip()] = ref.strip()
    return out


def _number(raw: str, where: str, errors: list[str], integer: bool = False,
            positive: bool = True, required: bool = False) -> float | int | None:
    s = raw.strip()
    if s == "":
        if required:
            errors.append(f"{where}: empty")
        return None
    try:
        v = float(s)
    except ValueError:
        errors.append(f"{where}: {excerpt(raw)} is not a number")
        return None
    if not math.isfinite(v) or (positive and v <= 0) or v < 0:
        errors.append(f"{where}: {excerpt(raw)} must be {'> 0' if positive else '>= 0'}")
        return None
    if integer:
        if not v.is_integer():
            errors.append(f"{where}: {excerpt(raw)} is not an integer")
            return None
        return int(v)
    return v


def _map_device(name: str, device_map: Mapping[str, str], chips: set[str]
                ) -> tuple[str | None, str | None]:
    """(chip ref, None) or (None, reason to list) or raise KeyError for an unknown name."""
    if name in device_map:
        return device_map[name], None
    if name in DEVICES:
        return DEVICES[name], None
    if name in chips:
        return name, None
    if name in UNSUPPORTED_DEVICES:
        return None, UNSUPPORTED_DEVICES[name]
    raise KeyError(name)


def _map_model(name: str, model_map: Mapping[str, str], models: set[str]
               ) -> tuple[str | None, str | None]:
    if name in model_map:
        return model_map[name], None
    if name in MODELS:
        return MODELS[name], None
    if name in models:
        return name, None
    for pattern, reason in UNSUPPORTED_MODELS:
        if re.search(pattern, name):
            return None, reason
    raise KeyError(name)


def _parse_row(v: Mapping[str, str], i: int, file: str, device_map: Mapping[str, str],
               model_map: Mapping[str, str], known: tuple[set[str], set[str]],
               errors: list[str]) -> tuple[Measurement, Unmapped | None] | None:
    """Check and map one data row; None (with ``errors`` extended) when it is invalid."""
    get = v.get
    n_err = len(errors)

    def at(c: str) -> str:
        return f"{file}: row {i} (line {i + 1}), column {c}"

    for c in ("device", "model", "precision", "source_url"):
        if not get(c):
            errors.append(f"{at(c)}: empty")
    batch = _number(get("batch", ""), at("batch"), errors, integer=True, required=True)
    inp = _number(get("input_tokens", ""), at("input_tokens"), errors, integer=True)
    outp = _number(get("output_tokens", ""), at("output_tokens"), errors, integer=True)
    dec = _number(get("decode_tok_s", ""), at("decode_tok_s"), errors)
    pre = _number(get("prefill_tok_s", ""), at("prefill_tok_s"), errors)
    ttft = _number(get("ttft_ms", ""), at("ttft_ms"), errors)
    if len(errors) == n_err and dec is None and pre is None and ttft is None:
        errors.append(f"{at('decode_tok_s')}: the row has no decode_tok_s, prefill_tok_s or "
                      "ttft_ms")
    spec = None
    if get("precision"):
        label = _norm(get("precision", ""))
        spec = next((o for pat, lab, o in PRECISION_OVERRIDES
                     if lab == label and re.search(pat, get("model", ""))),
                    PRECISIONS.get(label))
        if spec is None:
            errors.append(f"{at('precision')}: unknown precision {get('precision')!r} "
                          f"(known: {', '.join(sorted(PRECISIONS))})")
    dev_ref = model_ref = None
    why: Unmapped | None = None
    device, model = get("device", ""), get("model", "")
    if device:
        try:
            dev_ref, reason = _map_device(device, device_map, known[0])
            if reason:
                why = Unmapped(i, "device", device, reason)
        except KeyError:
            errors.append(f"{at('device')}: unknown device {excerpt(device)} (known: "
                          f"{', '.join(sorted(DEVICES))}, or a chip preset name; map it with "
                          f"--device '{device}=CHIP.yaml')")
    if model:
        try:
            model_ref, reason = _map_model(model, model_map, known[1])
            if reason and why is None:
                why = Unmapped(i, "model", model, reason)
        except KeyError:
            errors.append(f"{at('model')}: unknown model {excerpt(model)} (known: "
                          f"{', '.join(sorted(MODELS))}, or a model preset name; map it with "
                          f"--model '{model}=MODEL.yaml')")
    if len(errors) > n_err:
        return None
    mode = get("power_mode", "")
    mode = None if mode.lower() in ("", "n/s", "n/a") else mode
    if dev_ref is not None and why is None and mode is not None and "@" not in dev_ref:
        dev_ref = f"{dev_ref}@{mode}"
    m = Measurement(
        row=i, line=i + 1, device=device, engine=get("engine", ""), model=model,
        precision_label=get("precision", ""), batch=int(batch), input_tokens=inp,
        output_tokens=outp, decode_tok_s=dec, prefill_tok_s=pre, ttft_ms=ttft,
        source=get("source_url", ""), notes=get("notes", ""),
        chip=dev_ref if why is None else None, model_ref=model_ref if why is None else None,
        precision=spec.precision if spec else None, precision_note=spec.note if spec else "",
        power_mode=mode)
    return m, why


def load_measurements(path: str | Path, device_map: Mapping[str, str] | None = None,
                      model_map: Mapping[str, str] | None = None) -> MeasurementSet:
    """Read and check a measurements CSV and map its rows to presets or user files.

    Raises :class:`SpecError` listing every problem (each naming the file, the row and the
    column); rows that are valid but cannot be represented are returned in ``unmapped``.
    """
    p = Path(path)
    device_map, model_map = dict(device_map or {}), dict(model_map or {})
    text = read_text(p)
    try:
        table = list(csv.reader(text.splitlines()))
    except csv.Error as exc:  # e.g. a field longer than csv's limit (131,072 characters)
        raise SpecError([f"{p.name}: malformed CSV: {str(exc)[:80]}"]) from None
    if not table:
        raise SpecError([f"{p.name}: empty file (expected a header with columns "
                         f"{', '.join(REQUIRED_COLUMNS)})"])
    header = [h.strip() for h in table[0]]
    reader = iter(table[1:])
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise SpecError([f"{p.name}: column{'s' if len(twice) > 1 else ''} "
                         f"{', '.join(excerpt(h) for h in twice)} given more than once"])
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise SpecError([f"{p.name}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (required: {', '.join(REQUIRED_COLUMNS)})"])
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise SpecError([f"{p.name}: unknown column{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)} (optional: {', '.join(OPTIONAL_COLUMNS)})"])
    col = {c: header.index(c) for c in header}
    known = (set(list_chips()), set(list_models()))
    errors: list[str] = []
    out = MeasurementSet(str(p))
    for i, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            errors.append(f"{p.name}: row {i} (line {i + 1}): {len(cells)} fields, the header "
                          f"has {len(header)}")
            continue
        values = {c: cells[k].strip() for c, k in col.items()}
        parsed = _parse_row(values, i, p.name, device_map, model_map, known, errors)
        if parsed is None:
            continue
        m, why = parsed
        if why is None:
            out.rows.append(m)
        else:
            out.unmapped.append((m, why))
    if errors:
        raise SpecError(errors)
    if not out.rows and not out.unmapped:
        raise SpecError([f"{p.name}: no data rows"])
    return out
