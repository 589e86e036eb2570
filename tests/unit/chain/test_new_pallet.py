"""Adding a pallet is a class plus one line: storage, calls, events, errors, constants and
metadata follow from the declarations, and outside clients use it at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest
from chain_harness import FakeWebsocket, MiniChain
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.chain import DevRuntime
from phala_agents.chain.frame import (
    Blake2_128Concat,
    OptionQuery,
    Origin,
    Pallet,
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
)
from phala_agents.chain.pallets import Balances
from phala_agents.scale import U8, U32, U64, U128, AccountId, BoundedVec, Bytes, Struct, field

Note = Struct(
    "pallet_notes::Note",
    [
        field("owner", AccountId, "T::AccountId"),
        field("text", BoundedVec(U8, 32), "BoundedVec<u8, T::MaxLen>"),
    ],
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotesConfig:
    deposit: int = 10**10
    max_len: int = 32


class Notes(Pallet, name="Notes"):
    """A toy pallet shaped like the AgentRegistry to come."""

    next_id = StorageValue("NextId", U64, query=ValueQuery, docs=" The next note id.")
    notes = StorageMap("Notes", Twox64Concat, U64, Note, query=OptionQuery, docs=" Notes by id.")
    likes = StorageDoubleMap("Likes", Twox64Concat, U64, Blake2_128Concat, AccountId, U32, query=ValueQuery)

    EVENTS = (
        event("Posted", field("id", U64, "u64"), field("owner", AccountId, "T::AccountId"), docs="A note."),
        event("Liked", field("id", U64, "u64"), field("by", AccountId, "T::AccountId")),
    )
    ERRORS = (error("TooLong", "The text is too long."), error("NoSuchNote", "Unknown id."))
    CONSTANTS = (
        constant("Deposit", U128, lambda c: cast(NotesConfig, c).deposit, " Reserved per note."),
        constant("MaxLen", U32, lambda c: cast(NotesConfig, c).max_len, " Longest text."),
    )
    config: NotesConfig

    @call(index=0, weight=Weight(50_000_000, 2_000), args=[arg("text", Bytes, "Vec<u8>")])
    def post(self, origin: Origin, text: bytes) -> None:
        """Post a note, reserving the deposit."""
        who = ensure_signed(origin)
        if len(text) > self.config.max_len:
            raise self.error("TooLong")
        self.runtime.pallet(Balances).reserve(who, self.config.deposit)
        note_id = self.next_id.get()
        self.notes.insert(note_id, {"owner": who, "text": text})
        self.next_id.put(note_id + 1)
        self.deposit_event("Posted", {"id": note_id, "owner": who})

    @call(index=1, weight=Weight(20_000_000, 1_000), args=[arg("id", U64, "u64")])
    def like(self, origin: Origin, id: int) -> None:
        """Like a note."""
        who = ensure_signed(origin)
        if not self.notes.contains(id):
            raise self.error("NoSuchNote")
        self.likes.insert(id, who, self.likes.get(id, who) + 1)
        self.deposit_event("Liked", {"id": id, "by": who})


@pytest.fixture
def notes_chain() -> MiniChain:
    return MiniChain(DevRuntime(extra_pallets=[(20, Notes, NotesConfig())]))


def test_new_pallet_through_substrate_interface(notes_chain: MiniChain) -> None:
    si = SubstrateInterface(websocket=FakeWebsocket(notes_chain), ss58_format=42)
    alice = Keypair.create_from_uri("//Alice")
    assert si.get_constant("Notes", "MaxLen").value == 32
    post = si.compose_call("Notes", "post", {"text": "0x" + b"hello".hex()})
    si.submit_extrinsic(si.create_signed_extrinsic(call=post, keypair=alice))
    assert si.query("Notes", "Notes", [0]).value == {"owner": alice.ss58_address, "text": "hello"}
    like = si.compose_call("Notes", "like", {"id": 0})
    si.submit_extrinsic(si.create_signed_extrinsic(call=like, keypair=alice))
    assert si.query("Notes", "Likes", [0, alice.ss58_address]).value == 1
    events = si.query("System", "Events", block_hash="0x" + notes_chain.head.hash.hex()).value
    assert ("Notes", "Liked") in [(e["event"]["module_id"], e["event"]["event_id"]) for e in events]
    missing = si.compose_call("Notes", "like", {"id": 9})
    si.submit_extrinsic(si.create_signed_extrinsic(call=missing, keypair=alice))
    assert notes_chain.head.outcomes[-1].error == "Notes::NoSuchNote"  # type: ignore[union-attr]
    md = si.get_block_metadata()
    assert md.get_module_error(module_index=20, error_index=1).name == "NoSuchNote"
    reserved = si.query("System", "Account", [alice.ss58_address]).value["data"]["reserved"]
    assert reserved == 10**10
    si.close()


def test_new_pallet_storage_iterates_in_key_order(notes_chain: MiniChain) -> None:
    from chain_harness import DictState

    from phala_agents.chain import StorageOverlay

    rt = notes_chain.runtime
    rt.ext.overlay = StorageOverlay(DictState(notes_chain.head.state))
    rt.ext.events = []
    notes = rt.pallet(Notes)
    for i in range(3):
        notes.notes.insert(i, {"owner": bytes(32), "text": bytes([i])})
    assert sorted(k for k, _ in notes.notes.iter()) == [0, 1, 2]
    notes.notes.clear()
    assert list(notes.notes.iter()) == []
