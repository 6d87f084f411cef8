"""The ``chipdse`` command line (click). Commands live in :mod:`chipdse.commands`; this module
holds the group, the shared options and the error policy: bad input is one line on stderr and
exit status 2, ``--debug`` shows the traceback instead.

A command's module is imported only when that command runs (or its own ``--help`` is asked
for): ``chipdse --help`` lists the commands from :data:`COMMANDS` without importing numpy,
pandas or any chip or model code."""

from __future__ import annotations

import importlib
import os
import sys

import click

__all__ = ["main", "COMMANDS"]

# The command line writes figures to files only: matplotlib's file backend, unless the user
# chose another.
os.environ.setdefault("MPLBACKEND", "Agg")

COMMANDS: dict[str, tuple[str, str]] = {
    "calibrate": ("chipdse.commands.calibrate",
                  "Fit CHIP's achieved-efficiency terms to the measured rows of that chip."),
    "chips": ("chipdse.commands.catalog",
              "List chip presets, or show one (its fields and the source of every number)."),
    "codesign": ("chipdse.commands.search",
                 "Joint co-design of chip and model (loss, latency, area), or chip sizing "
                 "with --model."),
    "estimate": ("chipdse.commands.estimate",
                 "Latency, throughput, energy and memory of one model on one chip (or, "
                 "with --trace, of one VLA frame)."),
    "models": ("chipdse.commands.catalog", "List model presets, or show one."),
    "report": ("chipdse.commands.report",
               "One self-contained HTML page (inputs, verdicts, tables, figures) for a run "
               "directory."),
    "roofline": ("chipdse.commands.estimate",
                 "Draw the chip's roofline with the workload's operators placed on it."),
    "schema": ("chipdse.commands.schema",
               "Print the JSON Schema of chip, model or trace files (for editor completion)."),
    "search": ("chipdse.commands.search",
               "PLAS: Pareto-optimal model architectures (loss vs latency) on a fixed chip."),
    "simulate": ("chipdse.commands.simulate",
                 "Simulate a trace of VLA requests (vision encoder, prefill, action decode) on "
                 "a chip."),
    "sweep": ("chipdse.commands.sweep",
              "Every combination of chips, power modes, models, precisions, batch, prompt and "
              "generate in one table, with a summary and comparison figures."),
    "study": ("chipdse.commands.study",
              "Reproducible studies of the source work's hardware conclusions."),
    "system": ("chipdse.commands.system",
               "Multi-chip systems: N chips joined by a link, the work split across them."),
    "validate": ("chipdse.commands.calibrate",
                 "Predicted vs measured for every mapped row, MAPE per device, phase and role, "
                 "and cross-validation (calibration rows only; other devices are transfer "
                 "tests)."),
}
"""Command name -> (module whose ``COMMANDS`` list defines it, its one-line help as the
group's ``--help`` shows it; a test holds it equal to the command's own docstring)."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from chipdse.errors import USER_ERRORS

    return USER_ERRORS


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        for cmd in importlib.import_module(COMMANDS[cmd_name][0]).COMMANDS:
            self.commands.setdefault(cmd.name, cmd)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The one-line helps of commands not loaded yet come from COMMANDS: listing the
        # commands imports none of them.
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            cmd = self.commands.get(name)
            if cmd is None:
                cmd = click.Command(name, help=COMMANDS[name][1])
            if not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            return super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:  # a bad flag is one line, like every bad input
            where = exc.ctx.command_path if exc.ctx is not None else "chipdse"
            click.echo(f"error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if not isinstance(exc, _user_errors()):
                raise
            if ctx.obj and ctx.obj.get("debug"):
                raise
            lines = str(exc).splitlines() or [type(exc).__name__]
            for line in lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr (warnings and "
              "errors still show).")
@click.option("-v", "--verbose", is_flag=True, help="Every progress line (each generation, "
              "round or block) and the studies' full answers.")
@click.version_option(package_name="chipdse")
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool, verbose: bool) -> None:
    """chipdse: size on-device accelerators for LLM and VLA inference."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbosity"] = -1 if quiet else (1 if verbose else 0)
