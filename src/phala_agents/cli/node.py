"""`phala-agent node`: run the dev chain node."""

from __future__ import annotations

import errno
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from phala_agents import __version__
from phala_agents.cli import _output
from phala_agents.cli._common import handle_errors

EXIT_PORT_IN_USE = 3
EXIT_DATABASE = 4

_HELP = f"""Run the dev chain node: instant seal (or --block-time), JSON-RPC over WebSocket and HTTP on
one port, SQLite persistence under the base path.

Prints the WebSocket URL on stdout once it serves; logs go to stderr.

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failure, 2 usage, {EXIT_PORT_IN_USE} the RPC port is in use,
{EXIT_DATABASE} the database under the base path belongs to another chain, is damaged, or another
node uses it."""


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("node", help=_HELP)(node)


@handle_errors
def node(
    *,
    dev: Annotated[bool, typer.Option("--dev", help="Run the development chain (required).")] = False,
    tmp: Annotated[
        bool, typer.Option("--tmp", help="Keep the database in a temporary directory, deleted on exit.")
    ] = False,
    base_path: Annotated[
        Path | None,
        typer.Option(
            "--base-path", "-d", help="Database directory (default: ~/.local/share/phala-agents/dev)."
        ),
    ] = None,
    rpc_port: Annotated[int, typer.Option("--rpc-port", help="RPC port (0: any free port).", min=0)] = 9944,
    block_time: Annotated[
        int | None,
        typer.Option("--block-time", help="Author a block every MS ms instead of instant seal.", min=1),
    ] = None,
    rpc_max_connections: Annotated[
        int, typer.Option("--rpc-max-connections", help="Maximum open RPC connections.", min=1)
    ] = 100,
    rpc_max_request_size: Annotated[
        int, typer.Option("--rpc-max-request-size", help="Maximum RPC request size in MB.", min=1)
    ] = 15,
) -> None:
    import asyncio

    from phala_agents.node import ChainError, DevNode, NodeConfig, default_base_path

    if not dev:
        raise typer.BadParameter("only the development chain is supported; pass --dev", param_hint="--dev")
    if tmp and base_path is not None:
        raise typer.BadParameter("pass either --tmp or --base-path, not both", param_hint="--tmp")
    temp_dir = Path(tempfile.mkdtemp(prefix="phala-dev-")) if tmp else None
    path = temp_dir if temp_dir is not None else (base_path or default_base_path())
    config = NodeConfig(
        base_path=path,
        rpc_port=rpc_port,
        block_time_ms=block_time,
        rpc_max_connections=rpc_max_connections,
        rpc_max_request_size=rpc_max_request_size * 1024 * 1024,
        node_version=__version__,
    )
    try:
        asyncio.run(_serve(DevNode(config)))
    except ChainError as exc:
        _output.error(str(exc), "use --tmp, another --base-path, or delete the old database")
        raise typer.Exit(EXIT_DATABASE) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _output.error(f"RPC port {rpc_port} is in use", "pick another with --rpc-port (0: any free port)")
            raise typer.Exit(EXIT_PORT_IN_USE) from None
        raise
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


async def _serve(dev_node: object) -> None:
    import asyncio

    from phala_agents.node import DevNode

    assert isinstance(dev_node, DevNode)
    await dev_node.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _output.emit_line(dev_node.ws_url)
    await stop.wait()
    await dev_node.stop()
