"""`phala-agent worker run`, `call`, `receipts list/show/verify`, `deposit`, `escrow`.

``worker run --dev`` serves the dev chain with the public dev cluster key and llama-server +
SmolLM2 (``make llama``) as the upstream for the model ``smollm2``; it registers nothing.
``call`` signs a ``CallAuthorization`` for one request and sends it to a worker; the receipt id
and charge go to stderr (stdout carries the answer only, or the JSON with ``--json``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from phala_agents.cli import _output
from phala_agents.cli._common import DEFAULT_URL, JsonOpt, QuietOpt, UrlOpt, handle_errors
from phala_agents.cli.keys import KeystoreOpt, PasswordStdinOpt, load_signer, signer_from_options

if TYPE_CHECKING:
    from phala_agents.worker import LedgerReceipt, SignedReceipt

DEFAULT_WORKER = "http://127.0.0.1:8080"
DEFAULT_LEDGER = Path(".phala-agent/worker-ledger.sqlite")
DEV_WORKER_SURI = "//Ferdie"
DEV_MODEL = "smollm2"
EXIT_REFUSED = 3
EXIT_RECEIPT = 3

WorkerUrlOpt = Annotated[
    str, typer.Option("--worker", envvar="PHALA_AGENT_WORKER", help="Worker base URL (http://host:port).")
]
SuriOpt = Annotated[
    str | None,
    typer.Option("--suri", help="Sign with a development URI such as //Alice.", show_default=False),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Sign with this keystore key (name or address).", show_default=False),
]
LedgerOpt = Annotated[Path, typer.Option("--ledger", help="The worker's receipt ledger (SQLite).")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    worker = typer.Typer(help="Run a worker: OpenAI-compatible agent calls, metered and settled on chain.")
    worker.command(
        "run", help="Sync agents, serve /v1/chat/completions, settle receipts (exit codes: 0, 1, 2)."
    )(run)
    app.add_typer(worker, name="worker")
    app.command(
        "call",
        help=(
            "Call an agent through a worker with a signed authorization (exit codes: 0 ok, 1 failure, "
            "2 usage, 3 refused by the worker: see the message)."
        ),
    )(call)
    receipts = typer.Typer(help="Receipts of calls: list and show from a ledger or worker, verify offline.")
    receipts.command("list", help="Receipts in a worker ledger.")(receipts_list)
    receipts.command("show", help="One receipt, decoded.")(receipts_show)
    receipts.command(
        "verify",
        help=(
            "Verify a receipt offline: signatures, charge <= max_charge; with --url also the agent "
            "version and the charge arithmetic (exit codes: 0 valid, 1 failure, 2 usage, 3 invalid)."
        ),
    )(receipts_verify)
    app.add_typer(receipts, name="receipts")
    app.command("deposit", help="Deposit into your Billing escrow (exit codes: 0, 1, 2).")(deposit)
    app.command("escrow", help="Show an account's Billing escrow.")(escrow)


# --- worker run ------------------------------------------------------------------------------------


def _parse_upstream(text: str) -> tuple[str, str]:
    name, sep, base = text.partition("=")
    if not sep or not name or not base.startswith(("http://", "https://")):
        raise typer.BadParameter(f"found {text!r}, wanted MODEL=http(s)://base/v1", param_hint="--upstream")
    return name, base


@handle_errors
def run(  # noqa: PLR0917 - typer maps each parameter to an option
    dev: Annotated[
        bool, typer.Option("--dev", help="Dev chain: dev cluster key, llama-server + SmolLM2.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to bind (0: any free).")] = 8080,
    upstream: Annotated[
        list[str] | None,
        typer.Option("--upstream", help="MODEL=BASE_URL (OpenAI-compatible, ending in /v1); repeatable."),
    ] = None,
    tokenizer: Annotated[
        list[str] | None,
        typer.Option("--tokenizer", help="MODEL=ROOT_URL of a llama-server that counts the model's tokens."),
    ] = None,
    upstream_key_env: Annotated[
        str | None,
        typer.Option("--upstream-key-env", help="Environment variable holding the upstreams' API key."),
    ] = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
    suri: SuriOpt = None,
    key: KeyOpt = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    cluster_key_file: Annotated[
        Path | None,
        typer.Option("--cluster-key-file", help="File with the 32-byte cluster key as hex (non-dev)."),
    ] = None,
    settle_batch: Annotated[
        int, typer.Option("--settle-batch", min=1, max=1000, help="Receipts per settle.")
    ] = 100,
    settle_age: Annotated[
        float, typer.Option("--settle-age", min=0.0, help="Seconds before a batch is due.")
    ] = 2.0,
    no_settle: Annotated[
        bool, typer.Option("--no-settle", help="Serve and record, but do not settle.")
    ] = False,
    ledger_durability: Annotated[
        str,
        typer.Option(
            "--ledger-durability",
            help="process: receipts survive a worker crash (kill -9), no fsync per call; "
            "power: also power loss (one fsync per commit).",
        ),
    ] = "process",
    busy_poll_us: Annotated[
        int,
        typer.Option(
            "--busy-poll-us",
            min=0,
            max=100_000,
            help="Microseconds to poll instead of idling after a call starts and ends: lower latency "
            "on VMs for some CPU; 0 turns it off (e.g. when sharing cores with a local model).",
        ),
    ] = 500,
) -> None:
    import os

    from phala_agents.client import ChainClient, ClusterKey, dev_cluster_key
    from phala_agents.worker import ModelServer, UpstreamModel
    from phala_agents.worker import Secret as ApiKey
    from phala_agents.worker.service import WorkerOptions, WorkerService
    from phala_agents.worker.settlement import SettlementConfig

    if ledger_durability not in ("process", "power"):
        raise typer.BadParameter(
            f"found {ledger_durability!r}, wanted process or power", param_hint="--ledger-durability"
        )
    probe = ChainClient.connect(url)
    try:
        dev_chain, ss58 = probe.is_dev_chain, probe.ss58_format
    finally:
        probe.close()
    if dev and not dev_chain:
        raise typer.BadParameter("the node is not a development chain", param_hint="--dev")
    if suri is None and key is None:
        if not dev:
            raise typer.BadParameter("give --suri or --key (the worker account)")
        suri = DEV_WORKER_SURI
    keypair = load_signer(
        cast(str, suri or key),
        keystore=keystore,
        password_stdin=password_stdin,
        dev_chain=dev_chain,
        ss58_format=ss58,
    )
    if dev:
        cluster = dev_cluster_key()
    elif cluster_key_file is not None:
        cluster = ClusterKey.from_private_bytes(
            bytes.fromhex(cluster_key_file.read_text().strip().removeprefix("0x"))
        )
    else:
        raise typer.BadParameter("without --dev, give --cluster-key-file", param_hint="--cluster-key-file")
    api_key = ApiKey(os.environ.get(upstream_key_env, "") if upstream_key_env else "")
    models = [
        UpstreamModel(name=n, base_url=b, api_key=api_key) for n, b in map(_parse_upstream, upstream or [])
    ]
    model_server = None
    if dev and not models:
        model_server = ModelServer.dev()
        model_server.start()
        models.append(
            UpstreamModel(name=DEV_MODEL, base_url=model_server.base_url, tokenizer_url=model_server.root_url)
        )
        _output.info(f"dev model server: {model_server.base_url} (pid {model_server.pid})")
    if not models:
        raise typer.BadParameter("give at least one --upstream MODEL=BASE_URL", param_hint="--upstream")
    ledger.parent.mkdir(parents=True, exist_ok=True)
    service = WorkerService(
        WorkerOptions(
            chain_url=url,
            keypair=keypair,
            cluster_key=cluster,
            upstreams=models,
            ledger_path=ledger,
            ledger_durability="power" if ledger_durability == "power" else "process",
            host=host,
            port=port,
            settlement=SettlementConfig(max_count=settle_batch, max_age=settle_age),
            settle=not no_settle,
            busy_poll_us=busy_poll_us,
        )
    )
    _output.info(
        f"worker {keypair.ss58_address} serving on http://{host}:{port} (chain {url}, ledger {ledger})"
    )
    try:
        service.serve()
    finally:
        if model_server is not None:
            model_server.stop()


# --- call ------------------------------------------------------------------------------------------


def _http_error(response: object) -> str:
    import httpx

    assert isinstance(response, httpx.Response)
    try:
        error = response.json()["error"]
        return f"worker refused the call ({response.status_code} {error.get('code')}): {error.get('message')}"
    except (ValueError, KeyError, TypeError):
        return f"worker answered HTTP {response.status_code}"


@handle_errors
def call(  # noqa: PLR0917 - typer maps each parameter to an option
    agent_id: Annotated[int, typer.Argument(min=0, help="The agent id (model agent:<id>).")],
    message: Annotated[str, typer.Argument(help="The user message.")],
    worker: WorkerUrlOpt = DEFAULT_WORKER,
    suri: SuriOpt = None,
    key: KeyOpt = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    max_charge: Annotated[
        int, typer.Option("--max-charge", min=1, help="Most this call may charge (smallest unit).")
    ] = 10**12,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Output token limit.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Stream the answer as it is generated.")] = False,
    json_out: JsonOpt = False,
) -> None:
    import httpx

    from phala_agents.worker.caller import WorkerInfo, sign_request

    if (suri is None) == (key is None):
        raise typer.BadParameter("give exactly one of --suri (dev URI) or --key (keystore key)")
    base = worker.rstrip("/")
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0), trust_env=False) as http:
        info_json = http.get(f"{base}/v1/phala/info").raise_for_status().json()
        info = WorkerInfo.from_json(info_json)
        signer = load_signer(
            cast(str, suri or key),
            keystore=keystore,
            password_stdin=password_stdin,
            dev_chain=bool(info_json.get("dev_chain")),
            ss58_format=int(info_json.get("ss58_format", 42)),
        )
        models = http.get(f"{base}/v1/models", headers={"X-Phala-Caller": signer.ss58_address}).json()
        found = [m for m in models["data"] if m["id"] == f"agent:{agent_id}"]
        if not found:
            _output.error(
                f"agent {agent_id}: found none this caller may use on {base}", "list them with /v1/models"
            )
            raise typer.Exit(EXIT_REFUSED)
        version = int(found[0]["phala"]["version"])
        body: dict[str, object] = {
            "model": f"agent:{agent_id}",
            "messages": [{"role": "user", "content": message}],
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stream:
            body["stream"] = True
        signed, headers = sign_request(
            signer, body, info=info, agent_id=agent_id, agent_version=version, max_charge=max_charge
        )
        if not stream:
            response = http.post(f"{base}/v1/chat/completions", json=body, headers=headers)
            if response.status_code != 200:
                _output.error(_http_error(response))
                raise typer.Exit(EXIT_REFUSED)
            data = response.json()
            if json_out:
                _output.emit_json(data)
            else:
                _output.emit_line(str(data["choices"][0]["message"]["content"]))
            phala = data.get("phala", {})
        else:
            phala = {}
            with http.stream("POST", f"{base}/v1/chat/completions", json=body, headers=headers) as response:
                if response.status_code != 200:
                    response.read()
                    _output.error(_http_error(response))
                    raise typer.Exit(EXIT_REFUSED)
                chunks: list[object] = []
                for line in response.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    event = json.loads(line[6:])
                    if "error" in event:
                        _output.info(f"stream error: {event['error'].get('message')}")
                        continue
                    chunks.append(event)
                    phala = event.get("phala", phala)
                    for choice in event.get("choices", []):
                        text = (choice.get("delta") or {}).get("content")
                        if text and not json_out:
                            typer.echo(text, nl=False)
                if json_out:
                    _output.emit_json({"chunks": chunks, "phala": phala})
                else:
                    typer.echo("")
    _output.info(
        f"receipt {phala.get('receipt_id', signed.authorization.receipt_id_hex)}: "
        f"charge {phala.get('charge')} "
        f"({phala.get('prompt_tokens')} prompt + {phala.get('completion_tokens')} completion tokens"
        f"{', estimated' if phala.get('estimated') else ''})"
    )


# --- receipts --------------------------------------------------------------------------------------


def _receipt_json(stored: LedgerReceipt | None, signed: SignedReceipt, ss58: int = 42) -> dict[str, object]:
    from phala_agents.scale import ss58_encode

    receipt = signed.receipt
    auth = receipt.authorization
    data: dict[str, object] = {
        "id": "0x" + receipt.receipt_id.hex(),
        "caller": ss58_encode(auth.caller, ss58),
        "worker": ss58_encode(auth.worker, ss58),
        "agent_id": auth.agent_id,
        "agent_version": auth.agent_version,
        "nonce": auth.nonce,
        "max_charge": str(auth.max_charge),
        "charge": str(receipt.charge),
        "input_tokens": receipt.usage.input_tokens,
        "output_tokens": receipt.usage.output_tokens,
        "estimated": receipt.usage.estimated,
        "expires_at_block": auth.expires_at_block,
        "response_hash": "0x" + receipt.response_hash.hex(),
    }
    if stored is not None:
        data["state"] = stored.state
    return data


def _open_ledger(path: Path) -> object:
    from phala_agents.worker import Ledger

    if not path.exists():
        raise typer.BadParameter(f"found no file {path}", param_hint="--ledger")
    return Ledger(path)


@handle_errors
def receipts_list(  # noqa: PLR0917 - typer maps each parameter to an option
    ledger: LedgerOpt = DEFAULT_LEDGER,
    caller: Annotated[str | None, typer.Option("--caller", help="Only this caller (SS58).")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, submitted, settled or failed.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    from phala_agents.scale import ss58_decode, ss58_encode
    from phala_agents.worker import Ledger

    store = cast(Ledger, _open_ledger(ledger))
    try:
        if caller is not None:
            rows = store.by_caller(ss58_decode(caller, None), limit=limit)
        else:
            rows = store.unsettled() if state in (None, "pending", "submitted") else []
            if state in (None, "failed"):
                rows += store.failed(limit=limit)
            if state in (None, "settled"):
                rows += store.settled(limit=limit)
        if state is not None:
            rows = [r for r in rows if r.state == state]
        rows = rows[:limit]
        out = [
            {
                "id": r.id,
                "caller": ss58_encode(bytes(r.caller), 42) if isinstance(r.caller, bytes) else str(r.caller),
                "agent_id": r.agent_id,
                "nonce": r.nonce,
                "charge": str(r.charge),
                "estimated": r.estimated,
                "state": r.state,
                "failure": r.failure,
            }
            for r in rows
        ]
    finally:
        store.close()
    _output.emit_rows(
        out,
        key="id",
        columns=["id", "agent_id", "charge", "estimated", "state", "failure"],
        json_out=json_out,
        quiet=quiet,
        table_rows=[row | {"failure": row["failure"] or ""} for row in out],
    )


def _load_receipt(
    receipt: str, ledger: Path | None, worker: str | None
) -> tuple[LedgerReceipt | None, SignedReceipt]:
    from phala_agents.worker import Ledger, SignedReceipt

    text = receipt.strip()
    if len(text) > 200:  # the signed receipt itself, as hex
        return None, SignedReceipt.from_bytes(bytes.fromhex(text.removeprefix("0x")))
    if worker is not None:
        import httpx

        response = httpx.get(f"{worker.rstrip('/')}/v1/receipts/{text}", timeout=30, trust_env=False)
        if response.status_code != 200:
            raise typer.BadParameter(f"found no receipt {text} on {worker}", param_hint="RECEIPT")
        raw = str(response.json()["receipt"])
        return None, SignedReceipt.from_bytes(bytes.fromhex(raw.removeprefix("0x")))
    store = cast(Ledger, _open_ledger(ledger or DEFAULT_LEDGER))
    try:
        stored = store.get(text)
    finally:
        store.close()
    if stored is None:
        raise typer.BadParameter(f"found no receipt {text} in the ledger", param_hint="RECEIPT")
    return stored, SignedReceipt.from_bytes(stored.signed)


ReceiptArg = Annotated[str, typer.Argument(help="A receipt id (0x...), or the signed receipt as hex.")]
LedgerSourceOpt = Annotated[Path | None, typer.Option("--ledger", help="Read the receipt from this ledger.")]
WorkerSourceOpt = Annotated[str | None, typer.Option("--worker", help="Fetch the receipt from this worker.")]


@handle_errors
def receipts_show(
    receipt: ReceiptArg,
    ledger: LedgerSourceOpt = None,
    worker: WorkerSourceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    stored, signed = _load_receipt(receipt, ledger, worker)
    data = _receipt_json(stored, signed)
    if json_out:
        _output.emit_json(data)
    else:
        for name, value in data.items():
            _output.emit_line(f"{name:<17} {value}")


@handle_errors
def receipts_verify(  # noqa: PLR0917 - typer maps each parameter to an option
    receipt: ReceiptArg,
    ledger: LedgerSourceOpt = None,
    worker: WorkerSourceOpt = None,
    expect_worker: Annotated[
        str | None, typer.Option("--expect-worker", help="The worker account (SS58) that must have signed.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Also check the agent version and prices on this node.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    from phala_agents.errors import ReceiptError
    from phala_agents.scale import ss58_decode
    from phala_agents.worker import verify_receipt

    _stored, signed = _load_receipt(receipt, ledger, worker)
    checks: list[str] = []
    problems: list[str] = []
    try:
        verify_receipt(signed, worker=ss58_decode(expect_worker, None) if expect_worker else None)
        checks += ["worker signature", "caller signature", "charge <= max_charge"]
    except ReceiptError as exc:
        problems.append(str(exc))
    if url is not None and not problems:
        problems += _verify_on_chain(url, signed, checks)
    result = {
        "id": "0x" + signed.receipt.receipt_id.hex(),
        "valid": not problems,
        "checks": checks,
        "problems": problems,
    }
    if json_out:
        _output.emit_json(result)
    else:
        for check in checks:
            _output.emit_line(f"ok   {check}")
        for problem in problems:
            _output.emit_line(f"FAIL {problem}")
    if problems:
        raise typer.Exit(EXIT_RECEIPT)


def _verify_on_chain(url: str, signed: SignedReceipt, checks: list[str]) -> list[str]:
    from phala_agents.client import ChainClient

    receipt = signed.receipt
    auth = receipt.authorization
    client = ChainClient.connect(url)
    try:
        agent = client.get_storage("AgentRegistry", "Agents", auth.agent_id, at="finalized")
    finally:
        client.close()
    if not isinstance(agent, dict):
        return [f"agent {auth.agent_id}: found none on chain"]
    version = int(str(agent["version"]))
    if not 1 <= auth.agent_version <= version:
        return [f"agent_version: found {auth.agent_version}, wanted 1..={version}"]
    checks.append(f"agent {auth.agent_id} version {auth.agent_version} exists")
    if auth.agent_version == version:
        prices = cast(dict[str, object], agent["prices"])
        cost = math.ceil(
            (
                receipt.usage.input_tokens * int(str(prices["per_1k_input"]))
                + receipt.usage.output_tokens * int(str(prices["per_1k_output"]))
            )
            / 1000
        )
        expected = min(cost, auth.max_charge)
        if receipt.charge > expected:
            return [f"charge: found {receipt.charge}, wanted at most {expected} (usage x current prices)"]
        checks.append(f"charge {receipt.charge} <= usage x prices {cost}")
    return []


# --- escrow ----------------------------------------------------------------------------------------


@handle_errors
def deposit(  # noqa: PLR0917 - typer maps each parameter to an option
    amount: Annotated[str, typer.Argument(help='Amount: an integer in the smallest unit or "1.5 UNIT".')],
    url: UrlOpt = DEFAULT_URL,
    suri: SuriOpt = None,
    key: KeyOpt = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
) -> None:
    from phala_agents.client import ChainClient, parse_amount

    # parse_amount takes "1.5 UNIT" only (the agent file's rule); the help promises integers too.
    value = int(amount.strip()) if amount.strip().isdigit() else parse_amount(amount)
    api = ChainClient.connect(url)
    try:
        signer = signer_from_options(api, suri, key, keystore, password_stdin)
        result = api.sign_and_submit("Billing", "deposit", {"amount": value}, signer, wait_for="finalized")
        result.raise_for_error()
        info = api.get_storage("Billing", "Escrow", signer, at="finalized")
    finally:
        api.close()
    balance = int(str(info["balance"])) if isinstance(info, dict) else 0
    if json_out:
        _output.emit_json(
            {
                "who": signer.ss58_address,
                "deposited": str(value),
                "escrow": str(balance),
                "block_hash": result.block_hash,
            }
        )
    else:
        _output.emit_line(f"deposited {value} into {signer.ss58_address}'s escrow; escrow now {balance}")


@handle_errors
def escrow(
    address: Annotated[str, typer.Argument(help="SS58 address.")],
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    from phala_agents.client import ChainClient

    api = ChainClient.connect(url)
    try:
        info = api.get_storage("Billing", "Escrow", address, at="finalized")
    finally:
        api.close()
    data = info if isinstance(info, dict) else {"balance": 0, "unbonding": 0, "unlock_at": None}
    out = {"address": address, **{k: (str(v) if isinstance(v, int) else v) for k, v in data.items()}}
    if json_out:
        _output.emit_json(out)
    else:
        for name, value in out.items():
            _output.emit_line(f"{name:<10} {value}")
