"""`python -m openk2 ...` runs the command line (same as the `openk2` script)."""

from openk2.cli import main

main()
