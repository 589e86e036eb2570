"""``pallet_transaction_payment`` (index 3): fees = base + length + weight x multiplier + tip."""

from __future__ import annotations

from dataclasses import dataclass

from phala_agents.chain.frame import (
    DispatchClass,
    DispatchInfo,
    Pallet,
    Pays,
    StorageValue,
    ValueQuery,
    constant,
    event,
)
from phala_agents.chain.frame._types import Balance, FixedU128
from phala_agents.chain.pallets.system import System, SystemConfig
from phala_agents.scale import U8, AccountId, field, unit_enum

FIXED_ONE = 10**18  # FixedU128 1.0
U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionPaymentConfig:
    operational_fee_multiplier: int = 5
    length_fee_per_byte: int = 1_000_000  # 1 micro-UNIT per byte
    weight_fee_per_ref_time: int = 1  # IdentityFee: 1 planck per picosecond


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeParts:
    """``FeeDetails``: the inclusion fee split into its parts, plus the tip."""

    base_fee: int
    len_fee: int
    adjusted_weight_fee: int
    tip: int
    pays: bool

    @property
    def inclusion_fee(self) -> int:
        return self.base_fee + self.len_fee + self.adjusted_weight_fee if self.pays else 0

    @property
    def total(self) -> int:
        return self.inclusion_fee + self.tip


Releases = unit_enum("pallet_transaction_payment::Releases", ["V1Ancient", "V2"])


class TransactionPayment(Pallet, name="TransactionPayment"):
    """Computes and charges transaction fees (burned: this chain has no treasury or author)."""

    next_fee_multiplier = StorageValue("NextFeeMultiplier", FixedU128, query=ValueQuery, default=FIXED_ONE)
    storage_version = StorageValue("StorageVersion", Releases, query=ValueQuery)

    EVENTS = (
        event(
            "TransactionFeePaid",
            field("who", AccountId, "T::AccountId"),
            field("actual_fee", Balance, "BalanceOf<T>"),
            field("tip", Balance, "BalanceOf<T>"),
            docs="A transaction fee `actual_fee`, of which `tip` was added to the minimum inclusion fee,\n"
            "has been paid by `who`.",
        ),
    )
    CONSTANTS = (
        constant(
            "OperationalFeeMultiplier",
            U8,
            "operational_fee_multiplier",
            ' A fee multiplier for `Operational` extrinsics to compute "virtual tip" to boost their\n'
            " `priority`",
        ),
    )

    config: TransactionPaymentConfig

    def _system_config(self) -> SystemConfig:
        return self.runtime.pallet(System).config

    def weight_to_fee(self, ref_time: int) -> int:
        return ref_time * self.config.weight_fee_per_ref_time

    def length_to_fee(self, length: int) -> int:
        return length * self.config.length_fee_per_byte

    def fee_parts(self, length: int, info: DispatchInfo, tip: int) -> FeeParts:
        """``compute_fee_details`` with the stored ``NextFeeMultiplier``."""
        multiplier = self.next_fee_multiplier.get()
        base = self.weight_to_fee(self._system_config().base_extrinsic_ref_time)
        return FeeParts(
            base_fee=base,
            len_fee=self.length_to_fee(length),
            adjusted_weight_fee=self.weight_to_fee(info.weight.ref_time) * multiplier // FIXED_ONE,
            tip=tip,
            pays=info.pays_fee is Pays.YES,
        )

    def priority(self, info: DispatchInfo, length: int, tip: int, final_fee: int) -> int:
        """``ChargeTransactionPayment::get_priority``: tip scaled by how many such txs fit a block."""
        cfg = self._system_config()
        max_ref, max_proof = cfg.max_block_ref_time, cfg.max_block_proof_size
        max_len = cfg.max_length(info.dispatch_class)
        ref = min(max(info.weight.ref_time, 1), max_ref)
        proof = min(max(info.weight.proof_size, 1), max_proof)
        per_weight = min(max_ref // ref, max_proof // proof)
        per_length = max_len // min(max(length, 1), max_len)
        per_block = max(min(per_weight, per_length), 1)
        scaled_tip = per_block * (tip + 1)
        if info.dispatch_class is DispatchClass.OPERATIONAL:
            scaled_tip += per_block * final_fee * self.config.operational_fee_multiplier
        return min(scaled_tip, U64_MAX)

    def genesis(self, config: object) -> None:
        del config
        self.next_fee_multiplier.put(FIXED_ONE)
        self.storage_version.put(("V2", None))


__all__ = ["FIXED_ONE", "FeeParts", "TransactionPayment", "TransactionPaymentConfig"]
