"""`python -m jarvisctl` is the `jarvisctl` command."""

from jarvisctl.cli import main

main()
