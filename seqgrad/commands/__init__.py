"""Subcommands of the `seqgrad` command line, one module each."""
