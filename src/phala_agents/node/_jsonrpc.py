"""JSON-RPC 2.0 framing with jsonrpsee's (Substrate's RPC server) codes and messages."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from phala_agents.errors import RpcError

_log = structlog.get_logger("phala_agents.node")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TOO_MANY_SUBSCRIPTIONS = -32006
OVERSIZED_REQUEST = -32007
OVERSIZED_RESPONSE = -32008
MAX_SUBSCRIPTIONS_PER_CONNECTION = 1024  # jsonrpsee's default
MAX_RESPONSE_SIZE = 15 * 1024 * 1024  # Substrate's --rpc-max-response-size 15

_ALPHABET = string.ascii_letters + string.digits

JsonValue = object


def dumps(obj: JsonValue) -> str:
    return json.dumps(obj, separators=(",", ":"))


def error_object(code: int, message: str, data: JsonValue = None) -> dict[str, JsonValue]:
    err: dict[str, JsonValue] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return err


def error_response(req_id: JsonValue, code: int, message: str, data: JsonValue = None) -> str:
    return dumps({"jsonrpc": "2.0", "error": error_object(code, message, data), "id": req_id})


def oversized_response(limit: int) -> str:
    return error_response(None, OVERSIZED_REQUEST, "Request is too big", f"Exceeded max limit of {limit}")


def invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, "Invalid params", detail)


def check_subscription_limit(conn: Connection) -> None:
    """jsonrpsee refuses more than 1024 subscriptions on one connection (-32006)."""
    if len(conn.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
        raise RpcError(
            TOO_MANY_SUBSCRIPTIONS,
            "Too many subscriptions on the connection",
            f"Exceeded max limit of {MAX_SUBSCRIPTIONS_PER_CONNECTION}",
        )


def new_subscription_id() -> str:
    """A random 16-character id, like jsonrpsee's ``RandomStringIdProvider``."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


class Connection(Protocol):
    """One client connection as the RPC layer sees it."""

    @property
    def is_websocket(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    @property
    def subscriptions(self) -> dict[str, Callable[[], None]]:
        """Subscription id -> a function that cancels it."""
        ...

    def send_text(self, text: str) -> None: ...


def notify(conn: Connection, method: str, sub_id: str, result: JsonValue) -> None:
    """Send one subscription notification (dropped when the connection is gone)."""
    if conn.closed:
        return
    conn.send_text(
        dumps({"jsonrpc": "2.0", "method": method, "params": {"subscription": sub_id, "result": result}})
    )


@dataclass(slots=True)
class Call:
    """One method call: the connection it came on, and work to run after the response is sent."""

    conn: Connection
    after: list[Callable[[], None]] = field(default_factory=list)


Handler = Callable[[Call, list[JsonValue]], JsonValue]


@dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    handler: Handler
    subscription: bool = False


class Dispatcher:
    """Parses requests (single or batch), calls methods, and builds responses."""

    def __init__(self, *, max_response_size: int = MAX_RESPONSE_SIZE) -> None:
        self.methods: dict[str, Method] = {}
        self.max_response_size = max_response_size

    def add(self, name: str, handler: Handler, *, subscription: bool = False) -> None:
        self.methods[name] = Method(handler=handler, subscription=subscription)

    def handle(self, conn: Connection, text: str | bytes) -> tuple[str | None, list[Callable[[], None]]]:
        """Answer one message; return the response text (None for notifications) and follow-ups."""
        try:
            request = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return error_response(None, PARSE_ERROR, "Parse error"), []
        after: list[Callable[[], None]] = []
        if isinstance(request, list):
            if not request:
                return error_response(None, INVALID_REQUEST, "Invalid request"), []
            parts = [r for r in (self._one(conn, item, after) for item in request) if r is not None]
            return ("[" + ",".join(parts) + "]" if parts else None), after
        return self._one(conn, request, after), after

    def _one(self, conn: Connection, request: JsonValue, after: list[Callable[[], None]]) -> str | None:
        if not isinstance(request, dict):
            return error_response(None, INVALID_REQUEST, "Invalid request")
        req_id = request.get("id")
        has_id = "id" in request
        if (
            request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
            or not (req_id is None or isinstance(req_id, (int, str)))
            or isinstance(req_id, bool)
        ):
            return error_response(
                req_id if isinstance(req_id, (int, str)) else None, INVALID_REQUEST, "Invalid request"
            )
        name = request["method"]
        raw_params = request.get("params")
        method = self.methods.get(name)
        if method is None or (method.subscription and not conn.is_websocket):
            return error_response(req_id, METHOD_NOT_FOUND, "Method not found") if has_id else None
        if raw_params is None:
            params: list[JsonValue] = []
        elif isinstance(raw_params, list):
            params = raw_params
        elif isinstance(raw_params, dict):
            params = list(raw_params.values())
        else:
            return (
                error_response(req_id, INVALID_PARAMS, "Invalid params", "params: wanted an array or object")
                if has_id
                else None
            )
        call = Call(conn=conn)
        try:
            result = method.handler(call, params)
        except RpcError as exc:
            return error_response(req_id, exc.code, exc.message, exc.data) if has_id else None
        except Exception:
            _log.exception("rpc_internal_error", method=name)
            return error_response(req_id, INTERNAL_ERROR, "Internal error") if has_id else None
        after.extend(call.after)
        if not has_id:
            return None
        text = dumps({"jsonrpc": "2.0", "result": result, "id": req_id})
        if len(text) > self.max_response_size:
            return error_response(
                req_id,
                OVERSIZED_RESPONSE,
                "Response is too big",
                f"Exceeded max limit of {self.max_response_size}",
            )
        return text


# --- parameter helpers ---------------------------------------------------------------------------


def param(params: list[JsonValue], index: int, name: str, *, required: bool = True) -> JsonValue:
    if index < len(params):
        return params[index]
    if required:
        raise invalid_params(f"{name}: missing, wanted parameter #{index + 1}")
    return None


def check_arity(params: list[JsonValue], most: int) -> None:
    if len(params) > most:
        raise invalid_params(f"found {len(params)} parameters, wanted at most {most}")


def hex_bytes(value: JsonValue, name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise invalid_params(f"{name}: found {_short(value)}, wanted a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise invalid_params(f"{name}: found {_short(value)}, wanted valid hex") from None


def hash32(value: JsonValue, name: str) -> bytes:
    data = hex_bytes(value, name)
    if len(data) != 32:
        raise invalid_params(f"{name}: found {len(data)} bytes, wanted a 32-byte hash")
    return data


def integer(value: JsonValue, name: str) -> int:
    if isinstance(value, bool):
        raise invalid_params(f"{name}: found a boolean, wanted a number")
    if isinstance(value, int):
        if value < 0:
            raise invalid_params(f"{name}: found {value}, wanted a non-negative number")
        return value
    if isinstance(value, str):
        try:
            number = int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            raise invalid_params(f"{name}: found {_short(value)}, wanted a number") from None
        if number < 0:
            raise invalid_params(f"{name}: found {value}, wanted a non-negative number")
        return number
    raise invalid_params(f"{name}: found {_short(value)}, wanted a number")


def _short(value: JsonValue) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
