"""``FastUpstreamClient``: the lean non-streamed path keeps the SDK path's results and errors."""

from __future__ import annotations

import asyncio
import json

import pytest
from worker_fake_openai import PROMPT_TOKENS, WORDS, FakeOpenAI

from phala_agents.errors import UpstreamError, UpstreamTimeout
from phala_agents.worker.fast_upstream import FastUpstreamClient
from phala_agents.worker.upstream import ChatRequest, UpstreamClient, UpstreamModel

REQUEST = ChatRequest(messages=[{"role": "user", "content": "hello there"}], max_tokens=4, params={"seed": 1})


def _models(root: str, *names: str) -> list[UpstreamModel]:
    return [
        UpstreamModel(
            name=n,
            base_url=f"{root}/v1",
            upstream_model=n,
            tokenizer_url=root,
            max_retries=0,
            read_timeout=2.0,  # under slow-start's 3 s stall, far over a loaded runner's pauses
            total_timeout=4.0,
        )
        for n in names
    ]


def test_same_completion_usage_and_request_as_the_sdk_path(fake_upstream: tuple[FakeOpenAI, str]) -> None:
    fake, root = fake_upstream

    async def run() -> None:
        async with (
            UpstreamClient(_models(root, "ok")) as sdk,
            FastUpstreamClient(_models(root, "ok")) as fast,
        ):
            slow_result = await sdk.complete("ok", REQUEST)
            slow_body = fake.requests[-1]
            fast_result = await fast.complete("ok", REQUEST)
            fast_body = fake.requests[-1]
            assert fast_body == slow_body
            assert fast_result.usage == slow_result.usage
            assert (
                fast_result.usage.prompt_tokens == PROMPT_TOKENS and fast_result.usage.completion_tokens == 4
            )
            assert fast_result.completion.choices[0].message.content == "".join(WORDS[:4])
            # Keep-alive: a second call reuses the pooled connection.
            again = await fast.complete("ok", REQUEST)
            assert again.usage == fast_result.usage

    asyncio.run(run())


def test_faults_are_typed_and_never_echo_the_body(fake_upstream: tuple[FakeOpenAI, str]) -> None:
    _fake, root = fake_upstream

    async def run() -> None:
        async with FastUpstreamClient(_models(root, "status-500", "slow-start", "no-usage")) as fast:
            with pytest.raises(UpstreamError) as status:
                await fast.complete("status-500", REQUEST)
            assert "HTTP status 500" in str(status.value) and "hello" not in str(status.value)
            with pytest.raises(UpstreamTimeout):
                await fast.complete("slow-start", REQUEST)
            counted = await fast.complete("no-usage", REQUEST)
            assert counted.usage.estimated

    asyncio.run(run())


def test_a_connection_the_server_closed_while_idle_is_retried() -> None:
    reply = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()

    async def one_shot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers one request per connection, then closes it without saying so (no
        # "connection: close"), like a server whose keep-alive timer ran out.
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line[15:])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(reply)).encode() + b"\r\n\r\n" + reply)
        await writer.drain()
        writer.close()

    async def run() -> None:
        server = await asyncio.start_server(one_shot, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        model = UpstreamModel(name="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        try:
            async with FastUpstreamClient([model]) as fast:
                first = await fast.complete("m", REQUEST)
                await asyncio.sleep(0)  # let the close reach us
                second = await fast.complete("m", REQUEST)
                assert first.usage == second.usage
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(run())
