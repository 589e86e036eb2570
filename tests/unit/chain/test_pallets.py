"""FRAME-style pallet tests: a mock runtime (``new_test_ext``), ``set_block_number(1)`` first,
``assert_ok``, ``assert_noop`` (error and unchanged storage root), ``assert_last_event``."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from chain_harness import DictState, TestExternalities

from phala_agents.chain import DEV_ACCOUNTS, DevRuntime, StorageOverlay
from phala_agents.chain.frame import Call, Origin
from phala_agents.chain.pallets.balances import Balances
from phala_agents.chain.pallets.sudo import Sudo
from phala_agents.chain.pallets.system import System
from phala_agents.errors import BadOrigin, DispatchError, ModuleError
from phala_agents.scale import blake2_128_concat, storage_prefix, twox128

ALICE, BOB, CHARLIE = DEV_ACCOUNTS["Alice"], DEV_ACCOUNTS["Bob"], DEV_ACCOUNTS["Charlie"]
ED = 10**9
NOBODY = bytes([9]) * 32


class MockExt(TestExternalities):
    """``new_test_ext()``: a runtime over an in-memory genesis state."""

    def __init__(self, balances: list[tuple[bytes, int]] | None = None) -> None:
        genesis = None
        if balances is not None:
            genesis = {"Balances": {"balances": balances}, "Sudo": {"key": ALICE}}
        super().__init__(DevRuntime(genesis_config=genesis))

    def dispatch(self, pallet: str, name: str, origin: Origin, **args: object) -> None:
        self.run(pallet, name, origin, args)


@contextmanager
def new_test_ext(balances: list[tuple[bytes, int]] | None = None) -> Iterator[MockExt]:
    yield MockExt([(ALICE, 100 * ED), (BOB, 200 * ED), (CHARLIE, 300 * ED)] if balances is None else balances)


def assert_ok(ext: MockExt, pallet: str, name: str, origin: Origin, **args: object) -> None:
    ext.dispatch(pallet, name, origin, **args)


def assert_noop(ext: MockExt, expected: str, pallet: str, name: str, origin: Origin, **args: object) -> None:
    """The call fails with ``expected`` ("Pallet::Error" or "BadOrigin") and changes nothing."""
    ext.assert_noop(expected, lambda: ext.dispatch(pallet, name, origin, **args))


def assert_last_event(ext: MockExt, pallet: str, event: str, attrs: object) -> None:
    assert ext.last_event() == (pallet, event, attrs)


def signed(who: bytes) -> Origin:
    return Origin.signed(who)


def free(ext: MockExt, who: bytes) -> int:
    return ext.rt.pallet(Balances).free_balance(who)


def test_transfer_allow_death_moves_funds_and_emits_transfer() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        assert_ok(ext, "Balances", "transfer_allow_death", signed(ALICE), dest=("Id", BOB), value=10 * ED)
        assert free(ext, ALICE) == 90 * ED and free(ext, BOB) == 210 * ED
        assert_last_event(ext, "Balances", "Transfer", {"from": ALICE, "to": BOB, "amount": 10 * ED})


def test_transfer_to_new_account_endows_it() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        assert_ok(ext, "Balances", "transfer_allow_death", signed(ALICE), dest=("Id", NOBODY), value=2 * ED)
        names = [(e["pallet"], e["event"]) for e in ext.rt.decoded_events()]
        assert names == [("System", "NewAccount"), ("Balances", "Endowed"), ("Balances", "Transfer")]
        assert ext.rt.pallet(System).account.get(NOBODY)["providers"] == 1


def test_transfer_errors_are_noops() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        assert_noop(
            ext,
            "Balances::InsufficientBalance",
            "Balances",
            "transfer_allow_death",
            signed(ALICE),
            dest=("Id", BOB),
            value=101 * ED,
        )
        assert_noop(
            ext,
            "Balances::ExistentialDeposit",
            "Balances",
            "transfer_allow_death",
            signed(ALICE),
            dest=("Id", NOBODY),
            value=ED - 1,
        )
        assert_noop(
            ext,
            "Balances::Expendability",
            "Balances",
            "transfer_keep_alive",
            signed(ALICE),
            dest=("Id", BOB),
            value=100 * ED,
        )
        assert_noop(
            ext, "BadOrigin", "Balances", "force_set_balance", signed(ALICE), who=("Id", BOB), new_free=1
        )
        assert_noop(
            ext,
            "CannotLookup",
            "Balances",
            "transfer_allow_death",
            signed(ALICE),
            dest=("Index", 3),
            value=ED,
        )


def test_transfer_allow_death_reaps_sender_and_loses_dust() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        issuance = ext.rt.pallet(Balances).total_issuance.get()
        assert_ok(
            ext, "Balances", "transfer_allow_death", signed(ALICE), dest=("Id", BOB), value=100 * ED - 1
        )
        assert not ext.rt.pallet(System).account.contains(ALICE)
        names = [(e["pallet"], e["event"]) for e in ext.rt.decoded_events()]
        assert ("Balances", "DustLost") in names and ("System", "KilledAccount") in names
        assert ext.rt.pallet(Balances).total_issuance.get() == issuance - 1


def test_force_set_balance_and_issuance() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        bal = ext.rt.pallet(Balances)
        issuance = bal.total_issuance.get()
        assert_ok(ext, "Balances", "force_set_balance", Origin.root(), who=("Id", BOB), new_free=5 * ED)
        assert_last_event(ext, "Balances", "BalanceSet", {"who": BOB, "free": 5 * ED})
        assert bal.total_issuance.get() == issuance - 195 * ED


def test_reserve_unreserve() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        bal = ext.rt.pallet(Balances)
        bal.reserve(ALICE, 10 * ED)
        assert_last_event(ext, "Balances", "Reserved", {"who": ALICE, "amount": 10 * ED})
        assert bal.reserved_balance(ALICE) == 10 * ED and free(ext, ALICE) == 90 * ED
        assert bal.unreserve(ALICE, 20 * ED) == 10 * ED
        assert free(ext, ALICE) == 100 * ED
        with pytest.raises(ModuleError):
            bal.reserve(ALICE, 101 * ED)


def test_reserve_or_raises_the_callers_error_and_changes_nothing() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        bal = ext.rt.pallet(Balances)
        failure = ModuleError("Test", 99, "Failure", 0)
        before = ext.root()
        with pytest.raises(ModuleError) as exc:
            bal.reserve_or(ALICE, 100 * ED, failure, keep_free=ED)  # would leave less than ED free
        assert exc.value is failure
        with pytest.raises(ModuleError) as exc:
            bal.reserve_or(ALICE, 101 * ED, failure)  # more than is free
        assert exc.value is failure
        assert ext.root() == before
        bal.reserve_or(ALICE, 99 * ED, failure, keep_free=ED)
        assert bal.reserved_balance(ALICE) == 99 * ED and free(ext, ALICE) == ED


def test_repatriate_reserved_pays_the_reserve_to_dest_free() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        bal = ext.rt.pallet(Balances)
        bal.reserve(ALICE, 10 * ED)
        bal.repatriate_reserved(ALICE, BOB, 4 * ED)
        assert bal.reserved_balance(ALICE) == 6 * ED and free(ext, ALICE) == 90 * ED
        assert free(ext, BOB) == 204 * ED
        assert_last_event(ext, "Balances", "Transfer", {"from": ALICE, "to": BOB, "amount": 4 * ED})


def test_sudo_errors_and_key_change() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        inner = Call(pallet="System", name="remark", args={"remark": b"hi"})
        assert_noop(ext, "Sudo::RequireSudo", "Sudo", "sudo", signed(BOB), call=inner)
        assert_ok(ext, "Sudo", "set_key", signed(ALICE), new=("Id", BOB))
        assert_last_event(ext, "Sudo", "KeyChanged", {"old": ALICE, "new": BOB})
        assert ext.rt.pallet(Sudo).key.get() == BOB
        with pytest.raises(BadOrigin):
            ext.dispatch("System", "set_storage", signed(BOB), items=[(b"k", b"v")])


def test_sudo_inner_failure_is_reported_not_raised() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        inner = Call(
            pallet="Balances",
            name="force_transfer",
            args={"source": ("Id", ALICE), "dest": ("Id", BOB), "value": 10**30},
        )
        assert_ok(ext, "Sudo", "sudo", signed(ALICE), call=inner)
        assert_last_event(
            ext,
            "Sudo",
            "Sudid",
            {"sudo_result": ("Err", ("Module", {"index": 2, "error": b"\x02\x00\x00\x00"}))},
        )


def test_remark_with_event() -> None:
    from phala_agents.scale import blake2_256

    with new_test_ext() as ext:
        ext.set_block_number(1)
        assert_ok(ext, "System", "remark_with_event", signed(BOB), remark=b"hello")
        assert_last_event(ext, "System", "Remarked", {"sender": BOB, "hash": blake2_256(b"hello")})


def test_golden_storage_keys() -> None:
    rt = DevRuntime()
    g = rt.genesis_storage()
    account_key = storage_prefix("System", "Account") + blake2_128_concat(ALICE)
    assert account_key.hex() == (
        "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
        "de1e86a9a8c739864cf3cc5ec2bea59fd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
    )
    assert account_key in g
    issuance = storage_prefix("Balances", "TotalIssuance")
    assert issuance.hex() == "c2261276cc9d1f8598ea4b6a74b15c2f57c875e4cff74148e4628f264b974c80"
    assert issuance in g
    sudo_key = storage_prefix("Sudo", "Key")
    assert sudo_key.hex() == "5c0d1176a568c1f92944340dbfed9e9c530ebca703c85910e7164cb7d1c9e47b"
    assert g[sudo_key] == ALICE
    assert twox128(b"System").hex() == "26aa394eea5630e07c48ae0c9558cef7"


def test_weights_are_sane() -> None:
    rt = DevRuntime()
    limit = rt.system_config.max_extrinsic
    for pallet in rt.pallets.values():
        for c in pallet.CALLS:
            static = c.static_weight(pallet)  # argument-dependent ones: tests/unit/chain/test_weights.py
            if static is not None:
                assert 0 < static.ref_time < limit.ref_time, (pallet.NAME, c.name)


def test_balances_invariant_after_random_transfers() -> None:
    accounts = [bytes([i]) * 32 for i in range(1, 9)]
    rng = random.Random(1234)
    with new_test_ext([(a, rng.randrange(ED, 50 * ED)) for a in accounts]) as ext:
        ext.set_block_number(1)
        bal = ext.rt.pallet(Balances)
        system = ext.rt.pallet(System)
        for _ in range(300):
            src, dst = rng.choice(accounts), rng.choice(accounts)
            value = rng.choice([0, ED - 1, ED, rng.randrange(0, 60 * ED)])
            name = rng.choice(["transfer_allow_death", "transfer_keep_alive"])
            with suppress(DispatchError):
                ext.dispatch("Balances", name, signed(src), dest=("Id", dst), value=value)
        total = 0
        for _, info in system.account.iter():
            data = info["data"]
            assert data["free"] == 0 or data["free"] >= ED or data["reserved"] > 0  # type: ignore[index]
            total += data["free"] + data["reserved"]  # type: ignore[index]
        assert total == bal.total_issuance.get()


def test_a_pallet_bug_fails_the_call_as_other_and_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from structlog.testing import capture_logs

    with new_test_ext() as ext:
        ext.set_block_number(1)
        system = ext.rt.pallet(System)

        def broken(origin: Origin, remark: bytes) -> None:
            system.number.put(99)
            raise ZeroDivisionError

        ext.rt._handlers[(0, 0)] = broken
        before = ext.root()
        with capture_logs() as logs:
            outcome = ext.rt.dispatch(
                Call(pallet="System", name="remark", args={"remark": b"x"}), signed(ALICE)
            )
        assert not outcome.ok and ext.rt.dispatch_error_value(outcome.error) == ("Other", None)  # type: ignore[arg-type]
        assert ext.root() == before
        assert logs[0]["event"] == "dispatch_panicked" and logs[0]["error_type"] == "ZeroDivisionError"


def test_metadata_matches_the_pallet_declarations() -> None:
    from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
    from scalecodec.type_registry import load_type_registry_preset

    rt = DevRuntime()
    rc = RuntimeConfigurationObject()
    rc.update_type_registry(load_type_registry_preset("core"))
    m = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(rt.metadata()))
    m.decode()
    types = {t["id"]: t["type"] for t in m.value[1]["V14"]["types"]["types"]}
    for meta in m.value[1]["V14"]["pallets"]:
        pallet = rt.pallets[meta["index"]]
        assert meta["name"] == pallet.NAME
        storage = meta["storage"]["entries"] if meta["storage"] else []
        assert [e["name"] for e in storage] == [s.name for s in pallet.STORAGE]
        for entry, item in zip(storage, pallet.STORAGE, strict=True):
            assert entry["modifier"] == item.query.modifier
            assert entry["documentation"] == list(item.docs)
            if "Map" in entry["type"]:
                hashers = entry["type"]["Map"]["hashers"]
                wanted = [getattr(item, "hasher", None) or item.hasher1, getattr(item, "hasher2", None)]  # type: ignore[attr-defined]
                assert hashers == [h.name for h in wanted if h is not None]
        if pallet.CALLS:
            variants = types[meta["calls"]["ty"]]["def"]["variant"]["variants"]
            assert [(v["name"], v["index"], [f["name"] for f in v["fields"]]) for v in variants] == [
                (c.name, c.index, [a.name for a in c.args]) for c in pallet.CALLS
            ]
        else:
            assert meta["calls"] is None
        if pallet.EVENTS:
            variants = types[meta["event"]["ty"]]["def"]["variant"]["variants"]
            assert [(v["name"], v["index"]) for v in variants] == [
                (e.name, i) for i, e in enumerate(pallet.EVENTS)
            ]
        if pallet.ERRORS:
            variants = types[meta["error"]["ty"]]["def"]["variant"]["variants"]
            assert [(v["name"], v["index"], v["docs"]) for v in variants] == [
                (e.name, i, list(e.docs)) for i, e in enumerate(pallet.ERRORS)
            ]
        assert [c["name"] for c in meta["constants"]] == [c.name for c in pallet.CONSTANTS]


def test_issuance_invariant_holds_through_blocks_with_fees() -> None:
    from chain_harness import MiniChain
    from substrateinterface import Keypair

    chain = MiniChain()
    rt = chain.runtime
    pairs = [Keypair.create_from_uri(f"//{n}") for n in ("Alice", "Bob", "Charlie", "Dave")]
    nonces = dict.fromkeys(range(4), 0)
    rng = random.Random(7)
    for _ in range(4):
        xts = []
        for _ in range(10):
            i, j = rng.randrange(4), rng.randrange(4)
            value = rng.choice([0, ED - 1, 10 * ED, 2**62])
            name = rng.choice(["transfer_allow_death", "transfer_keep_alive"])
            call = Call(
                pallet="Balances", name=name, args={"dest": ("Id", pairs[j].public_key), "value": value}
            )
            cb = rt.call_codec.encode(call)
            payload = rt.signing_payload(
                cb, rt.extra_bytes(nonce=nonces[i], tip=3), chain.genesis_hash, chain.genesis_hash
            )
            xts.append(
                rt.encode_signed(
                    call,
                    signer=pairs[i].public_key,
                    signature=("Sr25519", pairs[i].sign(payload)),
                    nonce=nonces[i],
                    tip=3,
                )
            )
            nonces[i] += 1
        chain.produce(xts)
    ext = MockExt.__new__(MockExt)
    ext.rt, ext.base, ext.overlay = rt, chain.head.state, StorageOverlay(DictState(chain.head.state))
    rt.ext.overlay = ext.overlay
    total = sum(
        info["data"]["free"] + info["data"]["reserved"] for _, info in rt.pallet(System).account.iter()
    )  # type: ignore[index]
    assert total == rt.pallet(Balances).total_issuance.get()
    failed = [o for b in chain.blocks for o in b.outcomes if getattr(o, "ok", True) is False]
    assert failed, "the random mix should include failing transfers (fees still paid)"


def test_standard_pallets_spec_is_in_sync(repo_root: object) -> None:
    from pathlib import Path

    from phala_agents.chain.frame import pallets_markdown

    path = Path(str(repo_root)) / "chain" / "pallets" / "standard.md"
    wanted = pallets_markdown(
        DevRuntime(), range(10), "Standard pallets of the dev runtime (generated; see docs/runtime.md)"
    )
    assert path.read_text() == wanted, "regenerate chain/pallets/standard.md with frame.pallets_markdown"


def test_transfer_all_force_transfer_burn_and_force_unreserve() -> None:
    with new_test_ext() as ext:
        ext.set_block_number(1)
        bal = ext.rt.pallet(Balances)
        assert_ok(ext, "Balances", "transfer_all", signed(ALICE), dest=("Id", BOB), keep_alive=True)
        assert free(ext, ALICE) == ED and free(ext, BOB) == 299 * ED
        assert_ok(ext, "Balances", "transfer_all", signed(ALICE), dest=("Id", BOB), keep_alive=False)
        assert not ext.rt.pallet(System).account.contains(ALICE)
        assert_ok(
            ext,
            "Balances",
            "force_transfer",
            Origin.root(),
            source=("Id", BOB),
            dest=("Id", CHARLIE),
            value=ED,
        )
        assert_last_event(ext, "Balances", "Transfer", {"from": BOB, "to": CHARLIE, "amount": ED})
        issuance = bal.total_issuance.get()
        assert_ok(ext, "Balances", "burn", signed(CHARLIE), value=ED, keep_alive=True)
        assert bal.total_issuance.get() == issuance - ED
        bal.reserve(CHARLIE, 5 * ED)
        assert_ok(ext, "Balances", "force_unreserve", Origin.root(), who=("Id", CHARLIE), amount=2 * ED)
        assert bal.reserved_balance(CHARLIE) == 3 * ED


def test_timestamp_inherent_rules() -> None:
    from chain_harness import MiniChain

    from phala_agents.chain import BlockContext, TransactionSource
    from phala_agents.errors import InvalidTransaction

    chain = MiniChain()
    chain.produce()
    rt = chain.runtime
    overlay = StorageOverlay(chain.state())
    ctx = BlockContext(number=2, parent_hash=chain.head.hash, timestamp_ms=1)  # a clock that went back
    rt.initialize_block(overlay, ctx)
    (inherent,) = rt.inherent_extrinsics(overlay, ctx)
    assert rt.apply_extrinsic(overlay, inherent).ok
    with pytest.raises(InvalidTransaction) as exc:
        rt.apply_extrinsic(overlay, inherent)  # a second set in one block
    assert exc.value.reason == "BadMandatory"
    rt.finalize_block(overlay)
    now = rt.decode_extrinsic(inherent).call.args["now"]
    assert now == chain.clock + 1  # never behind the previous block + MinimumPeriod
    with pytest.raises(InvalidTransaction) as exc:
        rt.validate_transaction(chain.state(), inherent, TransactionSource.EXTERNAL, chain.head.hash)
    assert exc.value.reason == "MandatoryValidation"


def test_query_fee_details_splits_the_fee() -> None:
    from chain_harness import MiniChain
    from substrateinterface import Keypair

    from phala_agents.chain.frame._types import FeeDetails, RuntimeDispatchInfo

    chain = MiniChain()
    rt = chain.runtime
    alice = Keypair.create_from_uri("//Alice")
    call = Call(pallet="Balances", name="transfer_keep_alive", args={"dest": ("Id", BOB), "value": 10**12})
    cb = rt.call_codec.encode(call)
    payload = rt.signing_payload(cb, rt.extra_bytes(nonce=0, tip=9), chain.genesis_hash, chain.genesis_hash)
    xt = rt.encode_signed(
        call, signer=alice.public_key, signature=("Sr25519", alice.sign(payload)), nonce=0, tip=9
    )
    length = len(xt).to_bytes(4, "little")
    details = FeeDetails.decode_all(
        rt.call(chain.state(), "TransactionPaymentApi_query_fee_details", xt + length)
    )
    info = RuntimeDispatchInfo.decode_all(
        rt.call(chain.state(), "TransactionPaymentApi_query_info", xt + length)
    )
    inclusion = details["inclusion_fee"]
    assert isinstance(inclusion, dict) and details["tip"] == 9
    assert (
        info["partial_fee"] == inclusion["base_fee"] + inclusion["len_fee"] + inclusion["adjusted_weight_fee"]
    )
    assert inclusion["len_fee"] == len(xt) * 10**6
    block = chain.produce([xt])
    assert block.outcomes[-1].fee == info["partial_fee"] + 9  # type: ignore[union-attr]


def test_dispatch_error_text_names_the_variant_like_clients_do() -> None:
    from phala_agents.chain.frame import CannotLookup, DispatchPanic, FrameRuntime

    assert FrameRuntime.dispatch_error_text(CannotLookup("x")) == "CannotLookup"  # was "CannotLookup::None"
    assert FrameRuntime.dispatch_error_text(DispatchPanic("x")) == "Other"
    assert FrameRuntime.dispatch_error_text(DispatchError("x")) == "Other"
    assert FrameRuntime.dispatch_error_text(BadOrigin("x")) == "BadOrigin"
