"""`phala-agent receipts` and `call`: offline verification, ledger listing, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

from substrateinterface import Keypair
from typer.testing import CliRunner

from phala_agents.cli._app import app
from phala_agents.worker import Ledger, NewReceipt, Receipt, ReceiptUsage, sign_authorization, sign_receipt

ALICE = Keypair.create_from_uri("//Alice")
FERDIE = Keypair.create_from_uri("//Ferdie")


def _signed(charge: int = 7, max_charge: int = 10) -> bytes:
    auth = sign_authorization(
        ALICE,
        genesis=b"\x00" * 32,
        agent_id=3,
        agent_version=1,
        worker=bytes(FERDIE.public_key),
        nonce=42,
        max_charge=max_charge,
        expires_at_block=100,
        request_hash=b"\x01" * 32,
    )
    receipt = Receipt.of(
        auth, usage=ReceiptUsage(input_tokens=5, output_tokens=2), charge=charge, response_hash=b"\x02" * 32
    )
    return sign_receipt(FERDIE, receipt).to_bytes()


def test_receipts_verify_offline_ok_and_tampered() -> None:
    runner = CliRunner()
    raw = _signed()
    result = runner.invoke(app, ["receipts", "verify", "0x" + raw.hex(), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["valid"] is True and "worker signature" in data["checks"]
    tampered = raw[:-1] + bytes([raw[-1] ^ 1])
    result = runner.invoke(app, ["receipts", "verify", "0x" + tampered.hex()])
    assert result.exit_code == 3
    assert "FAIL receipt worker signature" in result.stdout
    result = runner.invoke(
        app, ["receipts", "verify", "0x" + raw.hex(), "--expect-worker", ALICE.ss58_address]
    )
    assert result.exit_code == 3


def test_receipts_list_and_show_from_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    raw = _signed()
    receipt_id = "0x" + Receipt.decode(raw[:-64]).receipt_id.hex()
    ledger.record_batch(
        [
            NewReceipt(
                id=receipt_id,
                caller=bytes(ALICE.public_key),
                nonce=42,
                agent_id=3,
                agent_version=1,
                charge=7,
                estimated=False,
                signed=raw,
            )
        ]
    )
    ledger.close()
    runner = CliRunner()
    result = runner.invoke(app, ["receipts", "list", "--ledger", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [receipt_id] and rows[0]["state"] == "pending"
    result = runner.invoke(app, ["receipts", "show", receipt_id, "--ledger", str(path), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["charge"] == "7" and shown["caller"] == ALICE.ss58_address and shown["nonce"] == 42
    result = runner.invoke(app, ["receipts", "show", "0xdead", "--ledger", str(path)])
    assert result.exit_code == 2
    with Ledger(path) as reopened:
        reopened.mark_failed({receipt_id: "Expired"})
    result = runner.invoke(app, ["receipts", "list", "--ledger", str(path), "--state", "failed", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["id"], r["state"], r["failure"]) for r in rows] == [(receipt_id, "failed", "Expired")]
    result = runner.invoke(app, ["receipts", "list", "--ledger", str(path)])
    assert result.exit_code == 0, result.output
    assert "FAILURE" in result.stdout and "failed" in result.stdout and "Expired" in result.stdout


def test_call_needs_exactly_one_signer() -> None:
    result = CliRunner().invoke(app, ["call", "0", "hi", "--worker", "http://127.0.0.1:9"])
    assert result.exit_code == 2
