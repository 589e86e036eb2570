"""structlog configuration (called once, by the CLI) and the secret-redaction processor.

Library code only calls ``structlog.get_logger()``; it never configures logging.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are never logged: secrets and user content. Substring match on the key name.
REDACTED_KEYS = (
    "prompt",
    "message",
    "messages",
    "completion",
    "content",
    "seed",
    "suri",
    "mnemonic",
    "secret",
    "private",
    "password",
    "api_key",
    "apikey",
    "token_value",
    "authorization",
)
REDACTED = "[redacted]"


def redact_secrets(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the values of keys that may hold secrets or user content."""
    for key in list(event_dict):
        if key != "event" and _is_secret_key(key):
            event_dict[key] = REDACTED
    return event_dict


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    # Cached per key name: a per-call log line would otherwise run ~15 substring tests per key.
    lowered = key.lower()
    return any(marker in lowered for marker in REDACTED_KEYS)


class _CurrentStderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at call time.

    A logger bound to the stream object at configure time goes stale when stderr is swapped
    (test runners, CliRunner) and then fails with "I/O operation on closed file".
    """

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger_factory(*_args: object) -> _CurrentStderrLogger:
    return _CurrentStderrLogger()


def configure_logging(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog once: stderr, console renderer on a TTY, JSON lines otherwise."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            # show_locals=False: tokens and credentials are easily captured in locals.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
            if use_json
            else structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=_stderr_logger_factory,
        cache_logger_on_first_use=False,
    )
