"""`phala-agent demo`: a scripted tour of the dev chain (later issues append steps).

The tour is a list of ``DemoStep``s run in order against a dev node started for the occasion
(temporary base path, free port) and stopped cleanly at the end. Each step prints to stdout.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from phala_agents import __version__
from phala_agents.cli import _output
from phala_agents.cli._common import handle_errors

if TYPE_CHECKING:
    from phala_agents.client import ChainClient
    from phala_agents.node import NodeThread

DEV_ACCOUNTS = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
TRANSFER_AMOUNT_UNITS = 12


@dataclass(slots=True, kw_only=True)
class DemoContext:
    """What steps share: the node, a connected client, and facts earlier steps learned."""

    node: NodeThread
    client: ChainClient
    facts: dict[str, object] = field(default_factory=dict)

    def units(self, amount: int) -> str:
        decimals = self.client.token_decimals or 0
        symbol = self.client.token_symbol or ""
        whole, frac = divmod(amount, 10**decimals) if decimals else (amount, 0)
        text = f"{whole:,}" + (f".{frac:0{decimals}d}".rstrip("0").rstrip(".") if frac else "")
        return f"{text} {symbol}".strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoStep:
    title: str
    run: Callable[[DemoContext], None]


def _chain(ctx: DemoContext) -> None:
    status = ctx.client.status()
    head = ctx.client.head()
    _output.emit_line(f"  node      {ctx.node.url} ({status.node_name} {status.node_version})")
    _output.emit_line(
        f"  chain     {status.chain} ({status.chain_type}), runtime {status.spec_name} v{status.spec_version}"
    )
    _output.emit_line(f"  head      #{head.number} {head.hash}")
    _output.emit_line(
        f"  token     {ctx.client.token_symbol}, {ctx.client.token_decimals} decimals, "
        f"SS58 prefix {ctx.client.ss58_format}"
    )


def _accounts(ctx: DemoContext) -> None:
    rows = []
    for name in DEV_ACCOUNTS:
        pair = ctx.client.keypair(f"//{name}")
        balance = ctx.client.balance(pair)
        rows.append({"account": f"//{name}", "address": balance.address, "free": ctx.units(balance.free)})
    _output.emit_table(rows, ["account", "address", "free"])


def _transfer(ctx: DemoContext) -> None:
    client = ctx.client
    alice, bob = client.keypair("//Alice"), client.keypair("//Bob")
    amount = TRANSFER_AMOUNT_UNITS * 10 ** (client.token_decimals or 0)
    ctx.facts["before"] = {"alice": client.balance(alice).free, "bob": client.balance(bob).free}
    signed = client.sign("Balances", "transfer_keep_alive", {"dest": bob, "value": amount}, alice)
    _output.emit_line(
        f"  //Alice -> //Bob: {ctx.units(amount)} "
        f"(Balances.transfer_keep_alive, sr25519, nonce {signed.nonce})"
    )
    quote = client.rpc("payment_queryInfo", [signed.hex])
    quoted = quote.get("partialFee") if isinstance(quote, dict) else None
    _output.emit_line(f"  fee quoted by payment_queryInfo: {ctx.units(int(str(quoted)))}")
    result = client.submit(signed, wait_for="finalized").raise_for_error()
    _output.emit_line(f"  included in block #{result.block_number} {result.block_hash} (finalized)")
    paid = result.find("TransactionPayment", "TransactionFeePaid")
    if paid:
        attrs = paid[0].attributes
        paid_fee = attrs.get("actual_fee") if isinstance(attrs, dict) else None
        _output.emit_line(
            f"  fee paid (TransactionPayment.TransactionFeePaid): {ctx.units(int(str(paid_fee)))}"
        )
    _output.emit_line("  events:")
    for event in result.events:
        _output.emit_line(f"    {event.qualified_name}")
    ctx.facts["amount"] = amount


def _balances_after(ctx: DemoContext) -> None:
    client = ctx.client
    before = ctx.facts.get("before")
    assert isinstance(before, dict)
    for name in ("alice", "bob"):
        after = client.balance(client.keypair(f"//{name.title()}")).free
        delta = after - int(before[name])
        sign = "+" if delta >= 0 else "-"
        _output.emit_line(f"  //{name.title():<6} {ctx.units(after):>32}   ({sign}{ctx.units(abs(delta))})")


STEPS: list[DemoStep] = [
    DemoStep(title="The dev chain", run=_chain),
    DemoStep(title="Dev accounts and balances", run=_accounts),
    DemoStep(title="A signed transfer, its fee and events", run=_transfer),
    DemoStep(title="Balances after", run=_balances_after),
]

# The worker tour (issue 5): agents, escrow, a streamed openai SDK call, its receipt, settlement.
from phala_agents.cli import demo_worker as _worker  # noqa: E402 - after the base steps it extends

STEPS += [
    DemoStep(title="Deploy the example agents (sealed prompts)", run=_worker.deploy_agents),
    DemoStep(title="//Alice deposits into her Billing escrow", run=_worker.deposit_escrow),
    DemoStep(title="Start the dev worker (llama-server + SmolLM2)", run=_worker.start_worker),
    DemoStep(title="A streamed call through the official openai SDK", run=_worker.streamed_call),
    DemoStep(title="The receipt, verified offline", run=_worker.receipt_step),
    DemoStep(title="Settlement on chain", run=_worker.settlement_step),
    DemoStep(title="//Alice's escrow before and after", run=_worker.escrow_after),
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(
        "demo",
        help="Start a temporary dev node and walk through a scripted tour (exit codes: 0 ok, 1 failure).",
    )(demo)


@handle_errors
def demo() -> None:
    # Imported here so that other commands do not pay for the node and client imports.
    from phala_agents.client import ChainClient
    from phala_agents.node import NodeConfig, NodeThread

    base = Path(tempfile.mkdtemp(prefix="phala-demo-"))
    try:
        with NodeThread(NodeConfig(base_path=base, rpc_port=0, node_version=__version__)) as node:
            client = ChainClient.connect(node.url)
            try:
                ctx = DemoContext(node=node, client=client)
                for index, step in enumerate(STEPS, start=1):
                    _output.emit_line(f"[{index}/{len(STEPS)}] {step.title}")
                    step.run(ctx)
                    _output.emit_line()
            finally:
                _worker.stop_worker(ctx)
                client.close()
        _output.emit_line("Done: the dev node stopped cleanly.")
    finally:
        shutil.rmtree(base, ignore_errors=True)
