"""Shared ``Annotated`` option aliases and the error-handling wrapper for commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer

from phala_agents.cli import _errors, _output

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (stable snake_case keys).")
]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print ids only.")]
UrlOpt = Annotated[
    str, typer.Option("--url", envvar="PHALA_AGENT_URL", help="Node RPC endpoint (ws:// or http://).")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

DEFAULT_URL = "ws://127.0.0.1:9944"

P = ParamSpec("P")
R = TypeVar("R")

_debug = False
_pending_logging: tuple[str, bool | None] | None = None


def set_debug(enabled: bool) -> None:
    global _debug  # noqa: PLW0603 - process-wide CLI flag set once by the root callback
    _debug = enabled


def set_logging(*, level: str, json: bool | None) -> None:
    """Remember the root options; the first command body to run applies them."""
    global _pending_logging  # noqa: PLW0603 - process-wide, set once by the root callback
    _pending_logging = (level, json)


def _apply_logging() -> None:
    global _pending_logging  # noqa: PLW0603 - see set_logging
    if _pending_logging is None:
        return
    from phala_agents._logging import configure_logging  # structlog: only when a command runs

    level, json = _pending_logging
    _pending_logging = None
    configure_logging(level=level, json=json)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Configure logging, then turn known exceptions into one ``Error:`` line, a hint and the
    mapped exit code. Every command is wrapped (tests/unit/cli/test_cli_conventions.py)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _apply_logging()
        try:
            return func(*args, **kwargs)
        # A typer.BadParameter raised in a command body keeps click's usage exit code 2.
        except (typer.Exit, typer.Abort, KeyboardInterrupt, typer.BadParameter):
            raise
        except Exception as exc:
            if _debug:
                raise
            described = _errors.describe(exc)
            if described is None:
                _output.error(f"unexpected {type(exc).__name__}: {exc}", "rerun with --debug for a traceback")
                raise typer.Exit(_errors.EXIT_FAILURE) from None
            message, mapping = described
            _output.error(message, mapping.hint)
            raise typer.Exit(mapping.exit_code) from None

    wrapper.handles_errors = True  # type: ignore[attr-defined]
    return wrapper
