"""A fake OpenAI-compatible upstream on loopback, speaking the real wire format, with faults on demand.

The scenario is the request's ``model``. Streams are SSE ``data: {...}`` chunks ending in
``data: [DONE]``; usage comes in a final ``choices: []`` chunk when ``stream_options.include_usage``
is set (OpenAI's and llama-server's behaviour). ``/apply-template`` and ``/tokenize`` imitate
llama-server with a word tokenizer: one token per whitespace-separated word.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

PROMPT_TOKENS = 11
WORDS = ["Hello", " there", " my", " good", " friend", " how", " are", " you", " today", " sir"]


class CutConnection(Exception):
    """Raised inside a streaming body: uvicorn drops the connection mid-body."""


def _chunk(model: str, *, content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta = {"role": "assistant", "content": content}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def _usage(completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": {"cached_tokens": 3},
    }


def _sse(data: object) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/apply-template", self.apply_template, methods=["POST"]),
                Route("/tokenize", self.tokenize, methods=["POST"]),
                Route("/health", self.health),
            ]
        )

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def apply_template(self, request: Request) -> Response:
        body = await request.json()
        prompt = " ".join(f"<|{m['role']}|> {m['content']}" for m in body["messages"])
        return JSONResponse({"prompt": prompt})

    async def tokenize(self, request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"tokens": list(range(len(body["content"].split())))})

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model.startswith("status-"):
            # The body echoes the prompt, as some upstreams do: it must never reach a log or error.
            echo = json.dumps(body["messages"])
            return JSONResponse(
                {"error": {"message": f"failed on {echo}", "type": "server_error"}},
                status_code=int(model.removeprefix("status-")),
            )
        if model == "slow-start":
            await asyncio.sleep(3)
        n = min(body.get("max_tokens") or len(WORDS), len(WORDS))
        if model == "ignores-max-tokens":
            n = len(WORDS)
        if not body.get("stream"):
            text = "".join(WORDS[:n])
            reply: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "length" if n < len(WORDS) else "stop",
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                    }
                ],
            }
            if model != "no-usage":
                reply["usage"] = _usage(n)
            return JSONResponse(reply)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(self._stream(model, n, include_usage), media_type="text/event-stream")

    async def _stream(self, model: str, n: int, include_usage: bool) -> AsyncIterator[bytes]:
        for i in range(n):
            if model in ("cut-abrupt", "cut-clean", "error-event", "slow-mid") and i == 3:
                if model == "cut-abrupt":
                    raise CutConnection
                if model == "error-event":
                    yield _sse({"error": {"message": "model crashed", "type": "server_error"}})
                if model == "slow-mid":
                    await asyncio.sleep(3)
                return
            yield _sse(_chunk(model, content=WORDS[i]))
        finish = "length" if n < len(WORDS) else "stop"
        if model == "usage-on-choice":
            last = _chunk(model, finish=finish)
            last["usage"] = _usage(n)
            yield _sse(last)
        else:
            yield _sse(_chunk(model, finish=finish))
            if include_usage and model != "no-usage":
                usage_chunk = _chunk(model)
                usage_chunk["choices"] = []
                usage_chunk["usage"] = _usage(n)
                yield _sse(usage_chunk)
        yield b"data: [DONE]\n\n"


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<ephemeral> in a thread; yields the root URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake upstream did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
