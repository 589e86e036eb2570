"""The ``phala-agent`` command line (typer)."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``phala-agent`` console script."""
    from phala_agents.cli._app import app

    app()
