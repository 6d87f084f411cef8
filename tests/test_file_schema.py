"""chipdse schema: the JSON Schema written from the readers accepts every built-in preset and
refuses what the readers refuse in its own terms (types, units, choices, required fields)."""

import json

import pytest
import yaml
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.file_schema import json_schema

jsonschema = pytest.importorskip("jsonschema")


def _presets(kind):
    if kind == "chip":
        from microarch.loader import _preset_dir, list_chips

        return [_preset_dir() / f"{n}.yaml" for n in list_chips()]
    if kind == "model":
        from workloads.loader import _model_dir as d
        from workloads.loader import list_models

        return [d() / f"{n}.yaml" for n in list_models()]
    from workloads.trace import _trace_dir, list_traces

    return [_trace_dir() / f"{n}.yaml" for n in list_traces()]


@pytest.mark.parametrize("kind", ["chip", "model", "trace"])
def test_every_preset_validates(kind):
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    files = _presets(kind)
    assert files
    for f in files:
        errors = list(v.iter_errors(yaml.safe_load(f.read_text())))
        assert not errors, (f.name, [e.message for e in errors[:3]])


def test_schema_refuses_what_the_reader_refuses():
    v = jsonschema.Draft202012Validator(json_schema("chip"))
    from microarch.loader import _preset_dir

    good = yaml.safe_load((_preset_dir() / "li-m100.yaml").read_text())
    bad_kind = json.loads(json.dumps(good))
    bad_kind["memory"][0]["kind"] = "hbm9"
    assert any("hbm9" in e.message for e in v.iter_errors(bad_kind))
    no_name = {k: x for k, x in good.items() if k != "name"}
    assert any("'name' is a required property" in e.message for e in v.iter_errors(no_name))
    bare = json.loads(json.dumps(good))
    bare["technology"]["clock"] = 1.5e9  # a bare number: the unit is required
    assert list(v.iter_errors(bare))


def test_cli_prints_and_writes(tmp_path):
    r = CliRunner().invoke(main, ["schema", "model"])
    assert r.exit_code == 0 and json.loads(r.stdout)["title"] == "chipdse model file"
    out = tmp_path / "chip.schema.json"
    r = CliRunner().invoke(main, ["schema", "chip", "-o", str(out)])
    assert r.exit_code == 0 and json.loads(out.read_text())["$id"] == "chipdse:chip"
    r = CliRunner().invoke(main, ["schema", "layout"])
    assert r.exit_code == 2
