"""Weights: every call has one that fits a block, length-dependent ones grow, ``UnitWeights`` can be
injected through a pallet's Config, and unused weight is given back to the block and the payer
(``PostDispatchInfo.actual_weight``) while ``query_info`` keeps reporting the declared fee."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest
from chain_harness import MiniChain
from substrateinterface import Keypair

from phala_agents.chain import DEV_ACCOUNTS, ApplyOutcome, DevRuntime, StorageOverlay
from phala_agents.chain.frame import (
    UNIT_WEIGHT,
    Call,
    FromWeightInfo,
    Origin,
    Pallet,
    PostInfo,
    UnitWeights,
    Weight,
    arg,
    call,
    ensure_signed,
    weight_info,
)
from phala_agents.chain.frame._types import RuntimeDispatchInfo
from phala_agents.chain.pallets import (
    AgentRegistryConfig,
    Balances,
    BalancesConfig,
    BillingConfig,
    Sudo,
    SudoConfig,
    System,
    SystemConfig,
    Timestamp,
    TimestampConfig,
    WorkersConfig,
)
from phala_agents.chain.runtime import runtime_version_dict
from phala_agents.scale import U64

BOB = DEV_ACCOUNTS["Bob"]
STANDARD = (System, Timestamp, Balances, Sudo)
TRANSFER = Call(pallet="Balances", name="transfer_keep_alive", args={"dest": ("Id", BOB), "value": 10**12})
# The largest argument each length-dependent call takes in a normal extrinsic (length limit
# 3.75 MiB); set_storage/kill_storage are Root calls, bounded by what a sudo key would send.
LARGEST_ARGS: dict[tuple[str, str], dict[str, object]] = {
    ("System", "remark"): {"remark": bytes(3 * 1024 * 1024)},
    ("System", "remark_with_event"): {"remark": bytes(3 * 1024 * 1024)},
    ("System", "set_storage"): {"items": [(b"k", b"v")] * 1_000},
    ("System", "kill_storage"): {"keys": [b"k"] * 1_000},
    ("System", "kill_prefix"): {"prefix": b"p", "subkeys": 1_000},
    ("Sudo", "sudo"): {"call": TRANSFER},
    ("Sudo", "sudo_as"): {"who": ("Id", BOB), "call": TRANSFER},
    ("Sudo", "sudo_unchecked_weight"): {"call": TRANSFER, "weight": {"ref_time": 10**9, "proof_size": 0}},
}


def unit_configs() -> dict[str, object]:
    return {
        "System": SystemConfig(version=runtime_version_dict(), weights=UnitWeights()),
        "Timestamp": TimestampConfig(weights=UnitWeights()),
        "Balances": BalancesConfig(weights=UnitWeights()),
        "Sudo": SudoConfig(weights=UnitWeights()),
    }


def signed_xt(chain: MiniChain, call: Call, nonce: int = 0, uri: str = "//Alice") -> bytes:
    rt = chain.runtime
    pair = Keypair.create_from_uri(uri)
    extra = rt.extra_bytes(nonce=nonce)
    payload = rt.signing_payload(rt.call_codec.encode(call), extra, chain.genesis_hash, chain.genesis_hash)
    return rt.encode_signed(
        call, signer=pair.public_key, signature=("Sr25519", pair.sign(payload)), nonce=nonce
    )


def query_info(chain: MiniChain, xt: bytes) -> dict[str, object]:
    params = xt + len(xt).to_bytes(4, "little")
    raw = chain.runtime.call(chain.state(), "TransactionPaymentApi_query_info", params)
    return cast("dict[str, object]", RuntimeDispatchInfo.decode_all(raw))


def block_weight(chain: MiniChain) -> dict[str, dict[str, int]]:
    rt = chain.runtime
    rt.ext.overlay = StorageOverlay(chain.state())
    return cast("dict[str, dict[str, int]]", rt.system.block_weight.get())


def test_every_call_has_a_weight_that_fits_in_a_block() -> None:
    rt = DevRuntime()
    limit = rt.system_config.max_extrinsic
    for pallet in rt.pallets.values():
        for c in pallet.CALLS:
            static = c.static_weight(pallet)
            if static is None:
                args = LARGEST_ARGS.get((pallet.NAME, c.name))
                if args is None:
                    assert not isinstance(pallet, STANDARD), f"{pallet.NAME}.{c.name} needs LARGEST_ARGS"
                    continue  # another pallet's argument-dependent weight: its own tests size it
                weight = rt.call_info(Call(pallet=pallet.NAME, name=c.name, args=args)).weight
            else:
                weight = static
            assert 0 < weight.ref_time <= limit.ref_time, (pallet.NAME, c.name, weight)
            assert weight.proof_size <= limit.proof_size, (pallet.NAME, c.name, weight)


def test_length_dependent_weights_grow_with_their_lengths() -> None:
    rt = DevRuntime()
    grown = []
    for pallet in rt.pallets.values():
        for c in pallet.CALLS:
            w = c.weight
            if isinstance(w, FromWeightInfo) and w.lengths:
                weigh = getattr(pallet.weights, w.method)
                small, large = weigh(*[1] * len(w.lengths)), weigh(*[1_000] * len(w.lengths))
                assert large.ref_time > small.ref_time, (pallet.NAME, c.name)
                grown.append(f"{pallet.NAME}.{c.name}")
    assert {"System.remark", "System.set_storage", "System.kill_prefix"} <= set(grown)


def test_sudo_adds_its_own_weight_to_the_dispatched_call() -> None:
    rt = DevRuntime()
    inner = rt.call_info(TRANSFER).weight
    sudo = rt.call_info(Call(pallet="Sudo", name="sudo", args={"call": TRANSFER})).weight
    assert sudo == inner + rt.pallet(Sudo).config.weights.sudo()


def test_unit_weights_are_injected_through_the_config() -> None:
    rt = DevRuntime(configs=unit_configs())
    for pallet_class in STANDARD:
        pallet = rt.pallet(pallet_class)
        for c in pallet.CALLS:
            static = c.static_weight(pallet)
            assert static in (None, UNIT_WEIGHT), (pallet.NAME, c.name)
    assert (
        rt.call_info(Call(pallet="System", name="remark", args={"remark": bytes(100)})).weight == UNIT_WEIGHT
    )
    sudo = rt.call_info(Call(pallet="Sudo", name="sudo", args={"call": TRANSFER})).weight
    assert sudo == UNIT_WEIGHT + UNIT_WEIGHT  # its own unit plus the transfer's


def test_every_pallet_with_calls_takes_its_weights_from_its_config() -> None:
    configs = {
        **unit_configs(),
        "AgentRegistry": AgentRegistryConfig(weights=UnitWeights()),
        "Workers": WorkersConfig(weights=UnitWeights()),
        "Billing": BillingConfig(weights=UnitWeights()),
    }
    rt = DevRuntime(configs=configs)
    for pallet in rt.pallets.values():
        for c in pallet.CALLS:
            assert c.static_weight(pallet) in (None, UNIT_WEIGHT), (pallet.NAME, c.name)
    for pallet_name, name, args in (
        ("AgentRegistry", "register", {"name": b"n" * 64, "allow": [BOB] * 3, "tools": [0, 1]}),
        ("AgentRegistry", "update", {"description": b"d" * 512, "tools": [0]}),
        ("Billing", "settle", {"receipts": [{}] * 10}),
    ):
        weight = rt.call_info(Call(pallet=pallet_name, name=name, args=args)).weight
        assert weight == UNIT_WEIGHT, (pallet_name, name)


def test_a_transfer_under_unit_weights_pays_only_one_weight_unit() -> None:
    chain = MiniChain(DevRuntime(configs=unit_configs()))
    rt = chain.runtime
    xt = signed_xt(chain, TRANSFER)
    block = chain.produce([xt])
    outcome = block.outcomes[-1]
    assert isinstance(outcome, ApplyOutcome) and outcome.ok
    base = rt.system_config.base_extrinsic_ref_time
    assert outcome.fee == base + len(xt) * 10**6 + UNIT_WEIGHT.ref_time
    assert outcome.weight == UNIT_WEIGHT.ref_time
    assert block_weight(chain)["normal"] == {"ref_time": base + 1, "proof_size": 0}


def test_a_weight_info_without_the_declared_method_fails_when_the_runtime_is_built() -> None:
    with pytest.raises(TypeError, match=r"Balances\.transfer_allow_death: weights is object"):
        DevRuntime(configs={"Balances": BalancesConfig(weights=cast("UnitWeights", object()))})
    with pytest.raises(ValueError, match=r"configs: found \['Nope'\]"):
        DevRuntime(configs={"Nope": None})


# --- unused weight is refunded (PostDispatchInfo.actual_weight) ---------------------------------

DECLARED = Weight(500_000_000, 4_000)
USED = Weight(100_000_000, 1_000)


class RefunderWeights:
    def work(self) -> Weight:
        return DECLARED


@dataclass(frozen=True, slots=True, kw_only=True)
class RefunderConfig:
    weights: RefunderWeights = field(default_factory=RefunderWeights)


class Refunder(Pallet, name="Refunder"):
    """Reports as actual weight whatever the caller says (capped by the runtime)."""

    config: RefunderConfig

    @call(index=0, weight=weight_info("work"), args=[arg("used", U64, "u64")])
    def work(self, origin: Origin, used: int) -> PostInfo:
        """Do some work and report how much of the declared weight it used."""
        ensure_signed(origin)
        return PostInfo(actual_weight=Weight(used, USED.proof_size))


def refunder_chain() -> MiniChain:
    return MiniChain(DevRuntime(extra_pallets=[(20, Refunder, RefunderConfig())]))


def fee_of(rt: DevRuntime, weight: Weight, length: int) -> int:
    return rt.system_config.base_extrinsic_ref_time + length * 10**6 + weight.ref_time


def test_unused_weight_lowers_block_weight_and_fee_but_not_query_info() -> None:
    chain = refunder_chain()
    rt = chain.runtime
    xt = signed_xt(chain, Call(pallet="Refunder", name="work", args={"used": USED.ref_time}))
    declared_fee = query_info(chain, xt)["partial_fee"]
    assert declared_fee == fee_of(rt, DECLARED, len(xt))  # the pool's, pre-dispatch view
    block = chain.produce([xt])
    outcome = block.outcomes[-1]
    assert isinstance(outcome, ApplyOutcome) and outcome.ok
    assert outcome.fee == fee_of(rt, USED, len(xt)) < cast(int, declared_fee)
    assert outcome.weight == USED.ref_time
    base = rt.system_config.base_extrinsic_ref_time
    assert block_weight(chain)["normal"] == {"ref_time": USED.ref_time + base, "proof_size": USED.proof_size}
    events = [(e["pallet"], e["event"], e["attributes"]) for e in rt.decoded_events()]
    refund = cast(int, declared_fee) - outcome.fee
    assert ("Balances", "Deposit", {"who": DEV_ACCOUNTS["Alice"], "amount": refund}) in events
    fee_paid = [a for p, e, a in events if e == "TransactionFeePaid"]
    assert fee_paid == [{"who": DEV_ACCOUNTS["Alice"], "actual_fee": outcome.fee, "tip": 0}]
    success = [a for p, e, a in events if e == "ExtrinsicSuccess"]
    assert cast("dict[str, dict[str, object]]", success[-1])["dispatch_info"]["weight"] == {
        "ref_time": USED.ref_time + base,
        "proof_size": USED.proof_size,
    }


def test_reported_weight_above_the_declared_one_is_capped() -> None:
    chain = refunder_chain()
    rt = chain.runtime
    xt = signed_xt(chain, Call(pallet="Refunder", name="work", args={"used": 10 * DECLARED.ref_time}))
    block = chain.produce([xt])
    outcome = block.outcomes[-1]
    assert isinstance(outcome, ApplyOutcome) and outcome.ok
    assert outcome.fee == fee_of(rt, DECLARED, len(xt)) == query_info(chain, xt)["partial_fee"]
    assert outcome.weight == DECLARED.ref_time
    base = rt.system_config.base_extrinsic_ref_time
    # proof_size: min(declared 4_000, reported 1_000) per component
    assert block_weight(chain)["normal"] == {
        "ref_time": DECLARED.ref_time + base,
        "proof_size": USED.proof_size,
    }


def test_refunds_keep_total_issuance_equal_to_the_sum_of_balances() -> None:
    chain = refunder_chain()
    rt = chain.runtime
    xts = [
        signed_xt(chain, Call(pallet="Refunder", name="work", args={"used": used}), nonce=n)
        for n, used in enumerate((0, USED.ref_time, DECLARED.ref_time))
    ]
    chain.produce(xts)
    rt.ext.overlay = StorageOverlay(chain.state())
    accounts = rt.system.account.iter()
    total = sum(
        cast(int, cast("dict[str, object]", info["data"])["free"])
        + cast(int, cast("dict[str, object]", info["data"])["reserved"])
        for _, info in accounts
    )
    assert total == rt.pallet(Balances).total_issuance.get()
