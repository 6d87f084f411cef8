"""``chipdse calibrate`` and ``chipdse validate``: fit a chip family's efficiency terms to
published measurements, and show how far predictions land from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from chipdse import io
from chipdse.commands.common import (
    MAX_BATCH,
    MAX_DRAWS,
    Finite,
    chip_with_mode,
    format_option,
    power_mode_option,
    seed_option,
)
from chipdse.errors import UserError

if TYPE_CHECKING:  # pandas, scipy and the fits load only when a command runs
    import pandas as pd

    from chipdse.calibrate.measurements import MeasurementSet

_MEASUREMENTS = click.option(
    "--measurements", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Measurements CSV (default: the built-in published data, chipdse/data).")
_DEVICE = click.option("--device", "device_maps", multiple=True, metavar="NAME=CHIP",
                       help="Map a device name of the CSV to a chip preset or .yaml (repeat).")
_MODEL = click.option("--model", "model_maps", multiple=True, metavar="NAME=MODEL",
                      help="Map a model name of the CSV to a model preset, .yaml or "
                           "config.json (repeat).")
_BATCH = click.option("--batch", "batches", multiple=True,
                       type=click.IntRange(1, MAX_BATCH),
                      help="Use only rows of this batch size (repeat; default: all).")
_PRIOR = click.option("--prior-weight", default=0.1, show_default=True,
                      type=Finite(min=0.0),
                      help="Pull of the generic prior relative to one row's log error.")


def _load(path: Path | None, device_maps, model_maps) -> MeasurementSet:
    from chipdse.calibrate.measurements import (
        builtin_measurements_path,
        load_measurements,
        parse_maps,
    )

    return load_measurements(path or builtin_measurements_path(),
                             parse_maps(device_maps, "--device"),
                             parse_maps(model_maps, "--model"))


def _list_unmapped(ms: MeasurementSet) -> None:
    """One line per reason on stderr: rows are listed, never dropped silently."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for _, u in ms.unmapped:
        groups.setdefault((u.column, u.reason), []).append((u.row, u.value))
    for (column, reason), items in groups.items():
        rows = ", ".join(str(r) for r, _ in items)
        names = ", ".join(sorted({v for _, v in items}))
        click.echo(f"not mapped ({column} {names}): rows {rows}: {reason}", err=True)


@click.command("calibrate")
@click.option("--chip", required=True, help="Chip preset name or chip .yaml to calibrate.")
@power_mode_option
@_MEASUREMENTS
@_DEVICE
@_MODEL
@_BATCH
@click.option("--phase", type=click.Choice(["both", "decode", "prefill"]), default="both",
              show_default=True, help="Which measured phases to fit.")
@click.option("--terms", default=None,
              help="Comma-separated terms to fit (default: every term the cost model uses for "
                   "these rows), e.g. efficiency.dram,dispatch.per_operator.")
@_PRIOR
@click.option("--apply-to", "siblings", multiple=True, metavar="CHIP",
              help="Also write this sibling chip (same family) with the fitted terms, without "
                   "refitting, as SIBLING.calibrated.yaml beside -o (repeat).")
@click.option("--family-block", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the chip family's families.yaml entry with the fitted terms here.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the calibrated chip .yaml here.")
@format_option
def calibrate(chip: str, power_mode: str | None, measurements: Path | None, device_maps,
              model_maps, batches, phase: str,
              terms: str | None, prior_weight: float, siblings, family_block: Path | None,
              output: Path | None, fmt: str) -> None:
    """Fit CHIP's achieved-efficiency terms to the measured rows of that chip."""
    from chipdse.calibrate import calibrate as fit_chip
    from chipdse.calibrate import calibrated_chip_yaml, family_block_yaml

    if siblings and output is None:
        raise UserError("--apply-to needs -o/--output (the sibling files are written beside it)")
    if output is not None:
        io.check_output_file(output)  # before the work, not after it
    chip = chip_with_mode(chip, power_mode)
    ms = _load(measurements, device_maps, model_maps)
    _list_unmapped(ms)
    phases = ("decode", "prefill") if phase == "both" else (phase,)
    term_list = [t.strip() for t in terms.split(",") if t.strip()] if terms else None
    cal = fit_chip(chip, ms, batches=list(batches) or None, phases=phases, terms=term_list,
                   prior_weight=prior_weight)
    frame = cal.terms_frame()
    written = []
    if output is not None:
        io.write_text(output, calibrated_chip_yaml(cal))
        written.append(output)
        for sib in siblings:
            path = output.parent / f"{Path(sib).stem}.calibrated.yaml"
            io.write_text(path, calibrated_chip_yaml(cal, sibling=sib))
            written.append(path)
    if family_block is not None:
        io.write_text(family_block, family_block_yaml(cal))
        written.append(family_block)
    f = cal.fit
    if fmt == "json":
        click.echo(io.json_dumps({
            "chip": cal.chip.name, "family": cal.chip.family, "rows": f.rows,
            "terms": frame.to_dict(orient="records"),
            "mape_pct": {"decode": 100 * f.mape("decode"), "prefill": 100 * f.mape("prefill")},
            "correlated": [list(c) for c in f.correlated], "written": written,
            "predictions": f.table.to_dict(orient="records")}))
        return
    if fmt == "csv":
        click.echo(frame.to_csv(index=False).rstrip("\n"))
        return
    click.echo(f"{cal.chip.name} (family {cal.chip.family}): rows {', '.join(map(str, f.rows))}"
               f" of {Path(ms.path).name}")
    click.echo(frame.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for a, b, r in f.correlated:
        click.echo(f"correlated: {a} and {b} (r = {r:+.2f}): the rows fix only their "
                   "combination")
    click.echo(f"fit error: decode MAPE {100 * f.mape('decode'):.1f} %, prefill MAPE "
               f"{100 * f.mape('prefill'):.1f} %")
    for p in written:
        click.echo(f"wrote {p}")


def fidelity_table(summary: pd.DataFrame) -> pd.DataFrame:
    """MAPE per device, phase and role, side by side for the chips as loaded and each
    cross-validation."""
    import pandas as pd

    keys = ["device", "phase", "role"]
    wide = summary.pivot_table(index=keys, columns="predictor", values="mape_pct",
                               aggfunc="first")
    n = summary[summary.predictor == "preset"].set_index(keys)["n"]
    out = pd.DataFrame({"rows": n})
    out["MAPE preset %"] = wide.get("preset")
    for name, short in (("leave-one-model-out", "LOMO"), ("leave-one-device-out", "LODO")):
        if name in wide:
            out[f"MAPE {name} %"] = wide[name]
            mx = summary[summary.predictor == name].set_index(keys)["max_abs_pct"]
            out[f"max |error| {short} %"] = mx
    return out.reset_index()


@click.command("validate")
@_MEASUREMENTS
@click.option("--chip", "chips", multiple=True,
              help="Validate only this chip (preset or .yaml, matched to rows by chip name) "
                   "and use it for the predictions (repeat; default: every mapped device's "
                   "preset).")
@_DEVICE
@_MODEL
@_BATCH
@click.option("--cv", type=click.Choice(["none", "model", "device"]), default="model",
              show_default=True,
              help="Cross-validation: none, leave-one-model-out (model), or leave-one-model-out "
                   "and leave-one-device-out (device).")
@_PRIOR
@click.option("--bands", type=click.IntRange(0, MAX_DRAWS), default=200, show_default=True,
              metavar="N",
              help="Check the uncertainty bands: each calibration row's leave-one-model-out "
                   "5-95 % band from N draws (0: skip; needs --cv model or device).")
@seed_option
@click.option("-o", "--output", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for config.json, results.csv, summary.csv, fidelity.csv, loo.csv, "
                   "lodo.csv, bands.csv, band_summary.csv, unmapped.csv and scatter.png.")
@format_option
def validate(measurements: Path | None, chips, device_maps, model_maps, batches, cv: str,
             prior_weight: float, bands: int, seed: int, output: Path, fmt: str) -> None:
    """Predicted vs measured for every mapped row, MAPE per device, phase and role, and
    cross-validation (calibration rows only; other devices are transfer tests)."""
    from chipdse.calibrate import validate as run_validation

    io.prepare_dir(output)  # before the work, not after it
    ms = _load(measurements, device_maps, model_maps)
    _list_unmapped(ms)
    val = run_validation(ms, chips=list(chips) or None, batches=list(batches) or None,
                         cv=cv, prior_weight=prior_weight, bands=bands, seed=seed,
                         progress=lambda s: click.echo(f"cross-validation: {s}", err=True))
    table = fidelity_table(val.summary)
    io.write_json(output / "config.json", io.run_config("validate", {
        "measurements": ms.path, "chips": list(chips), "device_map": list(device_maps),
        "model_map": list(model_maps), "batches": list(batches), "cv": cv,
        "prior_weight": prior_weight, "bands": bands}, seed))
    io.write_csv(output / "results.csv", val.results)
    io.write_csv(output / "summary.csv", val.summary)
    io.write_csv(output / "fidelity.csv", table)
    io.write_csv(output / "unmapped.csv", val.unmapped)
    if not val.loo.empty:
        io.write_csv(output / "loo.csv", val.loo)
    if not val.lodo.empty:
        io.write_csv(output / "lodo.csv", val.lodo)
    if not val.bands.empty:
        io.write_csv(output / "bands.csv", val.bands)
        io.write_csv(output / "band_summary.csv", val.band_summary)
    from chipdse.report import scatter_figure  # matplotlib: only when plotting

    io.save_figure(scatter_figure(val.results), output / "scatter.png")
    if fmt == "json":
        click.echo(io.json_dumps(table.to_dict(orient="records")))
    elif fmt == "csv":
        click.echo(table.to_csv(index=False).rstrip("\n"))
    else:
        click.echo(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
        if not val.band_summary.empty:
            tot = val.band_summary.iloc[-1]
            click.echo(f"uncertainty bands (leave-one-model-out, {bands} draws): the 5-95 % "
                       f"band holds {tot.coverage_pct:.1f} % of {int(tot.rows)} measurements, "
                       f"median half-width {tot.median_half_width_pct:.1f} % "
                       "(band_summary.csv)")
        click.echo(f"{len(val.unmapped)} rows or phases not compared (unmapped.csv); "
                   f"wrote {output}")


COMMANDS = [calibrate, validate]
