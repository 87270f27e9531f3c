"""Run the command-line interface as ``python -m envspec``."""

from envspec.cli import main

main()
