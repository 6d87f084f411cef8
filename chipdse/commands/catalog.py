"""``chipdse chips`` and ``chipdse models``: list and show the built-in presets."""

from __future__ import annotations

import click

from chipdse import api
from chipdse.commands.common import emit, format_option
from microarch.units import format_quantity


def _peak_t(c, fmt: str) -> float:
    """Dense peak in T(FL)OPS for ``fmt``, NaN (shown as "-") if the chip cannot run it."""
    try:
        return c.matrix.peak(fmt) / 1e12
    except ValueError:
        return float("nan")


def _chip_row(c) -> dict:
    return {
        "name": c.name, "family": c.family,
        "fp16_tflops": _peak_t(c, "fp16"),
        "int8_tops": _peak_t(c, "int8"),
        "dram_gb_s": c.dram.bandwidth_bytes_per_s / 1e9,
        "dram": format_quantity(c.dram.capacity_bytes, "bytes"),
        "sram_mib": c.sram_bytes / 2**20,
        "kv_sram_mib": (c.kv_sram.capacity_bytes / 2**20) if c.kv_sram else 0.0,
        "phase_mode": c.phase.mode.value,
    }


@click.command("chips")
@click.argument("action", type=click.Choice(["list", "show"]), default="list")
@click.argument("name", required=False)
@format_option
def chips(action: str, name: str | None, fmt: str) -> None:
    """List chip presets, or show one (its fields and the source of every number)."""
    if action == "list":
        emit([_chip_row(api.load_chip(n)) for n in api.list_chips()], fmt)
        return
    if not name:
        raise click.UsageError("chips show needs a NAME (or a chip .yaml path)")
    c = api.load_chip(name)
    row = _chip_row(c)
    row["description"] = c.description
    row["peaks_dense_tops"] = {k: v / 1e12 for k, v in c.matrix.peak_dense_ops_per_s.items()}
    row["memory"] = {m.name: f"{m.kind.value} {format_quantity(m.capacity_bytes, 'bytes')} @ "
                     f"{format_quantity(m.bandwidth_bytes_per_s, 'bytes_per_s')}"
                     for m in c.memory}
    row["efficiency"] = {"dram": c.efficiency.dram, "sram": c.efficiency.sram,
                         "vector": c.efficiency.vector,
                         "weight_only_gemm": c.efficiency.weight_only_gemm,
                         "attention": c.efficiency.attention or "= matrix[fp16]",
                         "gemm_k_overhead_elements": c.efficiency.gemm_k_overhead,
                         "dequant_ops_per_element": c.efficiency.dequant_ops_per_element,
                         "weight_only_row_tile": c.efficiency.weight_only_row_tile,
                         **{f"matrix[{k}]": v for k, v in c.efficiency.matrix.items()}}
    row["dispatch_us"] = c.dispatch.per_operator_s * 1e6
    if c.matrix.tiling is not None:
        t = c.matrix.tiling
        row["gemm_tiling"] = (f"{c.matrix.cores} cores, tile {t.m}x{t.n}x{t.k} (smallest M "
                              f"{t.min_m}, grouped MoE M {t.grouped_min_m})")
    row["power_mode"] = c.power_mode
    row["power_modes"] = {
        m.name: (f"GPU {format_quantity(m.clock_hz, 'hz')}"
                 + (f", {m.cores} cores" if m.cores else "")
                 + f", DRAM {format_quantity(m.dram_bytes_per_s, 'bytes_per_s')}"
                 + (f", {m.tdp_w:g} W" if m.tdp_w else "")
                 + (" (reference)" if m.name == c.reference_mode else "")
                 + (" (current)" if m.name == c.power_mode else ""))
        for m in c.power_modes}
    from chipdse.uncertainty import fitted_on, prediction_error, uncertain_numbers

    held = fitted_on(c)
    row["uncertain_numbers"] = {
        v.path: (f"{v.nominal:.4g} in [{v.low:.4g}, {v.high:.4g}] SI, "
                 + ("fitted: 5-95 % interval" if v.fitted else "range of the assumption")
                 + (" (held: the family was fitted on this chip)"
                    if held and not v.family_term else ""))
        for v in uncertain_numbers(c)}
    role, sig = prediction_error(c)
    row["prediction_error"] = (f"{role}: ln-time sigma prefill {sig['prefill']:.3g}, "
                               f"decode {sig['decode']:.3g}")
    row["cost_usd"] = _cost_row(c)
    row["sources"] = dict(c.sources)
    emit(row, fmt)


def _cost_row(c) -> dict | str:
    """The chip's cost in dollars with its band (microarch.cost_usd), or why it has none."""
    from microarch.cost_usd import chip_cost

    try:
        k = chip_cost(c)
    except (ValueError, KeyError) as exc:
        return f"not priced: {exc}"
    b = k.breakdown
    return {
        "cost_usd": (f"{k.cost_usd:.0f} in [{k.cost_usd_low:.0f}, {k.cost_usd_high:.0f}] "
                     f"(unit {b['unit_usd']:.0f} + NRE {b['nre_usd'] / 1e6:.0f} M / "
                     f"{b['volume_units']:.3g} units)"),
        "die": (f"{k.die_area_mm2:.1f} mm2 ({k.area_source}) at {k.node_nm:g} nm: "
                f"{b['dies_per_wafer']:.0f} dies per wafer, yield {b['yield']:.3f}"
                + (f" with {k.spare_groups} of {k.groups} unit groups spare"
                   if k.spare_groups else "") + f", {b['die_usd']:.0f} per good die"),
        "package_test_usd": f"{b['package_usd']:.0f} + {b['test_usd']:.0f}",
        "dram_usd": (f"{b['dram_usd']:.0f} ({k.dram_kind}, "
                     f"{format_quantity(k.dram_capacity_bytes, 'bytes')})"),
    }


@click.command("models")
@click.argument("action", type=click.Choice(["list", "show"]), default="list")
@click.argument("name", required=False)
@format_option
def models(action: str, name: str | None, fmt: str) -> None:
    """List model presets, or show one."""
    def row(m) -> dict:
        return {"name": m.name, "layers": m.n_layers, "d_model": m.d_model,
                "heads": m.n_heads, "kv_heads": m.n_kv_heads, "head_dim": m.head_dim,
                "ffn_ratio": round(m.ffn_ratio, 3), "experts": m.n_experts, "top_k": m.top_k,
                "params_b": m.total_params / 1e9, "active_params_b": m.active_params / 1e9}
    if action == "list":
        emit([row(api.load_model(n)) for n in api.list_models()], fmt)
        return
    if not name:
        raise click.UsageError("models show needs a NAME (or a model file)")
    m = api.load_model(name)
    r = row(m)
    r.update(vocab=m.vocab_size, tied_embeddings=m.tied_embeddings, d_ff=m.d_ff,
             d_ff_expert=m.d_ff_expert, qk_norm=m.qk_norm, source=m.source)
    emit(r, fmt)


COMMANDS = [chips, models]
