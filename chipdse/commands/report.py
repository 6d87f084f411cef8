"""``chipdse report DIR``: one self-contained HTML page for a run directory."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write (default: RUN_DIR/report.html).")
def report(run_dir: Path, output: Path | None) -> None:
    """One self-contained HTML page (inputs, verdicts, tables, figures) for a run
    directory."""
    from chipdse import io
    from chipdse.html_report import build_report

    if output is not None:
        if output.suffix.lower() not in (".html", ".htm"):
            from chipdse.errors import UserError

            raise UserError(f"-o {output}: a report is HTML; give a .html file")
        io.check_output_file(output)
    click.echo(str(build_report(run_dir, output)))


COMMANDS = [report]
