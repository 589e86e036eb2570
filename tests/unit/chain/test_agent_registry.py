"""AgentRegistry in the FRAME style: a mock runtime (``new_test_ext``), ``set_block_number(1)``
first, ``assert_ok``, ``assert_noop`` (error AND unchanged trie root and events) for every error
path, ``assert_last_event`` for every success path, deposit invariants (also under hypothesis
sequences of random calls), the spec file against the generated metadata, golden storage keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from chain_harness import TestExternalities
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset
from substrateinterface import SubstrateInterface

from phala_agents.chain import DEV_ACCOUNTS, DevRuntime
from phala_agents.chain.frame import Call, Origin
from phala_agents.chain.pallets.agent_registry import (
    AgentInfo,
    AgentRegistry,
    AgentRegistryWeights,
    agent_info_max_encoded_len,
)
from phala_agents.chain.pallets.workers import Workers, dev_cluster_public_key
from phala_agents.client import dev_cluster_key, open_prompt, prompt_commitment, seal_prompt
from phala_agents.client.sealing import SealedBlob
from phala_agents.errors import ModuleError, SealingError

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO / "chain" / "pallets" / "agent_registry.md"

ALICE, BOB, CHARLIE, DAVE = (DEV_ACCOUNTS[n] for n in ("Alice", "Bob", "Charlie", "Dave"))
UNIT = 10**12
POOR = bytes([7]) * 32  # exists with a little balance, cannot cover a deposit


class MockExt(TestExternalities):
    """``new_test_ext()``: the dev runtime over an in-memory genesis state."""

    def __init__(self) -> None:
        genesis = {
            "Balances": {
                "balances": [
                    (ALICE, 1000 * UNIT),
                    (BOB, 1000 * UNIT),
                    (CHARLIE, 1000 * UNIT),
                    (POOR, UNIT // 2),
                ]
            },
            "Sudo": {"key": ALICE},
            "Workers": {"cluster_key": (dev_cluster_public_key(), 0)},
        }
        super().__init__(DevRuntime(genesis_config=genesis))
        self.registry = self.rt.pallet(AgentRegistry)

    def dispatch(self, call_name: str, origin: Origin, /, **args: object) -> None:
        self.run("AgentRegistry", call_name, origin, args)

    def events(self) -> list[tuple[str, str, object]]:
        return [(e["pallet"], e["event"], e["attributes"]) for e in self.rt.decoded_events()]  # type: ignore[misc]

    def agent(self, agent_id: int) -> dict[str, Any]:
        info = self.registry.agents.get(agent_id)
        assert info is not None
        return cast(dict[str, Any], info)


@contextmanager
def new_test_ext() -> Iterator[MockExt]:
    ext = MockExt()
    ext.set_block_number(1)
    yield ext


def assert_ok(ext: MockExt, call_name: str, origin: Origin, /, **args: object) -> None:
    ext.dispatch(call_name, origin, **args)


def assert_noop(ext: MockExt, expected: str, call_name: str, origin: Origin, /, **args: object) -> None:
    """The call fails with ``expected`` ("Pallet::Error" or "BadOrigin") and changes nothing."""
    ext.assert_noop(expected, lambda: ext.dispatch(call_name, origin, **args))


def assert_last_event(ext: MockExt, event: str, attrs: object, pallet: str = "AgentRegistry") -> None:
    assert ext.events()[-1] == (pallet, event, attrs)


def signed(who: bytes) -> Origin:
    return Origin.signed(who)


def blob(size: int = 64, epoch: int = 0) -> dict[str, object]:
    return {"epoch": epoch, "enc": bytes(32), "ciphertext": bytes([1]) * size}


def definition(**over: object) -> dict[str, object]:
    args: dict[str, object] = {
        "description": b"A helpful agent.",
        "model": b"smollm2",
        "prompt": blob(),
        "prompt_commitment": bytes([5]) * 32,
        "prices": {"per_1k_input": 1_000_000_000, "per_1k_output": 2_000_000_000, "per_mgas_code": 0},
        "defaults": {"temperature_milli": 700, "max_tokens": 512},
        "tools": [],
        "code_hash": None,
    }
    args.update(over)
    return args


def register_args(ext: MockExt, name: bytes = b"assistant", **over: object) -> dict[str, object]:
    args = {
        "expected_id": ext.registry.next_agent_id.get(),
        "name": name,
        "access": ("Public", None),
        "allow": [],
        **definition(),
    }
    args.update(over)
    return args


def register(ext: MockExt, who: bytes = ALICE, name: bytes = b"assistant", **over: object) -> int:
    agent_id = ext.registry.next_agent_id.get()
    assert_ok(ext, "register", signed(who), **register_args(ext, name, **over))
    return agent_id


def live_deposits(ext: MockExt, who: bytes) -> int:
    return sum(
        cast(int, info["deposit"])
        for _, info in ext.registry.agents.iter()
        if info["owner"] == who and cast(tuple[str, None], info["status"])[0] != "Retired"
    )


def check_invariants(ext: MockExt) -> None:
    """Reserved balance == deposits of live agents; deposits match the formula; indices agree."""
    for who in (ALICE, BOB, CHARLIE, POOR):
        assert ext.reserved(who) == live_deposits(ext, who)
    next_id = ext.registry.next_agent_id.get()
    counts: dict[int, int] = {}
    for raw_key, _ in ext.registry.access._iter_prefix(ext.registry.access.prefix):
        agent_id = int.from_bytes(raw_key[32 + 8 : 32 + 16], "little")
        counts[agent_id] = counts.get(agent_id, 0) + 1
    for agent_id, info in ext.registry.agents.iter():
        assert agent_id < next_id
        status = cast(tuple[str, None], info["status"])[0]
        owner, name = cast(bytes, info["owner"]), cast(bytes, info["name"])
        assert ext.registry.agents_by_owner.contains(owner, agent_id)
        if status == "Retired":
            assert info["deposit"] == 0
            assert ext.registry.agent_by_name.get(owner, name) != agent_id
            assert counts.get(agent_id, 0) == 0
        else:
            assert info["deposit"] == ext.registry.deposit_for(info)
            assert ext.registry.agent_by_name.get(owner, name) == agent_id
        assert ext.registry.access_count.get(agent_id) == counts.get(agent_id, 0)


# --- register ------------------------------------------------------------------------------------


def test_register_stores_the_agent_reserves_the_deposit_and_emits_events() -> None:
    with new_test_ext() as ext:
        free_before = ext.free(ALICE)
        agent_id = register(ext, allow=[BOB, CHARLIE], access=("AllowList", None))
        assert agent_id == 0
        assert ext.registry.next_agent_id.get() == 1
        info = ext.agent(0)
        assert info["owner"] == ALICE and info["name"] == b"assistant" and info["version"] == 1
        assert info["status"] == ("Active", None) and info["access"] == ("AllowList", None)
        assert info["created_at"] == info["updated_at"] == 1
        size = len(AgentInfo.encode(info))
        assert info["deposit"] == UNIT + 10_000_000 * size
        assert ext.reserved(ALICE) == info["deposit"]
        assert ext.free(ALICE) == free_before - info["deposit"]
        assert ext.registry.access.contains(0, BOB) and ext.registry.access.contains(0, CHARLIE)
        assert ext.registry.access_count.get(0) == 2
        assert ext.registry.agents_by_owner.contains(ALICE, 0)
        assert ext.registry.agent_by_name.get(ALICE, b"assistant") == 0
        assert ("Balances", "Reserved", {"who": ALICE, "amount": info["deposit"]}) in ext.events()
        assert_last_event(ext, "Registered", {"agent_id": 0, "owner": ALICE, "version": 1})
        check_invariants(ext)


def test_register_assigns_consecutive_ids_and_names_are_per_owner() -> None:
    with new_test_ext() as ext:
        assert register(ext, ALICE, b"a") == 0
        assert register(ext, BOB, b"a") == 1
        assert register(ext, ALICE, b"b") == 2
        assert_last_event(ext, "Registered", {"agent_id": 2, "owner": ALICE, "version": 1})
        check_invariants(ext)


def test_a_real_sealed_prompt_opens_only_with_the_cluster_key_and_its_aad() -> None:
    with new_test_ext() as ext:
        key = dev_cluster_key()
        prompt = "You are a careful assistant."
        sealed = seal_prompt(prompt, key.public_bytes, agent_id=0, version=1, epoch=key.epoch)
        salt = bytes(32)
        register(
            ext,
            prompt={"epoch": sealed.epoch, "enc": sealed.enc, "ciphertext": sealed.ciphertext},
            prompt_commitment=prompt_commitment(salt, prompt),
        )
        stored = ext.agent(0)["prompt"]
        on_chain = SealedBlob(enc=stored["enc"], ciphertext=stored["ciphertext"], epoch=stored["epoch"])
        assert open_prompt(on_chain, key, agent_id=0, version=1) == prompt
        assert ext.agent(0)["prompt_commitment"] == prompt_commitment(salt, prompt)
        with pytest.raises(SealingError):
            open_prompt(on_chain, key, agent_id=1, version=1)
        with pytest.raises(SealingError):
            open_prompt(on_chain, key, agent_id=0, version=2)


@pytest.mark.parametrize(
    ("expected", "over"),
    [
        ("AgentRegistry::StaleAgentId", {"expected_id": 1}),
        ("AgentRegistry::NameTooLong", {"name": b"n" * 65}),
        ("AgentRegistry::DescriptionTooLong", {"description": b"d" * 513}),
        ("AgentRegistry::ModelTooLong", {"model": b"m" * 65}),
        ("AgentRegistry::PromptTooLong", {"prompt": blob(16_401)}),
        ("AgentRegistry::TooManyTools", {"tools": list(range(17))}),
        ("AgentRegistry::UnknownTool", {"tools": [99]}),
        ("AgentRegistry::TooManyAccessEntries", {"allow": [bytes([i]) * 32 for i in range(65)]}),
        ("AgentRegistry::AlreadyGranted", {"allow": [BOB, BOB]}),
        (
            "AgentRegistry::InvalidPrices",
            {"prices": {"per_1k_input": 2**64, "per_1k_output": 0, "per_mgas_code": 0}},
        ),
        ("AgentRegistry::StaleClusterEpoch", {"prompt": blob(epoch=1)}),
    ],
)
def test_register_errors_change_nothing(expected: str, over: dict[str, object]) -> None:
    with new_test_ext() as ext:
        args = register_args(ext, **over)
        assert_noop(ext, expected, "register", signed(ALICE), **args)
        assert ext.registry.next_agent_id.get() == 0
        check_invariants(ext)


def test_register_bounds_are_inclusive() -> None:
    with new_test_ext() as ext:
        register(ext, name=b"n" * 64, description=b"d" * 512, model=b"m" * 64, prompt=blob(16_400))
        register(ext, name=b"x", allow=[bytes([i]) * 32 for i in range(64)], access=("AllowList", None))
        register(ext, name=b"y", tools=[0, 1])
        check_invariants(ext)


def test_register_name_in_use_insufficient_deposit_and_bad_origin() -> None:
    with new_test_ext() as ext:
        register(ext)
        assert_noop(ext, "AgentRegistry::NameInUse", "register", signed(ALICE), **register_args(ext))
        assert_noop(ext, "AgentRegistry::InsufficientDeposit", "register", signed(POOR), **register_args(ext))
        assert_noop(ext, "BadOrigin", "register", Origin.root(), **register_args(ext))
        assert_noop(ext, "BadOrigin", "register", Origin.none(), **register_args(ext))


def test_register_without_a_cluster_key_is_stale_epoch() -> None:
    with new_test_ext() as ext:
        ext.rt.pallet(Workers).cluster_key.kill()
        assert_noop(ext, "AgentRegistry::StaleClusterEpoch", "register", signed(ALICE), **register_args(ext))


def test_a_retired_tool_is_unknown() -> None:
    with new_test_ext() as ext:
        register(ext, name=b"tool")
        assert_ok(ext, "retire", signed(ALICE), agent_id=0)
        assert_noop(
            ext, "AgentRegistry::UnknownTool", "register", signed(ALICE), **register_args(ext, tools=[0])
        )


# --- the common guards, for every call that takes an agent id ------------------------------------

_OWNER_CALLS: list[tuple[str, dict[str, object]]] = [
    ("update", definition()),
    ("set_access", {"access": ("AllowList", None)}),
    ("grant", {"who": DAVE}),
    ("revoke", {"who": BOB}),
    ("pause", {}),
    ("resume", {}),
    ("retire", {}),
    ("transfer_ownership", {"new_owner": CHARLIE}),
]


@pytest.mark.parametrize(("name", "args"), _OWNER_CALLS, ids=[c[0] for c in _OWNER_CALLS])
def test_guards_in_order_origin_exists_owner_retired(name: str, args: dict[str, object]) -> None:
    with new_test_ext() as ext:
        register(ext, allow=[BOB])
        assert_noop(ext, "BadOrigin", name, Origin.root(), agent_id=0, **args)
        assert_noop(ext, "AgentRegistry::AgentNotFound", name, signed(ALICE), agent_id=5, **args)
        # A non-owner on a missing agent still gets AgentNotFound (existence is checked first).
        assert_noop(ext, "AgentRegistry::AgentNotFound", name, signed(BOB), agent_id=5, **args)
        assert_noop(ext, "AgentRegistry::NotOwner", name, signed(BOB), agent_id=0, **args)
        assert_ok(ext, "retire", signed(ALICE), agent_id=0)
        assert_noop(ext, "AgentRegistry::NotOwner", name, signed(BOB), agent_id=0, **args)
        assert_noop(ext, "AgentRegistry::AgentRetired", name, signed(ALICE), agent_id=0, **args)
        check_invariants(ext)


# --- update ----------------------------------------------------------------------------------------


def test_update_bumps_the_version_keeps_the_id_and_rebalances_the_deposit() -> None:
    with new_test_ext() as ext:
        register(ext)
        ext.set_block_number(5)
        first = ext.agent(0)["deposit"]
        assert_ok(ext, "update", signed(ALICE), agent_id=0, **definition(prompt=blob(4000), model=b"bigger"))
        info = ext.agent(0)
        assert info["version"] == 2 and info["model"] == b"bigger"
        assert info["created_at"] == 1 and info["updated_at"] == 5
        grown = info["deposit"]
        assert grown == first + 10_000_000 * (4000 - 64 + len(b"bigger") - len(b"smollm2"))
        assert ext.reserved(ALICE) == grown
        assert ("Balances", "Reserved", {"who": ALICE, "amount": grown - first}) in ext.events()
        assert_last_event(ext, "Updated", {"agent_id": 0, "version": 2})
        assert_ok(ext, "update", signed(ALICE), agent_id=0, **definition(prompt=blob(10)))
        shrunk = ext.agent(0)["deposit"]
        assert shrunk < first and ext.reserved(ALICE) == shrunk
        assert ("Balances", "Unreserved", {"who": ALICE, "amount": grown - shrunk}) in ext.events()
        assert_last_event(ext, "Updated", {"agent_id": 0, "version": 3})
        assert ext.registry.next_agent_id.get() == 1
        check_invariants(ext)


def test_update_keeps_a_paused_agent_paused() -> None:
    with new_test_ext() as ext:
        register(ext)
        assert_ok(ext, "pause", signed(ALICE), agent_id=0)
        assert_ok(ext, "update", signed(ALICE), agent_id=0, **definition())
        assert ext.agent(0)["status"] == ("Paused", None)
        assert_last_event(ext, "Updated", {"agent_id": 0, "version": 2})


@pytest.mark.parametrize(
    ("expected", "over"),
    [
        ("AgentRegistry::DescriptionTooLong", {"description": b"d" * 513}),
        ("AgentRegistry::ModelTooLong", {"model": b"m" * 65}),
        ("AgentRegistry::PromptTooLong", {"prompt": blob(16_401)}),
        ("AgentRegistry::TooManyTools", {"tools": list(range(17))}),
        ("AgentRegistry::UnknownTool", {"tools": [42]}),
        (
            "AgentRegistry::InvalidPrices",
            {"prices": {"per_1k_input": 0, "per_1k_output": 0, "per_mgas_code": 2**70}},
        ),
        ("AgentRegistry::StaleClusterEpoch", {"prompt": blob(epoch=3)}),
    ],
)
def test_update_errors_change_nothing(expected: str, over: dict[str, object]) -> None:
    with new_test_ext() as ext:
        register(ext)
        assert_noop(ext, expected, "update", signed(ALICE), agent_id=0, **definition(**over))
        assert ext.agent(0)["version"] == 1


def test_update_that_grows_past_the_free_balance_is_insufficient_deposit() -> None:
    with new_test_ext() as ext:
        register(ext)
        deposit = ext.agent(0)["deposit"]
        # Leave Alice just enough free balance for the current deposit and nothing for growth.
        ext.balances.transfer(ALICE, BOB, ext.free(ALICE) - 10**9, keep_alive=False)
        assert ext.reserved(ALICE) == deposit
        assert_noop(
            ext,
            "AgentRegistry::InsufficientDeposit",
            "update",
            signed(ALICE),
            agent_id=0,
            **definition(prompt=blob(16_000)),
        )


# --- access ----------------------------------------------------------------------------------------


def test_set_access_grant_and_revoke() -> None:
    with new_test_ext() as ext:
        register(ext)
        assert_ok(ext, "set_access", signed(ALICE), agent_id=0, access=("AllowList", None))
        assert ext.agent(0)["access"] == ("AllowList", None)
        assert_last_event(ext, "AccessChanged", {"agent_id": 0, "access": ("AllowList", None)})
        assert_ok(ext, "grant", signed(ALICE), agent_id=0, who=BOB)
        assert_last_event(ext, "AccessGranted", {"agent_id": 0, "who": BOB})
        assert ext.registry.access.contains(0, BOB) and ext.registry.access_count.get(0) == 1
        assert_noop(ext, "AgentRegistry::AlreadyGranted", "grant", signed(ALICE), agent_id=0, who=BOB)
        assert_ok(ext, "revoke", signed(ALICE), agent_id=0, who=BOB)
        assert_last_event(ext, "AccessRevoked", {"agent_id": 0, "who": BOB})
        assert not ext.registry.access.contains(0, BOB) and ext.registry.access_count.get(0) == 0
        assert_noop(ext, "AgentRegistry::NotGranted", "revoke", signed(ALICE), agent_id=0, who=BOB)
        assert_ok(ext, "set_access", signed(ALICE), agent_id=0, access=("Public", None))
        assert_last_event(ext, "AccessChanged", {"agent_id": 0, "access": ("Public", None)})
        check_invariants(ext)


def test_grant_past_the_limit_is_too_many_access_entries() -> None:
    with new_test_ext() as ext:
        register(ext, allow=[bytes([i]) * 32 for i in range(64)], access=("AllowList", None))
        assert_noop(ext, "AgentRegistry::TooManyAccessEntries", "grant", signed(ALICE), agent_id=0, who=DAVE)
        assert_ok(ext, "revoke", signed(ALICE), agent_id=0, who=bytes([3]) * 32)
        assert_ok(ext, "grant", signed(ALICE), agent_id=0, who=DAVE)
        assert ext.registry.access_count.get(0) == 64
        check_invariants(ext)


# --- pause, resume, retire, transfer ---------------------------------------------------------------


def test_pause_and_resume() -> None:
    with new_test_ext() as ext:
        register(ext)
        assert_noop(ext, "AgentRegistry::NotPaused", "resume", signed(ALICE), agent_id=0)
        assert_ok(ext, "pause", signed(ALICE), agent_id=0)
        assert ext.agent(0)["status"] == ("Paused", None)
        assert_last_event(ext, "Paused", {"agent_id": 0})
        assert_noop(ext, "AgentRegistry::AlreadyPaused", "pause", signed(ALICE), agent_id=0)
        assert_ok(ext, "resume", signed(ALICE), agent_id=0)
        assert ext.agent(0)["status"] == ("Active", None)
        assert_last_event(ext, "Resumed", {"agent_id": 0})


def test_retire_is_final_and_returns_exactly_the_deposit() -> None:
    with new_test_ext() as ext:
        register(ext, allow=[BOB, CHARLIE], access=("AllowList", None))
        assert_ok(ext, "pause", signed(ALICE), agent_id=0)  # a paused agent can retire too
        deposit = ext.agent(0)["deposit"]
        free_before = ext.free(ALICE)
        assert_ok(ext, "retire", signed(ALICE), agent_id=0)
        assert ext.free(ALICE) == free_before + deposit and ext.reserved(ALICE) == 0
        assert ("Balances", "Unreserved", {"who": ALICE, "amount": deposit}) in ext.events()
        assert_last_event(ext, "Retired", {"agent_id": 0, "deposit_returned": deposit})
        info = ext.agent(0)
        assert info["status"] == ("Retired", None) and info["deposit"] == 0
        assert info["prompt"]["ciphertext"] == b"" and info["version"] == 1
        assert not ext.registry.access.contains(0, BOB) and ext.registry.access_count.get(0) == 0
        assert not ext.registry.agent_by_name.contains(ALICE, b"assistant")
        assert_noop(ext, "AgentRegistry::AgentRetired", "retire", signed(ALICE), agent_id=0)
        # The name is free again, under a new id (ids are never reused).
        assert register(ext) == 1
        check_invariants(ext)


def test_transfer_ownership_moves_the_deposit_and_the_indices() -> None:
    with new_test_ext() as ext:
        register(ext)
        deposit = ext.agent(0)["deposit"]
        assert_ok(ext, "transfer_ownership", signed(ALICE), agent_id=0, new_owner=BOB)
        assert_last_event(ext, "OwnershipTransferred", {"agent_id": 0, "from": ALICE, "to": BOB})
        assert ext.agent(0)["owner"] == BOB
        assert ext.reserved(ALICE) == 0 and ext.reserved(BOB) == deposit
        assert ("Balances", "Reserved", {"who": BOB, "amount": deposit}) in ext.events()
        assert ("Balances", "Unreserved", {"who": ALICE, "amount": deposit}) in ext.events()
        assert not ext.registry.agents_by_owner.contains(ALICE, 0)
        assert ext.registry.agent_by_name.get(BOB, b"assistant") == 0
        assert_noop(ext, "AgentRegistry::NotOwner", "pause", signed(ALICE), agent_id=0)
        assert_ok(ext, "pause", signed(BOB), agent_id=0)
        check_invariants(ext)


def test_transfer_ownership_errors() -> None:
    with new_test_ext() as ext:
        register(ext)
        register(ext, BOB)
        assert_noop(
            ext, "AgentRegistry::NameInUse", "transfer_ownership", signed(ALICE), agent_id=0, new_owner=BOB
        )
        assert_noop(
            ext,
            "AgentRegistry::InsufficientDeposit",
            "transfer_ownership",
            signed(ALICE),
            agent_id=0,
            new_owner=POOR,
        )


def test_transfer_to_oneself_changes_nothing_but_says_so() -> None:
    with new_test_ext() as ext:
        register(ext)
        root = ext.root()
        assert_ok(ext, "transfer_ownership", signed(ALICE), agent_id=0, new_owner=ALICE)
        assert ext.root() == root
        assert_last_event(ext, "OwnershipTransferred", {"agent_id": 0, "from": ALICE, "to": ALICE})


# --- weights -----------------------------------------------------------------------------------------


def test_weights_follow_the_spec_and_fit_a_block() -> None:
    with new_test_ext() as ext:
        base = register_args(ext)
        small = ext.rt.call_info(Call(pallet="AgentRegistry", name="register", args=base)).weight
        payload = len(b"assistant") + len(b"A helpful agent.") + len(b"smollm2") + 64
        assert small.ref_time == 50_000_000 + 2_000 * payload
        big = register_args(ext, prompt=blob(16_400), allow=[BOB] * 64)
        heavy = ext.rt.call_info(Call(pallet="AgentRegistry", name="register", args=big)).weight
        assert heavy.ref_time == small.ref_time + 2_000 * (16_400 - 64) + 5_000_000 * 64
        upd_call = Call(pallet="AgentRegistry", name="update", args={"agent_id": 0, **definition()})
        upd = ext.rt.call_info(upd_call).weight
        assert upd.ref_time == 40_000_000 + 2_000 * (len(b"A helpful agent.") + len(b"smollm2") + 64)
        max_normal = ext.rt.system_config.normal_max_total.ref_time
        assert heavy.ref_time < max_normal // 10
        assert small == AgentRegistryWeights().register(payload, 0, 0)


def test_every_registry_call_proves_at_least_one_agent_record() -> None:
    weights = AgentRegistryWeights()
    longest = agent_info_max_encoded_len()
    # owner, bounded name/description/model/ciphertext, 16 tools: the record is ~17 KB at most
    assert 16_400 + 512 + 64 + 64 + 16 * 8 < longest < 18_000
    for c in AgentRegistry.CALLS:
        lengths = {"register": (0, 0, 0), "update": (0, 0)}.get(c.name, ())
        weight = getattr(weights, c.name)(*lengths)
        assert weight.proof_size > longest, c.name
    assert weights.register(0, 0, 2).proof_size - weights.register(0, 0, 0).proof_size > 2 * longest


# --- hypothesis: random call sequences keep the invariants ---------------------------------------

_ACCOUNTS = (ALICE, BOB, CHARLIE, POOR)
_op = st.one_of(
    st.tuples(
        st.just("register"),
        st.sampled_from(_ACCOUNTS),
        st.sampled_from([b"a", b"b", b"c"]),
        st.integers(1, 3000),
    ),
    st.tuples(st.just("update"), st.sampled_from(_ACCOUNTS), st.integers(0, 6), st.integers(1, 3000)),
    st.tuples(st.just("grant"), st.sampled_from(_ACCOUNTS), st.integers(0, 6), st.sampled_from(_ACCOUNTS)),
    st.tuples(st.just("revoke"), st.sampled_from(_ACCOUNTS), st.integers(0, 6), st.sampled_from(_ACCOUNTS)),
    st.tuples(st.just("pause"), st.sampled_from(_ACCOUNTS), st.integers(0, 6), st.none()),
    st.tuples(st.just("resume"), st.sampled_from(_ACCOUNTS), st.integers(0, 6), st.none()),
    st.tuples(st.just("retire"), st.sampled_from(_ACCOUNTS), st.integers(0, 6), st.none()),
    st.tuples(
        st.just("transfer_ownership"),
        st.sampled_from(_ACCOUNTS),
        st.integers(0, 6),
        st.sampled_from(_ACCOUNTS),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_op, min_size=1, max_size=25))
def test_random_call_sequences_keep_the_invariants(ops: list[tuple[str, bytes, object, object]]) -> None:
    with new_test_ext() as ext:
        for step, (name, who, a, b) in enumerate(ops):
            ext.set_block_number(step + 1)
            if name == "register":
                args = register_args(ext, cast(bytes, a), prompt=blob(cast(int, b)))
            elif name == "update":
                args = {"agent_id": a, **definition(prompt=blob(cast(int, b)))}
            elif name in ("grant", "revoke"):
                args = {"agent_id": a, "who": b}
            elif name == "transfer_ownership":
                args = {"agent_id": a, "new_owner": b}
            else:
                args = {"agent_id": a}
            before = ext.root()
            try:
                ext.dispatch(name, signed(who), **args)
            except ModuleError:
                assert ext.root() == before  # a failed call leaves no trace
            check_invariants(ext)


# --- the spec file and the generated metadata agree ------------------------------------------------


def _table(section: str) -> list[list[str]]:
    text = SPEC.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return [[c.strip().strip("`") for c in row.strip("|").split("|")] for row in rows[2:]]


def _metadata() -> tuple[RuntimeConfigurationObject, dict[str, Any], dict[int, dict[str, Any]]]:
    rc = RuntimeConfigurationObject()
    rc.update_type_registry(load_type_registry_preset("core"))
    md = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(DevRuntime().metadata()))
    md.decode()
    v14 = md.value[1]["V14"]
    pallet = next(p for p in v14["pallets"] if p["name"] == "AgentRegistry")
    types = {t["id"]: t["type"] for t in v14["types"]["types"]}
    return rc, pallet, types


def _type_text(types: dict[int, dict[str, Any]], type_id: int) -> str:
    t = types[type_id]
    d = t["def"]
    if "primitive" in d:
        return str(d["primitive"])
    if "tuple" in d and not d["tuple"]:
        return "()"
    path = t.get("path") or []
    if path and path[-1] == "BoundedVec":
        inner = types[d["composite"]["fields"][0]["type"]]["def"]["sequence"]["type"]
        return f"BoundedVec<{_type_text(types, inner)}>"
    if "tuple" in d:
        return "(" + ", ".join(_type_text(types, i) for i in d["tuple"]) + ")"
    return str(path[-1])


_SPEC_TYPES = {
    "AgentId": "u64",
    "AccountId": "AccountId32",
    "u32": "u32",
    "AgentInfo": "AgentInfo",
    "()": "()",
}


def _spec_type(text: str) -> str:
    text = text.strip()
    if text.startswith("BoundedVec<u8"):
        return "BoundedVec<u8>"
    return _SPEC_TYPES[text]


def test_spec_storage_matches_metadata() -> None:
    _, pallet, types = _metadata()
    entries = {e["name"]: e for e in pallet["storage"]["entries"]}
    rows = _table("Storage")
    assert [r[0] for r in rows] == list(entries)
    for name, kind, hashers, keys, value, query in rows:
        entry = entries[name]
        assert entry["modifier"] == ("Default" if query.startswith("ValueQuery") else "Optional"), name
        if kind == "value":
            assert "Plain" in entry["type"], name
            assert _type_text(types, entry["type"]["Plain"]) == _spec_type(value), name
            continue
        m = entry["type"]["Map"]
        assert m["hashers"] == [h.strip() for h in hashers.split(",")], name
        assert len(m["hashers"]) == (2 if kind == "double map" else 1), name
        key_ids = types[m["key"]]["def"]["tuple"] if kind == "double map" else [m["key"]]
        # Split "`AccountId`, `BoundedVec<u8, MaxNameLen>`" at the top-level commas.
        spec_keys = [k.strip().strip("`") for k in re.split(r",\s*(?![^<]*>)", keys)]
        assert [_type_text(types, k) for k in key_ids] == [_spec_type(k) for k in spec_keys], name
        assert _type_text(types, m["value"]) == _spec_type(value), name


def test_spec_calls_match_metadata() -> None:
    _, pallet, types = _metadata()
    variants = types[pallet["calls"]["ty"]]["def"]["variant"]["variants"]
    rows = _table("Calls (origin: signed by the owner unless said otherwise; indices never change)")
    assert [(int(r[0]), r[1]) for r in rows] == [(v["index"], v["name"]) for v in variants]
    registry = DevRuntime().pallet(AgentRegistry)
    for row, v in zip(rows, variants, strict=True):
        spec_args = [a.split(":")[0].strip() for a in re.split(r",\s*(?![^<]*>)", row[2])]
        assert spec_args == [f["name"] for f in v["fields"]], v["name"]
        # weights: the fixed part of the spec's weight column is what an empty call weighs
        fixed = int(row[3].split()[0].replace("_", ""))
        cdef = next(c for c in AgentRegistry.CALLS if c.name == v["name"])
        empty = {"name": b"", "description": b"", "model": b"", "prompt": {"ciphertext": b""}, "allow": []}
        assert cdef.weight_of(registry, empty).ref_time == fixed, v["name"]


def _names(section: str) -> list[str]:
    text = SPEC.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`([A-Z][A-Za-z]+)(?: \{[^}]*\})?`", body)


def test_spec_events_and_errors_match_metadata_in_order() -> None:
    _, pallet, types = _metadata()
    events = [v["name"] for v in types[pallet["event"]["ty"]]["def"]["variant"]["variants"]]
    errors = types[pallet["error"]["ty"]]["def"]["variant"]["variants"]
    assert _names("Events") == events
    assert _names("Errors (indexed in this order)") == [e["name"] for e in errors]
    assert [e["index"] for e in errors] == list(range(len(errors)))
    assert all(e["docs"] for e in errors)


def test_spec_event_fields_match_metadata() -> None:
    _, pallet, types = _metadata()
    text = SPEC.read_text().split("## Events", 1)[1].split("\n## ", 1)[0]
    spec = {
        m.group(1): [f.strip() for f in m.group(2).split(",")]
        for m in re.finditer(r"`(\w+) \{ ([^}]*) \}`", text)
    }
    for v in types[pallet["event"]["ty"]]["def"]["variant"]["variants"]:
        assert spec[v["name"]] == [f["name"] for f in v["fields"]], v["name"]


def test_spec_constants_match_metadata(substrate: SubstrateInterface) -> None:
    rows = _table("Constants")
    _, pallet, _ = _metadata()
    assert [r[0] for r in rows] == [c["name"] for c in pallet["constants"]]
    for name, value in rows:
        wanted = int(value.split()[0].replace("_", ""))
        assert substrate.get_constant("AgentRegistry", name).value == wanted, name
        assert substrate.get_constant("AgentRegistry", name).value is not None


def test_client_limits_equal_the_pallet_constants() -> None:
    from phala_agents.client import agent_file

    cfg = DevRuntime().pallet(AgentRegistry).config
    assert cfg.max_name_len == agent_file.MAX_NAME_BYTES
    assert cfg.max_description_len == agent_file.MAX_DESCRIPTION_BYTES
    assert cfg.max_model_len == agent_file.MAX_MODEL_BYTES
    assert cfg.max_prompt_len == agent_file.MAX_PROMPT_BYTES
    assert cfg.max_sealed_prompt_len == cfg.max_prompt_len + 16
    assert cfg.max_tools == agent_file.MAX_TOOLS
    assert cfg.max_access_entries == agent_file.MAX_ALLOWLIST


# --- golden storage keys -----------------------------------------------------------------------------

# twox128("AgentRegistry") ++ twox128(entry) ++ hasher(key); computed once and pinned.
GOLDEN_KEYS = {
    "NextAgentId": "b03e870a943a83094bcc08ae40179262dcc66444fa7bb900c8d1e19311afd83d",
    "Agents(0)": "b03e870a943a83094bcc08ae401792620ec3e268c3abf5d87f15dde43fc56ec1"
    "bb1bdbcacd6ac9340000000000000000",
    "Agents(1)": "b03e870a943a83094bcc08ae401792620ec3e268c3abf5d87f15dde43fc56ec1"
    "9599a4a217cb299f0100000000000000",
}
BOB_SS58 = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
ALICE_SS58 = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def test_golden_storage_keys(substrate: SubstrateInterface) -> None:
    with new_test_ext() as ext:
        reg = ext.registry
        ours = {
            "NextAgentId": reg.next_agent_id.key(),
            "Agents(0)": reg.agents.key(0),
            "Agents(1)": reg.agents.key(1),
            "Access(0, Bob)": reg.access.key(0, BOB),
            "AgentByName(Alice, assistant)": reg.agent_by_name.key(ALICE, b"assistant"),
        }
    for name, key in GOLDEN_KEYS.items():
        assert ours[name].hex() == key, name

    # substrate-interface derives the same keys from our metadata.
    def si_key(entry: str, *params: object) -> str:
        return str(substrate.create_storage_key("AgentRegistry", entry, list(params)).to_hex())

    assert si_key("NextAgentId") == "0x" + ours["NextAgentId"].hex()
    assert si_key("Agents", 1) == "0x" + ours["Agents(1)"].hex()
    assert si_key("Access", 0, BOB_SS58) == "0x" + ours["Access(0, Bob)"].hex()
    assert (
        si_key("AgentByName", ALICE_SS58, "0x" + b"assistant".hex())
        == "0x" + ours["AgentByName(Alice, assistant)"].hex()
    )


def test_every_declared_error_has_an_assert_noop_case() -> None:
    text = Path(__file__).read_text()
    missing = [e.name for e in AgentRegistry.ERRORS if f'"AgentRegistry::{e.name}"' not in text]
    assert missing == []
