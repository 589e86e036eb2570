"""Billing against the dev node with unmodified substrate-interface 1.8.1: //Alice deposits, //Bob
owns an agent, //Charlie (the worker) settles a batch of receipts signed offline (good, bad
signature, over max_charge, unknown agent, a replay), the events decoded by substrate-interface,
Alice's escrow before and after."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.node import NodeConfig, NodeThread
from phala_agents.scale import blake2_256
from phala_agents.worker import (
    Receipt,
    ReceiptUsage,
    sign_authorization,
    sign_receipt,
    verify_receipt,
)
from phala_agents.worker.authorization import settle_call_args

pytestmark = pytest.mark.conformance

ALICE = Keypair.create_from_uri("//Alice")  # caller
BOB = Keypair.create_from_uri("//Bob")  # agent owner
CHARLIE = Keypair.create_from_uri("//Charlie")  # worker
UNIT = 10**12


@pytest.fixture(scope="module")
def substrate() -> Iterator[SubstrateInterface]:
    with NodeThread(NodeConfig(rpc_port=0)) as node:
        s = SubstrateInterface(url=node.url)
        try:
            yield s
        finally:
            s.close()


def _submit(s: SubstrateInterface, signer: Keypair, pallet: str, name: str, params: dict[str, Any]) -> Any:
    call = s.compose_call(pallet, name, params)
    receipt = s.submit_extrinsic(
        s.create_signed_extrinsic(call=call, keypair=signer), wait_for_inclusion=True
    )
    assert receipt.is_success, receipt.error_message
    return receipt


def _register_agent(s: SubstrateInterface) -> int:
    agent_id = s.query("AgentRegistry", "NextAgentId").value
    _submit(
        s,
        BOB,
        "AgentRegistry",
        "register",
        {
            "expected_id": agent_id,
            "name": "0x" + f"billing-conformance-{agent_id}".encode().hex(),
            "description": "0x",
            "model": "0x" + b"smollm2".hex(),
            "prompt": {"epoch": 0, "enc": "0x" + "11" * 32, "ciphertext": "0x" + "22" * 40},
            "prompt_commitment": "0x" + "33" * 32,
            "prices": {"per_1k_input": 10**9, "per_1k_output": 2 * 10**9, "per_mgas_code": 0},
            "defaults": {"temperature_milli": 700, "max_tokens": 256},
            "access": "Public",
            "allow": [],
            "tools": [],
            "code_hash": None,
        },
    )
    return int(agent_id)


def _escrow(s: SubstrateInterface, who: Keypair) -> dict[str, Any] | None:
    return s.query("Billing", "Escrow", [who.ss58_address]).value  # type: ignore[no-any-return]


def test_deposit_settle_batch_and_escrow(substrate: SubstrateInterface) -> None:
    s = substrate
    s.init_runtime()
    assert s.metadata.get_metadata_pallet("Billing").value["index"] == 12
    assert s.get_constant("Billing", "WorkerShare").value == 100
    agent_id = _register_agent(s)
    genesis = bytes.fromhex(s.get_block_hash(0)[2:])

    before = _escrow(s, ALICE)
    base = before["balance"] if before else 0
    receipt = _submit(s, ALICE, "Billing", "deposit", {"amount": 50 * UNIT})
    names = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert ("Balances", "Reserved") in names and ("Billing", "Deposited") in names
    assert _escrow(s, ALICE)["balance"] == base + 50 * UNIT  # type: ignore[index]

    head = s.get_block_number(s.get_chain_head())
    nonce0 = 10_000 + head * 10  # unique per run of this module

    def make(nonce: int, *, charge: int, agent: int = agent_id, signer: Keypair = ALICE) -> Receipt:
        signed = sign_authorization(
            signer,
            genesis=genesis,
            agent_id=agent,
            agent_version=1,
            worker=CHARLIE.public_key,
            nonce=nonce,
            max_charge=5 * UNIT,
            expires_at_block=head + 100,
            request_hash=blake2_256(b"request %d" % nonce),
        )
        if signer is not ALICE:  # claim Alice pays, signed by someone else
            signed = replace(signed, authorization=replace(signed.authorization, caller=ALICE.public_key))
        r = Receipt.of(
            signed,
            usage=ReceiptUsage(input_tokens=100, output_tokens=50),
            charge=charge,
            response_hash=blake2_256(b"response"),
        )
        if signer is ALICE and charge <= 5 * UNIT:
            verify_receipt(sign_receipt(CHARLIE, r))  # what a caller checks offline
        return r

    good1, good2 = make(nonce0, charge=2 * UNIT), make(nonce0 + 1, charge=UNIT)
    forged = make(nonce0 + 2, charge=UNIT, signer=BOB)
    greedy = make(nonce0 + 3, charge=6 * UNIT)
    unknown = make(nonce0 + 4, charge=UNIT, agent=agent_id + 1000)
    batch = [good1, forged, good2, greedy, unknown]

    bob0 = s.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]
    call = s.compose_call("Billing", "settle", settle_call_args(batch))
    info = s.get_payment_info(call, CHARLIE)
    assert info["partialFee"] > 0
    xt = s.create_signed_extrinsic(call=call, keypair=CHARLIE)
    result = s.submit_extrinsic(xt, wait_for_inclusion=True)
    assert result.is_success, result.error_message
    billing = [e.value for e in result.triggered_events if e.value["module_id"] == "Billing"]
    outcome = [
        (e["event_id"], e["attributes"]["receipt_id"], e["attributes"].get("reason"))
        for e in billing
        if e["event_id"] in ("Settled", "SettlementFailed")
    ]
    assert outcome == [
        ("Settled", "0x" + good1.receipt_id.hex(), None),
        ("SettlementFailed", "0x" + forged.receipt_id.hex(), "BadSignature"),
        ("Settled", "0x" + good2.receipt_id.hex(), None),
        ("SettlementFailed", "0x" + greedy.receipt_id.hex(), "ChargeExceedsMax"),
        ("SettlementFailed", "0x" + unknown.receipt_id.hex(), "UnknownAgent"),
    ]
    settled = next(e for e in billing if e["event_id"] == "Settled")["attributes"]
    assert settled["caller"] == ALICE.ss58_address
    assert settled["worker"] == CHARLIE.ss58_address
    assert settled["agent_id"] == agent_id
    assert settled["charge"] == 2 * UNIT
    assert billing[-1]["event_id"] == "BatchSettled"
    assert billing[-1]["attributes"]["settled"] == 2 and billing[-1]["attributes"]["failed"] == 3

    assert _escrow(s, ALICE)["balance"] == base + 47 * UNIT  # type: ignore[index]
    bob1 = s.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]
    assert bob1 - bob0 == 3 * UNIT * 900 // 1000  # the owner's 90 %
    assert s.query("Billing", "Settled", ["0x" + good1.receipt_id.hex()]).value is not None

    # Replaying the batch changes nothing: the good ones are AlreadySettled.
    again = _submit(s, CHARLIE, "Billing", "settle", settle_call_args([good1]))
    names = [e.value["event_id"] for e in again.triggered_events if e.value["module_id"] == "Billing"]
    assert names == ["AlreadySettled", "BatchSettled"]
    assert _escrow(s, ALICE)["balance"] == base + 47 * UNIT  # type: ignore[index]


def test_request_withdraw_and_module_errors(substrate: SubstrateInterface) -> None:
    s = substrate
    dave = Keypair.create_from_uri("//Dave")
    _submit(s, dave, "Billing", "deposit", {"amount": 3 * UNIT})
    receipt = _submit(s, dave, "Billing", "request_withdraw", {"amount": 3 * UNIT})
    requested = next(e.value for e in receipt.triggered_events if e.value["event_id"] == "WithdrawRequested")
    unlock_at = requested["attributes"]["unlock_at"]
    call = s.compose_call("Billing", "withdraw", {})
    failed = s.submit_extrinsic(s.create_signed_extrinsic(call=call, keypair=dave), wait_for_inclusion=True)
    assert not failed.is_success
    assert failed.error_message["name"] == "StillUnbonding"
    while s.get_block_number(s.get_chain_head()) < unlock_at - 1:
        _submit(s, dave, "System", "remark", {"remark": "0x00"})
    _submit(s, dave, "Billing", "withdraw", {})
    assert _escrow(s, dave) is None
