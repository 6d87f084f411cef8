"""The ``chipdse`` command line (click). Commands live in :mod:`chipdse.commands`; this module
holds the group, the shared options and the error policy: bad input is one line on stderr and
exit status 2, ``--debug`` shows the traceback instead."""

from __future__ import annotations

import importlib
import os
import sys

import click

from chipdse.errors import USER_ERRORS

__all__ = ["main"]

# The command line writes figures to files only: matplotlib's file backend, unless the user
# chose another.
os.environ.setdefault("MPLBACKEND", "Agg")

# Each module defines COMMANDS, a list of click commands to register.
_COMMAND_MODULES = (
    "chipdse.commands.catalog",
    "chipdse.commands.estimate",
    "chipdse.commands.simulate",
    "chipdse.commands.search",
    "chipdse.commands.study",
    "chipdse.commands.calibrate",
)


class _Group(click.Group):
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
        except USER_ERRORS as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            lines = str(exc).splitlines() or [type(exc).__name__]
            for line in lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="chipdse")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """chipdse: size on-device accelerators for LLM and VLA inference."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _name in _COMMAND_MODULES:
    for _cmd in importlib.import_module(_name).COMMANDS:
        main.add_command(_cmd)
