"""The CLI's subcommands: thin layers that parse arguments, call the library, print results."""
