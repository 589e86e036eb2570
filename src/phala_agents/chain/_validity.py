"""Transaction validity errors with Substrate's exact names, indices and messages.

The messages are ``From<InvalidTransaction> for &'static str`` and
``From<UnknownTransaction> for &'static str`` in sp-runtime ``transaction_validity.rs``; a
Substrate node puts them in the ``data`` of RPC error 1010 (invalid) / 1011 (unknown). The
runtime raises ``phala_agents.errors.InvalidTransaction(reason, message)`` (or
``UnknownTransaction``) with ``reason`` = the variant name and ``detail`` = the message.
"""

from __future__ import annotations

from phala_agents.errors import InvalidTransaction, UnknownTransaction

# variant name -> (SCALE index in InvalidTransaction, message)
INVALID_TRANSACTION: dict[str, tuple[int, str]] = {
    "Call": (0, "Transaction call is not expected"),
    "Payment": (1, "Inability to pay some fees (e.g. account balance too low)"),
    "Future": (2, "Transaction will be valid in the future"),
    "Stale": (3, "Transaction is outdated"),
    "BadProof": (4, "Transaction has a bad signature"),
    "AncientBirthBlock": (5, "Transaction has an ancient birth block"),
    "ExhaustsResources": (6, "Transaction would exhaust the block limits"),
    "Custom": (7, "InvalidTransaction custom error"),
    "BadMandatory": (8, "A call was labelled as mandatory, but resulted in an Error."),
    "MandatoryValidation": (9, "Transaction dispatch is mandatory; transactions must not be validated."),
    "BadSigner": (10, "Invalid signing address"),
    "IndeterminateImplicit": (11, "The implicit data was unable to be calculated"),
    "UnknownOrigin": (12, "The transaction extension did not authorize any origin"),
}

UNKNOWN_TRANSACTION: dict[str, tuple[int, str]] = {
    "CannotLookup": (0, "Could not lookup information required to validate the transaction"),
    "NoUnsignedValidator": (1, "Could not find an unsigned validator for the unsigned transaction"),
    "Custom": (2, "UnknownTransaction custom error"),
}

# RPC error codes of a Substrate node's author API (sc-rpc-api author/error.rs).
RPC_INVALID_TRANSACTION = 1010
RPC_UNKNOWN_VALIDITY = 1011


def invalid(reason: str) -> InvalidTransaction:
    """``InvalidTransaction::<reason>`` as an exception carrying Substrate's message."""
    return InvalidTransaction(reason, INVALID_TRANSACTION[reason][1])


def unknown(reason: str) -> UnknownTransaction:
    """``UnknownTransaction::<reason>`` as an exception carrying Substrate's message."""
    return UnknownTransaction(reason, UNKNOWN_TRANSACTION[reason][1])


def encode_validity_error(exc: InvalidTransaction) -> bytes:
    """``TransactionValidityError`` SCALE bytes: 0x00 Invalid(..) / 0x01 Unknown(..)."""
    if isinstance(exc, UnknownTransaction):
        return (
            b"\x01"
            + bytes((UNKNOWN_TRANSACTION[exc.reason][0],))
            + (b"\x00" if exc.reason == "Custom" else b"")
        )
    index = INVALID_TRANSACTION[exc.reason][0]
    return b"\x00" + bytes((index,)) + (b"\x00" if exc.reason == "Custom" else b"")


def rpc_error_of(exc: InvalidTransaction) -> tuple[int, str, str]:
    """``(code, message, data)`` of the JSON-RPC error a Substrate node returns for ``exc``."""
    if isinstance(exc, UnknownTransaction):
        return RPC_UNKNOWN_VALIDITY, "Unknown Transaction Validity", UNKNOWN_TRANSACTION[exc.reason][1]
    return RPC_INVALID_TRANSACTION, "Invalid Transaction", INVALID_TRANSACTION[exc.reason][1]
