"""The caller's side of a worker call: bind a request body, sign an authorization, build headers.

``request_hash`` binds the authorization to the request: ``blake2_256`` of the body's canonical
JSON (keys sorted, no spaces, UTF-8). The worker recomputes it from the body it received, so any
change to the request (messages, model, max_tokens, stream...) invalidates the signature. The
caller passes the same dict to the ``openai`` SDK (``client.chat.completions.create(**body,
extra_headers=headers)``), which sends exactly the parameters given.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from phala_agents.scale import blake2_256
from phala_agents.worker.authorization import (
    SignedAuthorization,
    Sr25519Signer,
    authorization_header,
    sign_authorization,
)

__all__ = [
    "DEFAULT_EXPIRY_BLOCKS",
    "WorkerInfo",
    "canonical_json",
    "new_nonce",
    "request_hash",
    "sign_request",
]

DEFAULT_EXPIRY_BLOCKS = 100
"""Blocks past the worker's synced head an authorization stays valid by default."""


def canonical_json(body: Mapping[str, object]) -> bytes:
    """The canonical JSON of a request body: sorted keys, compact separators, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_hash(body: Mapping[str, object]) -> bytes:
    """``blake2_256(canonical_json(body))``: what ``CallAuthorization.request_hash`` carries."""
    return blake2_256(canonical_json(body))


def new_nonce() -> int:
    """A random 63-bit nonce: no counter to keep, and collisions are negligible."""
    return secrets.randbits(63)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    """What a caller needs to address a worker (``GET /v1/phala/info``)."""

    genesis: bytes
    worker: bytes
    head: int

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WorkerInfo:
        return cls(
            genesis=bytes.fromhex(str(data["genesis"]).removeprefix("0x")),
            worker=bytes.fromhex(str(data["worker"]).removeprefix("0x")),
            head=int(str(data["head"])),
        )


def sign_request(
    keypair: Sr25519Signer,
    body: Mapping[str, object],
    *,
    info: WorkerInfo,
    agent_id: int,
    agent_version: int,
    max_charge: int,
    nonce: int | None = None,
    expires_at_block: int | None = None,
    parent: bytes | None = None,
) -> tuple[SignedAuthorization, dict[str, str]]:
    """Sign an authorization for ``body`` and return it with the headers to send."""
    signed = sign_authorization(
        keypair,
        genesis=info.genesis,
        agent_id=agent_id,
        agent_version=agent_version,
        worker=info.worker,
        nonce=new_nonce() if nonce is None else nonce,
        max_charge=max_charge,
        expires_at_block=info.head + DEFAULT_EXPIRY_BLOCKS if expires_at_block is None else expires_at_block,
        request_hash=request_hash(body),
        parent=parent,
    )
    return signed, authorization_header(signed)
