"""The runtime as outside clients see it: substrate-interface and scalecodec encode, sign and
decode against our metadata, with no change to either library (in-process fake websocket)."""

from __future__ import annotations

from typing import Any

import pytest
from chain_harness import FakeWebsocket, MiniChain
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset
from substrateinterface import Keypair, KeypairType, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from phala_agents.chain import DEV_ACCOUNTS, DEV_ENDOWMENT, DevRuntime
from phala_agents.chain.runtime import PALLET_INDICES, api_id
from phala_agents.scale import blake2_256, ss58_encode


def _metadata_obj(md: bytes) -> tuple[RuntimeConfigurationObject, Any]:
    rc = RuntimeConfigurationObject()
    rc.update_type_registry(load_type_registry_preset("core"))
    m = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(md))
    m.decode()
    rc.add_portable_registry(m)
    return rc, m


def _events(si: SubstrateInterface, chain: MiniChain) -> list[tuple[str, str, Any]]:
    ev = si.query("System", "Events", block_hash="0x" + chain.head.hash.hex())
    return [(e["event"]["module_id"], e["event"]["event_id"], e["event"]["attributes"]) for e in ev.value]


def _free(si: SubstrateInterface, who: str) -> int:
    return int(si.query("System", "Account", [who]).value["data"]["free"])


ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")


def test_dev_accounts_match_substrate_interface_keys() -> None:
    for name, key in DEV_ACCOUNTS.items():
        assert Keypair.create_from_uri("//" + name).public_key == key, name


def test_scalecodec_decodes_metadata_matching_the_declarations() -> None:
    rt = DevRuntime()
    md = rt.metadata()
    assert md[:4] == b"meta" and md[4] == 14
    _, m = _metadata_obj(md)
    v14 = m.value[1]["V14"]
    pallets = {p["name"]: p for p in v14["pallets"]}
    assert {n: p["index"] for n, p in pallets.items()} == {
        n: i for n, i in PALLET_INDICES.items() if n in pallets
    }
    storage = {e["name"] for e in pallets["System"]["storage"]["entries"]}
    assert {
        "Account",
        "Number",
        "ParentHash",
        "BlockHash",
        "Events",
        "EventCount",
        "ExtrinsicCount",
        "BlockWeight",
        "AllExtrinsicsLen",
        "Digest",
    } <= storage
    assert [e["identifier"] for e in v14["extrinsic"]["signed_extensions"]] == [
        "CheckNonZeroSender",
        "CheckSpecVersion",
        "CheckTxVersion",
        "CheckGenesis",
        "CheckMortality",
        "CheckNonce",
        "CheckWeight",
        "ChargeTransactionPayment",
        "CheckMetadataHash",
    ]
    # the re-encoding by scalecodec is byte-identical
    assert bytes(m.encode(m.value).data) == md


def test_constants_and_errors_through_substrate_interface(substrate: SubstrateInterface) -> None:
    assert substrate.get_constant("System", "SS58Prefix").value == 42
    assert substrate.get_constant("Balances", "ExistentialDeposit").value == 10**9
    assert substrate.get_constant("System", "Version").value["spec_name"] == "phala-agents-dev"
    assert substrate.get_constant("TransactionPayment", "OperationalFeeMultiplier").value == 5
    md = substrate.get_block_metadata(decode=True)
    balances = next(p for p in md.value[1]["V14"]["pallets"] if p["name"] == "Balances")
    assert balances["index"] == 2
    assert [e.name for e in md.get_metadata_pallet("Balances").errors][:5] == [
        "VestingBalance",
        "LiquidityRestrictions",
        "InsufficientBalance",
        "ExistentialDeposit",
        "Expendability",
    ]
    call = substrate.get_metadata_call_function("Balances", "transfer_allow_death")
    assert call.value["index"] == 0
    assert substrate.token_decimals == 12 and substrate.token_symbol == "UNIT"


@pytest.mark.parametrize("era", [None, {"period": 64}])
@pytest.mark.parametrize("tip", [0, 7])
def test_sr25519_transfer_signed_by_substrate_interface(
    substrate: SubstrateInterface, chain: MiniChain, era: dict[str, int] | None, tip: int
) -> None:
    chain.produce()  # a block with a hash to be born in
    before_alice, before_bob = _free(substrate, ALICE.ss58_address), _free(substrate, BOB.ss58_address)
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 10**12}
    )
    info = substrate.get_payment_info(call, ALICE)
    xt = substrate.create_signed_extrinsic(call=call, keypair=ALICE, era=era, tip=tip)
    substrate.submit_extrinsic(xt)
    outcome = chain.head.outcomes[-1]
    assert getattr(outcome, "ok", False), outcome
    fee = outcome.fee  # type: ignore[union-attr]
    assert fee == info["partialFee"] + tip + (10**6 if era else 0)  # a mortal era is one byte longer
    assert _free(substrate, BOB.ss58_address) == before_bob + 10**12
    assert _free(substrate, ALICE.ss58_address) == before_alice - 10**12 - fee
    events = _events(substrate, chain)
    assert [(m, e) for m, e, _ in events] == [
        ("System", "ExtrinsicSuccess"),
        ("Balances", "Withdraw"),
        ("Balances", "Transfer"),
        ("TransactionPayment", "TransactionFeePaid"),
        ("System", "ExtrinsicSuccess"),
    ]
    transfer = events[2][2]
    assert transfer == {"from": ALICE.ss58_address, "to": BOB.ss58_address, "amount": 10**12}
    assert events[3][2]["tip"] == tip
    assert substrate.get_account_nonce(ALICE.ss58_address) == 1


def test_ed25519_signer(substrate: SubstrateInterface, chain: MiniChain) -> None:
    ed = Keypair.create_from_seed("0x" + "11" * 32, crypto_type=KeypairType.ED25519, ss58_format=42)
    fund = substrate.compose_call(
        "Balances", "transfer_allow_death", {"dest": ed.ss58_address, "value": 10**13}
    )
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=fund, keypair=ALICE))
    call = substrate.compose_call(
        "Balances", "transfer_allow_death", {"dest": BOB.ss58_address, "value": 10**12}
    )
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=call, keypair=ed, era={"period": 16}))
    assert getattr(chain.head.outcomes[-1], "ok", False), chain.head.outcomes[-1]
    assert ("Balances", "Transfer") in [(m, e) for m, e, _ in _events(substrate, chain)]


def test_ecdsa_signer_with_scalecodec_encoding(substrate: SubstrateInterface, chain: MiniChain) -> None:
    # substrate-interface's ECDSA keypairs are Ethereum-style (keccak, 20-byte ids), so the
    # Substrate MultiSignature::Ecdsa is signed here with eth_keys over blake2_256(payload).
    from eth_keys import keys

    priv = keys.PrivateKey(bytes([7]) * 32)
    compressed = priv.public_key.to_compressed_bytes()
    account = blake2_256(compressed)
    address = ss58_encode(account)
    fund = substrate.compose_call("Balances", "transfer_allow_death", {"dest": address, "value": 10**13})
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=fund, keypair=ALICE))
    call = substrate.compose_call(
        "Balances", "transfer_allow_death", {"dest": BOB.ss58_address, "value": 10**12}
    )
    payload = substrate.generate_signature_payload(call=call, nonce=0, tip=3)
    sig = priv.sign_msg_hash(blake2_256(bytes(payload.data)))
    signature = sig.to_bytes()  # r || s || v (v in 0/1)
    extrinsic = substrate.runtime_config.create_scale_object("Extrinsic", metadata=substrate.metadata)
    extrinsic.encode(
        {
            "account_id": "0x" + account.hex(),
            "signature_version": 2,
            "signature": "0x" + signature.hex(),
            "call_function": call.value["call_function"],
            "call_module": call.value["call_module"],
            "call_args": call.value["call_args"],
            "nonce": 0,
            "era": "00",
            "tip": 3,
            "mode": "Disabled",
        }
    )
    substrate.submit_extrinsic(extrinsic)
    assert getattr(chain.head.outcomes[-1], "ok", False), chain.head.outcomes[-1]


def test_failed_call_pays_fee_rolls_back_and_reports_module_error(
    substrate: SubstrateInterface, chain: MiniChain
) -> None:
    charlie = Keypair.create_from_uri("//Charlie")
    before = _free(substrate, charlie.ss58_address)
    too_much = DEV_ENDOWMENT * 2
    call = substrate.compose_call(
        "Balances", "transfer_allow_death", {"dest": BOB.ss58_address, "value": too_much}
    )
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=call, keypair=charlie))
    outcome = chain.head.outcomes[-1]
    assert outcome.ok is False and outcome.error == "Balances::InsufficientBalance"  # type: ignore[union-attr]
    events = _events(substrate, chain)
    assert [(m, e) for m, e, _ in events][-3:] == [
        ("Balances", "Withdraw"),
        ("TransactionPayment", "TransactionFeePaid"),
        ("System", "ExtrinsicFailed"),
    ]
    failed = events[-1][2]
    assert failed["dispatch_error"] == {"Module": {"index": 2, "error": "0x02000000"}}
    assert _free(substrate, charlie.ss58_address) == before - outcome.fee  # type: ignore[union-attr]
    assert substrate.get_account_nonce(charlie.ss58_address) == 1
    # substrate-interface's own error lookup names the module error
    md = substrate.get_block_metadata()
    err = md.get_module_error(module_index=2, error_index=2)
    assert err.name == "InsufficientBalance"


def test_invalid_reasons_as_rpc_1010(substrate: SubstrateInterface, chain: MiniChain) -> None:
    call = substrate.compose_call("System", "remark", {"remark": "0x01"})
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=call, keypair=ALICE))
    stale = substrate.create_signed_extrinsic(call=call, keypair=ALICE, nonce=0)
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(stale)
    assert exc.value.args[0] == {
        "code": 1010,
        "message": "Invalid Transaction",
        "data": "Transaction is outdated",
    }
    bad = substrate.create_signed_extrinsic(call=call, keypair=ALICE, signature="0x" + "00" * 64)
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(bad)
    assert exc.value.args[0]["data"] == "Transaction has a bad signature"
    poor = Keypair.create_from_uri("//NoMoney")
    broke = substrate.create_signed_extrinsic(call=call, keypair=poor)
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(broke)
    assert exc.value.args[0]["data"] == "Inability to pay some fees (e.g. account balance too low)"


def test_future_nonce_requires_tag_and_ancient_birth_block(chain: MiniChain) -> None:
    from phala_agents.chain.frame import Call
    from phala_agents.errors import InvalidTransaction
    from phala_agents.scale import MortalEra

    rt = chain.runtime
    chain.produce()
    call = Call(pallet="System", name="remark", args={"remark": b"x"})
    cb = rt.call_codec.encode(call)

    def signed(nonce: int, era: MortalEra | None = None, birth: bytes | None = None) -> bytes:
        extra = rt.extra_bytes(nonce=nonce, era=era)
        payload = rt.signing_payload(cb, extra, chain.genesis_hash, birth or chain.genesis_hash)
        return rt.encode_signed(
            call, signer=ALICE.public_key, signature=("Sr25519", ALICE.sign(payload)), nonce=nonce, era=era
        )

    valid = chain.validate(signed(3))
    assert valid.requires == (ALICE.public_key + (2).to_bytes(4, "little"),)  # type: ignore[attr-defined]
    assert valid.provides == (ALICE.public_key + (3).to_bytes(4, "little"),)  # type: ignore[attr-defined]
    block = chain.produce([signed(3)])
    assert isinstance(block.outcomes[-1], InvalidTransaction) and block.outcomes[-1].reason == "Future"
    # an era born at a block the chain has not reached: no BlockHash for it
    era = MortalEra(period=64, phase=40)
    with pytest.raises(InvalidTransaction) as exc:
        chain.validate(signed(0, era))
    assert exc.value.reason == "AncientBirthBlock"
    assert exc.value.detail == "Transaction has an ancient birth block"
    # a mortal era born at block 1 has longevity up to its death
    era = MortalEra.for_block(1, 64)
    v = chain.validate(signed(0, era, chain.blocks[1].hash))
    assert 0 < v.longevity <= 64  # type: ignore[attr-defined]


def test_runtime_api_ids_and_state_call(chain: MiniChain) -> None:
    assert api_id("Core").hex() == "df6acb689907609b"
    rt = chain.runtime
    assert rt.call(chain.state(), "Metadata_metadata_versions", b"") == b"\x04" + (14).to_bytes(4, "little")
    assert rt.call(chain.state(), "Metadata_metadata_at_version", (15).to_bytes(4, "little")) == b"\x00"
    at14 = rt.call(chain.state(), "Metadata_metadata_at_version", (14).to_bytes(4, "little"))
    assert at14[0] == 1 and at14.endswith(rt.metadata())
    nonce = rt.call(chain.state(), "AccountNonceApi_account_nonce", DEV_ACCOUNTS["Alice"])
    assert nonce == b"\x00\x00\x00\x00"
    with pytest.raises(KeyError):
        rt.call(chain.state(), "Nope_nothing", b"")


def test_sudo_dispatches_as_root_and_is_free(substrate: SubstrateInterface, chain: MiniChain) -> None:
    dave = Keypair.create_from_uri("//Dave")
    inner = substrate.compose_call(
        "Balances", "force_set_balance", {"who": dave.ss58_address, "new_free": 5 * 10**12}
    )
    call = substrate.compose_call("Sudo", "sudo", {"call": inner})
    before = _free(substrate, ALICE.ss58_address)
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=call, keypair=ALICE))
    assert _free(substrate, dave.ss58_address) == 5 * 10**12
    events = _events(substrate, chain)
    assert ("Sudo", "Sudid") in [(m, e) for m, e, _ in events]
    assert _free(substrate, ALICE.ss58_address) == before  # Pays::No: the fee is refunded
    # Bob is not the key
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=call, keypair=BOB))
    assert chain.head.outcomes[-1].error == "Sudo::RequireSudo"  # type: ignore[union-attr]


def test_unknown_pallet_index_is_rejected(substrate: SubstrateInterface) -> None:
    xt = "0x" + bytes([0x0C, 0x04, 0x63, 0x00]).hex()  # unsigned, pallet 99
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.rpc_request("author_submitExtrinsic", [xt])
    del exc


def test_fake_websocket_is_used(chain: MiniChain) -> None:
    ws = FakeWebsocket(chain)
    ws.send('{"jsonrpc": "2.0", "id": 1, "method": "system_chain", "params": []}')
    assert '"Development"' in ws.recv()


def test_long_payload_is_hashed_before_signing_and_oversized_is_rejected(
    substrate: SubstrateInterface, chain: MiniChain
) -> None:
    call = substrate.compose_call("System", "remark_with_event", {"remark": "0x" + "ab" * 400})
    substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=call, keypair=ALICE))
    assert getattr(chain.head.outcomes[-1], "ok", False), chain.head.outcomes[-1]
    assert ("System", "Remarked") in [(m, e) for m, e, _ in _events(substrate, chain)]
    huge = substrate.compose_call("System", "remark", {"remark": "0x" + "00" * (4 * 1024 * 1024)})
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(substrate.create_signed_extrinsic(call=huge, keypair=ALICE))
    assert exc.value.args[0]["data"] == "Transaction would exhaust the block limits"


def test_validate_transaction_api_encodes_transaction_validity(chain: MiniChain) -> None:
    from phala_agents.scale import H256, encode_compact

    rt = chain.runtime
    garbage_sig = bytes(64)
    from phala_agents.chain.frame import Call

    call = Call(pallet="System", name="remark", args={"remark": b""})
    xt = rt.encode_signed(call, signer=ALICE.public_key, signature=("Sr25519", garbage_sig), nonce=0)
    params = b"\x02" + xt + H256.encode(chain.head.hash)
    assert rt.call(chain.state(), "TaggedTransactionQueue_validate_transaction", params) == b"\x01\x00\x04"
    unsigned = encode_compact(1 + 3) + b"\x04" + rt.call_codec.encode(call)
    params = b"\x02" + unsigned + H256.encode(chain.head.hash)
    assert rt.call(chain.state(), "TaggedTransactionQueue_validate_transaction", params) == b"\x01\x01\x01"


def test_runtime_calls_decode_with_scalecodec_runtime_api_table(substrate: SubstrateInterface) -> None:
    version = substrate.runtime_call("Core", "version").value
    assert version["spec_name"] == "phala-agents-dev" and version["spec_version"] == 100
    assert ["0xdf6acb689907609b", 5] in [list(a) for a in version["apis"]]
    assert substrate.runtime_call("AccountNonceApi", "account_nonce", [ALICE.ss58_address]).value == 0
