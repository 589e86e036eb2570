"""``ChainClient``: a typed chain client over substrate-interface.

Reads name a block (``at="best" | "finalized" | <hash> | <number>``); names come from the node's
metadata (descriptors); extrinsics are signed with nonces from our ``NonceManager`` and followed
by our own watcher (``_watch.py``) so invalid / dropped / usurped and timeouts end the wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import structlog
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.utils.ss58 import ss58_decode, ss58_encode

from phala_agents.client._descriptors import Descriptors, descriptors_from_metadata
from phala_agents.client._keys import is_dev_chain, keypair_from_uri
from phala_agents.client._nonce import NonceManager
from phala_agents.client._result import (
    AccountBalance,
    ChainStatus,
    Event,
    ExtrinsicResult,
    Head,
    PaymentInfo,
    SignedExtrinsic,
    StoragePage,
    event_from_record,
    fee_from_events,
    format_dispatch_error,
)
from phala_agents.client._rpc import translated
from phala_agents.client._types import At, JsonValue, WaitFor
from phala_agents.client._watch import Clock, socket_timeout, submit_and_watch
from phala_agents.errors import (
    ClientError,
    IncompatibleMetadata,
    RpcError,
    SubmissionTimeout,
    TransactionRejected,
)
from phala_agents.scale import blake2_256, encode_compact

_log = structlog.get_logger()

DEFAULT_TIMEOUT = 30.0
_HASH_LEN = 66  # "0x" + 64 hex digits


class UnknownEntry(AttributeError):
    """A pallet, storage entry, call or constant the node's metadata does not have (a caller bug)."""


def _address_of(value: object) -> object:
    """Let callers pass a ``Keypair`` wherever an account is wanted."""
    return value.ss58_address if isinstance(value, Keypair) else value


def _header_hash(header: Mapping[str, Any]) -> str:
    """blake2-256 of the SCALE header, rebuilt from its JSON form (the digest logs are SCALE already)."""
    number = header["number"]
    number_int = int(number, 16) if isinstance(number, str) else int(number)
    logs = header.get("digest", {}).get("logs", [])
    encoded = (
        bytes.fromhex(header["parentHash"][2:])
        + encode_compact(number_int)
        + bytes.fromhex(header["stateRoot"][2:])
        + bytes.fromhex(header["extrinsicsRoot"][2:])
        + encode_compact(len(logs))
        + b"".join(bytes.fromhex(log[2:]) for log in logs)
    )
    return "0x" + blake2_256(encoded).hex()


def _head_from(header: Mapping[str, Any], block_hash: str | None = None) -> Head:
    number = header["number"]
    return Head(
        hash=block_hash or _header_hash(header),
        number=int(number, 16) if isinstance(number, str) else int(number),
        parent_hash=str(header["parentHash"]),
        state_root=str(header["stateRoot"]),
        extrinsics_root=str(header["extrinsicsRoot"]),
    )


def _storage_key_value(key: object) -> JsonValue:
    """A ``query_map`` record's key as a JSON value.

    substrate-interface gives one decoded key object when one key is left after the prefix, a
    tuple of them for a map with several keys queried whole (a double map with no prefix): that
    becomes a list of their values, in key order.
    """
    if isinstance(key, tuple):
        return [_storage_key_value(part) for part in key]
    if key is None:
        return None
    value: JsonValue = getattr(key, "value")  # noqa: B009 - a scalecodec ScaleType, untyped
    return value


class ChainClient:
    """A connection to one Substrate node. Thread-safe (one request at a time on its socket)."""

    def __init__(
        self,
        substrate: SubstrateInterface,
        *,
        url: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        descriptors: Descriptors | None = None,
        metadata_hash: str | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._substrate = substrate
        self._url = url
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._expected_hash = metadata_hash or (descriptors.metadata_hash if descriptors else None)
        self._expected_spec = f"{descriptors.spec_name} {descriptors.spec_version}" if descriptors else None
        self._metadata_key: int | None = None
        self._descriptors: Descriptors | None = None
        self._chain: str | None = None
        self._chain_type: str | None = None
        self._chain_type_known = False
        self.nonces = NonceManager(self._account_next_index)
        self.query = QueryNamespace(self)
        self.tx = TxNamespace(self)
        self.constants = ConstantsNamespace(self)
        # Fail now, not on first use, when the node is not the chain we were built for.
        self._check_metadata(refresh=True)

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        descriptors: Descriptors | None = None,
        metadata_hash: str | None = None,
    ) -> ChainClient:
        """Open a websocket to ``url``; ``timeout`` bounds every socket read (seconds)."""
        with translated(f"connect to {url}"):
            substrate = SubstrateInterface(url=url, ws_options={"timeout": timeout}, auto_reconnect=False)
        try:
            return cls(
                substrate, url=url, timeout=timeout, descriptors=descriptors, metadata_hash=metadata_hash
            )
        except BaseException:
            substrate.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._substrate.close()

    def __enter__(self) -> ChainClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChainClient(url={self._url!r}, chain={self._chain!r})"

    @property
    def substrate(self) -> SubstrateInterface:
        """The underlying substrate-interface object (hold ``lock`` while using it)."""
        return self._substrate

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def url(self) -> str:
        return self._url

    # --- low-level RPC -------------------------------------------------------------------------

    def rpc(self, method: str, params: Sequence[JsonValue] = ()) -> JsonValue:
        """One JSON-RPC call; an error object raises ``RpcError`` (code, message, data)."""
        with self._lock, translated(method):
            response = self._substrate.rpc_request(method, list(params))
        if isinstance(response, dict) and "error" in response:
            raise RpcError(
                int(response["error"].get("code", -1)),
                str(response["error"].get("message", "")),
                response["error"].get("data"),
            )
        return response.get("result") if isinstance(response, dict) else None

    def _account_next_index(self, address: str) -> int:
        result = self.rpc("system_accountNextIndex", [address])
        if not isinstance(result, int):
            raise ClientError(f"system_accountNextIndex: found {result!r}, wanted an integer")
        return result

    # --- chain identity and metadata -----------------------------------------------------------

    @property
    def chain(self) -> str:
        if self._chain is None:
            self._chain = str(self.rpc("system_chain"))
        return self._chain

    @property
    def chain_type(self) -> str | None:
        """``system_chainType`` ("Development", "Local", "Live"), or None if the node lacks it."""
        if not self._chain_type_known:
            try:
                value = self.rpc("system_chainType")
            except RpcError:
                value = None
            self._chain_type = value if isinstance(value, str) else None
            self._chain_type_known = True
        return self._chain_type

    @property
    def is_dev_chain(self) -> bool:
        return is_dev_chain(self.chain_type, self.chain)

    @property
    def ss58_format(self) -> int:
        self._check_metadata()
        value = self._substrate.ss58_format
        return int(value) if value is not None else 42

    @property
    def token_symbol(self) -> str | None:
        with self._lock, translated("system_properties"):
            value = self._substrate.token_symbol
        return str(value) if value is not None else None

    @property
    def token_decimals(self) -> int | None:
        with self._lock, translated("system_properties"):
            value = self._substrate.token_decimals
        return int(value) if isinstance(value, int) else None

    @property
    def descriptors(self) -> Descriptors:
        """The pallets of the node's current runtime (from its metadata)."""
        return self._check_metadata()

    @property
    def metadata_hash(self) -> str:
        return self._check_metadata().metadata_hash

    def _check_metadata(self, *, refresh: bool = False) -> Descriptors:
        """Compare the node's metadata hash with the expected one (cached per runtime).

        ``refresh`` re-reads the head's runtime first (3 RPCs): done at connect and right before
        anything is sent. Reads skip it: substrate-interface loads the runtime of the block it
        reads at anyway, and the next check sees the new metadata.
        """
        with self._lock:
            if refresh or self._substrate.metadata is None:
                with translated("init_runtime"):
                    self._substrate.init_runtime()
            metadata = self._substrate.metadata
            if self._descriptors is None or self._metadata_key != id(metadata):
                raw = bytes(metadata.data.data)
                self._descriptors = descriptors_from_metadata(
                    metadata,
                    metadata_hash="0x" + blake2_256(raw).hex(),
                    spec_name=self._spec_name(),
                    spec_version=int(self._substrate.runtime_version),
                )
                self._metadata_key = id(metadata)
            descriptors = self._descriptors
        if self._expected_hash is not None and descriptors.metadata_hash != self._expected_hash:
            wanted = f"{self._expected_hash}" + (f" ({self._expected_spec})" if self._expected_spec else "")
            raise IncompatibleMetadata(
                f"metadata hash: found {descriptors.metadata_hash} ({descriptors.spec_name} "
                f"{descriptors.spec_version}), wanted {wanted}; regenerate the descriptors for this node"
            )
        return descriptors

    def _spec_name(self) -> str:
        with translated("state_getRuntimeVersion"):
            version = self._substrate.rpc_request("state_getRuntimeVersion", []).get("result") or {}
        return str(version.get("specName", ""))

    def _require(self, pallet: str, kind: str, name: str | None = None) -> None:
        descriptors = self._check_metadata()
        found = descriptors.pallet(pallet)
        if found is None:
            raise UnknownEntry(
                f"pallet: found {pallet!r}, wanted one of the node's pallets: "
                f"{', '.join(descriptors.pallet_names)}"
            )
        if name is None:
            return
        names: tuple[str, ...] = getattr(found, kind)
        if name not in names:
            raise UnknownEntry(
                f"{kind} of {pallet}: found {name!r}, wanted one of: {', '.join(names) or '(none)'}"
            )

    # --- blocks --------------------------------------------------------------------------------

    def block_hash(self, at: At | int = "best") -> str:
        """Resolve ``at`` to a block hash: "best", "finalized", a 0x hash or a block number."""
        if isinstance(at, bool):
            raise TypeError("at: found a bool, wanted 'best', 'finalized', a block hash or number")
        if isinstance(at, int):
            result = self.rpc("chain_getBlockHash", [at])
            if not isinstance(result, str):
                raise ClientError(f"block #{at}: not found on the node")
            return result
        if at == "best":
            result = self.rpc("chain_getBlockHash", [])
        elif at == "finalized":
            result = self.rpc("chain_getFinalizedHead", [])
        elif at.startswith("0x") and len(at) == _HASH_LEN:
            return at
        else:
            raise ValueError(f"at: found {at!r}, wanted 'best', 'finalized', a 0x block hash or a number")
        if not isinstance(result, str):
            raise ClientError(f"{at} block: node answered {result!r}")
        return result

    def head(self, at: At | int = "best") -> Head:
        block_hash = self.block_hash(at)
        header = self.rpc("chain_getHeader", [block_hash])
        if not isinstance(header, dict):
            raise ClientError(f"block {block_hash}: not found on the node")
        return _head_from(header, block_hash)

    def events(self, at: At | int = "best") -> tuple[Event, ...]:
        """Every event of one block, decoded."""
        block_hash = self.block_hash(at)
        self._check_metadata()
        with self._lock, translated("System.Events"):
            records = self._substrate.get_events(block_hash)
            return tuple(event_from_record(r.value) for r in records)

    def status(self) -> ChainStatus:
        descriptors = self._check_metadata()
        version = self.rpc("state_getRuntimeVersion")
        best = self.head("best")
        finalized = self.head("finalized")
        genesis = self.rpc("chain_getBlockHash", [0])

        def optional(method: str) -> str | None:
            try:
                value = self.rpc(method)
            except RpcError:
                return None
            return value if isinstance(value, str) else None

        version_map = version if isinstance(version, dict) else {}
        return ChainStatus(
            url=self._url,
            chain=self.chain,
            chain_type=self.chain_type,
            node_name=optional("system_name"),
            node_version=optional("system_version"),
            spec_name=str(version_map.get("specName", descriptors.spec_name)),
            spec_version=int(str(version_map.get("specVersion", descriptors.spec_version))),
            transaction_version=int(str(version_map.get("transactionVersion", 0))),
            genesis_hash=str(genesis),
            best_number=best.number,
            best_hash=best.hash,
            finalized_number=finalized.number,
            finalized_hash=finalized.hash,
            metadata_hash=descriptors.metadata_hash,
            ss58_format=self.ss58_format,
            token_symbol=self.token_symbol,
            token_decimals=self.token_decimals,
            dev_chain=self.is_dev_chain,
        )

    # --- storage -------------------------------------------------------------------------------

    def get_storage(self, pallet: str, item: str, *keys: object, at: At | int = "best") -> JsonValue:
        """The decoded value of one storage entry at a block (its default if unset)."""
        self._require(pallet, "storage", item)
        block_hash = self.block_hash(at)
        params = [_address_of(k) for k in keys]
        with self._lock, translated(f"query {pallet}.{item}"):
            result = self._substrate.query(pallet, item, params, block_hash=block_hash)
            value: JsonValue = result.value if result is not None else None
        return value

    def query_page(
        self,
        pallet: str,
        item: str,
        *prefix: object,
        at: At | int = "best",
        page_size: int = 100,
        start_key: str | None = None,
    ) -> StoragePage:
        """One page of a storage map (``state_getKeysPaged`` + ``state_queryStorageAt``)."""
        if page_size < 1:
            raise ValueError(f"page_size: found {page_size}, wanted >= 1")
        self._require(pallet, "storage", item)
        block_hash = self.block_hash(at)
        params = [_address_of(k) for k in prefix]
        with self._lock, translated(f"query_map {pallet}.{item}"):
            result = self._substrate.query_map(
                pallet,
                item,
                params,
                block_hash=block_hash,
                max_results=page_size,
                page_size=page_size,
                start_key=start_key,
                ignore_decoding_errors=False,
            )
            items = tuple((_storage_key_value(key), value.value) for key, value in result.records)
            last_key = result.last_key
        return StoragePage(items=items, next_key=last_key if len(items) == page_size else None)

    def query_map(
        self,
        pallet: str,
        item: str,
        *prefix: object,
        at: At | int = "best",
        page_size: int = 100,
        max_results: int | None = None,
    ) -> Iterator[tuple[JsonValue, JsonValue]]:
        """Every (key, value) of a storage map, fetched page by page at one fixed block."""
        block_hash = self.block_hash(at)
        start: str | None = None
        yielded = 0
        while True:
            page = self.query_page(pallet, item, *prefix, at=block_hash, page_size=page_size, start_key=start)
            for pair in page.items:
                if max_results is not None and yielded >= max_results:
                    return
                yield pair
                yielded += 1
            if page.next_key is None:
                return
            start = page.next_key

    def constant(self, pallet: str, name: str) -> JsonValue:
        self._require(pallet, "constants", name)
        with self._lock, translated(f"constant {pallet}.{name}"):
            result = self._substrate.get_constant(pallet, name)
            value: JsonValue = result.value if result is not None else None
        return value

    def balance(self, address: str | Keypair, *, at: At | int = "best") -> AccountBalance:
        """``System.Account`` of ``address`` (free, reserved, frozen, nonce)."""
        account = str(_address_of(address))
        info = self.get_storage("System", "Account", account, at=at)
        info_map = info if isinstance(info, dict) else {}
        data = info_map.get("data")
        data_map = data if isinstance(data, dict) else {}

        def amount(key: str) -> int:
            value = data_map.get(key, 0)
            return value if isinstance(value, int) else 0

        frozen = (
            amount("frozen") if "frozen" in data_map else max(amount("misc_frozen"), amount("fee_frozen"))
        )
        nonce = info_map.get("nonce", 0)
        return AccountBalance(
            address=account,
            nonce=nonce if isinstance(nonce, int) else 0,
            free=amount("free"),
            reserved=amount("reserved"),
            frozen=frozen,
        )

    # --- runtime APIs --------------------------------------------------------------------------

    def runtime_call(
        self,
        api: str,
        method: str,
        params: Sequence[object] | Mapping[str, object] | None = None,
        *,
        at: At | int = "best",
    ) -> JsonValue:
        """A runtime API known to scalecodec's table (e.g. ``AccountNonceApi``, ``Core``)."""
        block_hash = self.block_hash(at)
        self._check_metadata()
        with self._lock, translated(f"{api}_{method}"):
            args: list[object] | dict[str, object] | None = (
                dict(params) if isinstance(params, Mapping) else list(params) if params is not None else None
            )
            result = self._substrate.runtime_call(api, method, args, block_hash=block_hash)
            value: JsonValue = result.value
        return value

    def state_call(self, method: str, data: bytes = b"", *, at: At | int = "best") -> bytes:
        """A raw ``state_call``: for runtime APIs outside scalecodec's table."""
        block_hash = self.block_hash(at)
        result = self.rpc("state_call", [method, "0x" + data.hex(), block_hash])
        if not isinstance(result, str):
            raise ClientError(f"state_call {method}: found {result!r}, wanted hex bytes")
        return bytes.fromhex(result[2:])

    # --- keys ----------------------------------------------------------------------------------

    def keypair(self, suri: str, *, crypto: str = "sr25519") -> Keypair:
        """A keypair from a secret URI; dev URIs (//Alice) only on a development chain."""
        pair = keypair_from_uri(suri, dev_chain=self.is_dev_chain, crypto=crypto)
        return pair

    def _signer_address(self, signer: Keypair) -> str:
        return str(ss58_encode(signer.public_key, self.ss58_format))

    # --- extrinsics ----------------------------------------------------------------------------

    def sign(
        self,
        pallet: str,
        call: str,
        params: Mapping[str, object],
        signer: Keypair,
        *,
        nonce: int | None = None,
        tip: int = 0,
        mortal_period: int | None = None,
    ) -> SignedExtrinsic:
        """Compose and sign; the nonce comes from the nonce manager unless given."""
        self._require(pallet, "calls", call)
        address = self._signer_address(signer)
        reserved = nonce is None
        use_nonce = self.nonces.next(address) if nonce is None else nonce
        try:
            with self._lock, translated(f"sign {pallet}.{call}"):
                composed = self._substrate.compose_call(
                    pallet, call, {k: _address_of(v) for k, v in params.items()}
                )
                era = {"period": mortal_period} if mortal_period else None
                extrinsic = self._substrate.create_signed_extrinsic(
                    call=composed, keypair=signer, era=era, nonce=use_nonce, tip=tip
                )
                raw = bytes(extrinsic.data.data)
        except BaseException:
            if reserved:
                self.nonces.release(address, use_nonce)
            raise
        return SignedExtrinsic(
            hex="0x" + raw.hex(), hash="0x" + blake2_256(raw).hex(), signer=address, nonce=use_nonce
        )

    def submit(
        self,
        extrinsic: SignedExtrinsic,
        *,
        wait_for: WaitFor = "inBlock",
        timeout: float | None = None,
    ) -> ExtrinsicResult:
        """Submit and follow to ``wait_for``; see ``_watch.submit_and_watch`` for what raises."""
        try:
            if self._url and not self._url.startswith(("ws://", "wss://")):
                raise ClientError(f"url: found {self._url!r}, wanted ws:// or wss:// to watch extrinsics")
            self._check_metadata(refresh=True)
        except BaseException:
            # Nothing was sent: the nonce is free again.
            self.nonces.release(extrinsic.signer, extrinsic.nonce)
            raise
        wait_timeout = self._timeout if timeout is None else timeout
        log = _log.bind(extrinsic_hash=extrinsic.hash)
        try:
            with self._lock:
                outcome = submit_and_watch(
                    self._substrate,
                    extrinsic.hex,
                    extrinsic_hash=extrinsic.hash,
                    wait_for=wait_for,
                    timeout=wait_timeout,
                    clock=self._clock,
                )
        except (RpcError, TransactionRejected):
            # The nonce was not consumed (or is now stale): let the node's pool-aware count rule.
            self.nonces.reset(extrinsic.signer)
            raise
        except SubmissionTimeout:
            # Still possibly in the pool: keep the local count so the next nonce does not clash.
            raise
        result = self._result(extrinsic, outcome.block_hash, outcome.status, outcome.statuses)
        log.info("extrinsic_included", ok=result.ok, status=result.status, block_hash=result.block_hash)
        return result

    def send(self, extrinsic: SignedExtrinsic) -> str:
        """Submit without waiting (``author_submitExtrinsic``); returns the extrinsic hash.

        Pool rejections at submission still raise ``RpcError`` (e.g. 1010); later ones are not seen.
        """
        try:
            self._check_metadata(refresh=True)
        except BaseException:
            self.nonces.release(extrinsic.signer, extrinsic.nonce)
            raise
        try:
            result = self.rpc("author_submitExtrinsic", [extrinsic.hex])
        except RpcError:
            self.nonces.reset(extrinsic.signer)
            raise
        return str(result)

    def sign_and_submit(
        self,
        pallet: str,
        call: str,
        params: Mapping[str, object],
        signer: Keypair,
        *,
        wait_for: WaitFor = "inBlock",
        timeout: float | None = None,
        nonce: int | None = None,
        tip: int = 0,
        mortal_period: int | None = None,
    ) -> ExtrinsicResult:
        extrinsic = self.sign(pallet, call, params, signer, nonce=nonce, tip=tip, mortal_period=mortal_period)
        return self.submit(extrinsic, wait_for=wait_for, timeout=timeout)

    def transfer(
        self,
        signer: Keypair,
        dest: str | Keypair,
        amount: int,
        *,
        keep_alive: bool = True,
        wait_for: WaitFor = "inBlock",
        timeout: float | None = None,
    ) -> ExtrinsicResult:
        """``Balances.transfer_keep_alive``, or ``transfer_allow_death`` (``transfer`` on old runtimes)."""
        if amount < 0:
            raise ValueError(f"amount: found {amount}, wanted >= 0")
        call = "transfer_keep_alive" if keep_alive else self.transfer_call()
        return self.sign_and_submit(
            "Balances",
            call,
            {"dest": _address_of(dest), "value": amount},
            signer,
            wait_for=wait_for,
            timeout=timeout,
        )

    def transfer_call(self) -> str:
        """The name of the plain transfer call in this runtime."""
        balances = self.descriptors.pallet("Balances")
        calls = balances.calls if balances else ()
        return "transfer_allow_death" if "transfer_allow_death" in calls else "transfer"

    def payment_info(
        self, pallet: str, call: str, params: Mapping[str, object], signer: Keypair
    ) -> PaymentInfo:
        """What the extrinsic would pay (``TransactionPaymentApi_query_info``), tip excluded."""
        self._require(pallet, "calls", call)
        with self._lock, translated(f"payment_info {pallet}.{call}"):
            composed = self._substrate.compose_call(
                pallet, call, {k: _address_of(v) for k, v in params.items()}
            )
            info = self._substrate.get_payment_info(composed, signer)
        info_map = info if isinstance(info, dict) else {}
        fee = info_map.get("partialFee", info_map.get("partial_fee", 0))
        return PaymentInfo(
            partial_fee=int(fee) if isinstance(fee, int | str) else 0,
            weight=info_map.get("weight"),
            dispatch_class=str(info_map.get("class", "")),
        )

    def _error_lookup(self, pallet_index: int, error_index: int) -> tuple[str, str, str] | None:
        metadata = self._substrate.metadata
        try:
            pallet = metadata.get_pallet_by_index(pallet_index)
            variant = metadata.get_module_error(pallet_index, error_index)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError):
            return None
        if pallet is None or variant is None:
            return None
        value = variant.value if hasattr(variant, "value") else variant
        docs = " ".join(str(d).strip() for d in value.get("docs", []) if str(d).strip())
        return str(pallet.name), str(value.get("name")), docs

    def _result(
        self, extrinsic: SignedExtrinsic, block_hash: str, status: WaitFor, statuses: tuple[str, ...]
    ) -> ExtrinsicResult:
        block = self.rpc("chain_getBlock", [block_hash])
        block_map = block.get("block") if isinstance(block, dict) else None
        extrinsics = block_map.get("extrinsics", []) if isinstance(block_map, dict) else []
        header = block_map.get("header") if isinstance(block_map, dict) else None
        index: int | None = None
        if isinstance(extrinsics, list):
            for i, xt in enumerate(extrinsics):
                if isinstance(xt, str) and xt.lower() == extrinsic.hex.lower():
                    index = i
                    break
        number = header.get("number") if isinstance(header, dict) else None
        block_number = int(number, 16) if isinstance(number, str) else None
        mine = tuple(
            e for e in self.events(block_hash) if e.phase == "ApplyExtrinsic" and e.extrinsic_index == index
        )
        ok = any(e.pallet == "System" and e.name == "ExtrinsicSuccess" for e in mine)
        error: str | None = None
        docs = ""
        for e in mine:
            if e.pallet == "System" and e.name == "ExtrinsicFailed" and isinstance(e.attributes, dict):
                with self._lock:
                    error, docs = format_dispatch_error(
                        e.attributes.get("dispatch_error"), self._error_lookup
                    )
        if index is None:
            # The block does not list our bytes (should not happen); report what we can.
            error = error or "extrinsic not found in its block"
        signer_key = ss58_decode(extrinsic.signer)

        def is_signer(who: JsonValue) -> bool:
            if not isinstance(who, str):
                return False
            try:
                return (
                    bool(ss58_decode(who) == signer_key)
                    if not who.startswith("0x")
                    else who[2:] == signer_key
                )
            except ValueError:
                return False

        return ExtrinsicResult(
            extrinsic_hash=extrinsic.hash,
            block_hash=block_hash,
            block_number=block_number,
            extrinsic_index=index,
            status=status,
            ok=ok and index is not None,
            events=mine,
            error=None if ok and index is not None else error,
            error_docs=docs,
            fee=fee_from_events(mine, is_signer),
            statuses=statuses,
        )

    # --- subscriptions -------------------------------------------------------------------------

    def subscribe_new_heads(
        self, handler: Callable[[Head], bool | None], *, finalized: bool = False, timeout: float | None = None
    ) -> int:
        """Call ``handler`` for each new (or finalized) head until it returns True; returns the count.

        ``timeout`` bounds the wait for each next head (``SubmissionTimeout`` is not used here: a
        silent node raises ``ClientError``).
        """
        kind = "Finalized" if finalized else "New"
        seen = 0

        def on_message(message: dict[str, Any], update_nr: int, subscription_id: object) -> object:
            nonlocal seen
            del update_nr
            seen += 1
            if handler(_head_from(message["params"]["result"])):
                self._substrate.rpc_request(f"chain_unsubscribe{kind}Heads", [subscription_id])
                return True
            return None

        with (
            self._lock,
            socket_timeout(self._substrate, timeout or self._timeout),
            translated(f"chain_subscribe{kind}Heads"),
        ):
            self._substrate.rpc_request(f"chain_subscribe{kind}Heads", [], result_handler=on_message)
        return seen

    def subscribe_storage(
        self,
        pallet: str,
        item: str,
        *keys: object,
        handler: Callable[[JsonValue], bool | None],
        timeout: float | None = None,
    ) -> int:
        """Call ``handler`` with the entry's value now and on each change, until it returns True."""
        self._require(pallet, "storage", item)
        seen = 0

        def on_change(storage_key: object, obj: Any, update_nr: int, subscription_id: object) -> object:
            nonlocal seen
            del storage_key, update_nr, subscription_id
            seen += 1
            return True if handler(obj.value) else None

        with (
            self._lock,
            socket_timeout(self._substrate, timeout or self._timeout),
            translated(f"state_subscribeStorage {pallet}.{item}"),
        ):
            key = self._substrate.create_storage_key(pallet, item, [_address_of(k) for k in keys])
            self._substrate.subscribe_storage([key], on_change)
        return seen


# --- descriptor-style access: api.query.System.Account.get(...), api.tx.Balances.x(...) ----------


class StorageEntry:
    """``api.query.<Pallet>.<Entry>``: ``get(*keys, at=)``, ``entries(*prefix, at=, page_size=)``."""

    __slots__ = ("_client", "item", "pallet")

    def __init__(self, client: ChainClient, pallet: str, item: str) -> None:
        self._client = client
        self.pallet = pallet
        self.item = item

    def get(self, *keys: object, at: At | int = "best") -> JsonValue:
        return self._client.get_storage(self.pallet, self.item, *keys, at=at)

    def entries(
        self, *prefix: object, at: At | int = "best", page_size: int = 100, max_results: int | None = None
    ) -> Iterator[tuple[JsonValue, JsonValue]]:
        return self._client.query_map(
            self.pallet, self.item, *prefix, at=at, page_size=page_size, max_results=max_results
        )

    def subscribe(
        self, *keys: object, handler: Callable[[JsonValue], bool | None], timeout: float | None = None
    ) -> int:
        return self._client.subscribe_storage(self.pallet, self.item, *keys, handler=handler, timeout=timeout)

    def __repr__(self) -> str:
        return f"<storage {self.pallet}.{self.item}>"


class _PalletView:
    __slots__ = ("_client", "_kind", "_pallet")

    def __init__(self, client: ChainClient, pallet: str, kind: str) -> None:
        self._client = client
        self._pallet = pallet
        self._kind = kind

    def __dir__(self) -> list[str]:
        found = self._client.descriptors.pallet(self._pallet)
        return list(getattr(found, self._kind)) if found else []

    def _checked(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        self._client._require(self._pallet, self._kind, name)
        return name


class PalletStorage(_PalletView):
    def __getattr__(self, name: str) -> StorageEntry:
        return StorageEntry(self._client, self._pallet, self._checked(name))


class PalletConstants(_PalletView):
    def __getattr__(self, name: str) -> JsonValue:
        return self._client.constant(self._pallet, self._checked(name))


class PreparedCall:
    """A composed-but-unsigned call: ``sign_and_submit(signer)``, ``sign(signer)``, ``payment_info``."""

    __slots__ = ("_client", "call", "pallet", "params")

    def __init__(self, client: ChainClient, pallet: str, call: str, params: Mapping[str, object]) -> None:
        self._client = client
        self.pallet = pallet
        self.call = call
        self.params = dict(params)

    def sign(
        self, signer: Keypair, *, nonce: int | None = None, tip: int = 0, mortal_period: int | None = None
    ) -> SignedExtrinsic:
        return self._client.sign(
            self.pallet, self.call, self.params, signer, nonce=nonce, tip=tip, mortal_period=mortal_period
        )

    def sign_and_submit(
        self,
        signer: Keypair,
        *,
        wait_for: WaitFor = "inBlock",
        timeout: float | None = None,
        nonce: int | None = None,
        tip: int = 0,
        mortal_period: int | None = None,
    ) -> ExtrinsicResult:
        return self._client.sign_and_submit(
            self.pallet,
            self.call,
            self.params,
            signer,
            wait_for=wait_for,
            timeout=timeout,
            nonce=nonce,
            tip=tip,
            mortal_period=mortal_period,
        )

    def payment_info(self, signer: Keypair) -> PaymentInfo:
        return self._client.payment_info(self.pallet, self.call, self.params, signer)

    def __repr__(self) -> str:
        return f"<call {self.pallet}.{self.call}({', '.join(self.params)})>"


class PalletCalls(_PalletView):
    def __getattr__(self, name: str) -> Callable[..., PreparedCall]:
        call = self._checked(name)

        def prepare(**params: object) -> PreparedCall:
            return PreparedCall(self._client, self._pallet, call, params)

        return prepare


class _Namespace:
    __slots__ = ("_client",)
    _kind = ""

    def __init__(self, client: ChainClient) -> None:
        self._client = client

    def __dir__(self) -> list[str]:
        return list(self._client.descriptors.pallet_names)

    def _pallet(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        self._client._require(name, self._kind)
        return name


class QueryNamespace(_Namespace):
    """``api.query("System", "Account", key, at=...)`` or ``api.query.System.Account.get(key, at=...)``."""

    __slots__ = ()
    _kind = "storage"

    def __call__(self, pallet: str, item: str, *keys: object, at: At | int = "best") -> JsonValue:
        return self._client.get_storage(pallet, item, *keys, at=at)

    def __getattr__(self, name: str) -> PalletStorage:
        return PalletStorage(self._client, self._pallet(name), "storage")


class TxNamespace(_Namespace):
    """``api.tx("Balances", "transfer_keep_alive", dest=..., value=...)`` or ``api.tx.Balances.x(...)``."""

    __slots__ = ()
    _kind = "calls"

    def __call__(self, pallet: str, call: str, /, **params: object) -> PreparedCall:
        self._client._require(pallet, "calls", call)
        return PreparedCall(self._client, pallet, call, params)

    def __getattr__(self, name: str) -> PalletCalls:
        return PalletCalls(self._client, self._pallet(name), "calls")


class ConstantsNamespace(_Namespace):
    """``api.constants.Balances.ExistentialDeposit``."""

    __slots__ = ()
    _kind = "constants"

    def __getattr__(self, name: str) -> PalletConstants:
        return PalletConstants(self._client, self._pallet(name), "constants")


__all__ = ["DEFAULT_TIMEOUT", "ChainClient", "PreparedCall", "StorageEntry", "UnknownEntry"]
