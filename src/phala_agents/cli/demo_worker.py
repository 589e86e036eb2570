"""The worker part of `phala-agent demo`: agents, escrow, a streamed SDK call, receipt, settlement.

Each function is a demo step (``DemoStep(run=...)`` in ``cli/demo.py``) taking the shared
``DemoContext``. The dev worker (``WorkerService`` in threads, with llama-server + SmolLM2 from
``make llama``) starts in one step and stops in the last; ``stop_worker`` is also safe to call
when an earlier step failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from phala_agents.cli import _output

if TYPE_CHECKING:
    from phala_agents.cli.demo import DemoContext

__all__ = [
    "deploy_agents",
    "deposit_escrow",
    "escrow_after",
    "receipt_step",
    "settlement_step",
    "start_worker",
    "stop_worker",
    "streamed_call",
]

_EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DEPOSIT_UNITS = 1
QUESTION = "Name three colours."


def _escrow(ctx: DemoContext, suri: str) -> int:
    value = ctx.client.get_storage("Billing", "Escrow", ctx.client.keypair(suri), at="finalized")
    return int(str(value["balance"])) if isinstance(value, dict) else 0


def deploy_agents(ctx: DemoContext) -> None:
    """Deploy examples/assistant and examples/allowlisted, owned by //Bob (prompts sealed)."""
    from phala_agents.client import load_agent_file, prepare_agent, register_call_args

    client = ctx.client
    bob = client.keypair("//Bob")
    ids: dict[str, int] = {}
    for name in ("assistant", "allowlisted"):
        path = _EXAMPLES / name / "agent.toml"
        if not path.exists():
            _output.emit_line(f"  (no {path}: skipped)")
            continue
        definition = load_agent_file(path)
        cluster = cast(dict[str, Any], client.get_storage("Workers", "ClusterKey", at="best"))
        agent_id = int(str(client.get_storage("AgentRegistry", "NextAgentId", at="best")))
        prepared = prepare_agent(
            definition,
            cluster_pub=bytes.fromhex(str(cluster["public"])[2:]),
            epoch=int(str(cluster["epoch"])),
            agent_id=agent_id,
            version=1,
        )
        result = client.sign_and_submit(
            "AgentRegistry", "register", register_call_args(prepared), bob, wait_for="finalized"
        ).raise_for_error()
        ids[name] = agent_id
        _output.emit_line(
            f"  agent {agent_id} {definition.name!r} (model {definition.model}, "
            f"{'allowlist' if definition.access.allow_account_ids else 'public'}) "
            f"registered by //Bob in block #{result.block_number}; prompt sealed to the dev cluster key"
        )
    ctx.facts["agents"] = ids


def deposit_escrow(ctx: DemoContext) -> None:
    client = ctx.client
    alice = client.keypair("//Alice")
    before = _escrow(ctx, "//Alice")
    amount = DEPOSIT_UNITS * 10 ** (client.token_decimals or 0)
    result = client.sign_and_submit("Billing", "deposit", {"amount": amount}, alice, wait_for="finalized")
    result.raise_for_error()
    after = _escrow(ctx, "//Alice")
    ctx.facts["escrow_before_call"] = after
    _output.emit_line(f"  //Alice Billing.deposit {ctx.units(amount)} in block #{result.block_number}")
    _output.emit_line(f"  escrow  {ctx.units(before)} -> {ctx.units(after)}")


def start_worker(ctx: DemoContext) -> None:
    """The dev worker in this process: llama-server + SmolLM2, dev cluster key, account //Ferdie."""
    import tempfile

    from phala_agents.client import dev_cluster_key
    from phala_agents.worker import ModelServer, UpstreamModel
    from phala_agents.worker.service import WorkerOptions, WorkerService
    from phala_agents.worker.settlement import SettlementConfig

    llama = ModelServer.dev()
    ctx.facts["llama"] = llama
    llama.start()
    ledger = Path(tempfile.mkdtemp(prefix="phala-demo-worker-")) / "ledger.sqlite"
    service = WorkerService(
        WorkerOptions(
            chain_url=ctx.node.url,
            keypair=ctx.client.keypair("//Ferdie"),
            cluster_key=dev_cluster_key(),
            upstreams=[UpstreamModel(name="smollm2", base_url=llama.base_url, tokenizer_url=llama.root_url)],
            ledger_path=ledger,
            port=0,
            settlement=SettlementConfig(max_count=100, max_age=0.5),
        )
    )
    ctx.facts["worker"] = service
    url = service.start()
    ctx.facts["worker_url"] = url
    _output.emit_line(f"  llama-server (SmolLM2-135M) {llama.base_url}")
    _output.emit_line(f"  worker {ctx.client.keypair('//Ferdie').ss58_address} at {url}")
    _output.emit_line(
        f"  synced {len(list(service.sync.agents()))} agent(s) at finalized block #{service.sync.head}"
    )


def streamed_call(ctx: DemoContext) -> None:
    import httpx
    import openai

    from phala_agents.worker.caller import WorkerInfo, sign_request

    url = str(ctx.facts["worker_url"])
    agent_id = cast(dict[str, int], ctx.facts["agents"])["assistant"]
    info = WorkerInfo.from_json(httpx.get(f"{url}/v1/phala/info", timeout=10).json())
    body: dict[str, object] = {
        "model": f"agent:{agent_id}",
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 48,
        "stream": True,
    }
    signed, headers = sign_request(
        ctx.client.keypair("//Alice"), body, info=info, agent_id=agent_id, agent_version=1, max_charge=10**11
    )
    auth = signed.authorization
    _output.emit_line(
        f"  //Alice signs CallAuthorization(agent {agent_id} v1, nonce {auth.nonce}, "
        f"max_charge {ctx.units(auth.max_charge)}, expires at #{auth.expires_at_block})"
    )
    _output.emit_line(f"  openai.OpenAI(base_url={url}/v1).chat.completions.create(stream=True): {QUESTION}")
    parts: list[str] = []
    phala: dict[str, Any] = {}
    with (
        openai.OpenAI(base_url=f"{url}/v1", api_key="unused", default_headers=headers) as sdk,
        sdk.chat.completions.create(**body) as stream,  # type: ignore[call-overload]
    ):
        for chunk in stream:
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
            phala = (chunk.model_extra or {}).get("phala", phala)
    text = "".join(parts).strip().replace("\n", "\n  | ")
    _output.emit_line(f"  | {text}")
    ctx.facts["receipt_id"] = phala["receipt_id"]
    ctx.facts["charge"] = int(phala["charge"])
    _output.emit_line(
        f"  final chunk: receipt {phala['receipt_id']}, charge {ctx.units(int(phala['charge']))} "
        f"({phala['prompt_tokens']} prompt + {phala['completion_tokens']} completion tokens)"
    )


def receipt_step(ctx: DemoContext) -> None:
    import httpx

    from phala_agents.worker import SignedReceipt, verify_receipt

    url = str(ctx.facts["worker_url"])
    stored = httpx.get(f"{url}/v1/receipts/{ctx.facts['receipt_id']}", timeout=10).json()
    signed = SignedReceipt.from_bytes(bytes.fromhex(str(stored["receipt"])[2:]))
    verify_receipt(signed, worker=bytes(ctx.client.keypair("//Ferdie").public_key))
    receipt = signed.receipt
    _output.emit_line(f"  id          {stored['id']}  (ledger state: {stored['state']})")
    _output.emit_line(
        f"  usage       {receipt.usage.input_tokens} in / {receipt.usage.output_tokens} out"
        f"{' (estimated)' if receipt.usage.estimated else ''}"
    )
    _output.emit_line(
        f"  charge      {ctx.units(receipt.charge)} "
        f"(max_charge {ctx.units(receipt.authorization.max_charge)})"
    )
    _output.emit_line("  verified offline: worker signature, caller signature, charge <= max_charge")


def settlement_step(ctx: DemoContext) -> None:
    from phala_agents.worker.service import WorkerService

    service = cast(WorkerService, ctx.facts["worker"])
    receipt_id = str(ctx.facts["receipt_id"])
    if service.settler is not None:
        service.settler.poke()
    deadline = time.monotonic() + 60
    while True:
        stored = service.ledger.get(receipt_id)
        if stored is not None and stored.state == "settled":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"receipt {receipt_id}: not settled within 60 s")
        time.sleep(0.05)
    block = ctx.client.get_storage("Billing", "Settled", receipt_id, at="finalized")
    _output.emit_line(
        f"  Billing.settle by //Ferdie: receipt {receipt_id} settled in block #{block} (finalized)"
    )
    for event in ctx.client.events(at=int(str(block))):
        if event.pallet == "Billing":
            _output.emit_line(f"    {event.qualified_name} {event.attributes}")


def escrow_after(ctx: DemoContext) -> None:
    before = int(str(ctx.facts["escrow_before_call"]))
    after = _escrow(ctx, "//Alice")
    charge = int(str(ctx.facts["charge"]))
    _output.emit_line(f"  //Alice escrow before the call {ctx.units(before)}")
    _output.emit_line(f"  //Alice escrow after settlement {ctx.units(after)}  (-{ctx.units(before - after)})")
    _output.emit_line(f"  the receipt's charge            {ctx.units(charge)}")
    stop_worker(ctx)


def stop_worker(ctx: DemoContext) -> None:
    """Stop the worker and the model server if they run (idempotent)."""
    from phala_agents.worker import ModelServer
    from phala_agents.worker.service import WorkerService

    service = ctx.facts.pop("worker", None)
    if isinstance(service, WorkerService):
        service.stop()
    llama = ctx.facts.pop("llama", None)
    if isinstance(llama, ModelServer):
        llama.stop()
