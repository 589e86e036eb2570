"""The official ``openai`` SDK (sync, async, streaming) against the worker, with the real
llama-server + SmolLM2 behind it and the real dev node, each a subprocess on a free port.

The caller signs one ``CallAuthorization`` per request (``sign_request``) and hands the header to
the SDK (``default_headers`` on a client, or ``extra_headers`` per call). The worker's errors map to
the SDK's exception classes; the calls settle on chain and Alice's escrow drops by their charges.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import structlog
from worker_processes import Proc, deploy_example, escrow_of, start_node, start_worker

from phala_agents.client import ChainClient
from phala_agents.worker.authorization import SignedReceipt, verify_receipt
from phala_agents.worker.caller import WorkerInfo, sign_request
from phala_agents.worker.model_server import ModelServer, find_llama_server, find_model

MESSAGES = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(autouse=True, scope="module")
def fresh_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


class Stack:
    def __init__(self, client: ChainClient, worker_url: str, agent_id: int) -> None:
        self.client = client
        self.url = worker_url
        self.agent_id = agent_id
        self.alice = client.keypair("//Alice")

    def info(self) -> WorkerInfo:
        return WorkerInfo.from_json(httpx.get(f"{self.url}/v1/phala/info").json())

    def body(self, **extra: Any) -> dict[str, Any]:
        return {"model": f"agent:{self.agent_id}", "messages": MESSAGES, "max_tokens": 12, "seed": 1} | extra

    def headers(
        self, body: dict[str, Any], *, max_charge: int = 10**12, agent_id: int | None = None
    ) -> dict[str, str]:
        _s, headers = sign_request(
            self.alice,
            body,
            info=self.info(),
            agent_id=self.agent_id if agent_id is None else agent_id,
            agent_version=1,
            max_charge=max_charge,
        )
        return headers


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if find_llama_server() is None or find_model() is None:
        pytest.skip("llama-server or the SmolLM2 weights are not built: run `make llama`")
    tmp = tmp_path_factory.mktemp("worker-sdk")
    procs: list[Proc] = []
    with ModelServer.dev() as llama:
        try:
            node, chain_url = start_node(tmp)
            procs.append(node)
            client = ChainClient.connect(chain_url)
            agent_id = deploy_example(client)
            client.sign_and_submit(
                "Billing", "deposit", {"amount": 10**12}, client.keypair("//Alice"), wait_for="finalized"
            ).raise_for_error()
            worker, url = start_worker(
                tmp,
                chain_url,
                extra=[
                    "--upstream",
                    f"smollm2={llama.base_url}",
                    "--tokenizer",
                    f"smollm2={llama.root_url}",
                    "--settle-age",
                    "0.2",
                ],
            )
            procs.append(worker)
            yield Stack(client, url, agent_id)
            client.close()
        finally:
            for proc in reversed(procs):
                proc.stop()


def test_sync_sdk_with_default_headers(stack: Stack) -> None:
    body = stack.body()
    sdk = openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", default_headers=stack.headers(body))
    with sdk:
        _sync_calls(stack, sdk, body)


def _sync_calls(stack: Stack, sdk: openai.OpenAI, body: dict[str, Any]) -> None:
    raw = sdk.chat.completions.with_raw_response.create(**body)
    completion = raw.parse()
    assert completion.model == f"agent:{stack.agent_id}"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens <= 12
    charge = int(raw.headers["x-phala-charge"])
    phala = (completion.model_extra or {})["phala"]
    assert int(phala["charge"]) == charge > 0
    signed = SignedReceipt.from_bytes(bytes.fromhex(raw.headers["x-phala-receipt"][2:]))
    verify_receipt(signed, worker=stack.info().worker)
    assert signed.receipt.usage.input_tokens == completion.usage.prompt_tokens
    # The same authorization again: a replay, refused as a conflict, not retried by the SDK.
    with pytest.raises(openai.ConflictError) as excinfo:
        sdk.chat.completions.create(**body)
    assert excinfo.value.code == "nonce_used"


def test_async_sdk_concurrent_calls(stack: Stack) -> None:
    async def run() -> list[Any]:
        sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="unused")
        try:
            bodies = [stack.body(seed=i) for i in range(3)]
            return await asyncio.gather(
                *(sdk.chat.completions.create(**b, extra_headers=stack.headers(b)) for b in bodies)
            )
        finally:
            await sdk.close()

    completions = asyncio.run(run())
    assert all(c.choices[0].message.content for c in completions)
    assert len({(c.model_extra or {})["phala"]["receipt_id"] for c in completions}) == 3


def test_streaming_sdk_final_chunk_carries_the_receipt(stack: Stack) -> None:
    body = stack.body(stream=True)
    text, phala = [], None
    with (
        openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused") as sdk,
        sdk.chat.completions.create(**body, extra_headers=stack.headers(body)) as stream,
    ):
        for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
            extra = chunk.model_extra or {}
            if "phala" in extra:
                phala = extra["phala"]
    assert "".join(text)
    assert phala is not None and phala["outcome"] == "complete" and int(phala["charge"]) > 0


def test_errors_map_to_sdk_exceptions(stack: Stack) -> None:
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", max_retries=0) as sdk:
        _error_calls(stack, sdk)


def _error_calls(stack: Stack, sdk: openai.OpenAI) -> None:
    body = stack.body()
    with pytest.raises(openai.AuthenticationError) as auth_error:
        sdk.chat.completions.create(**body)
    assert auth_error.value.code == "missing_authorization"
    unknown = stack.body(model="agent:999")
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(**unknown, extra_headers=stack.headers(unknown, agent_id=999))
    with pytest.raises(openai.APIStatusError) as budget:
        sdk.chat.completions.create(**body, extra_headers=stack.headers(body, max_charge=1))
    assert budget.value.status_code == 402 and budget.value.code == "insufficient_escrow"
    models = sdk.models.list()
    assert [m.id for m in models.data] == [f"agent:{stack.agent_id}"]


def test_calls_settle_and_escrow_drops_by_their_charges(stack: Stack) -> None:
    before = escrow_of(stack.client, "//Alice")
    body = stack.body()
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused") as sdk:
        raw = sdk.chat.completions.with_raw_response.create(**body, extra_headers=stack.headers(body))
    receipt_id, charge = raw.headers["x-phala-receipt-id"], int(raw.headers["x-phala-charge"])
    deadline = time.monotonic() + 60
    while httpx.get(f"{stack.url}/v1/receipts/{receipt_id}").json()["state"] != "settled":
        assert time.monotonic() < deadline, "the receipt did not settle"
        time.sleep(0.1)
    # Earlier tests' receipts may settle in the same window; this one is in the drop.
    assert escrow_of(stack.client, "//Alice") <= before - charge
    settled = stack.client.get_storage("Billing", "Settled", receipt_id, at="finalized")
    assert settled is not None
