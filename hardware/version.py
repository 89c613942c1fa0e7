"""The topsim version, recorded in every Result and printed by `topsim --version`.

Kept as a constant (reading package metadata costs a start-up import); a test checks it
against the installed distribution's version in pyproject.toml.
"""

__version__ = "0.1.0"
