"""The `topsim` command line: a thin shell over `hardware`, `workloads` and `sim`.

`common` holds what every command shares, one module per group of commands builds on it,
and `main` registers them all on the typer app (`topsim = "sim.cli.main:main"`). Nothing
here imports upwards: common <- commands <- main.
"""
