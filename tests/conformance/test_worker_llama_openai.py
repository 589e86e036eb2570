"""The official openai SDK (sync, async, streaming) against the real llama-server with SmolLM2.

The dev model is built by `make llama` (`make test` builds it first). These tests check what the
meter relies on: usage arrives (in the final ``choices: []`` chunk when streaming with
``include_usage``), the model's own tokenizer counts the prompt exactly as the server bills it,
and the metered charge equals usage x prices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
import structlog

from phala_agents.worker.meter import GasMeter, Prices, Usage
from phala_agents.worker.model_server import ModelServer, find_llama_server, find_model
from phala_agents.worker.upstream import ChatRequest, UpstreamClient, UpstreamModel

PRICES = Prices(per_1k_input=1_500, per_1k_output=6_000)
MESSAGES = [{"role": "user", "content": "Name three colours."}]
# EOS (<|im_end|>, id 2) banned: every completion runs to max_tokens, so counts are predictable.
NO_EOS = {"logit_bias": {"2": -100}, "temperature": 0, "seed": 1}


@pytest.fixture(autouse=True, scope="module")
def fresh_structlog() -> Iterator[None]:
    """structlog's defaults: a CLI test may have left it writing to a closed stream."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.fixture(scope="module")
def llama() -> Iterator[ModelServer]:
    if find_llama_server() is None or find_model() is None:
        pytest.skip("llama-server or the SmolLM2 weights are not built: run `make llama`")
    with ModelServer.dev() as server:
        yield server


def _meter_call(usage: Usage, prompt_estimate: int, max_tokens: int) -> int:
    meter = GasMeter()
    meter.set_escrow("alice", 10**9)
    worst = PRICES.cost(input_tokens=prompt_estimate, output_tokens=max_tokens)
    reservation = meter.reserve("alice", worst, worst, prices=PRICES)
    charge = meter.charge(reservation, usage)
    assert not charge.capped
    assert meter.release(reservation) == worst - charge.amount
    assert meter.available("alice") == 10**9 - charge.amount
    return charge.amount


def _usage(reported: openai.types.CompletionUsage | None) -> Usage:
    assert reported is not None, "wanted usage from llama-server"
    return Usage(prompt_tokens=reported.prompt_tokens, completion_tokens=reported.completion_tokens)


def test_sync_non_streamed(llama: ModelServer) -> None:
    client = openai.OpenAI(base_url=llama.base_url, api_key="unused", max_retries=0)
    try:
        reply = client.chat.completions.create(
            model="smollm2", messages=MESSAGES, max_tokens=12, extra_body=NO_EOS
        )
    finally:
        client.close()
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content
    usage = _usage(reply.usage)
    assert usage.completion_tokens == 12
    assert usage.prompt_tokens > 20  # the template adds SmolLM2's default system prompt
    charge = _meter_call(usage, usage.prompt_tokens, 12)
    assert charge == -(-(usage.prompt_tokens * 1_500 + 12 * 6_000) // 1000)


def test_sync_stream_usage_is_in_the_final_chunk(llama: ModelServer) -> None:
    client = openai.OpenAI(base_url=llama.base_url, api_key="unused", max_retries=0)
    try:
        chunks = list(
            client.chat.completions.create(
                model="smollm2",
                messages=MESSAGES,
                max_tokens=10,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=NO_EOS,
            )
        )
    finally:
        client.close()
    last = chunks[-1]
    assert last.choices == []
    usage = _usage(last.usage)
    assert usage.completion_tokens == 10
    assert all(chunk.usage is None for chunk in chunks[:-1])
    content_chunks = sum(1 for c in chunks for ch in c.choices if ch.delta.content)
    assert 0 < content_chunks <= 10
    assert _meter_call(usage, usage.prompt_tokens, 10) == PRICES.cost(
        input_tokens=usage.prompt_tokens, output_tokens=10
    )


def test_async_stream_and_non_stream(llama: ModelServer) -> None:
    async def run() -> tuple[Usage, Usage]:
        async with openai.AsyncOpenAI(base_url=llama.base_url, api_key="unused", max_retries=0) as client:
            reply = await client.chat.completions.create(
                model="smollm2", messages=MESSAGES, max_tokens=6, extra_body=NO_EOS
            )
            stream = await client.chat.completions.create(
                model="smollm2",
                messages=MESSAGES,
                max_tokens=6,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=NO_EOS,
            )
            streamed = None
            async for chunk in stream:
                if chunk.usage is not None:
                    streamed = chunk.usage
            return _usage(reply.usage), _usage(streamed)

    plain, streamed = asyncio.run(run())
    assert plain == streamed
    assert plain.completion_tokens == 6


def test_worker_upstream_client_meters_exactly(llama: ModelServer) -> None:
    """Our client: exact pre-call prompt count, usage from upstream, charge = usage x prices."""

    async def run() -> None:
        model = UpstreamModel(name="smollm2", base_url=llama.base_url, tokenizer_url=llama.root_url)
        async with UpstreamClient([model]) as client:
            request = ChatRequest(messages=MESSAGES, max_tokens=8, params=NO_EOS)
            estimate = await client.estimate_prompt_tokens("smollm2", request)
            meter = GasMeter()
            meter.set_escrow("alice", 10**6)
            worst = PRICES.cost(input_tokens=estimate, output_tokens=8)
            reservation = meter.reserve("alice", worst, worst, prices=PRICES)
            allowed = meter.output_tokens_allowed(reservation, prompt_tokens=estimate)
            assert allowed >= 8
            stream = await client.stream("smollm2", request, max_completion_tokens=allowed)
            text = []
            async for chunk in stream:
                text.extend(ch.delta.content or "" for ch in chunk.choices)
            result = await stream.finish()
            assert result.outcome == "complete"
            assert not result.usage.estimated
            # The model's tokenizer, used before the call, agrees with the server's bill.
            assert result.usage.prompt_tokens == estimate
            assert result.usage.completion_tokens == 8
            charge = meter.charge(reservation, result.usage)
            assert charge.amount == PRICES.cost(input_tokens=estimate, output_tokens=8) == worst
            assert meter.release(reservation) == 0
            # The fallback counter agrees with the server on the delivered text too (+-1: BPE
            # can merge a re-tokenized string differently from the generated token sequence).
            counted = await client.tokenizer("smollm2").count_text("".join(text))
            assert abs(counted - 8) <= 1

            # A budget of 5 output tokens: max_tokens is capped, the server honours it and
            # still reports usage after the last paid token.
            cut = await client.stream("smollm2", request, max_completion_tokens=5)
            async for _ in cut:
                pass
            cut_result = await cut.finish()
            assert cut_result.usage.completion_tokens == 5
            assert not cut_result.usage.estimated

    asyncio.run(run())
