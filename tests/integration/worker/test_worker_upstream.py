"""The upstream client against a fake OpenAI server: usage, faults, budget cuts, no leaks in logs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs
from worker_fake_openai import PROMPT_TOKENS, WORDS, FakeOpenAI

from phala_agents.errors import UpstreamError, UpstreamTimeout
from phala_agents.worker.meter import GasMeter, Prices, Usage
from phala_agents.worker.upstream import ChatRequest, Secret, StreamResult, UpstreamClient, UpstreamModel

SECRET_KEY = "sk-test-DO-NOT-LOG-0123456789"
SECRET_PROMPT = "TOP-SECRET-PROMPT-CONTENT"
REQUEST = ChatRequest(messages=[{"role": "user", "content": f"say {SECRET_PROMPT} now"}], max_tokens=8)
# The word tokenizer of the fake: "<|user|> say TOP-SECRET-PROMPT-CONTENT now" is 4 words.
TEMPLATE_TOKENS = 4


def _client(root: str, scenario: str, *, tokenizer: bool = True, read_timeout: float = 5.0) -> UpstreamClient:
    return UpstreamClient(
        [
            UpstreamModel(
                name="m",
                base_url=f"{root}/v1",
                api_key=Secret(SECRET_KEY),
                upstream_model=scenario,
                tokenizer_url=root if tokenizer else None,
                read_timeout=read_timeout,
                connect_timeout=2.0,
                max_retries=0,
            )
        ]
    )


def _complete(root: str, scenario: str, **kw: object) -> object:
    async def run() -> object:
        async with _client(root, scenario, **kw) as client:  # type: ignore[arg-type]
            return await client.complete("m", REQUEST)

    return asyncio.run(run())


def _stream(
    root: str, scenario: str, *, cap: int | None = None, **kw: object
) -> tuple[list[str], StreamResult]:
    async def run() -> tuple[list[str], StreamResult]:
        async with _client(root, scenario, **kw) as client:  # type: ignore[arg-type]
            stream = await client.stream("m", REQUEST, max_completion_tokens=cap)
            parts = []
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
            return parts, await stream.finish()

    return asyncio.run(run())


@pytest.fixture
def upstream(fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[tuple[FakeOpenAI, str]]:
    fake, root = fake_upstream
    fake.requests.clear()
    yield fake, root


def test_non_streamed_usage_comes_from_upstream(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    result = _complete(root, "ok")
    assert result.usage == Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=8, cached_tokens=3)
    assert result.completion.choices[0].message.content == "".join(WORDS[:8])


def test_non_streamed_missing_usage_is_counted_with_the_model_tokenizer(
    upstream: tuple[FakeOpenAI, str],
) -> None:
    _, root = upstream
    result = _complete(root, "no-usage")
    # 8 words delivered; the rendered prompt is 4 words
    assert result.usage == Usage(prompt_tokens=TEMPLATE_TOKENS, completion_tokens=8, estimated=True)


def test_missing_usage_without_a_tokenizer_falls_back_to_tiktoken(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    result = _complete(root, "no-usage", tokenizer=False)
    assert result.usage.estimated
    assert result.usage.completion_tokens > 0
    assert result.usage.prompt_tokens > 0


def test_stream_asks_for_usage_and_reads_the_final_chunk(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, root = upstream
    parts, result = _stream(root, "ok")
    assert fake.requests[-1]["stream_options"] == {"include_usage": True}
    assert fake.requests[-1]["max_tokens"] == 8
    assert parts == WORDS[:8]
    assert result.outcome == "complete"
    assert result.usage == Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=8, cached_tokens=3)
    assert result.finish_reason == "length"
    assert result.error is None


def test_usage_on_a_chunk_with_choices_is_not_lost(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    _, result = _stream(root, "usage-on-choice")
    assert result.usage == Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=8, cached_tokens=3)


def test_stream_without_usage_is_counted_and_marked_estimated(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    parts, result = _stream(root, "no-usage")
    assert len(parts) == 8
    assert result.outcome == "complete"
    assert result.usage == Usage(prompt_tokens=TEMPLATE_TOKENS, completion_tokens=8, estimated=True)


@pytest.mark.parametrize("scenario", ["cut-abrupt", "cut-clean", "error-event"])
def test_a_stream_cut_half_way_charges_what_was_delivered(
    upstream: tuple[FakeOpenAI, str], scenario: str
) -> None:
    _, root = upstream
    parts, result = _stream(root, scenario)
    assert parts == WORDS[:3]
    assert result.outcome == "upstream_error"
    assert isinstance(result.error, UpstreamError)
    assert result.usage == Usage(prompt_tokens=TEMPLATE_TOKENS, completion_tokens=3, estimated=True)


def test_a_stream_that_stalls_times_out_with_a_partial_result(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    parts, result = _stream(root, "slow-mid", read_timeout=0.5)
    assert parts == WORDS[:3]
    assert isinstance(result.error, UpstreamTimeout)
    assert result.usage.completion_tokens == 3
    assert result.usage.estimated


def test_an_upstream_that_never_answers_raises_timeout(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    with pytest.raises(UpstreamTimeout, match="timed out"):
        _complete(root, "slow-start", read_timeout=0.5)
    with pytest.raises(UpstreamTimeout):
        _stream(root, "slow-start", read_timeout=0.5)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_raise_a_typed_error_without_the_body(upstream: tuple[FakeOpenAI, str], status: int) -> None:
    _, root = upstream
    with pytest.raises(UpstreamError, match=f"HTTP status {status}, wanted 200") as info:
        _complete(root, f"status-{status}")
    assert SECRET_PROMPT not in str(info.value)
    with pytest.raises(UpstreamError, match=f"HTTP status {status}") as info:
        _stream(root, f"status-{status}")
    assert SECRET_PROMPT not in str(info.value)


def test_a_refused_connection_is_an_upstream_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UpstreamError, match="connection failed"):
        _complete(f"http://127.0.0.1:{port}", "ok")


def test_the_budget_caps_max_tokens_and_cuts_a_stream_that_ignores_it(
    upstream: tuple[FakeOpenAI, str],
) -> None:
    fake, root = upstream
    parts, result = _stream(root, "ok", cap=5)
    assert fake.requests[-1]["max_tokens"] == 5
    assert len(parts) == 5
    assert result.outcome == "complete"
    parts, result = _stream(root, "ignores-max-tokens", cap=5)
    assert len(parts) == 5
    assert result.outcome == "budget_exhausted"
    assert result.usage == Usage(prompt_tokens=TEMPLATE_TOKENS, completion_tokens=5, estimated=True)


def test_metered_charge_of_a_cut_stream_never_exceeds_the_reservation(
    upstream: tuple[FakeOpenAI, str],
) -> None:
    _, root = upstream
    prices = Prices(per_1k_input=1000, per_1k_output=1000)  # 1 unit per token
    meter = GasMeter()
    meter.set_escrow("alice", 100)
    reservation = meter.reserve("alice", 10, 10, prices=prices)
    cap = meter.output_tokens_allowed(reservation, prompt_tokens=TEMPLATE_TOKENS)
    assert cap == 6
    _, result = _stream(root, "ignores-max-tokens", cap=cap)
    charge = meter.charge(reservation, result.usage)
    assert charge.amount == TEMPLATE_TOKENS + 6 == 10
    assert not charge.capped
    assert charge.estimated
    assert meter.release(reservation) == 0


def test_secrets_and_content_never_reach_logs_errors_or_reprs(upstream: tuple[FakeOpenAI, str]) -> None:
    _, root = upstream
    # structlog is at its defaults here (conftest.fresh_structlog): every level reaches capture_logs.
    with capture_logs() as logs:
        _complete(root, "ok")
        _stream(root, "no-usage")
        _stream(root, "cut-abrupt")
        with pytest.raises(UpstreamError) as info:
            _complete(root, "status-500")
    assert logs, "wanted the upstream debug lines to be captured"
    assert {entry["event"] for entry in logs} >= {"upstream_completion_done", "upstream_stream_done"}
    text = repr(logs) + str(info.value) + repr(info.value)
    for secret in (SECRET_KEY, SECRET_PROMPT, *WORDS[1:4]):
        assert secret not in text
    model = UpstreamModel(name="m", base_url="http://127.0.0.1:1/v1", api_key=Secret(SECRET_KEY))
    assert SECRET_KEY not in repr(model) + str(model.api_key)
    assert model.api_key.reveal() == SECRET_KEY


def test_a_zero_budget_is_refused_before_calling(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, root = upstream
    with pytest.raises(ValueError, match="max output tokens is 0, wanted >= 1"):
        _stream(root, "ok", cap=0)
    assert fake.requests == []
