"""The CLI's one output sink: results to stdout, everything else to stderr.

stdout carries results only, so it never pollutes parsed output; errors, warnings, hints,
progress and logs go to stderr. Progress is shown only on a TTY and never with ``--json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def emit_json(data: Any) -> None:
    """Print one JSON document (stable snake_case keys) to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def emit_line(text: str = "") -> None:
    """Print one result line to stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as an aligned plain-text table to stdout."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    emit_line("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        emit_line("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    columns: Sequence[str],
    json_out: bool,
    quiet: bool,
    table_rows: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """A list command's output: ``--json`` the rows, ``-q`` one ``key`` per line, else a table
    (of ``table_rows`` when the table shows the rows differently)."""
    if json_out:
        emit_json(list(rows))
    elif quiet:
        for row in rows:
            emit_line(str(row[key]))
    else:
        emit_table(rows if table_rows is None else table_rows, columns)


def info(text: str) -> None:
    """A human note on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def progress(text: str, *, enabled: bool) -> None:
    """A progress line on stderr, only on a TTY and when enabled (not with --json)."""
    if enabled and sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K" + text)
        sys.stderr.flush()


def progress_done(*, enabled: bool) -> None:
    if enabled and sys.stderr.isatty():
        sys.stderr.write("\n")
        sys.stderr.flush()


def error(message: str, hint: str | None = None) -> None:
    """One ``Error: ...`` line on stderr plus an optional hint."""
    sys.stderr.write(f"Error: {message}\n")
    if hint:
        sys.stderr.write(f"Hint: {hint}\n")
    sys.stderr.flush()
