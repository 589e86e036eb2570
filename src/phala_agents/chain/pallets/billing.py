"""``Billing`` (index 12): callers' escrow and the batched settlement of signed call receipts.

The normative spec is ``chain/pallets/billing.md``. Escrow is the caller's reserved balance
(``Balances::reserve``), tracked per caller in ``Escrow``; ``settle`` pays receipts out of it to the
agent owner and the worker. Each receipt runs in its own storage layer so that a bad one fails
alone (``SettlementFailed`` with a ``SettleError`` reason) and the batch goes on.

Settled receipts are pruned (billing.md "Pruning"): ``settle`` queues each one in ``PruneQueue``
under the first block at which it can no longer be settled plus ``SettledRetention``, and
``on_initialize`` of that block removes its ``UsedNonces`` and ``Settled`` entries, so neither map
grows forever.

The types here are the on-chain declarations; the worker keeps its own codecs of the same types
(``phala_agents.worker.authorization``, the worker layer cannot import ``chain``) and a test checks
that both encode byte for byte alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import ClassVar, Protocol, cast

import sr25519

from phala_agents.chain.frame import (
    Blake2_128Concat,
    Identity,
    OptionQuery,
    Origin,
    Pallet,
    PostInfo,
    StorageDoubleMap,
    StorageMap,
    StorageValue,
    Twox64Concat,
    ValueQuery,
    Weight,
    arg,
    call,
    constant,
    ensure_signed,
    error,
    event,
    weight_info,
)
from phala_agents.chain.frame._types import Balance, BlockNumber
from phala_agents.chain.pallets.balances import Balances
from phala_agents.chain.pallets.system import System
from phala_agents.errors import DispatchError
from phala_agents.scale import (
    H256,
    U32,
    U64,
    AccountId,
    Bool,
    BoundedVec,
    Compact,
    FixedBytes,
    Option,
    Struct,
    Tuple,
    Unit,
    Vec,
    blake2_256,
    decode_compact,
    encode_compact,
    field,
    unit_enum,
)

# --- types (billing.md "Types") -------------------------------------------------------------------

_CRATE = "pallet_billing"
AgentId = U64
ReceiptId = H256

CallAuthorization = Struct(
    f"{_CRATE}::types::CallAuthorization",
    [
        field("genesis", H256, "H256"),
        field("agent_id", AgentId, "AgentId"),
        field("agent_version", U32, "u32"),
        field("worker", AccountId, "T::AccountId"),
        field("caller", AccountId, "T::AccountId"),
        field("nonce", U64, "u64"),
        field("max_charge", Balance, "BalanceOf<T>"),
        field("expires_at_block", BlockNumber, "BlockNumberFor<T>"),
        field("request_hash", H256, "H256"),
        field("parent", Option(ReceiptId), "Option<ReceiptId>"),
    ],
    params=(("T", None),),
    docs=("What a caller signs to let one worker serve one call of one agent version.",),
)
UsageCodec = Struct(
    f"{_CRATE}::types::Usage",
    [
        field("input_tokens", U32, "u32"),
        field("output_tokens", U32, "u32"),
        field("estimated", Bool, "bool"),
    ],
    docs=("Tokens a call used; `estimated` when counted by the worker, not reported upstream.",),
)
Receipt = Struct(
    f"{_CRATE}::types::Receipt",
    [
        field("authorization", CallAuthorization, "CallAuthorization<T>"),
        field("caller_signature", FixedBytes(64), "[u8; 64]"),
        field("usage", UsageCodec, "Usage"),
        field("charge", Balance, "BalanceOf<T>"),
        field("response_hash", H256, "H256"),
        field("children", Vec(ReceiptId), "BoundedVec<ReceiptId, T::MaxChildren>"),
    ],
    params=(("T", None),),
    docs=("A served call: the caller's signed authorization, what it used and what it costs.",),
)
EscrowInfo = Struct(
    f"{_CRATE}::types::EscrowInfo",
    [
        field("balance", Balance, "BalanceOf<T>"),
        field("unbonding", Balance, "BalanceOf<T>"),
        field("unlock_at", Option(BlockNumber), "Option<BlockNumberFor<T>>"),
    ],
    params=(("T", None),),
    docs=("A caller's escrow: spendable, unbonding, and when the unbonding part unlocks.",),
)
SETTLE_ERRORS: tuple[str, ...] = (
    "WrongWorker",
    "TooManyChildren",
    "WrongGenesis",
    "Expired",
    "NonceUsed",
    "ChargeExceedsMax",
    "UnknownAgent",
    "UnknownAgentVersion",
    "BadSignature",
    "InsufficientEscrow",
    "PayoutFailed",
)
SettleError = unit_enum(
    f"{_CRATE}::types::SettleError",
    SETTLE_ERRORS,
    docs=("Why one receipt of a batch was not settled.",),
)
# One `PruneQueue` item: what `on_initialize` removes (`UsedNonces(caller, nonce)`, `Settled(id)`).
PruneEntry = Tuple(AccountId, U64, ReceiptId)
BLOCK_NUMBER_MAX = 2**32 - 1  # BlockNumber is u32
# Where a full `PruneQueue` bucket spills: the next block, then doubling gaps (32 buckets at most).
_SPILL_OFFSETS = (0, *(2**i for i in range(31)))

# The signed messages (billing.md "Signatures"): domain-separated and wrapped like a wallet's signRaw.
AUTHORIZATION_DOMAIN = b"phala-agents/call/v1"
RECEIPT_DOMAIN = b"phala-agents/receipt/v1"
_WRAP_OPEN, _WRAP_CLOSE = b"<Bytes>", b"</Bytes>"


def _sr25519_ok(signature: bytes, message: bytes, public: bytes) -> bool:
    """``sr25519.verify``, with malformed signatures or keys (which make it raise) as ``False``."""
    try:
        return bool(sr25519.verify(signature, message, public))
    except ValueError:
        return False


def authorization_message(encoded_authorization: bytes) -> bytes:
    """The exact bytes a caller signs for a SCALE-encoded ``CallAuthorization``."""
    return _WRAP_OPEN + AUTHORIZATION_DOMAIN + encoded_authorization + _WRAP_CLOSE


def receipt_id(encoded_authorization: bytes) -> bytes:
    """``ReceiptId = blake2_256(SCALE(CallAuthorization))``."""
    return blake2_256(encoded_authorization)


# --- config and weights ---------------------------------------------------------------------------


class BillingWeightInfo(Protocol):
    """``pallet_billing::WeightInfo``: the declared weight of each call, and what ``settle``
    really used (its ``PostInfo``)."""

    def deposit(self) -> Weight: ...
    def request_withdraw(self) -> Weight: ...
    def withdraw(self) -> Weight: ...
    def settle(self, receipts: int) -> Weight: ...
    def settle_actual(self, processed: int, already: int) -> Weight: ...
    def on_initialize(self, pruned: int) -> Weight: ...


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class BillingWeights:
    """The default ``BillingWeightInfo``. ``settle`` is linear in the batch: the per-receipt part
    covers one sr25519 verification, four storage reads and writes, two transfers and queueing the
    receipt for pruning, measured by ``bench/bench_settlement.py`` on the Python runtime (about
    160 µs; queueing adds a few µs, and about 160 µs at worst, when each receipt of a batch goes
    to another nearly full ``PruneQueue`` bucket, which is copied). Proof sizes: one account read
    (3_593 bytes) for the escrow calls.

    ``on_initialize`` is linear in the entries it prunes (at most ``MaxPrunePerBlock``): the base
    is one ``PruneQueue`` lookup (about 2 µs measured on the Python runtime), each entry its share
    of decoding the bucket and two removals (about 3.6 µs), declared with ``settle``'s headroom.
    Proof sizes: the bucket's key (47 bytes) and, per entry, its 72 bytes plus the ``UsedNonces``
    key (96) and the ``Settled`` key and value (68)."""

    # The measured parts of `settle` (bench/bench_settlement.py reads `settle_per_receipt`).
    settle_base: ClassVar[Weight] = Weight(20_000_000, 0)
    settle_per_receipt: ClassVar[Weight] = Weight(400_000_000, 10_000)
    settle_already: ClassVar[Weight] = Weight(50_000_000, 100)  # one `Settled` lookup
    # The measured parts of `on_initialize` (an empty block pays `prune_base` only).
    prune_base: ClassVar[Weight] = Weight(5_000_000, 47)
    prune_per_entry: ClassVar[Weight] = Weight(10_000_000, 236)

    def deposit(self) -> Weight:
        return Weight(60_000_000, 3_593)

    def request_withdraw(self) -> Weight:
        return Weight(40_000_000, 3_593)

    def withdraw(self) -> Weight:
        return Weight(60_000_000, 3_593)

    def settle(self, receipts: int) -> Weight:
        return self.settle_actual(receipts, 0)

    def settle_actual(self, processed: int, already: int) -> Weight:
        """What a batch really used: receipts already settled cost one lookup, not a settlement."""
        per, dup = self.settle_per_receipt, self.settle_already
        return self.settle_base + Weight(
            per.ref_time * processed + dup.ref_time * already,
            per.proof_size * processed + dup.proof_size * already,
        )

    def on_initialize(self, pruned: int) -> Weight:
        """The hook: look up this block's ``PruneQueue`` bucket, prune its ``pruned`` entries."""
        per = self.prune_per_entry
        return self.prune_base + Weight(per.ref_time * pruned, per.proof_size * pruned)


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingConfig:
    unbonding_period: int = 10
    settlement_grace: int = 100
    max_receipts_per_settle: int = 1_000
    max_children: int = 16
    worker_share_per_mille: int = 100
    # How long after a receipt's settle window closes its `Settled` entry still answers
    # `AlreadySettled` rather than `Expired`: a worker that crashed mid-settlement and resubmits
    # within that time learns its receipt landed; later it sees `Expired` for a receipt that may
    # have been paid. 14_400 blocks is a day at Substrate's usual 6 s (longer in wall time on an
    # instant-seal dev node, where blocks come with transactions): long enough for an operator
    # to bring a worker back, short enough that the maps hold about a day of receipts.
    settled_retention: int = 14_400
    # At least the receipts a block can settle (75 % of 2 s / 400 µs = 3_750), so that pruning
    # keeps up with settlement at full blocks; a full bucket is 4_096 x 10 µs = 41 ms of weight
    # (2 % of a block) and 295 KB.
    max_prune_per_block: int = 4_096
    weights: BillingWeightInfo = dc_field(default_factory=BillingWeights)

    def __post_init__(self) -> None:
        if not 0 <= self.worker_share_per_mille <= 1000:
            raise ValueError(f"worker_share_per_mille is {self.worker_share_per_mille}, wanted 0..=1000")
        if self.max_prune_per_block < 1:
            raise ValueError(f"max_prune_per_block is {self.max_prune_per_block}, wanted at least 1")


_ACCOUNT = "T::AccountId"
_BALANCE = "BalanceOf<T>"
_AMOUNT = arg("amount", Compact(Balance), _BALANCE)
# The bound is the Config's `max_prune_per_block`, which the pallet enforces itself (a test runtime
# may pick another one); the number here only names it in the type.
PruneBucket: BoundedVec[list[tuple[object, ...]]] = BoundedVec(
    PruneEntry, BillingConfig().max_prune_per_block, bound="T::MaxPrunePerBlock", enforce=False
)


class _ReceiptFailed(Exception):
    """One receipt's reason (a ``SettleError`` variant name); internal to ``settle``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Billing(Pallet, name="Billing"):
    """Callers' escrow and the settlement of worker-signed call receipts."""

    escrow = StorageMap(
        "Escrow",
        Blake2_128Concat,
        AccountId,
        EscrowInfo,
        query=OptionQuery,
        docs=" Each caller's escrow (held as reserved balance).",
    )
    used_nonces = StorageDoubleMap(
        "UsedNonces",
        Blake2_128Concat,
        AccountId,
        Twox64Concat,
        U64,
        Unit,
        query=OptionQuery,
        docs=" (caller, nonce) pairs of settled authorizations (replay protection).",
    )
    settled = StorageMap(
        "Settled",
        Identity,
        ReceiptId,
        BlockNumber,
        query=OptionQuery,
        docs=" Settled receipt ids and the block that settled them (idempotence).",
    )
    total_escrow = StorageValue(
        "TotalEscrow",
        Balance,
        query=ValueQuery,
        docs=" The sum of every escrow's balance and unbonding.",
    )
    prune_queue = StorageMap(
        "PruneQueue",
        Twox64Concat,
        BlockNumber,
        PruneBucket,
        query=ValueQuery,
        docs=" Settled receipts whose `UsedNonces` and `Settled` entries `on_initialize` removes at the\n"
        " key's block: `expires_at_block + SettlementGrace + SettledRetention + 1`, or a later block\n"
        " when that one's bucket was full.",
    )

    EVENTS = (
        event(
            "Deposited",
            field("who", AccountId, _ACCOUNT),
            field("amount", Balance, _BALANCE),
            docs="A caller moved funds into its escrow.",
        ),
        event(
            "WithdrawRequested",
            field("who", AccountId, _ACCOUNT),
            field("amount", Balance, _BALANCE),
            field("unlock_at", BlockNumber, "BlockNumberFor<T>"),
            docs="Escrow started unbonding; settlement may still take it until it is withdrawn.",
        ),
        event(
            "Withdrawn",
            field("who", AccountId, _ACCOUNT),
            field("amount", Balance, _BALANCE),
            docs="Unbonded escrow went back to the caller's free balance.",
        ),
        event(
            "Settled",
            field("receipt_id", ReceiptId, "ReceiptId"),
            field("caller", AccountId, _ACCOUNT),
            field("agent_id", AgentId, "AgentId"),
            field("charge", Balance, _BALANCE),
            field("worker", AccountId, _ACCOUNT),
            docs="A receipt was paid from the caller's escrow to the agent owner and the worker.",
        ),
        event(
            "SettlementFailed",
            field("receipt_id", ReceiptId, "ReceiptId"),
            field("reason", SettleError, "SettleError"),
            docs="A receipt of a batch was refused; nothing of it was written.",
        ),
        event(
            "AlreadySettled",
            field("receipt_id", ReceiptId, "ReceiptId"),
            docs="A receipt of a batch had been settled before; nothing changed.",
        ),
        event(
            "BatchSettled",
            field("worker", AccountId, _ACCOUNT),
            field("settled", U32, "u32"),
            field("failed", U32, "u32"),
            field("already", U32, "u32"),
            docs="A settle batch finished: how many receipts settled, failed, were already settled.",
        ),
    )
    ERRORS = (
        error("ZeroAmount", "The amount is zero."),
        error("InsufficientBalance", "The free balance cannot cover the deposit."),
        error("NoEscrow", "The account has no escrow."),
        error("InsufficientEscrow", "The escrow balance is below the amount."),
        error("NothingUnbonding", "No escrow is unbonding."),
        error("StillUnbonding", "The unbonding escrow has not unlocked yet."),
        error("EmptyBatch", "A settle batch holds no receipt."),
        error("TooManyReceipts", "A settle batch holds more than `MaxReceiptsPerSettle` receipts."),
    )
    CONSTANTS = (
        constant(
            "UnbondingPeriod",
            BlockNumber,
            "unbonding_period",
            " Blocks between `request_withdraw` and the earliest `withdraw`.",
        ),
        constant(
            "SettlementGrace",
            BlockNumber,
            "settlement_grace",
            " Blocks after `expires_at_block` during which a receipt may still be settled.",
        ),
        constant(
            "MaxReceiptsPerSettle",
            U32,
            "max_receipts_per_settle",
            " The most receipts one `settle` call takes.",
        ),
        constant(
            "MaxChildren",
            U32,
            "max_children",
            " The most child receipt ids one receipt lists.",
        ),
        constant(
            "WorkerShare",
            U32,
            "worker_share_per_mille",
            " Per mille of each charge paid to the worker; the rest goes to the agent owner.",
        ),
        constant(
            "SettledRetention",
            BlockNumber,
            "settled_retention",
            " Blocks after a receipt's settle window closes during which it still answers\n"
            " `AlreadySettled` (a worker's late retry); then its `UsedNonces` and `Settled` entries are\n"
            " pruned and it answers `Expired`.",
        ),
        constant(
            "MaxPrunePerBlock",
            U32,
            "max_prune_per_block",
            " The most settled receipts `on_initialize` prunes in one block (a `PruneQueue` bucket).",
        ),
    )

    config: BillingConfig

    @property
    def system(self) -> System:
        return self.runtime.pallet(System)

    @property
    def balances(self) -> Balances:
        return self.runtime.pallet(Balances)

    # --- calls ----------------------------------------------------------------------------------------

    @call(index=0, weight=weight_info("deposit"), args=[_AMOUNT])
    def deposit(self, origin: Origin, amount: int) -> None:
        """Move `amount` of free balance into the caller's escrow (reserved)."""
        who = ensure_signed(origin)
        if amount == 0:
            raise self.error("ZeroAmount")
        # Keep the existential deposit free: an account living on reserves alone would be reaped
        # (dust lost, nonce reset) when settlement drains the last of its escrow.
        ed = self.balances.config.existential_deposit
        self.balances.reserve_or(who, amount, self.error("InsufficientBalance"), keep_free=ed)
        info = self.escrow.get(who) or {"balance": 0, "unbonding": 0, "unlock_at": None}
        info["balance"] = cast(int, info["balance"]) + amount
        self.escrow.insert(who, info)
        self.total_escrow.put(self.total_escrow.get() + amount)
        self.deposit_event("Deposited", {"who": who, "amount": amount})

    @call(index=1, weight=weight_info("request_withdraw"), args=[_AMOUNT])
    def request_withdraw(self, origin: Origin, amount: int) -> None:
        """Start unbonding `amount` of escrow; it unlocks after `UnbondingPeriod` blocks and
        settlement may still take it meanwhile. A new request restarts the timer."""
        who = ensure_signed(origin)
        if amount == 0:
            raise self.error("ZeroAmount")
        info = self._escrow_or_fail(who)
        balance = cast(int, info["balance"])
        if amount > balance:
            raise self.error("InsufficientEscrow")
        unlock_at = self.system.number.get() + self.config.unbonding_period
        info["balance"] = balance - amount
        info["unbonding"] = cast(int, info["unbonding"]) + amount
        info["unlock_at"] = unlock_at
        self.escrow.insert(who, info)
        self.deposit_event("WithdrawRequested", {"who": who, "amount": amount, "unlock_at": unlock_at})

    @call(index=2, weight=weight_info("withdraw"))
    def withdraw(self, origin: Origin) -> None:
        """Return the unlocked unbonding escrow to the caller's free balance."""
        who = ensure_signed(origin)
        info = self._escrow_or_fail(who)
        unbonding = cast(int, info["unbonding"])
        unlock_at = cast("int | None", info["unlock_at"])
        if unbonding == 0:
            raise self.error("NothingUnbonding")
        if unlock_at is not None and self.system.number.get() < unlock_at:
            raise self.error("StillUnbonding")
        self.balances.unreserve(who, unbonding)
        info["unbonding"] = 0
        info["unlock_at"] = None
        self._store_escrow(who, info)
        self.total_escrow.put(self.total_escrow.get() - unbonding)
        self.deposit_event("Withdrawn", {"who": who, "amount": unbonding})

    @call(
        index=3,
        weight=weight_info("settle", "receipts"),
        args=[arg("receipts", Vec(Receipt), "BoundedVec<Receipt<T>, T::MaxReceiptsPerSettle>")],
    )
    def settle(self, origin: Origin, receipts: list[dict[str, object]]) -> PostInfo:
        """Settle a batch of receipts signed by their callers; each one fails alone."""
        worker = ensure_signed(origin)
        if not receipts:
            raise self.error("EmptyBatch")
        if len(receipts) > self.config.max_receipts_per_settle:
            raise self.error("TooManyReceipts")
        ext = self.runtime.ext
        overlay = ext.current()
        now = self.system.number.get()
        genesis = self.system.block_hash.get(0)
        counts = {"settled": 0, "failed": 0, "already": 0}
        prune: dict[int, list[bytes]] = {}  # block -> encoded PruneEntry items, in settle order
        for receipt in receipts:
            auth = cast(dict[str, object], receipt["authorization"])
            encoded_auth = CallAuthorization.encode(auth)
            rid = receipt_id(encoded_auth)
            if self.settled.contains(rid):
                counts["already"] += 1
                self.deposit_event("AlreadySettled", {"receipt_id": rid})
                continue
            events = ext.events
            mark = len(events)
            overlay.start_transaction()
            try:
                self._settle_one(worker, receipt, auth, encoded_auth, rid, now, genesis)
            except _ReceiptFailed as failed:
                overlay.rollback_transaction()
                del events[mark:]
                counts["failed"] += 1
                self.deposit_event("SettlementFailed", {"receipt_id": rid, "reason": (failed.reason, None)})
                continue
            except BaseException:
                overlay.rollback_transaction()
                del events[mark:]
                raise
            overlay.commit_transaction()
            counts["settled"] += 1
            caller, nonce = auth["caller"], auth["nonce"]
            prune_at = self._prune_block(cast(int, auth["expires_at_block"]))
            prune.setdefault(prune_at, []).append(PruneEntry.encode((caller, nonce, rid)))
        for block, entries in prune.items():
            self._queue_for_pruning(block, entries)
        self.deposit_event("BatchSettled", {"worker": worker, **counts})
        processed = counts["settled"] + counts["failed"]
        return PostInfo(actual_weight=self.config.weights.settle_actual(processed, counts["already"]))

    # --- settlement of one receipt -------------------------------------------------------------------

    def _settle_one(  # noqa: PLR0917 - the values settle already computed for the batch
        self,
        worker: bytes,
        receipt: Mapping[str, object],
        auth: Mapping[str, object],
        encoded_auth: bytes,
        rid: bytes,
        now: int,
        genesis: bytes,
    ) -> None:
        caller = cast(bytes, auth["caller"])
        nonce = cast(int, auth["nonce"])
        charge = cast(int, receipt["charge"])
        agent_id = cast(int, auth["agent_id"])
        if auth["worker"] != worker:
            raise _ReceiptFailed("WrongWorker")
        if len(cast(Sequence[bytes], receipt["children"])) > self.config.max_children:
            raise _ReceiptFailed("TooManyChildren")
        if auth["genesis"] != genesis:
            raise _ReceiptFailed("WrongGenesis")
        if now > cast(int, auth["expires_at_block"]) + self.config.settlement_grace:
            raise _ReceiptFailed("Expired")
        if self.used_nonces.contains(caller, nonce):
            raise _ReceiptFailed("NonceUsed")
        if charge > cast(int, auth["max_charge"]):
            raise _ReceiptFailed("ChargeExceedsMax")
        agent = self.agent_owner_and_version(agent_id)
        if agent is None:
            raise _ReceiptFailed("UnknownAgent")
        owner, current_version = agent
        version = cast(int, auth["agent_version"])
        if not 1 <= version <= current_version:
            raise _ReceiptFailed("UnknownAgentVersion")
        signature = cast(bytes, receipt["caller_signature"])
        if not _sr25519_ok(signature, authorization_message(encoded_auth), caller):
            raise _ReceiptFailed("BadSignature")
        info = self.escrow.get(caller)
        if info is None:
            if charge > 0:
                raise _ReceiptFailed("InsufficientEscrow")
            info = {"balance": 0, "unbonding": 0, "unlock_at": None}
        balance, unbonding = cast(int, info["balance"]), cast(int, info["unbonding"])
        if charge > balance + unbonding:
            raise _ReceiptFailed("InsufficientEscrow")
        from_balance = min(balance, charge)
        info["balance"] = balance - from_balance
        info["unbonding"] = unbonding - (charge - from_balance)
        if charge > 0:
            self._store_escrow(caller, info)
            self.total_escrow.put(self.total_escrow.get() - charge)
        self.used_nonces.insert(caller, nonce, ())
        self.settled.insert(rid, now)
        worker_amount = charge * self.config.worker_share_per_mille // 1000
        try:
            self._pay(caller, worker, worker_amount)
            self._pay(caller, owner, charge - worker_amount)
        except DispatchError:
            raise _ReceiptFailed("PayoutFailed") from None
        self.deposit_event(
            "Settled",
            {"receipt_id": rid, "caller": caller, "agent_id": agent_id, "charge": charge, "worker": worker},
        )

    # --- pruning (billing.md "Pruning") -----------------------------------------------------------

    def _prune_block(self, expires_at_block: int) -> int:
        """The first block at which a receipt's entries may go: its settle window closed
        (``Expired`` from then on) ``SettledRetention`` blocks earlier."""
        cfg = self.config
        return expires_at_block + cfg.settlement_grace + cfg.settled_retention + 1

    def _queue_for_pruning(self, block: int, entries: list[bytes]) -> None:
        """Append encoded ``PruneEntry`` items to ``PruneQueue(block)``, spilling what does not fit
        into later buckets: ``block + 1``, then ``+ 2``, ``+ 4``, ... ``+ 2**30`` (32 buckets at
        most, so the cost stays bounded however many are full; pruning later than due is always
        safe). What finds no room (32 full buckets, or past ``BLOCK_NUMBER_MAX`` for an
        authorization expiring near the end of the u32 range) is not queued: its entries stay for
        good, as all did before pruning existed. Like ``StorageMap::try_append``, this rewrites the
        length prefix and appends bytes without decoding the bucket's items."""
        overlay = self.runtime.ext.current()
        limit = self.config.max_prune_per_block
        for offset in _SPILL_OFFSETS:
            at = block + offset
            if at > BLOCK_NUMBER_MAX:
                return
            key = self.prune_queue.key(at)
            raw = overlay.get(key)
            length, start = (0, 0) if raw is None else decode_compact(raw)
            room = limit - length
            if room <= 0:
                continue
            taken, entries = entries[:room], entries[room:]
            body = memoryview(b"" if raw is None else raw)[start:]  # one copy of the bucket: the join
            overlay.set(key, b"".join((encode_compact(length + len(taken)), body, *taken)))
            if not entries:
                return

    def on_initialize(self, number: int) -> Weight:
        """Prune the receipts queued for this block: remove their ``UsedNonces`` and ``Settled``
        entries and the bucket. Writes nothing when the bucket is empty. No event (like
        ``frame_system`` pruning ``BlockHash``)."""
        entries = cast("list[tuple[bytes, int, bytes]]", self.prune_queue.get(number))
        if not entries:
            return self.config.weights.on_initialize(0)
        for caller, nonce, rid in entries:
            self.used_nonces.remove(caller, nonce)
            self.settled.remove(rid)
        self.prune_queue.remove(number)
        return self.config.weights.on_initialize(len(entries))

    def _pay(self, caller: bytes, payee: bytes, amount: int) -> None:
        """``repatriate_reserved(caller -> payee, Free)``: unreserve, then transfer."""
        if amount:
            self.balances.repatriate_reserved(caller, payee, amount)

    def _escrow_or_fail(self, who: bytes) -> dict[str, object]:
        info = self.escrow.get(who)
        if info is None:
            raise self.error("NoEscrow")
        return info

    def _store_escrow(self, who: bytes, info: dict[str, object]) -> None:
        if info["balance"] == 0 and info["unbonding"] == 0:
            self.escrow.remove(who)
        else:
            self.escrow.insert(who, info)

    # --- the agent seam -------------------------------------------------------------------------------

    def agent_owner_and_version(self, agent_id: int) -> tuple[bytes, int] | None:
        """The agent's owner and current version from ``AgentRegistry.Agents``, or None when the
        agent (or the whole registry pallet) does not exist. The one place Billing reads the
        registry: by on-chain names, so it needs nothing but the storage declaration."""
        try:
            registry = self.runtime.pallet_named("AgentRegistry")
        except KeyError:
            return None
        for item in registry.STORAGE:
            if item.name == "Agents":
                agents = getattr(registry, item.attr)
                break
        else:
            return None
        info = agents.get(agent_id)
        if info is None:
            return None
        return cast(bytes, info["owner"]), cast(int, info["version"])

    # --- views for clients, tests and the worker ----------------------------------------------------

    def escrow_of(self, who: bytes) -> tuple[int, int]:
        """``(balance, unbonding)`` of ``who``'s escrow (zeros when none)."""
        info = self.escrow.get(who)
        if info is None:
            return 0, 0
        return cast(int, info["balance"]), cast(int, info["unbonding"])

    def genesis(self, config: Mapping[str, object]) -> None:
        """Optional ``escrow``: ``[(account, amount)]`` reserved at genesis (test presets)."""
        total = 0
        for who, amount in cast(Sequence[tuple[bytes, int]], config.get("escrow", ())):
            self.balances.reserve(who, amount)
            self.escrow.insert(who, {"balance": amount, "unbonding": 0, "unlock_at": None})
            total += amount
        self.total_escrow.put(total)


__all__ = [
    "AUTHORIZATION_DOMAIN",
    "BLOCK_NUMBER_MAX",
    "RECEIPT_DOMAIN",
    "SETTLE_ERRORS",
    "Billing",
    "BillingConfig",
    "BillingWeightInfo",
    "BillingWeights",
    "CallAuthorization",
    "EscrowInfo",
    "PruneBucket",
    "PruneEntry",
    "Receipt",
    "ReceiptId",
    "SettleError",
    "UsageCodec",
    "authorization_message",
    "receipt_id",
]
