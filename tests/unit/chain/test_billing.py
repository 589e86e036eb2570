"""Billing pallet (index 12), FRAME style: a mock runtime (``new_test_ext``) with a stand-in
AgentRegistry (only ``Agents``: owner and version), ``set_block_number`` first, ``assert_ok``,
``assert_noop`` (error and unchanged storage root), ``assert_last_event``, escrow invariants, the
unbonding timeline, pruning (``run_to_block`` runs the hooks), and the spec
(``chain/pallets/billing.md``) against the declarations."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import sr25519
from chain_harness import DictState, MiniChain, TestExternalities
from substrateinterface import SubstrateInterface

from phala_agents.chain import DevRuntime, StorageOverlay
from phala_agents.chain.frame import ZERO_WEIGHT, Call, Origin, Pallet, StorageMap, Twox64Concat, Weight
from phala_agents.chain.pallets.billing import (
    BLOCK_NUMBER_MAX,
    SETTLE_ERRORS,
    Billing,
    BillingConfig,
    BillingWeights,
    CallAuthorization,
    PruneEntry,
    authorization_message,
    receipt_id,
)
from phala_agents.chain.pallets.system import System
from phala_agents.chain.runtime import dev_genesis_config
from phala_agents.errors import DispatchError
from phala_agents.scale import (
    U32,
    U64,
    AccountId,
    Struct,
    blake2_128_concat,
    blake2_256,
    encode_compact,
    field,
    storage_prefix,
)

ED = 10**9
UNIT = 10**12
SPEC = Path(__file__).resolve().parents[3] / "chain" / "pallets" / "billing.md"


def keypair(name: str) -> tuple[bytes, bytes]:
    return sr25519.pair_from_seed(name.encode().ljust(32, b"\0"))  # type: ignore[no-any-return]


CALLER_KP, OTHER_KP = keypair("caller"), keypair("other")
CALLER, OTHER = CALLER_KP[0], OTHER_KP[0]
WORKER, OWNER = bytes([0xAA]) * 32, bytes([0xBB]) * 32
NOBODY = bytes([0xCC]) * 32  # never endowed
AGENT, AGENT_VERSION = 7, 3
GENESIS = bytes([0x45]) * 32  # frame_system's BlockHash(0) before block 1 writes the real one


class FakeRegistry(Pallet, name="AgentRegistry"):
    """Just the part of AgentRegistry that Billing reads: ``Agents`` with ``owner`` and ``version``."""

    agents = StorageMap(
        "Agents",
        Twox64Concat,
        U64,
        Struct("fake::AgentInfo", [field("owner", AccountId), field("version", U32)]),
    )

    def genesis(self, config: object) -> None:
        del config
        self.agents.insert(AGENT, {"owner": OWNER, "version": AGENT_VERSION})
        self.agents.insert(AGENT + 1, {"owner": NOBODY, "version": 1})


class BillingTestRuntime(DevRuntime):
    PALLETS = tuple(p for p in DevRuntime.PALLETS if p[0] not in ("AgentRegistry", "Billing"))


class MockExt(TestExternalities):
    """``new_test_ext()``: a runtime over an in-memory genesis state."""

    def __init__(
        self, balances: list[tuple[bytes, int]], config: BillingConfig, *, real: bool = False
    ) -> None:
        genesis: dict[str, Mapping[str, object]] = {
            "Balances": {"balances": balances},
            "Sudo": {"key": WORKER},
        }
        if real:  # the dev runtime as shipped: the real AgentRegistry (and the dev cluster key)
            genesis["Workers"] = dev_genesis_config()["Workers"]
            runtime: DevRuntime = DevRuntime(genesis_config=genesis)
        else:
            runtime = BillingTestRuntime(
                extra_pallets=[(10, FakeRegistry, None), (12, Billing, config)], genesis_config=genesis
            )
        super().__init__(runtime)
        self.billing = self.rt.pallet(Billing)

    def dispatch(self, name: str, origin: Origin, **args: object) -> None:
        self.run("Billing", name, origin, args)

    def events(self, pallet: str = "Billing") -> list[tuple[str, object]]:
        return [(e["event"], e["attributes"]) for e in self.rt.decoded_events() if e["pallet"] == pallet]  # type: ignore[misc]


@contextmanager
def new_test_ext(config: BillingConfig | None = None) -> Iterator[MockExt]:
    balances = [(CALLER, 1000 * UNIT), (OTHER, 1000 * UNIT), (WORKER, 10 * UNIT), (OWNER, 10 * UNIT)]
    ext = MockExt(balances, config or BillingConfig())
    ext.set_block_number(1)
    yield ext


# A short retention for the pruning tests: R's default receipt (expires_at_block 50, grace 100) is
# pruned at block 50 + 100 + 10 + 1 = 161.
PRUNE = BillingConfig(settled_retention=10)
PRUNE_AT = 161


def assert_ok(ext: MockExt, name: str, origin: Origin, **args: object) -> None:
    ext.dispatch(name, origin, **args)


def assert_noop(ext: MockExt, expected: str, name: str, origin: Origin, **args: object) -> None:
    """The call fails with ``expected`` ("Billing::Error" or "BadOrigin") and changes nothing."""
    ext.assert_noop(expected, lambda: ext.dispatch(name, origin, **args))


def assert_last_event(ext: MockExt, pallet: str, event: str, attrs: object) -> None:
    assert ext.last_event() == (pallet, event, attrs)


def signed(who: bytes) -> Origin:
    return Origin.signed(who)


def run_to_block(ext: MockExt, n: int) -> Weight:
    """FRAME's ``run_to_block``: each block up to ``n`` gets its number, then every pallet's
    ``on_initialize`` (in index order, as the executive runs them); returns Billing's weight at ``n``."""
    billing_weight = ZERO_WEIGHT
    for number in range(ext.rt.pallet(System).number.get() + 1, n + 1):
        ext.set_block_number(number)
        for pallet in ext.rt.pallets.values():
            weight = pallet.on_initialize(number)
            if pallet is ext.billing:
                billing_weight = weight
    return billing_weight


# --- receipts -------------------------------------------------------------------------------------


@dataclass
class R:
    """A receipt under construction; ``build`` signs it with ``signer`` (the caller by default)."""

    nonce: int
    charge: int = 10 * UNIT
    max_charge: int = 20 * UNIT
    caller: tuple[bytes, bytes] = CALLER_KP
    signer: tuple[bytes, bytes] | None = None
    worker: bytes = WORKER
    agent_id: int = AGENT
    agent_version: int = AGENT_VERSION
    genesis: bytes = GENESIS
    expires_at_block: int = 50
    children: int = 0

    def auth(self) -> dict[str, object]:
        return {
            "genesis": self.genesis,
            "agent_id": self.agent_id,
            "agent_version": self.agent_version,
            "worker": self.worker,
            "caller": self.caller[0],
            "nonce": self.nonce,
            "max_charge": self.max_charge,
            "expires_at_block": self.expires_at_block,
            "request_hash": bytes([1]) * 32,
            "parent": None,
        }

    def build(self) -> dict[str, object]:
        auth = self.auth()
        pub, secret = self.signer or self.caller
        sig = sr25519.sign((pub, secret), authorization_message(CallAuthorization.encode(auth)))
        return {
            "authorization": auth,
            "caller_signature": sig,
            "usage": {"input_tokens": 100, "output_tokens": 200, "estimated": False},
            "charge": self.charge,
            "response_hash": bytes([2]) * 32,
            "children": [bytes([3]) * 32] * self.children,
        }

    def id(self) -> bytes:
        return receipt_id(CallAuthorization.encode(self.auth()))


# --- deposit / withdraw ---------------------------------------------------------------------------


def test_deposit_reserves_and_emits() -> None:
    with new_test_ext() as ext:
        free = ext.free(CALLER)
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        assert_last_event(ext, "Billing", "Deposited", {"who": CALLER, "amount": 100 * UNIT})
        assert ext.free(CALLER) == free - 100 * UNIT
        assert ext.reserved(CALLER) == 100 * UNIT
        assert ext.billing.escrow.get(CALLER) == {"balance": 100 * UNIT, "unbonding": 0, "unlock_at": None}
        assert_ok(ext, "deposit", signed(CALLER), amount=5)
        assert ext.billing.escrow_of(CALLER) == (100 * UNIT + 5, 0)
        assert ext.billing.total_escrow.get() == 100 * UNIT + 5


def test_call_errors_are_noops() -> None:
    with new_test_ext() as ext:
        assert_noop(ext, "BadOrigin", "deposit", Origin.root(), amount=1)
        assert_noop(ext, "Billing::ZeroAmount", "deposit", signed(CALLER), amount=0)
        assert_noop(ext, "Billing::InsufficientBalance", "deposit", signed(CALLER), amount=2000 * UNIT)
        # The existential deposit stays free.
        left = ext.free(CALLER) - ED
        assert_noop(ext, "Billing::InsufficientBalance", "deposit", signed(CALLER), amount=left + 1)
        assert_noop(ext, "Billing::InsufficientBalance", "deposit", signed(NOBODY), amount=1)
        assert_noop(ext, "Billing::NoEscrow", "request_withdraw", signed(CALLER), amount=1)
        assert_noop(ext, "Billing::NoEscrow", "withdraw", signed(CALLER))
        assert_ok(ext, "deposit", signed(CALLER), amount=left - 10 * UNIT)
        assert_ok(ext, "request_withdraw", signed(CALLER), amount=left - 20 * UNIT)
        assert_noop(ext, "BadOrigin", "request_withdraw", Origin.none(), amount=1)
        assert_noop(ext, "Billing::ZeroAmount", "request_withdraw", signed(CALLER), amount=0)
        assert_noop(ext, "Billing::InsufficientEscrow", "request_withdraw", signed(CALLER), amount=11 * UNIT)
        assert_noop(ext, "Billing::StillUnbonding", "withdraw", signed(CALLER))
        ext.set_block_number(11)
        assert_ok(ext, "withdraw", signed(CALLER))
        assert_noop(ext, "Billing::NothingUnbonding", "withdraw", signed(CALLER))
        assert ext.free(CALLER) == left + ED - 10 * UNIT
        assert_noop(ext, "BadOrigin", "settle", Origin.root(), receipts=[R(nonce=1).build()])
        assert_noop(ext, "Billing::EmptyBatch", "settle", signed(WORKER), receipts=[])


def test_too_many_receipts_is_a_noop() -> None:
    with new_test_ext(BillingConfig(max_receipts_per_settle=3)) as ext:
        receipts = [R(nonce=n).build() for n in range(4)]
        assert_noop(ext, "Billing::TooManyReceipts", "settle", signed(WORKER), receipts=receipts)


def test_unbonding_timeline() -> None:
    with new_test_ext() as ext:
        free = ext.free(CALLER)
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        ext.set_block_number(5)
        assert_ok(ext, "request_withdraw", signed(CALLER), amount=30 * UNIT)
        assert_last_event(
            ext, "Billing", "WithdrawRequested", {"who": CALLER, "amount": 30 * UNIT, "unlock_at": 15}
        )
        assert ext.billing.escrow.get(CALLER) == {
            "balance": 70 * UNIT,
            "unbonding": 30 * UNIT,
            "unlock_at": 15,
        }
        ext.set_block_number(14)
        assert_noop(ext, "Billing::StillUnbonding", "withdraw", signed(CALLER))
        # A new request restarts the timer for the whole unbonding amount.
        assert_ok(ext, "request_withdraw", signed(CALLER), amount=10 * UNIT)
        ext.set_block_number(23)
        assert_noop(ext, "Billing::StillUnbonding", "withdraw", signed(CALLER))
        ext.set_block_number(24)
        assert_ok(ext, "withdraw", signed(CALLER))
        assert_last_event(ext, "Billing", "Withdrawn", {"who": CALLER, "amount": 40 * UNIT})
        assert ext.billing.escrow.get(CALLER) == {"balance": 60 * UNIT, "unbonding": 0, "unlock_at": None}
        assert ext.free(CALLER) == free - 60 * UNIT
        assert ext.reserved(CALLER) == 60 * UNIT
        assert_ok(ext, "request_withdraw", signed(CALLER), amount=60 * UNIT)
        ext.set_block_number(34)
        assert_ok(ext, "withdraw", signed(CALLER))
        assert ext.billing.escrow.get(CALLER) is None  # nothing left: the entry is removed
        assert ext.free(CALLER) == free
        assert ext.reserved(CALLER) == 0
        assert ext.billing.total_escrow.get() == 0


# --- settle ---------------------------------------------------------------------------------------


def test_settle_pays_owner_and_worker() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        owner0, worker0, caller0 = ext.free(OWNER), ext.free(WORKER), ext.free(CALLER)
        r = R(nonce=1, charge=10 * UNIT)
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build()])
        assert ext.events()[-2:] == [
            (
                "Settled",
                {
                    "receipt_id": r.id(),
                    "caller": CALLER,
                    "agent_id": AGENT,
                    "charge": 10 * UNIT,
                    "worker": WORKER,
                },
            ),
            ("BatchSettled", {"worker": WORKER, "settled": 1, "failed": 0, "already": 0}),
        ]
        assert ext.free(WORKER) == worker0 + 1 * UNIT  # WorkerShare 100 per mille
        assert ext.free(OWNER) == owner0 + 9 * UNIT
        assert ext.free(CALLER) == caller0
        assert ext.reserved(CALLER) == 90 * UNIT
        assert ext.billing.escrow_of(CALLER) == (90 * UNIT, 0)
        assert ext.billing.used_nonces.contains(CALLER, 1)
        assert ext.billing.settled.get(r.id()) == 1


def test_worker_share_rounds_down_and_zero_charge_settles() -> None:
    with new_test_ext(BillingConfig(worker_share_per_mille=333)) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        owner0, worker0 = ext.free(OWNER), ext.free(WORKER)
        assert_ok(
            ext,
            "settle",
            signed(WORKER),
            receipts=[R(nonce=1, charge=1000).build(), R(nonce=2, charge=0).build()],
        )
        assert ext.free(WORKER) - worker0 == 333
        assert ext.free(OWNER) - owner0 == 667
        assert ext.billing.used_nonces.contains(CALLER, 2)
        assert ext.events()[-1] == (
            "BatchSettled",
            {"worker": WORKER, "settled": 2, "failed": 0, "already": 0},
        )


BAD_RECEIPTS: list[tuple[str, R]] = [
    ("WrongWorker", R(nonce=1, worker=OWNER)),
    ("TooManyChildren", R(nonce=1, children=17)),
    ("WrongGenesis", R(nonce=1, genesis=bytes(32))),
    ("Expired", R(nonce=1, expires_at_block=0)),  # settled at block 101 > 0 + grace 100
    ("ChargeExceedsMax", R(nonce=1, charge=20 * UNIT + 1)),
    ("UnknownAgent", R(nonce=1, agent_id=99)),
    ("UnknownAgentVersion", R(nonce=1, agent_version=0)),
    ("UnknownAgentVersion", R(nonce=1, agent_version=AGENT_VERSION + 1)),
    ("BadSignature", R(nonce=1, signer=OTHER_KP)),
    ("InsufficientEscrow", R(nonce=1, charge=15 * UNIT)),
    ("InsufficientEscrow", R(nonce=1, caller=OTHER_KP)),  # no escrow at all
    (
        "PayoutFailed",
        R(nonce=1, agent_id=AGENT + 1, agent_version=1, charge=ED // 2, max_charge=ED),
    ),  # owner has no account
]


@pytest.mark.parametrize(
    ("reason", "receipt"), BAD_RECEIPTS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_RECEIPTS)]
)
def test_a_bad_receipt_fails_alone_and_writes_nothing(reason: str, receipt: R) -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=10 * UNIT)
        ext.set_block_number(101)
        before = ext.root()
        assert_ok(ext, "settle", signed(WORKER), receipts=[receipt.build()])
        assert ext.events()[-2:] == [
            ("SettlementFailed", {"receipt_id": receipt.id(), "reason": (reason, None)}),
            ("BatchSettled", {"worker": WORKER, "settled": 0, "failed": 1, "already": 0}),
        ]
        assert ext.root() == before  # events live in memory until finalize: the state is untouched
        assert not ext.billing.settled.contains(receipt.id())
        assert [e for e in ext.rt.decoded_events() if e["pallet"] == "Balances"][-1]["event"] == "Reserved"


def test_every_settle_error_has_a_test() -> None:
    assert {reason for reason, _ in BAD_RECEIPTS} | {"NonceUsed"} == set(SETTLE_ERRORS)


def test_nonce_reuse_with_another_authorization_fails() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        first, second = R(nonce=5, charge=UNIT), R(nonce=5, charge=UNIT, max_charge=30 * UNIT)
        assert first.id() != second.id()
        assert_ok(ext, "settle", signed(WORKER), receipts=[first.build(), second.build()])
        assert ext.events()[-2:] == [
            ("SettlementFailed", {"receipt_id": second.id(), "reason": ("NonceUsed", None)}),
            ("BatchSettled", {"worker": WORKER, "settled": 1, "failed": 1, "already": 0}),
        ]
        assert ext.billing.escrow_of(CALLER) == (99 * UNIT, 0)


def test_mixed_batch_good_receipts_settle_bad_ones_fail() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=25 * UNIT)
        batch = [
            R(nonce=1),
            R(nonce=2, signer=OTHER_KP),
            R(nonce=3),
            R(nonce=4),  # 30 UNIT asked, 5 left: fails
            R(nonce=5, charge=5 * UNIT),
        ]
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build() for r in batch])
        reasons = [
            (name, attrs["reason"][0] if name == "SettlementFailed" else None)  # type: ignore[index]
            for name, attrs in ext.events()
            if name in ("Settled", "SettlementFailed")
        ]
        assert reasons == [
            ("Settled", None),
            ("SettlementFailed", "BadSignature"),
            ("Settled", None),
            ("SettlementFailed", "InsufficientEscrow"),
            ("Settled", None),
        ]
        assert ext.billing.escrow_of(CALLER) == (0, 0)
        assert ext.billing.escrow.get(CALLER) is None
        assert ext.reserved(CALLER) == 0


def test_double_settle_changes_nothing() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        receipts = [R(nonce=n).build() for n in range(3)]
        assert_ok(ext, "settle", signed(WORKER), receipts=receipts)
        before = ext.root()
        assert_ok(ext, "settle", signed(WORKER), receipts=receipts)
        assert ext.root() == before
        assert ext.events()[-1] == (
            "BatchSettled",
            {"worker": WORKER, "settled": 0, "failed": 0, "already": 3},
        )
        assert [n for n, _ in ext.events()[-4:-1]] == ["AlreadySettled"] * 3
        # Same authorization, another charge: the same receipt id, still already settled.
        twin = R(nonce=0, charge=1)
        assert_ok(ext, "settle", signed(WORKER), receipts=[twin.build()])
        assert ext.root() == before
        assert ext.events()[-2] == ("AlreadySettled", {"receipt_id": twin.id()})


def test_settle_takes_balance_then_unbonding_until_withdrawn() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=30 * UNIT)
        assert_ok(ext, "request_withdraw", signed(CALLER), amount=20 * UNIT)
        assert_ok(ext, "settle", signed(WORKER), receipts=[R(nonce=1, charge=15 * UNIT).build()])
        assert ext.billing.escrow.get(CALLER) == {"balance": 0, "unbonding": 15 * UNIT, "unlock_at": 11}
        ext.set_block_number(11)
        assert_ok(ext, "withdraw", signed(CALLER))
        assert ext.billing.escrow.get(CALLER) is None
        assert_ok(ext, "settle", signed(WORKER), receipts=[R(nonce=2, charge=1).build()])
        assert ext.events()[-2][1]["reason"] == ("InsufficientEscrow", None)  # type: ignore[index]


def test_expiry_grace_boundary() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        ext.set_block_number(150)  # expires_at_block 50 + grace 100: still settles
        assert_ok(ext, "settle", signed(WORKER), receipts=[R(nonce=1).build()])
        ext.set_block_number(151)
        assert_ok(ext, "settle", signed(WORKER), receipts=[R(nonce=2).build()])
        assert [n for n, _ in ext.events() if n in ("Settled", "SettlementFailed")] == [
            "Settled",
            "SettlementFailed",
        ]


def test_settle_weight_is_linear_in_the_batch() -> None:
    with new_test_ext() as ext:
        weights = []
        for n in (1, 2, 10, 1000):
            info = ext.rt.call_info(Call(pallet="Billing", name="settle", args={"receipts": [{}] * n}))
            weights.append(info.weight)
            assert info.weight == BillingWeights().settle(n)
        per = weights[1].ref_time - weights[0].ref_time
        assert per == BillingWeights.settle_per_receipt.ref_time
        assert weights[3].ref_time == weights[0].ref_time + 999 * per
        assert weights[3].ref_time < ext.rt.system_config.max_extrinsic.ref_time


def test_golden_storage_keys() -> None:
    with new_test_ext(PRUNE) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=UNIT)
        key = storage_prefix("Billing", "Escrow") + blake2_128_concat(CALLER)
        assert ext.billing.escrow.key(CALLER) == key
        assert key in ext.state()
        assert storage_prefix("Billing", "TotalEscrow") in ext.state()
        assert ext.billing.settled.key(bytes(32)) == storage_prefix("Billing", "Settled") + bytes(32)
        # PruneQueue(161): twox128("Billing") ++ twox128("PruneQueue") ++ twox64(161u32) ++ 161u32,
        # computed with xxhash outside this code base.
        golden = bytes.fromhex(
            "23ea4b87df6180d81d28277b39523cd36407d8f1142d127ac818d227bd0d484befa9f374b4fad8b4a1000000"
        )
        assert ext.billing.prune_queue.key(161) == golden
        assert_ok(ext, "settle", signed(WORKER), receipts=[R(nonce=1, charge=1).build()])
        assert golden in ext.state()  # expires 50 + grace 100 + retention 10 + 1 (PRUNE config)


def test_escrow_invariants_on_random_operations() -> None:
    rng = random.Random(4321)
    with new_test_ext(BillingConfig(unbonding_period=3)) as ext:
        callers = [CALLER_KP, OTHER_KP]
        deposited = withdrawn = paid = 0
        nonce = 0
        issued: list[R] = []
        for block in range(2, 120):
            ext.set_block_number(block)
            kp = rng.choice(callers)
            who = kp[0]
            op = rng.random()
            before = ext.billing.total_escrow.get()
            if op < 0.25:
                amount = rng.randrange(0, 50 * UNIT)
                with suppress(DispatchError):
                    ext.dispatch("deposit", signed(who), amount=amount)
                    deposited += amount
            elif op < 0.4:
                with suppress(DispatchError):
                    ext.dispatch("request_withdraw", signed(who), amount=rng.randrange(0, 30 * UNIT))
            elif op < 0.5:
                with suppress(DispatchError):
                    ext.dispatch("withdraw", signed(who))
                    withdrawn += before - ext.billing.total_escrow.get()
            else:
                batch = []
                for _ in range(rng.randrange(1, 6)):
                    if issued and rng.random() < 0.2:
                        batch.append(rng.choice(issued))  # replay
                        continue
                    nonce += 1
                    mx = rng.randrange(0, 20 * UNIT)
                    r = R(
                        nonce=nonce,
                        caller=kp,
                        max_charge=mx,
                        charge=rng.choice([mx, mx // 2, mx + 1]),
                        expires_at_block=block + 5,
                    )
                    issued.append(r)
                    batch.append(r)
                ext.dispatch("settle", signed(WORKER), receipts=[r.build() for r in batch])
                settled = {
                    attrs["receipt_id"]: attrs["charge"]  # type: ignore[index]
                    for name, attrs in ext.events()[-2 * len(batch) - 1 :]
                    if name == "Settled"
                }
                for r in batch:
                    if r.id() in settled:
                        assert settled[r.id()] == r.charge <= r.max_charge
                paid += before - ext.billing.total_escrow.get()
            total = 0
            for who_, info in ext.billing.escrow.iter():
                total += info["balance"] + info["unbonding"]  # type: ignore[operator]
                assert ext.reserved(who_) >= info["balance"] + info["unbonding"]  # type: ignore[operator]
            assert total == ext.billing.total_escrow.get()
            assert deposited == total + withdrawn + paid
        settled_ids = [r.id() for r in issued if ext.billing.settled.contains(r.id())]
        assert len(settled_ids) == len(set(settled_ids)) > 0


# --- pruning (billing.md "Pruning") ---------------------------------------------------------------


def queue(ext: MockExt) -> dict[int, list[tuple[bytes, int, bytes]]]:
    return {block: [tuple(e) for e in entries] for block, entries in ext.billing.prune_queue.iter()}  # type: ignore[misc]


def used_nonces(ext: MockExt) -> set[tuple[bytes, int]]:
    """Every ``UsedNonces`` key: prefix ++ blake2_128(caller) ++ caller ++ twox64(nonce) ++ nonce."""
    prefix = storage_prefix("Billing", "UsedNonces")
    return {
        (key[48:80], int.from_bytes(key[88:96], "little")) for key in ext.state() if key.startswith(prefix)
    }


def test_settle_queues_each_settled_receipt_for_pruning() -> None:
    with new_test_ext(PRUNE) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        good, bad, later = R(nonce=1), R(nonce=2, signer=OTHER_KP), R(nonce=3, expires_at_block=60)
        assert_ok(ext, "settle", signed(WORKER), receipts=[good.build(), bad.build(), later.build()])
        assert queue(ext) == {PRUNE_AT: [(CALLER, 1, good.id())], PRUNE_AT + 10: [(CALLER, 3, later.id())]}
        # Already settled: nothing queued again (the state, queue included, is unchanged).
        before = ext.root()
        assert_ok(ext, "settle", signed(WORKER), receipts=[good.build(), later.build()])
        assert ext.root() == before


def test_pruning_happens_exactly_at_the_bucket_block() -> None:
    with new_test_ext(PRUNE) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        r = R(nonce=1)
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build()])
        assert run_to_block(ext, PRUNE_AT - 1) == BillingWeights().on_initialize(0)
        assert ext.billing.used_nonces.contains(CALLER, 1)
        assert ext.billing.settled.get(r.id()) == 1
        # Past the settle window (150) but within the retention: a retry still learns AlreadySettled,
        # and another authorization with the nonce, expiring within the retention, NonceUsed.
        before = ext.root()
        twin = R(nonce=1, expires_at_block=60)
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build(), twin.build()])
        assert ext.events()[-3:] == [
            ("AlreadySettled", {"receipt_id": r.id()}),
            ("SettlementFailed", {"receipt_id": twin.id(), "reason": ("NonceUsed", None)}),
            ("BatchSettled", {"worker": WORKER, "settled": 0, "failed": 1, "already": 1}),
        ]
        assert ext.root() == before

        assert run_to_block(ext, PRUNE_AT) == BillingWeights().on_initialize(1)
        assert not ext.billing.used_nonces.contains(CALLER, 1)
        assert not ext.billing.settled.contains(r.id())
        assert ext.billing.prune_queue.key(PRUNE_AT) not in ext.state()
        assert queue(ext) == {}

        # After pruning the receipt is refused as Expired, and nothing changes.
        before = ext.root()
        escrow = ext.billing.escrow_of(CALLER)
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build()])
        assert ext.events()[-2:] == [
            ("SettlementFailed", {"receipt_id": r.id(), "reason": ("Expired", None)}),
            ("BatchSettled", {"worker": WORKER, "settled": 0, "failed": 1, "already": 0}),
        ]
        assert ext.root() == before
        assert ext.billing.escrow_of(CALLER) == escrow
        # The documented bound: an authorization with the same nonce expiring more than
        # SettledRetention blocks after the first one settles once the first one is pruned.
        reuse = R(nonce=1, expires_at_block=61)
        assert_ok(ext, "settle", signed(WORKER), receipts=[reuse.build()])
        assert ext.events()[-2][0] == "Settled"


def test_an_empty_on_initialize_changes_nothing() -> None:
    with new_test_ext(PRUNE) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        assert_ok(ext, "settle", signed(WORKER), receipts=[R(nonce=1).build()])
        events = len(ext.rt.ext.events)
        for number in (2, PRUNE_AT - 1, PRUNE_AT + 1, BLOCK_NUMBER_MAX):
            before = ext.root()
            assert ext.billing.on_initialize(number) == BillingWeights().on_initialize(0)
            assert ext.root() == before
        assert len(ext.rt.ext.events) == events
        assert list(queue(ext)) == [PRUNE_AT]


def test_a_full_bucket_spills_into_later_blocks() -> None:
    with new_test_ext(BillingConfig(settled_retention=10, max_prune_per_block=2)) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        batch = [R(nonce=n, charge=UNIT) for n in range(5)]
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build() for r in batch])

        def items(*nonces: int) -> list[tuple[bytes, int, bytes]]:
            return [(CALLER, n, R(nonce=n, charge=UNIT).id()) for n in nonces]

        assert queue(ext) == {PRUNE_AT: items(0, 1), PRUNE_AT + 1: items(2, 3), PRUNE_AT + 2: items(4)}
        # The next batch fills PRUNE_AT + 2, then skips to + 4 and + 8 (the gap doubles).
        more = [R(nonce=n, charge=UNIT) for n in range(5, 9)]
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build() for r in more])
        assert queue(ext) == {
            PRUNE_AT: items(0, 1),
            PRUNE_AT + 1: items(2, 3),
            PRUNE_AT + 2: items(4, 5),
            PRUNE_AT + 4: items(6, 7),
            PRUNE_AT + 8: items(8),
        }
        # Spilled entries are pruned at their bucket's block, not before.
        assert run_to_block(ext, PRUNE_AT) == BillingWeights().on_initialize(2)
        assert used_nonces(ext) == {(CALLER, n) for n in range(2, 9)}
        assert run_to_block(ext, PRUNE_AT + 4) == BillingWeights().on_initialize(2)
        assert used_nonces(ext) == {(CALLER, 8)}
        run_to_block(ext, PRUNE_AT + 8)
        assert used_nonces(ext) == set()
        assert queue(ext) == {}
        assert list(ext.billing.settled.iter()) == []


def test_spilling_is_bounded_and_never_fails_a_receipt() -> None:
    with new_test_ext(BillingConfig(settled_retention=10, max_prune_per_block=1)) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        batch = [R(nonce=n, charge=UNIT) for n in range(33)]
        assert_ok(ext, "settle", signed(WORKER), receipts=[r.build() for r in batch])
        assert ext.events()[-1] == (
            "BatchSettled",
            {"worker": WORKER, "settled": 33, "failed": 0, "already": 0},
        )
        offsets = [0, *(2**i for i in range(31))]
        assert sorted(queue(ext)) == [PRUNE_AT + o for o in offsets]  # 32 buckets
        # The 33rd found no room: not queued, so its entries stay for good.
        assert all(e[1] != 32 for entries in queue(ext).values() for e in entries)
        assert ext.billing.used_nonces.contains(CALLER, 32)
        # An authorization whose prune block would pass u32::MAX is settled, not queued.
        last = BLOCK_NUMBER_MAX - 100 - 10 - 1  # pruned at u32::MAX exactly
        ext.set_block_number(last)
        edge, beyond = R(nonce=40, expires_at_block=last), R(nonce=41, expires_at_block=last + 1)
        assert_ok(ext, "settle", signed(WORKER), receipts=[edge.build(), beyond.build()])
        assert [n for n, _ in ext.events()[-3:]] == ["Settled", "Settled", "BatchSettled"]
        assert queue(ext)[BLOCK_NUMBER_MAX] == [(CALLER, 40, edge.id())]
        assert ext.billing.used_nonces.contains(CALLER, 41)


def test_prune_weight_is_linear_bounded_and_keeps_up_with_settlement() -> None:
    w = BillingWeights()
    assert w.on_initialize(0) == BillingWeights.prune_base
    step = w.on_initialize(1) - w.on_initialize(0)
    assert step == w.on_initialize(2) - w.on_initialize(1) == BillingWeights.prune_per_entry
    cfg, system = BillingConfig(), DevRuntime().system_config
    full = w.on_initialize(cfg.max_prune_per_block)
    assert full.ref_time <= system.max_block_ref_time // 20  # a full bucket: at most 5 % of a block
    # Pruning keeps up with settlement: a bucket holds what the fullest block can settle.
    assert cfg.max_prune_per_block >= system.normal_max_total.ref_time // w.settle_per_receipt.ref_time


def test_the_executive_adds_the_prune_weight_to_the_block() -> None:
    chain = MiniChain()
    rt = chain.runtime
    billing = rt.pallet(Billing)
    # Three settled receipts queued for block 2, written straight into the genesis state.
    overlay = StorageOverlay(DictState(chain.head.state))
    rt.ext.overlay = overlay
    entries = [(bytes([i]) * 32, i, blake2_256(bytes([i]))) for i in range(3)]
    for caller, nonce, rid in entries:
        billing.used_nonces.insert(caller, nonce, ())
        billing.settled.insert(rid, 0)
    bucket = encode_compact(3) + b"".join(PruneEntry.encode(e) for e in entries)
    overlay.set(billing.prune_queue.key(2), bucket)
    chain.head.state.update({k: v for k, v in overlay.changes().items() if v is not None})

    def mandatory(state: dict[bytes, bytes]) -> Weight:
        rt.ext.overlay = StorageOverlay(DictState(state))
        w = cast("dict[str, dict[str, int]]", rt.system.block_weight.get())["mandatory"]
        return Weight(w["ref_time"], w["proof_size"])

    one, two = chain.produce(), chain.produce()
    assert billing.used_nonces.key(entries[0][0], 0) in one.state
    assert mandatory(two.state) - mandatory(one.state) == (
        BillingWeights().on_initialize(3) - BillingWeights().on_initialize(0)
    )
    assert not any(k.startswith(storage_prefix("Billing", "UsedNonces")) for k in two.state)
    assert not any(k.startswith(storage_prefix("Billing", "Settled")) for k in two.state)
    assert billing.prune_queue.key(2) not in two.state


def test_pruning_keeps_the_queue_and_the_maps_in_step_on_random_operations() -> None:
    rng = random.Random(2024)
    config = BillingConfig(settlement_grace=4, settled_retention=3, max_prune_per_block=3)
    with new_test_ext(config) as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=900 * UNIT)
        issued: list[R] = []
        settled_once: set[bytes] = set()
        for block in range(2, 90):
            run_to_block(ext, block)
            batch = []
            for _ in range(rng.randrange(0, 6)):
                if issued and rng.random() < 0.3:
                    batch.append(rng.choice(issued))  # a retry: AlreadySettled, later Expired
                    continue
                expires = block + rng.randrange(0, 6)
                r = R(nonce=rng.randrange(40), charge=UNIT // 100, expires_at_block=expires)
                issued.append(r)
                batch.append(r)
            if batch:
                ext.dispatch("settle", signed(WORKER), receipts=[r.build() for r in batch])
                for name, attrs in ext.events()[-len(batch) - 1 :]:
                    if name == "Settled":
                        rid = cast(bytes, cast("dict[str, object]", attrs)["receipt_id"])
                        assert rid not in settled_once  # a receipt id settles at most once
                        settled_once.add(rid)
            buckets = queue(ext)
            queued = [e for entries in buckets.values() for e in entries]
            assert all(b > block and len(entries) <= 3 for b, entries in buckets.items())
            assert sorted((c, n) for c, n, _ in queued) == sorted(used_nonces(ext))
            settled = sorted(rid for rid, _ in ext.billing.settled.iter())
            assert sorted(rid for _, _, rid in queued) == settled
        run_to_block(ext, 200)
        assert queue(ext) == {}
        assert used_nonces(ext) == set()
        assert list(ext.billing.settled.iter()) == []
        assert len(settled_once) > 20


def test_pruning_in_the_metadata_through_substrate_interface(substrate: SubstrateInterface) -> None:
    assert substrate.get_constant("Billing", "SettledRetention").value == 14_400
    assert substrate.get_constant("Billing", "MaxPrunePerBlock").value == 4_096
    assert substrate.query("Billing", "PruneQueue", [161]).value == []


# --- the spec agrees with the declarations --------------------------------------------------------


def _spec_table(section: str) -> list[list[str]]:
    text = SPEC.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[c.strip().strip("`") for c in row.strip("|").split("|")] for row in rows[1:]]


def test_spec_matches_the_pallet() -> None:
    text = SPEC.read_text()
    storage = {row[0]: row for row in _spec_table("Storage")}
    assert set(storage) == {s.name for s in Billing.STORAGE}
    for item in Billing.STORAGE:
        hashers = storage[item.name][2]
        for attr in ("hasher", "hasher1", "hasher2"):
            h = getattr(item, attr, None)
            if h is not None:
                assert h.name in hashers, (item.name, h.name)
    calls = {int(row[0]): row[1] for row in _spec_table("Calls (origin: signed; indices never change)")}
    assert calls == {c.index: c.name for c in Billing.CALLS}
    for c in Billing.CALLS:
        if c.name != "settle":
            row = next(
                r for r in _spec_table("Calls (origin: signed; indices never change)") if r[1] == c.name
            )
            assert int(row[3].replace("_", "")) == getattr(BillingWeights(), c.name)().ref_time
    errors = re.findall(r"`(\w+)`", text.split("## Errors", 1)[1].split("\n## ", 1)[0])
    assert errors == [e.name for e in Billing.ERRORS]
    events = re.findall(r"`(\w+) \{", text.split("## Events", 1)[1].split("\n## ", 1)[0])
    assert events == [e.name for e in Billing.EVENTS]
    reasons = re.findall(r"(\w+)", text.split("SettleError       enum {", 1)[1].split("}", 1)[0])
    assert tuple(reasons) == SETTLE_ERRORS
    constants = {row[0]: int(row[2].split()[0].replace("_", "")) for row in _spec_table("Constants")}
    cfg = BillingConfig()
    values = {c.name: c.get(cfg) for c in Billing.CONSTANTS}
    assert constants == values
    assert "20_000_000 + 400_000_000 per receipt" in text
    assert BillingWeights().settle(1).ref_time == 20_000_000 + 400_000_000
    assert "`5_000_000 + 10_000_000 per pruned\n  entry`" in text
    assert BillingWeights().on_initialize(1).ref_time == 5_000_000 + 10_000_000
    assert "PruneQueue(a.expires_at_block + SettlementGrace + SettledRetention + 1)" in text


def test_malformed_signature_bytes_are_bad_signature_not_a_panic() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        r = R(nonce=1)
        zero_sig = {**r.build(), "caller_signature": bytes(64)}
        assert_ok(ext, "settle", signed(WORKER), receipts=[zero_sig])
        assert ext.events()[-2] == (
            "SettlementFailed",
            {"receipt_id": r.id(), "reason": ("BadSignature", None)},
        )


def test_settle_returns_actual_weight_already_settled_receipts_are_cheap() -> None:
    with new_test_ext() as ext:
        assert_ok(ext, "deposit", signed(CALLER), amount=100 * UNIT)
        receipts = [R(nonce=n).build() for n in range(3)]
        first = ext.rt.dispatch(
            Call(pallet="Billing", name="settle", args={"receipts": receipts}), signed(WORKER)
        )
        assert first.ok and first.post is not None
        assert first.post.actual_weight == BillingWeights().settle(3)
        again = ext.rt.dispatch(
            Call(pallet="Billing", name="settle", args={"receipts": [*receipts, R(nonce=9).build()]}),
            signed(WORKER),
        )
        assert again.ok and again.post is not None
        assert again.post.actual_weight == BillingWeights().settle_actual(1, 3)
        assert again.post.actual_weight.ref_time < BillingWeights().settle(4).ref_time


def _definition(version_tag: bytes) -> dict[str, object]:
    return {
        "description": b"",
        "model": b"smollm2",
        "prompt": {"epoch": 0, "enc": bytes(32), "ciphertext": version_tag * 8},
        "prompt_commitment": blake2_256(version_tag),
        "prices": {"per_1k_input": 10**9, "per_1k_output": 2 * 10**9, "per_mgas_code": 0},
        "defaults": {"temperature_milli": 700, "max_tokens": 256},
        "tools": [],
        "code_hash": None,
    }


def test_with_the_real_agent_registry_versions_and_the_owners_deposit() -> None:
    balances = [(CALLER, 1000 * UNIT), (WORKER, 10 * UNIT)]
    ext = MockExt(balances, BillingConfig(), real=True)
    ext.set_block_number(1)
    registry = ext.rt.pallet_named("AgentRegistry")
    # The caller owns the agent: its reserved balance holds the agent deposit and the escrow.
    register = {
        "expected_id": 0,
        "name": b"mine",
        **_definition(b"v1"),
        "access": ("Public", None),
        "allow": [],
    }
    assert ext.rt.dispatch(Call(pallet="AgentRegistry", name="register", args=register), signed(CALLER)).ok
    update = {"agent_id": 0, **_definition(b"v2")}
    assert ext.rt.dispatch(Call(pallet="AgentRegistry", name="update", args=update), signed(CALLER)).ok
    assert ext.billing.agent_owner_and_version(0) == (CALLER, 2)
    assert ext.billing.agent_owner_and_version(1) is None
    deposit = ext.reserved(CALLER)
    assert deposit > 0
    assert_ok(ext, "deposit", signed(CALLER), amount=10 * UNIT)
    batch = [R(nonce=n, agent_id=0, agent_version=n, charge=4 * UNIT) for n in (1, 2, 3)]
    worker0, caller0 = ext.free(WORKER), ext.free(CALLER)
    assert_ok(ext, "settle", signed(WORKER), receipts=[r.build() for r in batch])
    assert ext.events()[-1] == ("BatchSettled", {"worker": WORKER, "settled": 2, "failed": 1, "already": 0})
    assert ext.events()[-2][1]["reason"] == ("UnknownAgentVersion", None)  # type: ignore[index]
    assert ext.free(WORKER) == worker0 + 8 * UNIT // 10
    # The owner is the caller: its 90 % came back to its free balance; the agent deposit stays reserved.
    assert ext.free(CALLER) == caller0 + 8 * UNIT * 9 // 10
    assert ext.reserved(CALLER) == deposit + 2 * UNIT
    assert ext.billing.escrow_of(CALLER) == (2 * UNIT, 0)
    assert registry.agents.get(0)["deposit"] == deposit  # type: ignore[attr-defined]
