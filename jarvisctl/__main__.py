"""`python -m jarvisctl` is the `jarvisctl` command."""

from jarvisctl.cli.main import main

main()
