"""`phala-agent chain`: status, balances, transfers and events of a node, through ``ChainClient``."""

from __future__ import annotations

import enum
import os
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phala_agents.cli import _output
from phala_agents.cli._common import DEFAULT_URL, JsonOpt, QuietOpt, UrlOpt, handle_errors
from phala_agents.errors import ExtrinsicFailed

if TYPE_CHECKING:
    # Imported when a command runs (in _connect): the root app and --help must not load
    # substrate-interface (STYLE.md section 8; docs/benchmarks.md "CLI start").
    from phala_agents.client import ChainClient, Event, ExtrinsicResult

SURI_ENV = "PHALA_AGENT_SURI"

_EXIT_CODES = "Exit codes: 0 ok, 1 failure (node unreachable, rejected, or the call failed), 2 usage."

TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the node (and for inclusion).")
]
AtOpt = Annotated[
    str, typer.Option("--at", help="Block to read at: best, finalized, a 0x block hash or a number.")
]


class WaitFor(enum.StrEnum):
    IN_BLOCK = "inBlock"
    FINALIZED = "finalized"


def _connect(url: str, timeout: float) -> ChainClient:
    """Indirection so tests can put a fake client in place."""
    from phala_agents.client import ChainClient

    return ChainClient.connect(url, timeout=timeout)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(
        name="chain",
        help="Talk to a Substrate node: status, balances, transfers, events.",
        no_args_is_help=True,
    )
    group.command("status", help=f"Chain, runtime, best and finalized blocks.\n\n{_EXIT_CODES}")(status)
    group.command("balance", help=f"Free, reserved and frozen balance and nonce.\n\n{_EXIT_CODES}")(balance)
    group.command("transfer", help=_TRANSFER_HELP)(transfer)
    group.command("events", help=f"Every event of a block (default: best).\n\n{_EXIT_CODES}")(events)
    group.command("descriptors", help=_DESCRIPTORS_HELP)(descriptors)
    app.add_typer(group)


def _block_ref(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def _format_amount(value: int, decimals: int | None, symbol: str | None) -> str:
    if not decimals:
        return f"{value}"
    whole = Decimal(value) / (Decimal(10) ** decimals)
    return f"{whole.normalize():f} {symbol or ''}".rstrip()


@handle_errors
def status(url: UrlOpt = DEFAULT_URL, json: JsonOpt = False, timeout: TimeoutOpt = 10.0) -> None:
    with _connect(url, timeout) as api:
        info = api.status()
    if json:
        _output.emit_json(info.to_json())
        return
    rows = [
        ("chain", f"{info.chain} ({info.chain_type or 'unknown type'})"),
        ("node", f"{info.node_name or '?'} {info.node_version or ''}".rstrip()),
        ("runtime", f"{info.spec_name} spec {info.spec_version} tx {info.transaction_version}"),
        ("genesis", info.genesis_hash),
        ("best", f"#{info.best_number} {info.best_hash}"),
        ("finalized", f"#{info.finalized_number} {info.finalized_hash}"),
        ("metadata", info.metadata_hash),
        ("token", f"{info.token_symbol or '?'} ({info.token_decimals} decimals), ss58 {info.ss58_format}"),
        ("dev chain", "yes" if info.dev_chain else "no"),
    ]
    for key, value in rows:
        _output.emit_line(f"{key + ':':<11}{value}")


@handle_errors
def balance(
    address: Annotated[str, typer.Argument(help="SS58 address.")],
    url: UrlOpt = DEFAULT_URL,
    at: AtOpt = "best",
    json: JsonOpt = False,
    timeout: TimeoutOpt = 10.0,
) -> None:
    with _connect(url, timeout) as api:
        account = api.balance(address, at=_block_ref(at))
        decimals, symbol = api.token_decimals, api.token_symbol
    if json:
        _output.emit_json(
            {
                "address": account.address,
                "nonce": account.nonce,
                "free": account.free,
                "reserved": account.reserved,
                "frozen": account.frozen,
                "token_symbol": symbol,
                "token_decimals": decimals,
            }
        )
        return
    _output.emit_line(f"address:  {account.address}")
    for key in ("free", "reserved", "frozen"):
        value = getattr(account, key)
        _output.emit_line(f"{key + ':':<10}{_format_amount(value, decimals, symbol)} ({value})")
    _output.emit_line(f"nonce:    {account.nonce}")


_TRANSFER_HELP = (
    "Send tokens with Balances.transfer_keep_alive (or transfer_allow_death with --allow-death).\n\n"
    f"The signer's secret URI comes from --suri, else ${SURI_ENV}, else a hidden prompt on a TTY; "
    "it is never printed or logged. Dev URIs like //Alice work only on a development chain.\n\n"
    "--amount is in the smallest unit (10000) or with the token symbol (1.5 UNIT).\n\n"
    f"{_EXIT_CODES}"
)

_AMOUNT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


def _parse_amount(text: str, decimals: int | None, symbol: str | None) -> int:
    if text.strip().isdigit():
        return int(text.strip())
    match = _AMOUNT_RE.match(text)
    if match is None:
        raise typer.BadParameter(
            f"found {text!r}, wanted an integer or '<decimal> <symbol>'", param_hint="--amount"
        )
    number, unit = match.groups()
    if symbol is None or decimals is None or unit.upper() != symbol.upper():
        raise typer.BadParameter(
            f"found unit {unit!r}, wanted the chain's token {symbol!r} (or an integer amount)",
            param_hint="--amount",
        )
    try:
        scaled = Decimal(number) * (Decimal(10) ** decimals)
    except InvalidOperation:
        raise typer.BadParameter(f"found {text!r}, wanted a decimal amount", param_hint="--amount") from None
    if scaled != scaled.to_integral_value():
        raise typer.BadParameter(f"found {text!r}, wanted at most {decimals} decimals", param_hint="--amount")
    return int(scaled)


def _read_suri(suri: str | None) -> str:
    if suri:
        return suri
    from_env = os.environ.get(SURI_ENV)
    if from_env:
        return from_env
    if not _stdin_is_tty():
        raise typer.BadParameter(
            f"no signer: pass --suri or set ${SURI_ENV} (no prompt off a TTY)", param_hint="--suri"
        )
    # err=True: the prompt is not a result, so it goes to stderr like every other human note.
    value: str = typer.prompt("Secret URI of the signer", hide_input=True, err=True)
    return value


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _event_line(event: Event) -> str:
    return f"  {event.pallet}.{event.name} {event.attributes}"


def _print_result(result: ExtrinsicResult, *, json: bool, quiet: bool) -> None:
    if json:
        _output.emit_json(result.to_json())
    elif quiet:
        _output.emit_line(result.extrinsic_hash)
    else:
        verdict = "ok" if result.ok else f"failed: {result.error}"
        _output.emit_line(f"{verdict}")
        _output.emit_line(f"extrinsic: {result.extrinsic_hash}")
        _output.emit_line(f"block:     #{result.block_number} {result.block_hash} ({result.status})")
        _output.emit_line(f"fee:       {result.fee}")
        _output.emit_line("events:")
        for event in result.events:
            _output.emit_line(_event_line(event))


@handle_errors
def transfer(  # noqa: PLR0917 - typer maps each parameter to an option
    to: Annotated[str, typer.Option("--to", help="Recipient SS58 address.")],
    amount: Annotated[str, typer.Option("--amount", help="Smallest units (10000) or '1.5 UNIT'.")],
    suri: Annotated[
        str | None,
        typer.Option("--suri", help=f"Signer secret URI (or ${SURI_ENV}, or a prompt).", show_default=False),
    ] = None,
    allow_death: Annotated[
        bool, typer.Option("--allow-death", help="Allow the sender to fall below the existential deposit.")
    ] = False,
    wait: Annotated[
        WaitFor, typer.Option("--wait", help="Return once the transfer is inBlock or finalized.")
    ] = (WaitFor.IN_BLOCK),
    url: UrlOpt = DEFAULT_URL,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    secret = _read_suri(suri)
    with _connect(url, timeout) as api:
        value = _parse_amount(amount, api.token_decimals, api.token_symbol)
        signer = api.keypair(secret)
        del secret
        result = api.transfer(
            signer, to, value, keep_alive=not allow_death, wait_for=wait.value, timeout=timeout
        )
    _print_result(result, json=json, quiet=quiet)
    if not result.ok:
        # Printed first so --json callers get the decoded failure too; then exit 1 via the error table.
        raise ExtrinsicFailed(
            f"the transfer was included but failed with {result.error}",
            error=result.error or "",
            extrinsic_hash=result.extrinsic_hash,
            block_hash=result.block_hash,
        )


@handle_errors
def events(
    block: Annotated[
        str, typer.Option("--block", help="best, finalized, a 0x block hash or a number.")
    ] = "best",
    url: UrlOpt = DEFAULT_URL,
    json: JsonOpt = False,
    timeout: TimeoutOpt = 10.0,
) -> None:
    with _connect(url, timeout) as api:
        block_hash = api.block_hash(_block_ref(block))
        found = api.events(block_hash)
    if json:
        _output.emit_json({"block_hash": block_hash, "events": [e.to_json() for e in found]})
        return
    _output.emit_line(f"block {block_hash}: {len(found)} events")
    rows = [
        {
            "phase": e.phase if e.extrinsic_index is None else f"{e.phase}({e.extrinsic_index})",
            "event": e.qualified_name,
            "attributes": e.attributes,
        }
        for e in found
    ]
    _output.emit_table(rows, ["phase", "event", "attributes"])


_DESCRIPTORS_HELP = (
    "Print the node's descriptors (pallets, storage, calls, events, errors, constants and the metadata "
    "hash) as JSON. Load them with Descriptors.from_json and pass them to ChainClient.connect(url, "
    "descriptors=...) to refuse a node whose metadata differs (IncompatibleMetadata).\n\n"
    f"{_EXIT_CODES}"
)


@handle_errors
def descriptors(
    url: UrlOpt = DEFAULT_URL,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE instead of stdout.")] = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    with _connect(url, timeout) as api:
        text = api.descriptors.to_json()
    if out is None:
        _output.emit_line(text)
    else:
        out.write_text(text + "\n")
        _output.info(f"wrote {out}")
