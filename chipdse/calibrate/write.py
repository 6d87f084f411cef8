"""Writing fitted terms into files: a chip YAML (the chip itself or a same-family sibling) or
the family's entry of ``families.yaml``, each term a ``{value, source}`` leaf naming the rows
that fix it and how well."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from chipdse.calibrate.run import row_ranges
from chipdse.calibrate.terms import format_value, is_overhead, yaml_keys
from chipdse.errors import UserError
from microarch.loader import chip_from_dict, load_chip, preset_path
from microarch.schema import excerpt, load_yaml

__all__ = ["calibrated_chip_yaml", "family_block_yaml", "chip_file"]


def chip_file(ref: str) -> Path:
    p = Path(ref)
    if ref.endswith((".yaml", ".yml")) or p.is_file():
        return p
    return preset_path(ref)


def _set_leaf(d: dict, keys: Sequence[str], value: Any, source: str,
              span: tuple[Any, Any] | None = None) -> None:
    for k in keys[:-1]:
        if not isinstance(d.get(k), dict):
            d[k] = {}
        d = d[k]
    d[keys[-1]] = {"value": value, "source": source}
    if span is not None:
        d[keys[-1]]["range"] = list(span)


def _write_terms(raw: dict, cal, carried_from: str | None) -> dict:
    for name, v in cal.fit.values.items():
        src = cal.term_source(name, carried_from)
        iv = cal.interval(name)
        span = None
        if iv is not None:
            src += ("; range: 5-95 % interval of the fit"
                    + (f", widened x{cal.widen:.2f} to the cross-validated residuals"
                       if cal.widen > 1.0 else "") + ", within the term's plausible span")
            span = (format_value(name, iv[0]), format_value(name, iv[1]))
        _set_leaf(raw, yaml_keys(name), format_value(name, v), src, span)
    return raw


def _write_spread(block: dict, cal) -> dict:
    """A family block's correlations of the fitted terms and its prediction error."""
    corr = [[a, b, r] for a, b, r in cal.correlations()
            if a in cal.fit.values and b in cal.fit.values]
    if corr:
        block["correlations"] = corr
    else:
        block.pop("correlations", None)
    if cal.prediction_error:
        note = (f"RMS of ln(predicted / measured time) per phase, {cal.cv_note} "
                f"({Path(cal.measurements.path).name})")
        block["prediction_error"] = {
            role: {ph: {"value": float(v), "source": f"{note}: {role}"}
                   for ph, v in by_phase.items()}
            for role, by_phase in cal.prediction_error.items()}
    return block


def _header(cal, carried_from: str | None) -> str:
    f = cal.fit
    lines = [f"Calibrated by chipdse calibrate from {Path(chip_file(cal.chip_ref)).name}"
             if carried_from is None else
             f"Terms fitted on {carried_from} by chipdse calibrate, carried without refitting",
             f"Rows: {row_ranges(f.rows)} of {Path(cal.measurements.path).name}"
             + (f" (batch {', '.join(map(str, cal.batches))})" if cal.batches else ""),
             f"Fit error: decode MAPE {100 * f.mape('decode'):.1f} %, "
             f"prefill MAPE {100 * f.mape('prefill'):.1f} %  (prior weight {f.prior_weight})"]
    for t in f.terms:
        ov = is_overhead(t.name)
        val = f"{t.value * 1e6:.3g} us" if ov else f"{t.value:.3g}"
        lines.append(f"  {t.name}: {val} [{t.status}{', at bound' if t.at_bound else ''}]")
    for a, b, r in f.correlated:
        lines.append(f"  {a} and {b} are correlated (r = {r:+.2f}): only their combination is "
                     "identified")
    return "".join(f"# {ln}\n" for ln in lines)


def calibrated_chip_yaml(cal, sibling: str | None = None) -> str:
    """The chip file (YAML text) of ``cal.chip_ref`` -- or of ``sibling``, a chip of the same
    family -- with the fitted terms written in as ``{value, source}`` leaves."""
    ref = sibling or cal.chip_ref
    if sibling is not None:
        sib = load_chip(sibling)
        if sib.family != cal.chip.family:
            raise UserError(f"--apply-to {sibling}: family {excerpt(sib.family)} differs from "
                            f"{cal.chip.name}'s family {cal.chip.family!r}; calibrated terms "
                            "belong to one family and software stack")
    raw = load_yaml(chip_file(ref))
    if not isinstance(raw, dict):
        raise UserError(f"{chip_file(ref).name}: not a chip mapping")
    _write_terms(raw, cal, cal.chip.name if sibling else None)
    text = _header(cal, cal.chip.name if sibling else None) + yaml.safe_dump(
        raw, sort_keys=False, allow_unicode=True, width=100)
    chip_from_dict(yaml.safe_load(text), chip_file(ref).name)  # must load back
    return text


def family_block_yaml(cal) -> str:
    """The ``families.yaml`` entry of the chip's family with the fitted terms written in."""
    path = Path(str(resources.files("microarch"))) / "presets" / "families.yaml"
    families = load_yaml(path)
    fam = cal.chip.family
    block = dict(families.get(fam) or {"description": fam, "efficiency": {}, "dispatch": {}})
    _write_terms(block, cal, None)
    _write_spread(block, cal)
    return _header(cal, None) + yaml.safe_dump({fam: block}, sort_keys=False,
                                               allow_unicode=True, width=100)
