"""The `cometsync` command line (typer)."""
