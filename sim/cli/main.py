"""The `topsim` app: every command registered on one typer app, and the entry point.

The commands are plain functions in their own modules; this module only names them, in
the order `topsim --help` lists them, and turns click's usage errors into the same one-line
`error: ...` (exit code 2) as a user mistake inside a command.

Help is click's plain layout (`-h` or `--help`): a flag is shown without a value, and the
rich help renderer (and its markdown parser) is never imported. Shell completion is
typer's: `topsim --install-completion` or `--show-completion`.
"""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from hardware.errors import InputError
from sim.cli.accuracy import accuracy
from sim.cli.calibrate import calibrate, validate_model
from sim.cli.chips import chips_app, list_workloads, validate
from sim.cli.common import fail, print_version
from sim.cli.fit import fit
from sim.cli.lut import lut
from sim.cli.run import run
from sim.cli.serve import serve
from sim.cli.study import compare, explain, plot
from sim.cli.sweep import sweep
from sim.cli.system import system

app = typer.Typer(
    name="topsim",
    help="Simulate neural-network workloads on AI accelerators and explain where the peak "
    "TOP/s went.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def topsim(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", is_eager=True, callback=print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """Simulate neural-network workloads on AI accelerators and explain where the peak
    TOP/s went."""


app.add_typer(chips_app, name="chips")
app.command("workloads")(list_workloads)
app.command()(validate)
app.command()(run)
app.command()(explain)
app.command()(compare)
app.command()(plot)
app.command("sweep")(sweep)
app.command("calibrate")(calibrate)
app.command("fit")(fit)
app.command("validate-model")(validate_model)
app.command("accuracy")(accuracy)
app.command("lut")(lut)
app.command("system")(system)
app.command("serve")(serve)


def main() -> None:
    """Console-script entry point (`topsim`): every user mistake is one line and exit 2."""
    try:  # typer bundles its own click; older releases use the click package
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover
        from click import exceptions as click_errors

    warnings.formatwarning = lambda message, *_args, **_kw: f"warning: {message}\n"
    try:
        code = app(prog_name="topsim", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:  # the help was printed while it was raised
        raise SystemExit(0) from None
    except click_errors.UsageError as err:  # bad flags or values that click checks
        command = err.ctx.command_path if err.ctx else "topsim"
        fail(f"{command}: {err.format_message()} (see '{command} --help').")
    except typer.Abort:
        fail("aborted.")
    except InputError as err:  # a command that forgot user_errors(): still no traceback
        fail(str(err))
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
