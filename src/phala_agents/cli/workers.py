"""`phala-agent workers list` and `workers show ACCOUNT`: the Workers pallet's registered workers.

Read-only: each command reads one block (the best), the ``Workers`` map and the
``ReattestPeriod`` constant, and says whether each worker is active at that block
(``number < attested_at + ReattestPeriod``, ``chain/pallets/workers.md`` "Activity"). Everything
shown is public on-chain data (endpoints, keys' public halves, measurements).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

from phala_agents.cli import _output
from phala_agents.cli._common import DEFAULT_URL, JsonOpt, QuietOpt, UrlOpt, handle_errors
from phala_agents.cli._errors import EXIT_FAILURE

if TYPE_CHECKING:
    from phala_agents.client import ChainClient, JsonValue

PALLET = "Workers"

_EXIT_CODES = "Exit codes: 0 ok, 1 failure (node unreachable, no such worker), 2 usage."

TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the node.")]
AccountArg = Annotated[str, typer.Argument(help="The worker's account (SS58 address).")]


def _connect(url: str, timeout: float) -> ChainClient:
    """Indirection so tests can put a fake client in place."""
    from phala_agents.client import ChainClient

    return ChainClient.connect(url, timeout=timeout)


def _account(text: str) -> str:
    from phala_agents.scale import ss58_decode

    try:
        decoded = ss58_decode(text, None)
    except Exception:  # any malformed address is the user's input error
        raise typer.BadParameter(f"found {text!r}, wanted an SS58 address", param_hint="ACCOUNT") from None
    if len(decoded) != 32:
        raise typer.BadParameter(
            f"found a {len(decoded)}-byte account, wanted 32 bytes", param_hint="ACCOUNT"
        )
    return text


def _hex(value: JsonValue) -> str:
    """substrate-interface shows a ``Vec<u8>`` that happens to be UTF-8 as text: hex it again."""
    text = str(value)
    if text.startswith("0x"):
        try:
            bytes.fromhex(text[2:])
        except ValueError:
            pass
        else:
            return text
    return "0x" + text.encode().hex()


def _tcb(value: JsonValue) -> str:
    """``{"Snp": {...}}`` -> ``SNP bootloader=4 tee=0 snp=22 microcode=213``; ``{"Dcap": s}`` -> ``s``."""
    if isinstance(value, dict) and "Snp" in value:
        parts = cast("dict[str, JsonValue]", value["Snp"])
        return "SNP " + " ".join(f"{k}={v}" for k, v in parts.items())
    if isinstance(value, dict) and "Dcap" in value:
        return str(value["Dcap"])
    return str(value)


def _record(account: str, info: dict[str, JsonValue], number: int, period: int) -> dict[str, object]:
    attested_at = int(cast(int, info.get("attested_at", 0)))
    active_until = attested_at + period
    return {
        "account": account,
        "endpoint": info.get("endpoint"),
        "tee": info.get("tee"),
        "roots": info.get("roots"),
        "measurement": _hex(info.get("measurement", "0x")),
        "tcb": _tcb(info.get("tcb")),
        "x25519_pub": info.get("x25519_pub"),
        "tls_spki_hash": info.get("tls_spki_hash"),
        "registered_at": info.get("registered_at"),
        "attested_at": attested_at,
        "active_until": active_until,
        "active": number < active_until,
    }


def _read(api: ChainClient) -> tuple[str, int, int]:
    at = api.block_hash("best")
    return at, api.head(at).number, int(cast(int, api.constant(PALLET, "ReattestPeriod")))


@handle_errors
def list_workers(
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    with _connect(url, timeout) as api:
        at, number, period = _read(api)
        rows = [
            _record(str(k), v, number, period)
            for k, v in api.query_map(PALLET, "Workers", at=at, page_size=500)
            if isinstance(v, dict)
        ]
    rows.sort(key=lambda r: str(r["account"]))
    if json_out:
        _output.emit_json(rows)
    elif quiet:
        for r in rows:
            _output.emit_line(str(r["account"]))
    else:
        _output.emit_table(rows, ["account", "tee", "roots", "active", "attested_at", "endpoint"])


@handle_errors
def show(
    account: AccountArg,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    _account(account)
    with _connect(url, timeout) as api:
        at, number, period = _read(api)
        info = api.query(PALLET, "Workers", account, at=at)
    if not isinstance(info, dict):
        # The node answered: "is the node running?" (ClientError's hint) would mislead.
        _output.error(
            f"worker {account}: found no Workers entry at block #{number}, wanted a registered worker",
            "list registered workers with `phala-agent workers list`",
        )
        raise typer.Exit(EXIT_FAILURE)
    record = _record(account, info, number, period)
    if json_out:
        _output.emit_json(record)
        return
    state = "active" if record["active"] else "inactive"
    lines = [
        ("worker", f"{account} ({state} until block #{record['active_until']}, now #{number})"),
        ("endpoint", record["endpoint"]),
        ("tee", f"{record['tee']} ({record['roots']} roots)"),
        ("measurement", record["measurement"]),
        ("tcb", record["tcb"]),
        ("x25519_pub", record["x25519_pub"]),
        ("tls_spki", record["tls_spki_hash"]),
        ("blocks", f"registered #{record['registered_at']}, attested #{record['attested_at']}"),
    ]
    for label, value in lines:
        _output.emit_line(f"{label + ':':<14}{value}")


def register(app: typer.Typer) -> None:
    """Add the ``workers`` group to the root app."""
    group = typer.Typer(
        name="workers",
        help="List and show attested workers in the Workers pallet.",
        no_args_is_help=True,
    )
    group.command("list", help=f"Every registered worker and whether it is active.\n\n{_EXIT_CODES}")(
        list_workers
    )
    group.command("show", help=f"One worker's record.\n\n{_EXIT_CODES}")(show)
    app.add_typer(group)


__all__ = ["register"]
