"""Run the CLI with ``python -m opengeomesh``."""

from opengeomesh.cli import main

main()
