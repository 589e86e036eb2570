"""The executive: validate and apply extrinsics, and build blocks (``frame_executive``).

The pipeline for a v4 extrinsic: decode, ``check`` (look up the signer, build the signing payload
from the extensions' additional data, verify the signature), then the signed extensions in
metadata order (``validate`` for the pool, ``pre_dispatch`` when applying), dispatch inside a
storage layer, the fee and weight correction from the call's ``PostInfo``, and
``ExtrinsicSuccess``/``ExtrinsicFailed``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar, cast

from phala_agents.chain._extrinsic import Extrinsic, decode_extrinsic, encode_unsigned, signing_payload
from phala_agents.chain._interface import (
    ApplyOutcome,
    BlockContext,
    Overlay,
    StateReader,
    TransactionSource,
    ValidTransaction,
)
from phala_agents.chain._signature import verify_multisignature
from phala_agents.chain._validity import invalid, unknown
from phala_agents.chain.frame import (
    NONE,
    ZERO_WEIGHT,
    Call,
    DispatchClass,
    DispatchInfo,
    DispatchOutcome,
    FrameRuntime,
    Origin,
    Pallet,
    StorageOverlay,
    Weight,
)
from phala_agents.chain.pallets.balances import Balances
from phala_agents.chain.pallets.system import System, SystemConfig
from phala_agents.chain.pallets.timestamp import Timestamp
from phala_agents.chain.pallets.transaction_payment import TransactionPayment
from phala_agents.errors import DecodeError, DispatchError
from phala_agents.scale import encode_compact

R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

U64_MAX = 2**64 - 1
_VERIFIED_CACHE_SIZE = 65_536  # good signatures remembered between validation and inclusion
_DECODED_CACHE_SIZE = 16_384  # decoded extrinsics remembered between validation and inclusion

# System's block phases, as SCALE-encoded `Phase` prefixes of each event record.
_PHASE_FINALIZATION = b"\x01"
_PHASE_INITIALIZATION = b"\x02"


def _apply_phase(index: int) -> bytes:
    return b"\x00" + index.to_bytes(4, "little")


def _weight_of_dict(value: object) -> Weight:
    """A ``Weight`` from its decoded ``WeightCodec`` dict (how ``System.BlockWeight`` holds it)."""
    w = cast("dict[str, int]", value)
    return Weight(w["ref_time"], w["proof_size"])


def _remember(cache: dict[K, V], key: K, value: V, limit: int, lock: threading.Lock) -> None:
    """Store in a bounded insertion-ordered cache, dropping the oldest quarter when full (the
    pool thread and the block builder share the caches, hence the lock)."""
    with lock:
        if len(cache) >= limit:
            for old in list(itertools.islice(cache, limit // 4)):
                cache.pop(old, None)
        cache[key] = value


class Executive(FrameRuntime):
    """``frame_executive`` over a ``FrameRuntime`` that has System, Timestamp, Balances and
    TransactionPayment: the validation and block-building half of the ``Runtime`` protocol."""

    def __init__(self, pallets: Sequence[tuple[int, type[Pallet], object]]) -> None:
        super().__init__(pallets)
        self.system = self.pallet(System)
        self.timestamp = self.pallet(Timestamp)
        self.balances = self.pallet(Balances)
        self.payment = self.pallet(TransactionPayment)
        self.system_config: SystemConfig = self.system.config
        # The pool validates and the block builder applies the same bytes: remember what the
        # first pass learned (bounded). Both are what recomputing would give: an `Extrinsic` is
        # immutable, and a signature verifies the same way over the same (payload, signer).
        self._verified: dict[tuple[str, bytes, bytes, bytes], None] = {}
        self._decoded: dict[bytes, Extrinsic] = {}
        self._cache_lock = threading.Lock()

    # --- decoding and checking ------------------------------------------------------------------

    def decode_extrinsic(self, data: bytes) -> Extrinsic:
        """Decode an ``UncheckedExtrinsic`` (with its compact length prefix), remembered (bounded)."""
        data = bytes(data)
        cached = self._decoded.get(data)
        if cached is not None:
            return cached
        xt = decode_extrinsic(data, self.call_codec)
        _remember(self._decoded, data, xt, _DECODED_CACHE_SIZE, self._cache_lock)
        return xt

    def check_signature(self, xt: Extrinsic) -> bytes:
        """``Checkable::check``: the signer's account id, or InvalidTransaction/UnknownTransaction."""
        address = xt.address
        if not (isinstance(address, tuple) and address[0] == "Id"):
            raise unknown("CannotLookup")
        who = cast(bytes, address[1])
        current = self.system.number.get()
        genesis = self.system.block_hash.get(0)
        birth_hash = genesis if xt.era is None else self._block_hash_or_ancient(xt.era.birth(current))
        if xt.mode == 1:
            raise unknown("CannotLookup")  # CheckMetadataHash enabled, but this runtime has no hash
        payload = signing_payload(xt.call_bytes, xt.extra_bytes, genesis, birth_hash)
        assert xt.signature is not None
        kind, sig = xt.signature
        key = (kind, sig, payload, who)
        if key not in self._verified:
            if not verify_multisignature(kind, sig, payload, who):
                raise invalid("BadProof")
            _remember(self._verified, key, None, _VERIFIED_CACHE_SIZE, self._cache_lock)
        return who

    def _block_hash_or_ancient(self, number: int) -> bytes:
        raw = self.ext.current().get(self.system.block_hash.key(number))
        if raw is None:
            raise invalid("AncientBirthBlock")
        return raw

    # --- validation (the pool) --------------------------------------------------------------------

    def validate_transaction(
        self, state: StateReader, extrinsic: bytes, source: TransactionSource, block_hash: bytes
    ) -> ValidTransaction:
        del source
        overlay = StorageOverlay(state)
        ext = self.ext
        saved = (ext.overlay, ext.events, ext.phase, ext.extrinsic_index)
        ext.overlay, ext.events, ext.phase, ext.extrinsic_index = overlay, [], _PHASE_INITIALIZATION, 0
        try:
            # frame_executive validates in a block initialised on top of the given one; of that
            # initialisation only Number and BlockHash(parent) matter to the checks below.
            number = self.system.number.get()
            self.system.number.put(number + 1)
            self.system.block_hash.insert(number, bytes(block_hash))
            xt = self.decode_extrinsic(extrinsic)
            info = self.call_info(xt.call)
            if not xt.signed:
                if info.dispatch_class is DispatchClass.MANDATORY:
                    raise invalid("MandatoryValidation")
                raise unknown("NoUnsignedValidator")
            who = self.check_signature(xt)
            if info.dispatch_class is DispatchClass.MANDATORY:
                raise invalid("MandatoryValidation")
            return self._validate_signed(xt, who, info)
        finally:
            ext.overlay, ext.events, ext.phase, ext.extrinsic_index = saved

    def _validate_signed(self, xt: Extrinsic, who: bytes, info: DispatchInfo) -> ValidTransaction:
        """The signed extensions' ``validate`` in order."""
        account = self._sender_account(who)  # CheckNonZeroSender, CheckNonce's account
        longevity = self._longevity(xt)  # CheckMortality
        account_nonce = cast(int, account["nonce"])
        if xt.nonce < account_nonce:
            raise invalid("Stale")
        provides = (who + xt.nonce.to_bytes(4, "little"),)
        requires = (who + (xt.nonce - 1).to_bytes(4, "little"),) if xt.nonce > account_nonce else ()
        self._check_extrinsic_limits(info, xt.length)  # CheckWeight
        fee = self._payable_fee(xt, who, info)  # ChargeTransactionPayment
        priority = self.payment.priority(info, xt.length, xt.tip, fee)
        return ValidTransaction(priority=priority, requires=requires, provides=provides, longevity=longevity)

    def _longevity(self, xt: Extrinsic) -> int:
        current = self.system.number.get()
        if xt.era is None:
            return U64_MAX
        return max(xt.era.death(current) - current, 0)

    # --- the signed extensions' shared checks -----------------------------------------------------

    def _sender_account(self, who: bytes) -> dict[str, object]:
        """``CheckNonZeroSender``, then the account ``CheckNonce`` reads; an account that does
        not exist has nothing to pay fees with (``Payment``)."""
        if who == bytes(32):
            raise invalid("BadSigner")
        account = self.system.account.get(who)
        if account["providers"] == 0 and account["sufficients"] == 0:
            raise invalid("Payment")
        return account

    def _payable_fee(self, xt: Extrinsic, who: bytes, info: DispatchInfo) -> int:
        """``ChargeTransactionPayment``: the fee, when ``who`` can pay it and stay alive."""
        fee = self.payment.fee_parts(xt.length, info, xt.tip).total
        if not self.balances.can_withdraw_fee(who, fee):
            raise invalid("Payment")
        return fee

    def _check_extrinsic_limits(self, info: DispatchInfo, length: int) -> None:
        """``CheckWeight``'s per-extrinsic part: weight (normal class) and length limits."""
        cfg = self.system_config
        if info.dispatch_class is DispatchClass.NORMAL:
            max_w = cfg.max_extrinsic
            if info.weight.ref_time > max_w.ref_time or info.weight.proof_size > max_w.proof_size:
                raise invalid("ExhaustsResources")
        if length > cfg.max_length(info.dispatch_class):
            raise invalid("ExhaustsResources")

    def _check_block_limits(self, info: DispatchInfo, length: int) -> None:
        """``CheckWeight``'s per-block part: note the length and weight, refusing what would
        exceed the block's limits for the call's class."""
        cfg = self.system_config
        total_len = (self.system.all_extrinsics_len.get() or 0) + length
        if total_len > cfg.max_length(info.dispatch_class):
            raise invalid("ExhaustsResources")
        current = self.system.block_weight.get()
        key = info.dispatch_class.value.lower()
        used = _weight_of_dict(current[key]) + info.weight + Weight(cfg.base_extrinsic_ref_time, 0)
        if info.dispatch_class is DispatchClass.NORMAL:
            limit = cfg.normal_max_total
            if used.ref_time > limit.ref_time or used.proof_size > limit.proof_size:
                raise invalid("ExhaustsResources")
        current[key] = used.to_dict()
        self.system.block_weight.put(current)
        self.system.all_extrinsics_len.put(total_len)

    def _note_block_weight(self, cls: DispatchClass, weight: Weight, *, unspent: bool = False) -> None:
        """Add ``weight`` to ``System.BlockWeight`` for ``cls``, or give it back when ``unspent``
        (``CheckWeight::post_dispatch`` returns what a call declared but did not use)."""
        current = self.system.block_weight.get()
        key = cls.value.lower()
        used = _weight_of_dict(current[key])
        current[key] = (used - weight if unspent else used + weight).to_dict()
        self.system.block_weight.put(current)

    # --- block building ---------------------------------------------------------------------------

    def initialize_block(self, overlay: Overlay, context: BlockContext) -> None:
        ext = self.ext
        ext.overlay = overlay
        ext.events = []
        ext.phase = _PHASE_INITIALIZATION
        ext.extrinsic_index = 0
        digest_raw = encode_compact(len(context.digest)) + b"".join(context.digest)
        self.system.initialize(context.number, bytes(context.parent_hash), {"logs": []})
        overlay.set(self.system.digest.key(), digest_raw)
        weight = Weight(self.system_config.base_block_ref_time, 0)
        for pallet in self.pallets.values():
            weight = weight + pallet.on_initialize(context.number)
        self._note_block_weight(DispatchClass.MANDATORY, weight)

    def inherent_extrinsics(self, overlay: Overlay, context: BlockContext) -> list[bytes]:
        self.ext.overlay = overlay
        now = self.timestamp.next_timestamp(context.timestamp_ms)
        call = Call(pallet="Timestamp", name="set", args={"now": now})
        return [encode_unsigned(self.call_codec.encode(call))]

    def apply_extrinsic(self, overlay: Overlay, extrinsic: bytes) -> ApplyOutcome:
        ext = self.ext
        ext.overlay = overlay
        try:
            xt = self.decode_extrinsic(extrinsic)
        except DecodeError:
            raise invalid("Call") from None
        info = self.call_info(xt.call)
        ext.phase = _apply_phase(ext.extrinsic_index)
        if not xt.signed:
            return self._apply_unsigned(xt, info)
        who = self.check_signature(xt)
        if info.dispatch_class is DispatchClass.MANDATORY:
            raise invalid("BadMandatory")
        events = ext.events
        mark = len(events)
        overlay.start_transaction()
        try:
            fee = self._pre_dispatch(xt, who, info)
        except BaseException:
            overlay.rollback_transaction()
            del events[mark:]
            raise
        outcome = self.dispatch(xt.call, Origin.signed(who))
        actual_info = self._post_dispatch(info, outcome)
        actual_fee = fee
        if actual_info is not info:
            # ChargeTransactionPayment::post_dispatch: the fee of what the call really used
            # (never more than was withdrawn: PostInfo.actual_info caps the weight).
            actual_fee = self.payment.fee_parts(xt.length, actual_info, xt.tip).total
            self.balances.refund_fee(who, fee - actual_fee)
        self.payment.deposit_event(
            "TransactionFeePaid", {"who": who, "actual_fee": actual_fee, "tip": xt.tip}
        )
        result = self._note_applied(outcome.ok, outcome.error, actual_info)
        overlay.commit_transaction()
        ext.extrinsic_index += 1
        return ApplyOutcome(ok=outcome.ok, error=result, weight=actual_info.weight.ref_time, fee=actual_fee)

    def _pre_dispatch(self, xt: Extrinsic, who: bytes, info: DispatchInfo) -> int:
        """The signed extensions' ``pre_dispatch`` in order; returns the fee withdrawn."""
        account = self._sender_account(who)
        nonce = cast(int, account["nonce"])
        if xt.nonce != nonce:
            raise invalid("Stale" if xt.nonce < nonce else "Future")
        account["nonce"] = nonce + 1
        self.system.account.insert(who, account)
        self._check_extrinsic_limits(info, xt.length)
        self._check_block_limits(info, xt.length)
        fee = self._payable_fee(xt, who, info)
        self.balances.withdraw_fee(who, fee)
        return fee

    def _post_dispatch(self, info: DispatchInfo, outcome: DispatchOutcome) -> DispatchInfo:
        """The dispatch info after the call (``info`` itself when the call returned no
        ``PostInfo``), with the unused weight given back to ``System.BlockWeight``.

        A failed call keeps its declared weight and fee: our ``DispatchError`` carries no
        ``PostInfo`` (Substrate's ``DispatchErrorWithPostInfo`` usually does not either)."""
        if not outcome.ok or outcome.post is None:
            return info
        actual = outcome.post.actual_info(info)
        unspent = info.weight - actual.weight
        if unspent != ZERO_WEIGHT:
            self._note_block_weight(info.dispatch_class, unspent, unspent=True)
        return actual

    def _apply_unsigned(self, xt: Extrinsic, info: DispatchInfo) -> ApplyOutcome:
        if info.dispatch_class is not DispatchClass.MANDATORY:
            raise unknown("NoUnsignedValidator")
        overlay = self.ext.current()
        overlay.start_transaction()
        outcome = self.dispatch(xt.call, NONE)
        if not outcome.ok:
            overlay.rollback_transaction()
            raise invalid("BadMandatory")
        # Mandatory calls have no block limit to check first, so note what was really used.
        actual = info if outcome.post is None else outcome.post.actual_info(info)
        self._note_block_weight(
            DispatchClass.MANDATORY, actual.weight + Weight(self.system_config.base_extrinsic_ref_time)
        )
        self.system.all_extrinsics_len.put((self.system.all_extrinsics_len.get() or 0) + xt.length)
        self._note_applied(True, None, actual)
        overlay.commit_transaction()
        self.ext.extrinsic_index += 1
        return ApplyOutcome(ok=True, weight=actual.weight.ref_time, fee=0)

    def _note_applied(self, ok: bool, error: DispatchError | None, info: DispatchInfo) -> str | None:
        """``System::note_applied_extrinsic``: ExtrinsicSuccess / ExtrinsicFailed."""
        weight = info.weight + Weight(self.system_config.base_extrinsic_ref_time, 0)
        dispatch_info = {
            "weight": weight.to_dict(),
            "class": (info.dispatch_class.value, None),
            "pays_fee": (info.pays_fee.value, None),
        }
        if ok or error is None:
            self.system.deposit_event("ExtrinsicSuccess", {"dispatch_info": dispatch_info})
            return None
        self.system.deposit_event(
            "ExtrinsicFailed",
            {"dispatch_error": self.dispatch_error_value(error), "dispatch_info": dispatch_info},
        )
        return self.dispatch_error_text(error)

    def finalize_block(self, overlay: Overlay) -> None:
        ext = self.ext
        ext.overlay = overlay
        ext.phase = _PHASE_FINALIZATION
        number = self.system.number.get()
        for pallet in self.pallets.values():
            pallet.on_finalize(number)
        self.system.finalize(ext.extrinsic_index, ext.events)
        overlay.delete(b":extrinsic_index")

    # --- reads against a state (runtime APIs) -----------------------------------------------------

    def with_state(self, state: StateReader, read: Callable[[], R]) -> R:
        """``read()`` with storage reads going to ``state`` (writes stay in a throwaway layer)."""
        ext = self.ext
        saved = ext.overlay
        ext.overlay = StorageOverlay(state)
        try:
            return read()
        finally:
            ext.overlay = saved


__all__ = ["Executive"]
