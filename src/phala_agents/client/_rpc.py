"""Turn substrate-interface and websocket-client failures into our exception tree."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from scalecodec.exceptions import RemainingScaleBytesNotEmptyException
from substrateinterface.exceptions import BlockNotFound, SubstrateRequestException
from websocket import WebSocketException, WebSocketTimeoutException

from phala_agents.errors import ClientError, DecodeError, RpcError


def rpc_error_from(payload: object) -> RpcError:
    """Build an ``RpcError`` from a JSON-RPC error object (``{"code", "message", "data"}``)."""
    if isinstance(payload, dict):
        code = payload.get("code")
        message = payload.get("message")
        return RpcError(
            code if isinstance(code, int) else -1,
            str(message) if message is not None else "",
            payload.get("data"),
        )
    return RpcError(-1, str(payload))


@contextlib.contextmanager
def translated(operation: str) -> Iterator[None]:
    """Map transport and node failures raised inside the block to ``ClientError`` subclasses."""
    try:
        yield
    except SubstrateRequestException as exc:
        raise rpc_error_from(exc.args[0] if exc.args else None) from exc
    except BlockNotFound as exc:
        raise ClientError(f"{operation}: block not found ({exc})") from exc
    except WebSocketTimeoutException as exc:
        raise ClientError(f"{operation}: no answer from the node before the socket timeout") from exc
    except (WebSocketException, ConnectionError) as exc:
        raise ClientError(f"{operation}: connection to the node failed: {exc}") from exc
    except RemainingScaleBytesNotEmptyException as exc:
        raise DecodeError(f"{operation}: bytes left over after decoding") from exc
    except OSError as exc:
        raise ClientError(f"{operation}: cannot reach the node: {exc}") from exc
