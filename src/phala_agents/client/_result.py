"""Results handed back by the client: events, extrinsic outcomes, heads, fees, balances."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from phala_agents.client._types import JsonValue, WaitFor
from phala_agents.errors import ExtrinsicFailed

# (pallet index, error index) -> (pallet name, error name, docs), from the node's metadata.
ErrorLookup = Callable[[int, int], "tuple[str, str, str] | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One decoded event: ``pallet``/``name`` in FRAME spelling, attributes as decoded."""

    pallet: str
    name: str
    attributes: JsonValue
    phase: str
    extrinsic_index: int | None = None
    topics: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.pallet}.{self.name}"

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "pallet": self.pallet,
            "name": self.name,
            "attributes": self.attributes,
            "phase": self.phase,
            "extrinsic_index": self.extrinsic_index,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtrinsicResult:
    """An included extrinsic. ``ok`` is False when its call failed; ``error`` is ``Pallet::Error``."""

    extrinsic_hash: str
    block_hash: str
    block_number: int | None
    extrinsic_index: int | None
    status: WaitFor
    ok: bool
    events: tuple[Event, ...]
    error: str | None = None
    error_docs: str = ""
    fee: int | None = None
    statuses: tuple[str, ...] = ()

    def raise_for_error(self) -> ExtrinsicResult:
        """Return self if the call succeeded, else raise ``ExtrinsicFailed`` (httpx's idiom)."""
        if self.ok:
            return self
        docs = f": {self.error_docs}" if self.error_docs else ""
        raise ExtrinsicFailed(
            f"extrinsic {self.extrinsic_hash} in block {self.block_hash} failed with {self.error}{docs}",
            error=self.error or "",
            extrinsic_hash=self.extrinsic_hash,
            block_hash=self.block_hash,
        )

    def find(self, pallet: str, name: str) -> tuple[Event, ...]:
        """The events of this extrinsic named ``pallet``/``name``."""
        return tuple(e for e in self.events if e.pallet == pallet and e.name == name)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "ok": self.ok,
            "status": self.status,
            "extrinsic_hash": self.extrinsic_hash,
            "block_hash": self.block_hash,
            "block_number": self.block_number,
            "extrinsic_index": self.extrinsic_index,
            "error": self.error,
            "fee": self.fee,
            "events": [e.to_json() for e in self.events],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedExtrinsic:
    """A signed extrinsic ready to submit (hex of its SCALE bytes, its hash, the signer)."""

    hex: str
    hash: str
    signer: str
    nonce: int

    def __repr__(self) -> str:
        return f"SignedExtrinsic(hash={self.hash}, signer={self.signer}, nonce={self.nonce})"


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentInfo:
    """``TransactionPaymentApi_query_info``: the fee the extrinsic would pay (without a tip)."""

    partial_fee: int
    weight: JsonValue
    dispatch_class: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """A block header and its hash."""

    hash: str
    number: int
    parent_hash: str
    state_root: str
    extrinsics_root: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountBalance:
    """``System.Account`` of one address: nonce and balances (frozen covers old and new layouts)."""

    address: str
    nonce: int
    free: int
    reserved: int
    frozen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoragePage:
    """One page of a storage map: decoded (key, value) pairs and the key to continue from."""

    items: tuple[tuple[JsonValue, JsonValue], ...]
    next_key: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainStatus:
    """What ``phala-agent chain status`` shows."""

    url: str
    chain: str
    chain_type: str | None
    node_name: str | None
    node_version: str | None
    spec_name: str
    spec_version: int
    transaction_version: int
    genesis_hash: str
    best_number: int
    best_hash: str
    finalized_number: int
    finalized_hash: str
    metadata_hash: str
    ss58_format: int
    token_symbol: str | None
    token_decimals: int | None
    dev_chain: bool
    extra: Mapping[str, JsonValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "url": self.url,
            "chain": self.chain,
            "chain_type": self.chain_type,
            "node_name": self.node_name,
            "node_version": self.node_version,
            "spec_name": self.spec_name,
            "spec_version": self.spec_version,
            "transaction_version": self.transaction_version,
            "genesis_hash": self.genesis_hash,
            "best_number": self.best_number,
            "best_hash": self.best_hash,
            "finalized_number": self.finalized_number,
            "finalized_hash": self.finalized_hash,
            "metadata_hash": self.metadata_hash,
            "ss58_format": self.ss58_format,
            "token_symbol": self.token_symbol,
            "token_decimals": self.token_decimals,
            "dev_chain": self.dev_chain,
        }


# --- pure helpers (unit-tested without a node) -------------------------------------------------


def event_from_record(record: Mapping[str, JsonValue]) -> Event:
    """Convert one substrate-interface ``EventRecord.value`` dict."""
    topics = record.get("topics") or []
    index = record.get("extrinsic_idx")
    return Event(
        pallet=str(record.get("module_id")),
        name=str(record.get("event_id")),
        attributes=record.get("attributes"),
        phase=str(record.get("phase")),
        extrinsic_index=index if isinstance(index, int) else None,
        topics=tuple(str(t) for t in topics) if isinstance(topics, list) else (),
    )


def _error_index(raw: JsonValue) -> int | None:
    """The error's index: the first byte of ``error`` (``"0x02000000"``, ``[2,0,0,0]`` or ``2``)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.startswith("0x") and len(raw) >= 4:
        return int(raw[2:4], 16)
    if isinstance(raw, list) and raw and isinstance(raw[0], int):
        return raw[0]
    return None


def format_dispatch_error(dispatch_error: JsonValue, lookup: ErrorLookup) -> tuple[str, str]:
    """``("Pallet::Error", docs)`` for a ``DispatchError`` value as substrate-interface decodes it.

    Module errors are looked up by index in the metadata; other variants keep their FRAME name,
    e.g. ``BadOrigin`` or ``Token::FundsUnavailable``.
    """
    if isinstance(dispatch_error, str):
        return dispatch_error, ""
    if isinstance(dispatch_error, dict) and len(dispatch_error) == 1:
        ((kind, detail),) = dispatch_error.items()
        if kind == "Module" and isinstance(detail, dict):
            pallet_index = detail.get("index")
            error_index = _error_index(detail.get("error"))
            if isinstance(pallet_index, int) and error_index is not None:
                found = lookup(pallet_index, error_index)
                if found is not None:
                    pallet, name, docs = found
                    return f"{pallet}::{name}", docs
                return f"Module[{pallet_index}]::Error[{error_index}]", ""
        if isinstance(detail, str):
            return f"{kind}::{detail}", ""
        if detail is None:
            return str(kind), ""
        return f"{kind}::{detail}", ""
    return str(dispatch_error), ""


def fee_from_events(events: Iterable[Event], signer_account: Callable[[JsonValue], bool]) -> int | None:
    """The fee the signer paid, from the extrinsic's events.

    ``TransactionPayment.TransactionFeePaid.actual_fee`` (tip included) when the runtime emits it;
    older runtimes (e.g. Rococo Asset Hub spec 900) do not, and then the fee is the signer's
    ``Balances.Withdraw`` (withdraw-on-charge is how FRAME takes the fee).
    """
    events = tuple(events)
    for event in events:
        if event.pallet in ("TransactionPayment", "AssetTxPayment") and event.name in (
            "TransactionFeePaid",
            "AssetTxFeePaid",
        ):
            attributes = event.attributes
            if isinstance(attributes, dict) and isinstance(attributes.get("actual_fee"), int):
                fee = attributes["actual_fee"]
                assert isinstance(fee, int)
                return fee
    for event in events:
        if event.pallet == "Balances" and event.name == "Withdraw":
            attributes = event.attributes
            if isinstance(attributes, dict) and signer_account(attributes.get("who")):
                amount = attributes.get("amount")
                if isinstance(amount, int):
                    return amount
    return None
