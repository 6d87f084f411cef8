"""``chipdse schema chip|model|trace``: the JSON Schema of an input file format."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("schema")
@click.argument("kind", type=click.Choice(["chip", "model", "trace"]))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the schema to this .json file (default: stdout).")
def schema(kind: str, output: Path | None) -> None:
    """Print the JSON Schema of chip, model or trace files (for editor completion)."""
    from chipdse import io
    from chipdse.file_schema import json_schema

    text = io.json_dumps(json_schema(kind))
    if output is None:
        click.echo(text)
    else:
        io.check_output_file(output)
        io.write_text(output, text + "\n")
        click.echo(f"wrote {output}")


COMMANDS = [schema]
