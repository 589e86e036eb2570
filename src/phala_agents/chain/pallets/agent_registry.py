"""``AgentRegistry`` (index 10): agents as on-chain records that their owners govern.

The normative spec is ``chain/pallets/agent_registry.md``; a test parses it and compares it with
the metadata this module generates. In short: ``register`` assigns ``NextAgentId`` (the caller
names it as ``expected_id`` because the sealed prompt's AAD binds the id), reserves a deposit
proportional to the bytes of the record from the owner (``Balances.reserve``), and indexes the
agent by owner and by (owner, name). Every later change is owner-only, bumps nothing but what it
says (``update`` bumps the version), and emits an event. ``retire`` is final: it returns the
deposit, drops the access list, the name index and the sealed prompt's ciphertext, and keeps a
tombstone (owner, name, version, commitment) so ids are never reused or re-pointed.

Bounded vectors decode leniently here (as plain ``Vec``): the pallet checks each bound itself and
fails with the declared error (``NameTooLong``, ``PromptTooLong``...), where a wasm runtime would
make the whole extrinsic undecodable. Clients see the same ``BoundedVec`` types in metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Protocol, cast

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
    weight_info,
)
from phala_agents.chain.frame._types import Balance, BlockNumber
from phala_agents.chain.pallets.balances import Balances
from phala_agents.chain.pallets.system import System
from phala_agents.chain.pallets.workers import Workers
from phala_agents.scale import (
    H256,
    U8,
    U32,
    U64,
    AccountId,
    BoundedVec,
    FixedBytes,
    Option,
    Struct,
    Unit,
    Vec,
    field,
    unit_enum,
)

AgentId = U64
U64_MAX = 2**64 - 1


class AgentRegistryWeightInfo(Protocol):
    """``pallet_agent_registry::WeightInfo``: the declared weight of each call. ``payload_bytes``
    counts name, description, model and the sealed prompt's ciphertext; ``allowed`` the initial
    allowlist; ``tools`` the tools (each one an ``Agents`` read)."""

    def register(self, payload_bytes: int, allowed: int, tools: int) -> Weight: ...
    def update(self, payload_bytes: int, tools: int) -> Weight: ...
    def set_access(self) -> Weight: ...
    def grant(self) -> Weight: ...
    def revoke(self) -> Weight: ...
    def pause(self) -> Weight: ...
    def resume(self) -> Weight: ...
    def retire(self) -> Weight: ...
    def transfer_ownership(self) -> Weight: ...


# Proof sizes: the storage a call reads, each value at its max encoded length plus its key
# (a solo chain has no PoV limit, so they only inform clients). An account read counts what
# Balances' own weights count for one (3_593 bytes).
_ACCOUNT_READ = 3_593
_STORAGE_PREFIX = 32  # twox128(pallet) ++ twox128(entry)
_AGENT_KEY = _STORAGE_PREFIX + 16  # ++ twox64concat(u64)
_ACCESS_READ = _AGENT_KEY + 48 + (_STORAGE_PREFIX + 16 + 4)  # Access (unit) and AccessCount (u32)


@functools.cache
def agent_info_max_encoded_len() -> int:
    """The longest encoded ``AgentInfo`` under the default bounds (what reading one may cost)."""
    cfg = AgentRegistryConfig()
    longest: dict[str, object] = {
        "owner": bytes(32),
        "name": bytes(cfg.max_name_len),
        "description": bytes(cfg.max_description_len),
        "model": bytes(cfg.max_model_len),
        "prompt": {"epoch": 0, "enc": bytes(32), "ciphertext": bytes(cfg.max_sealed_prompt_len)},
        "prompt_commitment": bytes(32),
        "prices": {"per_1k_input": 0, "per_1k_output": 0, "per_mgas_code": 0},
        "defaults": {"temperature_milli": 0, "max_tokens": 0},
        "access": ("Public", None),
        "status": ("Active", None),
        "version": 0,
        "tools": [0] * cfg.max_tools,
        "code_hash": bytes(32),
        "deposit": 0,
        "created_at": 0,
        "updated_at": 0,
    }
    return len(AgentInfo.encode(longest))


def _agent_reads(count: int) -> int:
    return count * (_AGENT_KEY + agent_info_max_encoded_len())


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class AgentRegistryWeights:
    """The default ``AgentRegistryWeightInfo`` (chain/pallets/agent_registry.md, "weight
    (ref_time)"): a base per call plus 2_000 per payload byte and 5_000_000 per allowlisted
    account."""

    def register(self, payload_bytes: int, allowed: int, tools: int) -> Weight:
        # Reads the name index and each tool's record; reserves from the owner's account.
        proof = _agent_reads(1 + tools) + _ACCOUNT_READ
        return Weight(50_000_000 + 2_000 * payload_bytes + 5_000_000 * allowed, proof)

    def update(self, payload_bytes: int, tools: int) -> Weight:
        return Weight(40_000_000 + 2_000 * payload_bytes, _agent_reads(1 + tools) + _ACCOUNT_READ)

    def set_access(self) -> Weight:
        return Weight(20_000_000, _agent_reads(1))

    def grant(self) -> Weight:
        return Weight(20_000_000, _agent_reads(1) + _ACCESS_READ)

    def revoke(self) -> Weight:
        return Weight(20_000_000, _agent_reads(1) + _ACCESS_READ)

    def pause(self) -> Weight:
        return Weight(15_000_000, _agent_reads(1))

    def resume(self) -> Weight:
        return Weight(15_000_000, _agent_reads(1))

    def retire(self) -> Weight:
        return Weight(30_000_000, _agent_reads(1) + _ACCOUNT_READ)

    def transfer_ownership(self) -> Weight:
        # Both owners' accounts: the reservation moves from one to the other.
        return Weight(30_000_000, _agent_reads(1) + 2 * _ACCOUNT_READ)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRegistryConfig:
    """The pallet's bounds and deposit (``#[pallet::constant]``s, in metadata)."""

    max_name_len: int = 64
    max_description_len: int = 512
    max_model_len: int = 64
    max_prompt_len: int = 16_384
    max_sealed_prompt_len: int = 16_400
    max_tools: int = 16
    max_access_entries: int = 64
    deposit_base: int = 1_000_000_000_000  # 1 UNIT
    deposit_per_byte: int = 10_000_000  # 0.00001 UNIT
    weights: AgentRegistryWeightInfo = dc_field(default_factory=AgentRegistryWeights)


# --- types -------------------------------------------------------------------------------------------


_CFG = AgentRegistryConfig()


def _bytes_bound(bound: str, limit: int) -> BoundedVec[bytes]:
    # Not enforced while decoding: the pallet checks each bound and fails with its own error.
    return BoundedVec(U8, limit, bound=bound, enforce=False)


NameBytes = _bytes_bound("T::MaxNameLen", _CFG.max_name_len)
DescriptionBytes = _bytes_bound("T::MaxDescriptionLen", _CFG.max_description_len)
ModelBytes = _bytes_bound("T::MaxModelLen", _CFG.max_model_len)
CiphertextBytes = _bytes_bound("T::MaxSealedPromptLen", _CFG.max_sealed_prompt_len)
ToolList: BoundedVec[list[int]] = BoundedVec(AgentId, _CFG.max_tools, bound="T::MaxTools", enforce=False)

_PATH = "pallet_agent_registry::types::"
SealedBlob = Struct(
    _PATH + "SealedBlob",
    [
        field("epoch", U32, "u32"),
        field("enc", FixedBytes(32), "[u8; 32]"),
        field("ciphertext", CiphertextBytes, "BoundedVec<u8, T::MaxSealedPromptLen>"),
    ],
    docs=(
        " A system prompt sealed with HPKE (X25519, HKDF-SHA256, ChaCha20-Poly1305) to the cluster",
        " key of `epoch`; AAD = agent_id (u64 LE) ++ version (u32 LE).",
    ),
)
Prices = Struct(
    _PATH + "Prices",
    [
        field("per_1k_input", Balance, "Balance"),
        field("per_1k_output", Balance, "Balance"),
        field("per_mgas_code", Balance, "Balance"),
    ],
    docs=(" Prices in the smallest unit: per 1000 input tokens, per 1000 output tokens, per mega-gas.",),
)
Defaults = Struct(
    _PATH + "Defaults",
    [field("temperature_milli", U32, "u32"), field("max_tokens", U32, "u32")],
    docs=(" Generation defaults the worker applies (temperature 0.7 is 700).",),
)
AccessPolicy = unit_enum(_PATH + "AccessPolicy", ["Public", "AllowList"])
AgentStatus = unit_enum(_PATH + "AgentStatus", ["Active", "Paused", "Retired"])
AgentInfo = Struct(
    _PATH + "AgentInfo",
    [
        field("owner", AccountId, "AccountId"),
        field("name", NameBytes, "BoundedVec<u8, T::MaxNameLen>"),
        field("description", DescriptionBytes, "BoundedVec<u8, T::MaxDescriptionLen>"),
        field("model", ModelBytes, "BoundedVec<u8, T::MaxModelLen>"),
        field("prompt", SealedBlob, "SealedBlob<T::MaxSealedPromptLen>"),
        field("prompt_commitment", H256, "H256"),
        field("prices", Prices, "Prices<Balance>"),
        field("defaults", Defaults, "Defaults"),
        field("access", AccessPolicy, "AccessPolicy"),
        field("status", AgentStatus, "AgentStatus"),
        field("version", U32, "u32"),
        field("tools", ToolList, "BoundedVec<AgentId, T::MaxTools>"),
        field("code_hash", Option(H256), "Option<H256>"),
        field("deposit", Balance, "Balance"),
        field("created_at", BlockNumber, "BlockNumber"),
        field("updated_at", BlockNumber, "BlockNumber"),
    ],
    params=(("AccountId", AccountId), ("Balance", Balance), ("BlockNumber", BlockNumber)),
    docs=(" One agent: its owner, definition, sealed prompt, prices, access policy and status.",),
)


# --- weights -----------------------------------------------------------------------------------------


def _payload_bytes(args: Mapping[str, object]) -> int:
    """Bytes the weight charges for: name, description, model and the sealed prompt's ciphertext."""
    total = 0
    for key in ("name", "description", "model"):
        value = args.get(key)
        if isinstance(value, bytes | bytearray):
            total += len(value)
    prompt = args.get("prompt")
    if isinstance(prompt, Mapping):
        ciphertext = prompt.get("ciphertext")
        if isinstance(ciphertext, bytes | bytearray):
            total += len(ciphertext)
    return total


def _count(args: Mapping[str, object], name: str) -> int:
    value = args.get(name)
    return len(value) if isinstance(value, Sequence) else 0


def _weights(pallet: Pallet) -> AgentRegistryWeightInfo:
    return cast(AgentRegistryWeightInfo, pallet.weights)


# The payload is spread over several arguments, so these two cannot be `weight_info(...)`.
def _register_weight(pallet: Pallet, args: Mapping[str, object]) -> Weight:
    return _weights(pallet).register(_payload_bytes(args), _count(args, "allow"), _count(args, "tools"))


def _update_weight(pallet: Pallet, args: Mapping[str, object]) -> Weight:
    return _weights(pallet).update(_payload_bytes(args), _count(args, "tools"))


# --- the pallet ----------------------------------------------------------------------------------------

_ID = arg("agent_id", AgentId, "AgentId")
_ACCOUNT = "T::AccountId"
_DEFINITION_ARGS = (
    arg("description", DescriptionBytes, "BoundedVec<u8, T::MaxDescriptionLen>"),
    arg("model", ModelBytes, "BoundedVec<u8, T::MaxModelLen>"),
    arg("prompt", SealedBlob, "SealedBlob<T::MaxSealedPromptLen>"),
    arg("prompt_commitment", H256, "H256"),
    arg("prices", Prices, "Prices<BalanceOf<T>>"),
    arg("defaults", Defaults, "Defaults"),
)
# Lists in call arguments are plain `Vec`s (bounded by the pallet): substrate-interface cannot
# encode a list into a one-field `BoundedVec` composite without wrapping it in another list.
_TAIL_ARGS = (
    arg("tools", Vec(AgentId), "Vec<AgentId>"),
    arg("code_hash", Option(H256), "Option<H256>"),
)


def _status(info: Mapping[str, object]) -> str:
    """An ``AgentInfo``'s status variant name (``Active``, ``Paused``, ``Retired``)."""
    return cast("tuple[str, None]", info["status"])[0]


class AgentRegistry(Pallet, name="AgentRegistry"):
    """Agents as on-chain records governed by their owners (see chain/pallets/agent_registry.md)."""

    next_agent_id = StorageValue(
        "NextAgentId", AgentId, query=ValueQuery, docs=" The id the next `register` assigns."
    )
    agents = StorageMap(
        "Agents",
        Twox64Concat,
        AgentId,
        AgentInfo,
        query=OptionQuery,
        docs=" Every agent ever registered (retired ones stay as tombstones).",
    )
    access = StorageDoubleMap(
        "Access",
        Twox64Concat,
        AgentId,
        Blake2_128Concat,
        AccountId,
        Unit,
        query=OptionQuery,
        docs=" The allowlist: accounts that may call an `AllowList` agent.",
    )
    access_count = StorageMap(
        "AccessCount",
        Twox64Concat,
        AgentId,
        U32,
        query=ValueQuery,
        docs=" How many `Access` entries an agent has (bounded by `MaxAccessEntries`).",
    )
    agents_by_owner = StorageDoubleMap(
        "AgentsByOwner",
        Blake2_128Concat,
        AccountId,
        Twox64Concat,
        AgentId,
        Unit,
        query=OptionQuery,
        docs=" The agents of each owner (retired ones included).",
    )
    agent_by_name = StorageDoubleMap(
        "AgentByName",
        Blake2_128Concat,
        AccountId,
        Blake2_128Concat,
        NameBytes,
        AgentId,
        query=OptionQuery,
        docs=" (owner, name) -> the owner's live agent of that name (re-deploys find it here).",
    )

    EVENTS = (
        event(
            "Registered",
            field("agent_id", AgentId, "AgentId"),
            field("owner", AccountId, _ACCOUNT),
            field("version", U32, "u32"),
            docs="An agent was registered.",
        ),
        event(
            "Updated",
            field("agent_id", AgentId, "AgentId"),
            field("version", U32, "u32"),
            docs="An agent's definition was updated; `version` is the new version.",
        ),
        event(
            "AccessChanged",
            field("agent_id", AgentId, "AgentId"),
            field("access", AccessPolicy, "AccessPolicy"),
            docs="An agent's access policy changed.",
        ),
        event(
            "AccessGranted",
            field("agent_id", AgentId, "AgentId"),
            field("who", AccountId, _ACCOUNT),
            docs="An account was added to an agent's allowlist.",
        ),
        event(
            "AccessRevoked",
            field("agent_id", AgentId, "AgentId"),
            field("who", AccountId, _ACCOUNT),
            docs="An account was removed from an agent's allowlist.",
        ),
        event("Paused", field("agent_id", AgentId, "AgentId"), docs="An agent was paused."),
        event("Resumed", field("agent_id", AgentId, "AgentId"), docs="A paused agent was resumed."),
        event(
            "Retired",
            field("agent_id", AgentId, "AgentId"),
            field("deposit_returned", Balance, "BalanceOf<T>"),
            docs="An agent was retired for good; its deposit went back to the owner.",
        ),
        event(
            "OwnershipTransferred",
            field("agent_id", AgentId, "AgentId"),
            field("from", AccountId, _ACCOUNT),
            field("to", AccountId, _ACCOUNT),
            docs="An agent (and its deposit reservation) moved to a new owner.",
        ),
    )
    ERRORS = (
        error("AgentNotFound", "No agent has this id."),
        error("NotOwner", "Only the agent's owner may do this."),
        error("AgentRetired", "The agent is retired; retired agents cannot change."),
        error("AlreadyPaused", "The agent is already paused."),
        error("NotPaused", "The agent is not paused."),
        error("NameTooLong", "The name is longer than `MaxNameLen` bytes."),
        error("DescriptionTooLong", "The description is longer than `MaxDescriptionLen` bytes."),
        error("ModelTooLong", "The model id is longer than `MaxModelLen` bytes."),
        error("PromptTooLong", "The sealed prompt is longer than `MaxSealedPromptLen` bytes."),
        error("TooManyTools", "More than `MaxTools` tools."),
        error("UnknownTool", "A tool is not a live (registered, not retired) agent."),
        error("NameInUse", "The owner already has a live agent with this name."),
        error("InsufficientDeposit", "The owner's free balance cannot cover the storage deposit."),
        error("AlreadyGranted", "The account is already on the allowlist."),
        error("NotGranted", "The account is not on the allowlist."),
        error("TooManyAccessEntries", "The allowlist would exceed `MaxAccessEntries` accounts."),
        error("StaleClusterEpoch", "The prompt is not sealed to the current `Workers.ClusterKey` epoch."),
        error("InvalidPrices", "A price is above u64::MAX (the cost of u32 tokens must fit a u128)."),
        error("StaleAgentId", "`expected_id` is not `NextAgentId` (another registration took it)."),
    )
    CONSTANTS = (
        constant("MaxNameLen", U32, "max_name_len", " Maximum bytes of an agent's name."),
        constant(
            "MaxDescriptionLen",
            U32,
            "max_description_len",
            " Maximum bytes of an agent's description.",
        ),
        constant("MaxModelLen", U32, "max_model_len", " Maximum bytes of a model id."),
        constant(
            "MaxPromptLen",
            U32,
            "max_prompt_len",
            " Maximum bytes of a system prompt before sealing (UTF-8).",
        ),
        constant(
            "MaxSealedPromptLen",
            U32,
            "max_sealed_prompt_len",
            " Maximum bytes of a sealed prompt's ciphertext (prompt + 16-byte AEAD tag).",
        ),
        constant("MaxTools", U32, "max_tools", " Maximum tools (other agents) per agent."),
        constant(
            "MaxAccessEntries",
            U32,
            "max_access_entries",
            " Maximum accounts on an agent's allowlist.",
        ),
        constant(
            "DepositBase",
            Balance,
            "deposit_base",
            " Fixed part of an agent's storage deposit.",
        ),
        constant(
            "DepositPerByte",
            Balance,
            "deposit_per_byte",
            " Deposit per byte of the encoded `AgentInfo`.",
        ),
    )

    config: AgentRegistryConfig

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def balances(self) -> Balances:
        return self.runtime.pallet(Balances)

    def deposit_for(self, info: Mapping[str, object]) -> int:
        """``DepositBase + DepositPerByte * encoded_len(AgentInfo)`` (the deposit field is a fixed
        16 bytes, so its value does not change the length)."""
        size = len(AgentInfo.encode(dict(info)))
        return self.config.deposit_base + self.config.deposit_per_byte * size

    def _live(self, origin: Origin, agent_id: int) -> tuple[bytes, dict[str, object]]:
        """The common guards in the spec's order: origin, exists, owner, not retired."""
        who = ensure_signed(origin)
        info = self.agents.get(agent_id)
        if info is None:
            raise self.error("AgentNotFound")
        if info["owner"] != who:
            raise self.error("NotOwner")
        if _status(info) == "Retired":
            raise self.error("AgentRetired")
        return who, info

    def _check_definition(
        self,
        *,
        description: bytes,
        model: bytes,
        prompt: Mapping[str, object],
        prices: Mapping[str, object],
        tools: Sequence[int],
    ) -> None:
        cfg = self.config
        if len(description) > cfg.max_description_len:
            raise self.error("DescriptionTooLong")
        if len(model) > cfg.max_model_len:
            raise self.error("ModelTooLong")
        if len(cast(bytes, prompt["ciphertext"])) > cfg.max_sealed_prompt_len:
            raise self.error("PromptTooLong")
        if len(tools) > cfg.max_tools:
            raise self.error("TooManyTools")
        for tool in tools:
            found = self.agents.get(tool)
            if found is None or _status(found) == "Retired":
                raise self.error("UnknownTool")
        if any(cast(int, prices[k]) > U64_MAX for k in ("per_1k_input", "per_1k_output", "per_mgas_code")):
            raise self.error("InvalidPrices")
        epoch = self.runtime.pallet(Workers).current_epoch()
        if epoch is None or prompt["epoch"] != epoch:
            raise self.error("StaleClusterEpoch")

    def _reserve(self, who: bytes, amount: int) -> None:
        if amount:
            self.balances.reserve_or(who, amount, self.error("InsufficientDeposit"))

    def _store(self, agent_id: int, info: dict[str, object]) -> None:
        """Write a changed record, stamped with the current block."""
        info["updated_at"] = self._block()
        self.agents.insert(agent_id, info)

    def _block(self) -> int:
        return self.runtime.pallet(System).number.get()

    # --- calls -----------------------------------------------------------------------------------

    @call(
        index=0,
        weight=_register_weight,
        args=[
            arg("expected_id", AgentId, "AgentId"),
            arg("name", NameBytes, "BoundedVec<u8, T::MaxNameLen>"),
            *_DEFINITION_ARGS,
            arg("access", AccessPolicy, "AccessPolicy"),
            arg("allow", Vec(AccountId), "Vec<T::AccountId>"),
            *_TAIL_ARGS,
        ],
    )
    def register(
        self,
        origin: Origin,
        *,
        expected_id: int,
        name: bytes,
        description: bytes,
        model: bytes,
        prompt: dict[str, object],
        prompt_commitment: bytes,
        prices: dict[str, object],
        defaults: dict[str, object],
        access: object,
        allow: list[bytes],
        tools: list[int],
        code_hash: bytes | None,
    ) -> None:
        """Register a new agent with id `expected_id` (must equal `NextAgentId`: the prompt is
        sealed to that id), version 1, the given allowlist, and reserve its storage deposit."""
        owner = ensure_signed(origin)
        agent_id = self.next_agent_id.get()
        if expected_id != agent_id:
            raise self.error("StaleAgentId")
        if len(name) > self.config.max_name_len:
            raise self.error("NameTooLong")
        self._check_definition(
            description=description, model=model, prompt=prompt, prices=prices, tools=tools
        )
        if len(allow) > self.config.max_access_entries:
            raise self.error("TooManyAccessEntries")
        if len(set(allow)) != len(allow):
            raise self.error("AlreadyGranted")
        if self.agent_by_name.contains(owner, bytes(name)):
            raise self.error("NameInUse")
        now = self._block()
        info: dict[str, object] = {
            "owner": owner,
            "name": bytes(name),
            "description": bytes(description),
            "model": bytes(model),
            "prompt": dict(prompt),
            "prompt_commitment": bytes(prompt_commitment),
            "prices": dict(prices),
            "defaults": dict(defaults),
            "access": access,
            "status": ("Active", None),
            "version": 1,
            "tools": list(tools),
            "code_hash": code_hash,
            "deposit": 0,
            "created_at": now,
            "updated_at": now,
        }
        deposit = self.deposit_for(info)
        self._reserve(owner, deposit)
        info["deposit"] = deposit
        self.agents.insert(agent_id, info)
        self.next_agent_id.put(agent_id + 1)
        self.agents_by_owner.insert(owner, agent_id, ())
        self.agent_by_name.insert(owner, bytes(name), agent_id)
        for who in allow:
            self.access.insert(agent_id, bytes(who), ())
        if allow:
            self.access_count.insert(agent_id, len(allow))
        self.deposit_event("Registered", {"agent_id": agent_id, "owner": owner, "version": 1})

    @call(
        index=1,
        weight=_update_weight,
        args=[_ID, *_DEFINITION_ARGS, *_TAIL_ARGS],
    )
    def update(
        self,
        origin: Origin,
        *,
        agent_id: int,
        description: bytes,
        model: bytes,
        prompt: dict[str, object],
        prompt_commitment: bytes,
        prices: dict[str, object],
        defaults: dict[str, object],
        tools: list[int],
        code_hash: bytes | None,
    ) -> None:
        """Replace an agent's definition (the prompt sealed for `version + 1`); bumps the version,
        keeps the id, and re-balances the deposit."""
        owner, info = self._live(origin, agent_id)
        self._check_definition(
            description=description, model=model, prompt=prompt, prices=prices, tools=tools
        )
        version = cast(int, info["version"]) + 1
        old_deposit = cast(int, info["deposit"])
        info.update(
            description=bytes(description),
            model=bytes(model),
            prompt=dict(prompt),
            prompt_commitment=bytes(prompt_commitment),
            prices=dict(prices),
            defaults=dict(defaults),
            tools=list(tools),
            code_hash=code_hash,
            version=version,
        )
        new_deposit = self.deposit_for(info)
        if new_deposit > old_deposit:
            self._reserve(owner, new_deposit - old_deposit)
        elif new_deposit < old_deposit:
            self.balances.unreserve(owner, old_deposit - new_deposit)
        info["deposit"] = new_deposit
        self._store(agent_id, info)
        self.deposit_event("Updated", {"agent_id": agent_id, "version": version})

    @call(
        index=2,
        weight=weight_info("set_access"),
        args=[_ID, arg("access", AccessPolicy, "AccessPolicy")],
    )
    def set_access(self, origin: Origin, agent_id: int, access: object) -> None:
        """Set the access policy: `Public`, or `AllowList` (only accounts in `Access`)."""
        _, info = self._live(origin, agent_id)
        info["access"] = access
        self._store(agent_id, info)
        self.deposit_event("AccessChanged", {"agent_id": agent_id, "access": access})

    @call(index=3, weight=weight_info("grant"), args=[_ID, arg("who", AccountId, _ACCOUNT)])
    def grant(self, origin: Origin, agent_id: int, who: bytes) -> None:
        """Add an account to the agent's allowlist."""
        self._live(origin, agent_id)
        if self.access.contains(agent_id, who):
            raise self.error("AlreadyGranted")
        count = self.access_count.get(agent_id)
        if count >= self.config.max_access_entries:
            raise self.error("TooManyAccessEntries")
        self.access.insert(agent_id, bytes(who), ())
        self.access_count.insert(agent_id, count + 1)
        self.deposit_event("AccessGranted", {"agent_id": agent_id, "who": bytes(who)})

    @call(index=4, weight=weight_info("revoke"), args=[_ID, arg("who", AccountId, _ACCOUNT)])
    def revoke(self, origin: Origin, agent_id: int, who: bytes) -> None:
        """Remove an account from the agent's allowlist."""
        self._live(origin, agent_id)
        if not self.access.contains(agent_id, who):
            raise self.error("NotGranted")
        self.access.remove(agent_id, who)
        count = self.access_count.get(agent_id) - 1
        if count > 0:
            self.access_count.insert(agent_id, count)
        else:
            self.access_count.remove(agent_id)
        self.deposit_event("AccessRevoked", {"agent_id": agent_id, "who": bytes(who)})

    @call(index=5, weight=weight_info("pause"), args=[_ID])
    def pause(self, origin: Origin, agent_id: int) -> None:
        """Pause an active agent (workers stop serving it)."""
        _, info = self._live(origin, agent_id)
        if _status(info) == "Paused":
            raise self.error("AlreadyPaused")
        info["status"] = ("Paused", None)
        self._store(agent_id, info)
        self.deposit_event("Paused", {"agent_id": agent_id})

    @call(index=6, weight=weight_info("resume"), args=[_ID])
    def resume(self, origin: Origin, agent_id: int) -> None:
        """Resume a paused agent."""
        _, info = self._live(origin, agent_id)
        if _status(info) != "Paused":
            raise self.error("NotPaused")
        info["status"] = ("Active", None)
        self._store(agent_id, info)
        self.deposit_event("Resumed", {"agent_id": agent_id})

    @call(index=7, weight=weight_info("retire"), args=[_ID])
    def retire(self, origin: Origin, agent_id: int) -> None:
        """Retire an agent for good: unreserve its deposit, drop its allowlist, name index and
        sealed ciphertext; the record stays as a tombstone."""
        owner, info = self._live(origin, agent_id)
        deposit = cast(int, info["deposit"])
        self.balances.unreserve(owner, deposit)
        self.access.clear_prefix(agent_id)
        self.access_count.remove(agent_id)
        self.agent_by_name.remove(owner, cast(bytes, info["name"]))
        prompt = dict(cast(dict[str, object], info["prompt"]))
        prompt["ciphertext"] = b""
        info.update(status=("Retired", None), deposit=0, prompt=prompt)
        self._store(agent_id, info)
        self.deposit_event("Retired", {"agent_id": agent_id, "deposit_returned": deposit})

    @call(
        index=8,
        weight=weight_info("transfer_ownership"),
        args=[_ID, arg("new_owner", AccountId, _ACCOUNT)],
    )
    def transfer_ownership(self, origin: Origin, agent_id: int, new_owner: bytes) -> None:
        """Give the agent to `new_owner`; the deposit reservation moves with it (the new owner
        must be able to cover it)."""
        owner, info = self._live(origin, agent_id)
        new_owner = bytes(new_owner)
        name = cast(bytes, info["name"])
        if new_owner == owner:
            self.deposit_event("OwnershipTransferred", {"agent_id": agent_id, "from": owner, "to": owner})
            return
        if self.agent_by_name.contains(new_owner, name):
            raise self.error("NameInUse")
        deposit = cast(int, info["deposit"])
        self._reserve(new_owner, deposit)
        self.balances.unreserve(owner, deposit)
        self.agents_by_owner.remove(owner, agent_id)
        self.agents_by_owner.insert(new_owner, agent_id, ())
        self.agent_by_name.remove(owner, name)
        self.agent_by_name.insert(new_owner, name, agent_id)
        info["owner"] = new_owner
        self._store(agent_id, info)
        self.deposit_event("OwnershipTransferred", {"agent_id": agent_id, "from": owner, "to": new_owner})


__all__ = [
    "AccessPolicy",
    "AgentId",
    "AgentInfo",
    "AgentRegistry",
    "AgentRegistryConfig",
    "AgentRegistryWeightInfo",
    "AgentRegistryWeights",
    "AgentStatus",
    "BoundedVec",
    "Defaults",
    "Prices",
    "SealedBlob",
    "agent_info_max_encoded_len",
]
