"""``pallet_balances`` (index 2): the native token, kept in ``System.Account``'s ``data``.

Semantics follow the classic ``Currency`` behaviour: an account exists while it holds at least
the existential deposit (or something reserved); a transfer that would leave less kills the
sender (``transfer_allow_death``, the rest is ``DustLost``) or fails (``transfer_keep_alive``:
``Expendability``). Failures are this pallet's module errors with Substrate's names and order.
Other pallets use the Python methods (``transfer``, ``reserve``, ``unreserve``,
``free_balance``, ``reserved_balance``) the way FRAME pallets use the ``Currency`` trait; the
executive uses ``can_withdraw_fee``, ``withdraw_fee`` and ``refund_fee``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Protocol, cast

from phala_agents.chain.frame import (
    EventDef,
    Origin,
    Pallet,
    StorageValue,
    ValueQuery,
    Weight,
    arg,
    call,
    constant,
    ensure_root,
    ensure_signed,
    error,
    event,
    weight_info,
)
from phala_agents.chain.frame._lookup import lookup
from phala_agents.chain.frame._types import Balance, MultiAddress
from phala_agents.chain.pallets.system import System
from phala_agents.errors import DispatchError
from phala_agents.scale import U32, AccountId, Bool, Compact, field, unit_enum

NEW_LOGIC_FLAG = 1 << 127  # ExtraFlags::IS_NEW_LOGIC
ACCOUNT_TYPE = "T::AccountId"
BALANCE_TYPE = "T::Balance"


class BalancesWeightInfo(Protocol):
    """``pallet_balances::WeightInfo``: the declared weight of each call."""

    def transfer_allow_death(self) -> Weight: ...
    def force_transfer(self) -> Weight: ...
    def transfer_keep_alive(self) -> Weight: ...
    def transfer_all(self) -> Weight: ...
    def force_unreserve(self) -> Weight: ...
    def force_set_balance(self) -> Weight: ...
    def burn(self) -> Weight: ...


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class BalancesWeights:
    """The default ``BalancesWeightInfo``: measured constants; proof sizes from one account read
    (3_593 bytes) or two (``force_transfer``)."""

    def transfer_allow_death(self) -> Weight:
        return Weight(200_000_000, 3_593)

    def force_transfer(self) -> Weight:
        return Weight(210_000_000, 6_196)

    def transfer_keep_alive(self) -> Weight:
        return Weight(180_000_000, 3_593)

    def transfer_all(self) -> Weight:
        return Weight(220_000_000, 3_593)

    def force_unreserve(self) -> Weight:
        return Weight(60_000_000, 3_593)

    def force_set_balance(self) -> Weight:
        return Weight(60_000_000, 3_593)

    def burn(self) -> Weight:
        return Weight(100_000_000, 3_593)


@dataclass(frozen=True, slots=True, kw_only=True)
class BalancesConfig:
    existential_deposit: int = 10**9  # 0.001 UNIT
    max_locks: int = 50
    max_reserves: int = 50
    max_freezes: int = 8
    weights: BalancesWeightInfo = dc_field(default_factory=BalancesWeights)


def _who_amount(name: str, docs: str) -> EventDef:
    return event(
        name, field("who", AccountId, ACCOUNT_TYPE), field("amount", Balance, BALANCE_TYPE), docs=docs
    )


BalanceStatus = unit_enum("frame_support::traits::tokens::misc::BalanceStatus", ["Free", "Reserved"])
_DEST = arg("dest", MultiAddress, "AccountIdLookupOf<T>")
_VALUE = arg("value", Compact(Balance), BALANCE_TYPE)


class Balances(Pallet, name="Balances"):
    """The native currency: free and reserved balances, existential deposit, total issuance."""

    total_issuance = StorageValue(
        "TotalIssuance", Balance, query=ValueQuery, docs=" The total units issued in the system."
    )
    inactive_issuance = StorageValue(
        "InactiveIssuance",
        Balance,
        query=ValueQuery,
        docs=" The total units of outstanding deactivated balance in the system.",
    )

    EVENTS = (
        event(
            "Endowed",
            field("account", AccountId, ACCOUNT_TYPE),
            field("free_balance", Balance, BALANCE_TYPE),
            docs="An account was created with some free balance.",
        ),
        event(
            "DustLost",
            field("account", AccountId, ACCOUNT_TYPE),
            field("amount", Balance, BALANCE_TYPE),
            docs="An account was removed whose balance was non-zero but below ExistentialDeposit,\n"
            "resulting in an outright loss.",
        ),
        event(
            "Transfer",
            field("from", AccountId, ACCOUNT_TYPE),
            field("to", AccountId, ACCOUNT_TYPE),
            field("amount", Balance, BALANCE_TYPE),
            docs="Transfer succeeded.",
        ),
        event(
            "BalanceSet",
            field("who", AccountId, ACCOUNT_TYPE),
            field("free", Balance, BALANCE_TYPE),
            docs="A balance was set by root.",
        ),
        _who_amount("Reserved", "Some balance was reserved (moved from free to reserved)."),
        _who_amount("Unreserved", "Some balance was unreserved (moved from reserved to free)."),
        event(
            "ReserveRepatriated",
            field("from", AccountId, ACCOUNT_TYPE),
            field("to", AccountId, ACCOUNT_TYPE),
            field("amount", Balance, BALANCE_TYPE),
            field("destination_status", BalanceStatus, "Status"),
            docs="Some balance was moved from the reserve of the first account to the second account.\n"
            "Final argument indicates the destination balance type.",
        ),
        _who_amount("Deposit", "Some amount was deposited (e.g. for transaction fees)."),
        _who_amount("Withdraw", "Some amount was withdrawn from the account (e.g. for transaction fees)."),
        _who_amount("Slashed", "Some amount was removed from the account (e.g. for misbehavior)."),
        _who_amount("Minted", "Some amount was minted into an account."),
        _who_amount("Burned", "Some amount was burned from an account."),
        _who_amount("Suspended", "Some amount was suspended from an account (it can be restored later)."),
        _who_amount("Restored", "Some amount was restored into an account."),
        event("Upgraded", field("who", AccountId, ACCOUNT_TYPE), docs="An account was upgraded."),
        event(
            "Issued",
            field("amount", Balance, BALANCE_TYPE),
            docs="Total issuance was increased by `amount`, creating a credit to be balanced.",
        ),
        event(
            "Rescinded",
            field("amount", Balance, BALANCE_TYPE),
            docs="Total issuance was decreased by `amount`, creating a debt to be balanced.",
        ),
        _who_amount("Locked", "Some balance was locked."),
        _who_amount("Unlocked", "Some balance was unlocked."),
        _who_amount("Frozen", "Some balance was frozen."),
        _who_amount("Thawed", "Some balance was thawed."),
        event(
            "TotalIssuanceForced",
            field("old", Balance, BALANCE_TYPE),
            field("new", Balance, BALANCE_TYPE),
            docs="The `TotalIssuance` was forcefully changed.",
        ),
    )
    ERRORS = (
        error("VestingBalance", "Vesting balance too high to send value."),
        error("LiquidityRestrictions", "Account liquidity restrictions prevent withdrawal."),
        error("InsufficientBalance", "Balance too low to send value."),
        error("ExistentialDeposit", "Value too low to create account due to existential deposit."),
        error("Expendability", "Transfer/payment would kill account."),
        error("ExistingVestingSchedule", "A vesting schedule already exists for this account."),
        error("DeadAccount", "Beneficiary account must pre-exist."),
        error("TooManyReserves", "Number of named reserves exceed `MaxReserves`."),
        error("TooManyHolds", "Number of holds exceed `VariantCountOf<T::RuntimeHoldReason>`."),
        error("TooManyFreezes", "Number of freezes exceed `MaxFreezes`."),
        error("IssuanceDeactivated", "The issuance cannot be modified since it is already deactivated."),
        error("DeltaZero", "The delta cannot be zero."),
    )
    CONSTANTS = (
        constant(
            "ExistentialDeposit",
            Balance,
            "existential_deposit",
            " The minimum amount required to keep an account open. MUST BE GREATER THAN ZERO!",
        ),
        constant(
            "MaxLocks",
            U32,
            "max_locks",
            " The maximum number of locks that should exist on an account.",
        ),
        constant(
            "MaxReserves",
            U32,
            "max_reserves",
            " The maximum number of named reserves that can exist on an account.",
        ),
        constant(
            "MaxFreezes",
            U32,
            "max_freezes",
            " The maximum number of individual freeze locks that can exist on an account at any time.",
        ),
    )

    config: BalancesConfig

    @property
    def system(self) -> System:
        return self.runtime.pallet(System)

    # --- calls ----------------------------------------------------------------------------------------

    @call(index=0, weight=weight_info("transfer_allow_death"), args=[_DEST, _VALUE])
    def transfer_allow_death(self, origin: Origin, dest: object, value: int) -> None:
        """Transfer some liquid free balance to another account.

        If the sender's account is below the existential deposit as a result
        of the transfer, the account will be reaped."""
        source = ensure_signed(origin)
        self.transfer(source, lookup(dest), value, keep_alive=False)

    @call(
        index=2,
        weight=weight_info("force_transfer"),
        args=[arg("source", MultiAddress, "AccountIdLookupOf<T>"), _DEST, _VALUE],
    )
    def force_transfer(self, origin: Origin, source: object, dest: object, value: int) -> None:
        """Exactly as `transfer_allow_death`, except the origin must be root and the source account
        may be specified."""
        ensure_root(origin)
        self.transfer(lookup(source), lookup(dest), value, keep_alive=False)

    @call(index=3, weight=weight_info("transfer_keep_alive"), args=[_DEST, _VALUE])
    def transfer_keep_alive(self, origin: Origin, dest: object, value: int) -> None:
        """Same as the `transfer_allow_death` call, but with a check that the transfer will not
        kill the origin account."""
        source = ensure_signed(origin)
        self.transfer(source, lookup(dest), value, keep_alive=True)

    @call(index=4, weight=weight_info("transfer_all"), args=[_DEST, arg("keep_alive", Bool, "bool")])
    def transfer_all(self, origin: Origin, dest: object, keep_alive: bool) -> None:
        """Transfer the entire transferable balance from the caller account."""
        source = ensure_signed(origin)
        data = self._data(source)
        free, frozen = cast(int, data["free"]), cast(int, data["frozen"])
        keep = max(frozen, self.config.existential_deposit if keep_alive else 0)
        value = max(free - keep, 0)
        self.transfer(source, lookup(dest), value, keep_alive=keep_alive)

    @call(
        index=5,
        weight=weight_info("force_unreserve"),
        args=[arg("who", MultiAddress, "AccountIdLookupOf<T>"), arg("amount", Balance, BALANCE_TYPE)],
    )
    def force_unreserve(self, origin: Origin, who: object, amount: int) -> None:
        """Unreserve some balance from a user by force."""
        ensure_root(origin)
        self.unreserve(lookup(who), amount)

    @call(
        index=8,
        weight=weight_info("force_set_balance"),
        args=[
            arg("who", MultiAddress, "AccountIdLookupOf<T>"),
            arg("new_free", Compact(Balance), BALANCE_TYPE),
        ],
    )
    def force_set_balance(self, origin: Origin, who: object, new_free: int) -> None:
        """Set the regular balance of a given account."""
        ensure_root(origin)
        account = lookup(who)
        ed = self.config.existential_deposit
        if new_free < ed:
            new_free = 0
        info = self.system.account.get(account)
        data = cast(dict[str, object], info["data"])
        old_free = cast(int, data["free"])
        existed = cast(int, info["providers"]) > 0
        data["free"] = new_free
        self._store(account, info, existed)
        self.total_issuance.put(self.total_issuance.get() - old_free + new_free)
        self.deposit_event("BalanceSet", {"who": account, "free": new_free})

    @call(index=10, weight=weight_info("burn"), args=[_VALUE, arg("keep_alive", Bool, "bool")])
    def burn(self, origin: Origin, value: int, keep_alive: bool) -> None:
        """Burn the specified liquid free balance from the origin account."""
        who = ensure_signed(origin)
        self._withdraw(who, value, keep_alive=keep_alive)
        self.total_issuance.put(self.total_issuance.get() - value)
        self.deposit_event("Burned", {"who": who, "amount": value})

    # --- Currency-like API ----------------------------------------------------------------------------

    def _data(self, who: bytes) -> dict[str, object]:
        return cast(dict[str, object], self.system.account.get(who)["data"])

    def free_balance(self, who: bytes) -> int:
        return cast(int, self._data(who)["free"])

    def reserved_balance(self, who: bytes) -> int:
        return cast(int, self._data(who)["reserved"])

    def _store(self, who: bytes, info: dict[str, object], existed: bool) -> None:
        """Write an account, creating or reaping it as its balance requires."""
        data = cast(dict[str, object], info["data"])
        alive = cast(int, data["free"]) > 0 or cast(int, data["reserved"]) > 0
        system = self.system
        if alive:
            if not existed:
                info["providers"] = cast(int, info["providers"]) + 1
                data["flags"] = NEW_LOGIC_FLAG
                system.account.insert(who, info)
                system.on_created_account(who)
                self.deposit_event("Endowed", {"account": who, "free_balance": data["free"]})
            else:
                system.account.insert(who, info)
            return
        if existed:
            info["providers"] = max(cast(int, info["providers"]) - 1, 0)
            if info["providers"] == 0 and info["consumers"] == 0 and info["sufficients"] == 0:
                system.account.remove(who)
                system.on_killed_account(who)
                return
        system.account.insert(who, info)

    def _withdraw(self, who: bytes, value: int, *, keep_alive: bool) -> None:
        """Take ``value`` from ``who``'s free balance (kills the account below ED unless keep_alive)."""
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        free = cast(int, data["free"])
        if free < value:
            raise self.error("InsufficientBalance")
        new_free = free - value
        if new_free < cast(int, data["frozen"]):
            raise self.error("LiquidityRestrictions")
        ed = self.config.existential_deposit
        existed = cast(int, info["providers"]) > 0
        if new_free < ed and cast(int, data["reserved"]) == 0:
            if keep_alive or cast(int, info["consumers"]) > 0:
                raise self.error("Expendability")
            if new_free > 0:
                self.total_issuance.put(self.total_issuance.get() - new_free)
                self.deposit_event("DustLost", {"account": who, "amount": new_free})
                new_free = 0
        data["free"] = new_free
        self._store(who, info, existed)

    def _deposit(self, who: bytes, value: int) -> None:
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        existed = cast(int, info["providers"]) > 0
        new_free = cast(int, data["free"]) + value
        if not existed and new_free < self.config.existential_deposit:
            raise self.error("ExistentialDeposit")
        data["free"] = new_free
        self._store(who, info, existed)

    def transfer(self, source: bytes, dest: bytes, value: int, *, keep_alive: bool) -> None:
        """Move ``value`` of free balance; emits ``Transfer``."""
        if value == 0 or source == dest:
            return
        if not self.system.account.contains(dest) and value < self.config.existential_deposit:
            raise self.error("ExistentialDeposit")
        self._withdraw(source, value, keep_alive=keep_alive)
        self._deposit(dest, value)
        self.deposit_event("Transfer", {"from": source, "to": dest, "amount": value})

    def can_withdraw_fee(self, who: bytes, fee: int) -> bool:
        """Whether ``who`` can pay ``fee`` and stay alive (``Preservation::Preserve``)."""
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        free = cast(int, data["free"])
        floor = max(cast(int, data["frozen"]), self.config.existential_deposit)
        return free >= fee and free - fee >= floor

    def withdraw_fee(self, who: bytes, fee: int) -> None:
        """Withdraw and burn a transaction fee; emits ``Withdraw``."""
        if fee == 0:
            return
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        data["free"] = cast(int, data["free"]) - fee
        self.system.account.insert(who, info)
        self.total_issuance.put(self.total_issuance.get() - fee)
        self.deposit_event("Withdraw", {"who": who, "amount": fee})

    def refund_fee(self, who: bytes, amount: int) -> None:
        """Give back the part of a withdrawn fee the call did not use (it was burned, so issuance
        grows again); emits ``Deposit``."""
        if amount <= 0:
            return
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        data["free"] = cast(int, data["free"]) + amount
        self.system.account.insert(who, info)
        self.total_issuance.put(self.total_issuance.get() + amount)
        self.deposit_event("Deposit", {"who": who, "amount": amount})

    def reserve(self, who: bytes, amount: int) -> None:
        """Move ``amount`` from free to reserved; emits ``Reserved``."""
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        free = cast(int, data["free"])
        if free < amount:
            raise self.error("InsufficientBalance")
        if free - amount < cast(int, data["frozen"]):
            raise self.error("LiquidityRestrictions")
        data["free"] = free - amount
        data["reserved"] = cast(int, data["reserved"]) + amount
        self.system.account.insert(who, info)
        self.deposit_event("Reserved", {"who": who, "amount": amount})

    def reserve_or(self, who: bytes, amount: int, failure: DispatchError, *, keep_free: int = 0) -> None:
        """Reserve ``amount`` for another pallet (a deposit, an escrow), leaving at least
        ``keep_free`` free; raise ``failure`` (that pallet's own error) when it cannot."""
        if self.free_balance(who) - amount < keep_free:
            raise failure
        try:
            self.reserve(who, amount)
        except DispatchError:
            raise failure from None

    def repatriate_reserved(self, source: bytes, dest: bytes, amount: int) -> None:
        """``ReservableCurrency::repatriate_reserved(source -> dest, Free)``: unreserve from
        ``source``, then transfer to ``dest`` (which may reap ``source``)."""
        self.unreserve(source, amount)
        self.transfer(source, dest, amount, keep_alive=False)

    def unreserve(self, who: bytes, amount: int) -> int:
        """Move up to ``amount`` back from reserved to free; returns what was not unreserved."""
        info = self.system.account.get(who)
        data = cast(dict[str, object], info["data"])
        reserved = cast(int, data["reserved"])
        actual = min(reserved, amount)
        if actual == 0:
            return amount
        data["reserved"] = reserved - actual
        data["free"] = cast(int, data["free"]) + actual
        self.system.account.insert(who, info)
        self.deposit_event("Unreserved", {"who": who, "amount": actual})
        return amount - actual

    def genesis(self, config: Mapping[str, object]) -> None:
        balances = cast(Sequence[tuple[bytes, int]], config.get("balances", ()))
        total = 0
        for who, amount in balances:
            if amount < self.config.existential_deposit:
                raise ValueError(
                    f"genesis balance of {who.hex()}: found {amount}, wanted >= existential deposit"
                )
            info = self.system.account.get(who)
            info["providers"] = 1
            info["data"] = {"free": amount, "reserved": 0, "frozen": 0, "flags": NEW_LOGIC_FLAG}
            self.system.account.insert(who, info)
            total += amount
        self.total_issuance.put(total)


__all__ = ["NEW_LOGIC_FLAG", "Balances", "BalancesConfig", "BalancesWeightInfo", "BalancesWeights"]
