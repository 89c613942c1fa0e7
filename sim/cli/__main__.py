"""`python -m sim.cli ...` runs the `topsim` command."""

from sim.cli.main import main

main()
