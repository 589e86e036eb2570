"""Unmodified substrate-interface 1.8.1 against the dev node: every operation of the client
table in notes/substrate.md 1.2 (init_runtime, query, query_map paging, subscriptions,
compose_call, mortal and immortal signed extrinsics, submit with inclusion/finalization,
receipts, fees, a failing extrinsic, blocks, events, runtime_call)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from phala_agents.node import NodeConfig, NodeThread

ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")


@pytest.fixture(scope="module")
def node() -> Iterator[NodeThread]:
    with NodeThread(NodeConfig(rpc_port=0)) as thread:
        yield thread


@pytest.fixture(scope="module")
def substrate(node: NodeThread) -> Iterator[SubstrateInterface]:
    s = SubstrateInterface(url=node.url)
    try:
        yield s
    finally:
        s.close()


def _transfer(s: SubstrateInterface, signer: Keypair, dest: str, value: int, **kwargs: Any) -> Any:
    call = s.compose_call("Balances", "transfer_keep_alive", {"dest": dest, "value": value})
    xt = s.create_signed_extrinsic(call=call, keypair=signer, **kwargs)
    return s.submit_extrinsic(xt, wait_for_inclusion=True)


def test_init_runtime_and_properties(substrate: SubstrateInterface) -> None:
    substrate.init_runtime()
    assert substrate.chain == "Development"
    assert substrate.ss58_format == 42
    assert substrate.token_symbol and substrate.token_decimals
    assert substrate.metadata.get_metadata_pallet("Balances").value["index"] == 2
    assert substrate.get_constant("Balances", "ExistentialDeposit").value > 0


def test_query_plain_and_map(substrate: SubstrateInterface) -> None:
    assert substrate.query("System", "Number").value >= 0
    account = substrate.query("System", "Account", [ALICE.ss58_address]).value
    assert account["data"]["free"] > 10**15
    assert substrate.query("Sudo", "Key").value == ALICE.ss58_address


def test_transfer_receipt_fee_and_events(substrate: SubstrateInterface) -> None:
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12}
    )
    info = substrate.get_payment_info(call, ALICE)
    assert info["partialFee"] > 0
    bob_before = substrate.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]
    xt = substrate.create_signed_extrinsic(call=call, keypair=ALICE)
    quoted = substrate.rpc_request("payment_queryInfo", [xt.data.to_hex()])["result"]
    assert int(quoted["partialFee"]) == info["partialFee"]
    assert quoted["class"] == "normal"
    receipt = substrate.submit_extrinsic(xt, wait_for_inclusion=True)
    assert receipt.is_success, receipt.error_message
    names = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert ("Balances", "Transfer") in names
    assert ("TransactionPayment", "TransactionFeePaid") in names
    assert names[-1] == ("System", "ExtrinsicSuccess")
    assert receipt.total_fee_amount == info["partialFee"]
    bob_after = substrate.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]
    assert bob_after - bob_before == 10**12


def test_mortal_and_immortal_with_finalization(substrate: SubstrateInterface) -> None:
    call = substrate.compose_call("System", "remark", {"remark": "0x01"})
    mortal = substrate.create_signed_extrinsic(call=call, keypair=ALICE, era={"period": 64})
    receipt = substrate.submit_extrinsic(mortal, wait_for_finalization=True)
    assert receipt.is_success
    assert substrate.get_block_header(receipt.block_hash)["header"]["number"] >= 1
    immortal = substrate.create_signed_extrinsic(call=call, keypair=ALICE, era="00")
    receipt = substrate.submit_extrinsic(immortal, wait_for_inclusion=True)
    assert receipt.is_success
    assert substrate.rpc_request("chain_getFinalizedHead", [])["result"] == receipt.block_hash


def test_failing_extrinsic_has_module_error(substrate: SubstrateInterface) -> None:
    inner = substrate.compose_call("System", "remark", {"remark": "0x02"})
    call = substrate.compose_call("Sudo", "sudo", {"call": inner})
    xt = substrate.create_signed_extrinsic(call=call, keypair=BOB)  # Bob is not the sudo key
    receipt = substrate.submit_extrinsic(xt, wait_for_inclusion=True)
    assert not receipt.is_success
    assert receipt.error_message["name"] == "RequireSudo"
    assert receipt.total_fee_amount > 0
    names = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert names[-1] == ("System", "ExtrinsicFailed")


def test_bad_nonce_is_rejected_with_1010(substrate: SubstrateInterface) -> None:
    call = substrate.compose_call("System", "remark", {"remark": "0x03"})
    xt = substrate.create_signed_extrinsic(call=call, keypair=ALICE, nonce=0)  # long used
    with pytest.raises(SubstrateRequestException) as info:
        substrate.submit_extrinsic(xt)
    assert info.value.args[0]["code"] == 1010
    assert info.value.args[0]["data"] == "Transaction is outdated"


def test_query_map_pages_over_new_accounts(substrate: SubstrateInterface) -> None:
    fresh = [Keypair.create_from_uri(f"//Paging{i}") for i in range(5)]
    nonce = substrate.get_account_nonce(ALICE.ss58_address)
    receipts = []
    for i, kp in enumerate(fresh):
        call = substrate.compose_call(
            "Balances", "transfer_allow_death", {"dest": kp.ss58_address, "value": 10**13}
        )
        xt = substrate.create_signed_extrinsic(call=call, keypair=ALICE, nonce=nonce + i)
        receipts.append(substrate.submit_extrinsic(xt, wait_for_inclusion=i == len(fresh) - 1))
    assert receipts[-1].is_success
    seen = {str(k.value): v.value for k, v in substrate.query_map("System", "Account", page_size=3)}
    for kp in fresh:
        assert seen[kp.ss58_address]["data"]["free"] == 10**13
    assert len(seen) >= 6 + len(fresh)


def test_storage_and_header_subscriptions(substrate: SubstrateInterface, node: NodeThread) -> None:
    start = substrate.query("System", "Account", [BOB.ss58_address]).value["data"]["free"]

    def poke() -> threading.Thread:
        def run() -> None:
            time.sleep(0.5)
            other = SubstrateInterface(url=node.url)
            try:
                _transfer(other, ALICE, BOB.ss58_address, 7)
            finally:
                other.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def on_account(obj: Any, update_nr: int, sub_id: str) -> Any:
        free = obj.value["data"]["free"]
        return free if free != start else None

    thread = poke()
    assert (
        substrate.query("System", "Account", [BOB.ss58_address], subscription_handler=on_account) == start + 7
    )
    thread.join()

    for finalized_only in (False, True):
        first = substrate.get_block_header()["header"]["number"]

        def on_head(obj: Any, update_nr: int, sub_id: str, first: int = first) -> Any:
            number = obj["header"]["number"]
            return number if number > first else None

        thread = poke()
        assert substrate.subscribe_block_headers(on_head, finalized_only=finalized_only) == first + 1
        thread.join()


def test_blocks_events_and_runtime_call(substrate: SubstrateInterface) -> None:
    receipt = _transfer(substrate, ALICE, BOB.ss58_address, 10**10)
    block = substrate.get_block(block_hash=receipt.block_hash)
    number = block["header"]["number"]
    assert substrate.get_block(block_number=number)["header"]["hash"] == receipt.block_hash
    calls = [(x.value["call"]["call_module"], x.value["call"]["call_function"]) for x in block["extrinsics"]]
    assert calls[0] == ("Timestamp", "set")
    assert ("Balances", "transfer_keep_alive") in calls
    events = substrate.get_events(block_hash=receipt.block_hash)
    assert any(e.value["event_id"] == "Transfer" for e in events)
    nonce = substrate.runtime_call("AccountNonceApi", "account_nonce", [ALICE.ss58_address]).value
    assert nonce == substrate.get_account_nonce(ALICE.ss58_address)
    pending = substrate.rpc_request("author_pendingExtrinsics", [])["result"]
    assert pending == []
    assert substrate.rpc_request("system_name", [])["result"]
