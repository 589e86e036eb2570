"""polkadot.js agrees with our billing formats: @polkadot/types encodes CallAuthorization and
Receipt from a plain type definition byte for byte like ``worker/authorization.py``; a signature
made the way a wallet's ``signRaw`` signs (``u8aWrapBytes`` of domain ++ SCALE) passes
``verify_authorization``; and @polkadot/util-crypto verifies our signatures."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from substrateinterface import Keypair

from phala_agents.scale import blake2_256
from phala_agents.worker import (
    AUTHORIZATION_HEADER,
    Receipt,
    ReceiptUsage,
    SignedAuthorization,
    authorization_header,
    parse_authorization_header,
    sign_authorization,
    verify_authorization,
)
from phala_agents.worker.authorization import AUTHORIZATION_DOMAIN

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "js" / "billing_polkadot.js"

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(
        shutil.which("node") is None or not (REPO / "js" / "node_modules" / "@polkadot" / "types").is_dir(),
        reason="node or js/node_modules missing (run `make setup`)",
    ),
]

ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")


def polkadot_js(request: dict[str, object]) -> dict[str, object]:
    # subprocess.run waits for the process and kills it on timeout: nothing outlives the test.
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO / "js",
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _json(value: object) -> object:
    """Values as @polkadot/types takes them: hex bytes, big integers as decimal strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**53:
        return str(value)
    return value


@pytest.mark.parametrize("parent", [None, bytes([5]) * 32])
def test_polkadot_js_encodes_and_signs_like_us(parent: bytes | None) -> None:
    signed = sign_authorization(
        ALICE,
        genesis=blake2_256(b"genesis"),
        agent_id=2**63 + 5,
        agent_version=7,
        worker=BOB.public_key,
        nonce=2**40 + 1,
        max_charge=2**100 + 3,
        expires_at_block=123_456,
        request_hash=blake2_256(b"request"),
        parent=parent,
    )
    receipt = Receipt.of(
        signed,
        usage=ReceiptUsage(input_tokens=10, output_tokens=2**32 - 1, estimated=True),
        charge=2**99,
        response_hash=blake2_256(b"response"),
        children=[bytes([1]) * 32, bytes([2]) * 32],
    )
    answer = polkadot_js(
        {
            "authorization": _json(signed.authorization.to_value()),
            "receipt": _json(receipt.to_value()),
            "domain": "0x" + AUTHORIZATION_DOMAIN.hex(),
            "python_signature": "0x" + signed.signature.hex(),
            "suri": "//Alice",
        }
    )
    assert answer["authorization_scale"] == "0x" + signed.authorization.encode().hex()
    assert answer["receipt_scale"] == "0x" + receipt.encode().hex()
    assert answer["wrapped"] == "0x" + signed.authorization.message().hex()
    assert answer["public_key"] == "0x" + ALICE.public_key.hex()
    assert answer["python_signature_ok"] is True
    # A wallet-made signature is a valid authorization, and survives the HTTP header.
    wallet = SignedAuthorization(
        authorization=signed.authorization, signature=bytes.fromhex(str(answer["signature"])[2:])
    )
    verify_authorization(wallet)
    verify_authorization(parse_authorization_header(authorization_header(wallet)[AUTHORIZATION_HEADER]))
