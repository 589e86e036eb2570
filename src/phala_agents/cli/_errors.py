"""One table from exception types to CLI messages, hints and exit codes (subclasses first)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from phala_agents import errors


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMapping:
    exc_type: type[BaseException]
    exit_code: int
    hint: str | None = None


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
# attest verify: shifted past click's 2.
EXIT_SIGNATURE = 3
EXIT_COLLATERAL = 4
EXIT_POLICY = 5

CLI_ERROR_MAPPINGS: tuple[ErrorMapping, ...] = (
    ErrorMapping(
        exc_type=errors.ReportFormatError,
        exit_code=EXIT_SIGNATURE,
        hint="the file is not a report/quote of that kind; check --kind",
    ),
    ErrorMapping(
        exc_type=errors.VerificationError,
        exit_code=EXIT_SIGNATURE,
        hint="the evidence is not signed by the vendor's chain, or the time is outside its window",
    ),
    ErrorMapping(
        exc_type=errors.CollateralUnavailable,
        exit_code=EXIT_COLLATERAL,
        hint="pass --collateral DIR or --online",
    ),
    ErrorMapping(
        exc_type=errors.PolicyError,
        exit_code=EXIT_POLICY,
        hint="the evidence is authentic but the policy rejects it",
    ),
    ErrorMapping(
        exc_type=errors.AgentDefinitionError,
        exit_code=EXIT_FAILURE,
        hint="fix the agent file; see chain/agent.schema.json",
    ),
    ErrorMapping(
        exc_type=errors.KeystoreError, exit_code=EXIT_FAILURE, hint="list keys with `phala-agent keys list`"
    ),
    ErrorMapping(exc_type=errors.ExtrinsicFailed, exit_code=EXIT_FAILURE),
    ErrorMapping(exc_type=errors.TransactionRejected, exit_code=EXIT_FAILURE),
    ErrorMapping(
        exc_type=errors.SubmissionTimeout,
        exit_code=EXIT_FAILURE,
        hint="the node may be stalled; check `phala-agent chain status`",
    ),
    ErrorMapping(exc_type=errors.RpcError, exit_code=EXIT_FAILURE),
    ErrorMapping(
        exc_type=errors.ClientError,
        exit_code=EXIT_FAILURE,
        hint="is the node running? start one with `phala-agent node --dev`",
    ),
    ErrorMapping(exc_type=errors.PhalaAgentsError, exit_code=EXIT_FAILURE),
    ErrorMapping(exc_type=OSError, exit_code=EXIT_FAILURE),
)


WORKER_UNREACHABLE_HINT = "is the worker running? start one with `phala-agent worker run --dev`"


def lookup(exc: BaseException) -> ErrorMapping | None:
    for mapping in CLI_ERROR_MAPPINGS:
        if isinstance(exc, mapping.exc_type):
            return mapping
    return None


def describe(exc: BaseException) -> tuple[str, ErrorMapping] | None:
    """The ``Error:`` message and mapping for ``exc``, or ``None`` when it is unexpected.

    httpx is looked up in ``sys.modules`` rather than imported: only commands that talk HTTP load
    it, and the error table must not make every command pay for it.
    """
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TransportError):
        try:
            where = f"{exc.request.method} {exc.request.url}: "
        except RuntimeError:  # no request attached
            where = ""
        hint = WORKER_UNREACHABLE_HINT
        return f"{where}{type(exc).__name__}: {exc}", ErrorMapping(
            exc_type=httpx.TransportError, exit_code=EXIT_FAILURE, hint=hint
        )
    if httpx is not None and isinstance(exc, httpx.HTTPStatusError):
        return str(exc).splitlines()[0], ErrorMapping(exc_type=httpx.HTTPStatusError, exit_code=EXIT_FAILURE)
    mapping = lookup(exc)
    return None if mapping is None else (str(exc), mapping)
