"""StorageOverlay semantics (nested transactions, next_key, clear_prefix) and package exports."""

from __future__ import annotations

import contextlib
import importlib
import re

import pytest
from chain_harness import DictState, MiniChain
from hypothesis import given, settings
from hypothesis import strategies as st

from phala_agents.chain import StorageOverlay, TransactionSource
from phala_agents.errors import DecodeError, InvalidTransaction


def test_nested_transactions_roll_back_only_their_layer() -> None:
    base = DictState({b"a": b"1", b"b": b"2"})
    o = StorageOverlay(base)
    o.set(b"a", b"10")
    o.start_transaction()
    o.set(b"b", b"20")
    o.start_transaction()
    o.delete(b"a")
    o.set(b"c", b"30")
    assert o.get(b"a") is None and o.get(b"c") == b"30"
    o.rollback_transaction()
    assert o.get(b"a") == b"10" and o.get(b"c") is None and o.get(b"b") == b"20"
    o.commit_transaction()
    assert o.changes() == {b"a": b"10", b"b": b"20"}


def test_commit_into_parent_then_rollback_parent() -> None:
    o = StorageOverlay(DictState({}))
    o.start_transaction()
    o.start_transaction()
    o.set(b"x", b"1")
    o.commit_transaction()
    o.rollback_transaction()
    assert o.get(b"x") is None and o.changes() == {}


def test_changes_refuses_open_transactions() -> None:
    o = StorageOverlay(DictState({}))
    o.start_transaction()
    with pytest.raises(RuntimeError):
        o.changes()
    with pytest.raises(RuntimeError):
        StorageOverlay(DictState({})).commit_transaction()


def test_next_key_and_clear_prefix_merge_base_and_overlay() -> None:
    base = DictState({b"p1": b"", b"p3": b"x", b"q": b"y"})
    o = StorageOverlay(base)
    o.set(b"p2", b"z")
    o.delete(b"p3")
    assert o.next_key(b"p") == b"p1"
    assert o.next_key(b"p1") == b"p2"
    assert o.next_key(b"p2") == b"q"
    o.clear_prefix(b"p")
    assert o.next_key(b"") == b"q"
    assert o.changes() == {b"p1": None, b"p2": None, b"p3": None}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([b"a", b"b", b"c", b"d"]), st.binary(max_size=2) | st.none()), max_size=12
    )
)
def test_overlay_matches_a_dict_model(ops: list[tuple[bytes, bytes | None]]) -> None:
    base = {b"b": b"0", b"d": b"1"}
    o = StorageOverlay(DictState(dict(base)))
    model = dict(base)
    for i, (k, v) in enumerate(ops):
        if i % 4 == 0:
            o.start_transaction()
            o.set(b"tmp", b"gone")
            o.rollback_transaction()
        if v is None:
            o.delete(k)
            model.pop(k, None)
        else:
            o.set(k, v)
            model[k] = v
    for k in (b"a", b"b", b"c", b"d", b"tmp"):
        assert o.get(k) == model.get(k)
    keys = []
    key = o.next_key(b"")
    while key is not None:
        keys.append(key)
        key = o.next_key(key)
    assert keys == sorted(model)


def _ruf022_key(name: str) -> tuple[int, list[object]]:
    """ruff's RUF022 order: CONSTANTS, Classes, functions; digits compared as numbers."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", name) if t]


@pytest.mark.parametrize(
    "module",
    [
        "phala_agents.scale",
        "phala_agents.chain",
        "phala_agents.chain.frame",
        "phala_agents.chain.frame._types",
        "phala_agents.chain.frame._weights",
        "phala_agents.chain.pallets",
        "phala_agents.chain.pallets.balances",
        "phala_agents.chain.pallets.sudo",
        "phala_agents.chain.pallets.system",
        "phala_agents.chain.pallets.timestamp",
        "phala_agents.chain.pallets.transaction_payment",
        "phala_agents.chain.runtime",
        "phala_agents.chain._executive",
        "phala_agents.chain._extrinsic",
        "phala_agents.chain._genesis",
        "phala_agents.chain._runtime_apis",
        "phala_agents.chain._signature",
        "phala_agents.chain._version",
        "phala_agents.chain.pallets.agent_registry",
        "phala_agents.chain.pallets.billing",
        "phala_agents.chain.pallets.workers",
    ],
)
def test_exports_are_sorted_and_resolve(module: str) -> None:
    mod = importlib.import_module(module)
    names = list(mod.__all__)
    assert names == sorted(names, key=_ruf022_key), module
    for name in names:
        assert hasattr(mod, name), f"{module}.{name}"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_signed_extrinsics_are_invalid_or_undecodable_never_a_crash(data: st.DataObject) -> None:
    chain = _CHAIN
    xt = bytearray(_VALID)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        pos = data.draw(st.integers(min_value=0, max_value=len(xt) - 1))
        xt[pos] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(xt)))
    candidate = bytes(xt[:cut]) if data.draw(st.booleans()) else bytes(xt)
    with contextlib.suppress(InvalidTransaction, DecodeError):
        chain.runtime.validate_transaction(
            chain.state(), candidate, TransactionSource.EXTERNAL, chain.head.hash
        )


def _valid_transfer() -> tuple[MiniChain, bytes]:
    from substrateinterface import Keypair

    from phala_agents.chain import DEV_ACCOUNTS
    from phala_agents.chain.frame import Call

    chain = MiniChain()
    rt = chain.runtime
    alice = Keypair.create_from_uri("//Alice")
    call = Call(
        pallet="Balances",
        name="transfer_allow_death",
        args={"dest": ("Id", DEV_ACCOUNTS["Bob"]), "value": 10**12},
    )
    cb = rt.call_codec.encode(call)
    payload = rt.signing_payload(cb, rt.extra_bytes(nonce=0), chain.genesis_hash, chain.genesis_hash)
    xt = rt.encode_signed(call, signer=alice.public_key, signature=("Sr25519", alice.sign(payload)), nonce=0)
    chain.validate(xt)
    return chain, xt


_CHAIN, _VALID = _valid_transfer()
