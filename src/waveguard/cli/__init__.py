"""The waveguard command line (typer + rich)."""
