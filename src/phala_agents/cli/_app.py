"""The root typer app; each command area lives in its own module with ``register(app)``."""

from __future__ import annotations

from typing import Annotated

import typer

from phala_agents import __version__
from phala_agents.cli import _common
from phala_agents.cli import agents as agents_commands
from phala_agents.cli import attest as attest_commands
from phala_agents.cli import chain as chain_commands
from phala_agents.cli import demo as demo_commands
from phala_agents.cli import keys as keys_commands
from phala_agents.cli import node as node_commands
from phala_agents.cli import worker as worker_commands
from phala_agents.cli import workers as workers_commands

app = typer.Typer(
    name="phala-agent",
    help="AI agents that behave like smart contracts: dev chain, agents, attestation, workers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Plain click output: usage errors are "Error: ..." lines on stderr like every other error
    # (STYLE.md section 8), and --help does not import rich.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def root(
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "warning",
    log_json: Annotated[
        bool | None, typer.Option("--log-json/--log-console", help="Log format (default: JSON off a TTY).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Exit codes: 0 ok, 1 failure, 2 usage; some commands add more (see their --help)."""
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter(
            f"found {log_level!r}, wanted debug, info, warning or error", param_hint="--log-level"
        )
    # Configured when a command body runs (handle_errors), not here: `CMD --help` passes through
    # this callback too and should not pay for importing structlog.
    _common.set_logging(level=log_level, json=log_json)
    _common.set_debug(debug)


for _module in (
    node_commands,
    chain_commands,
    attest_commands,
    demo_commands,
    keys_commands,
    agents_commands,
    worker_commands,
    workers_commands,
):
    _module.register(app)
