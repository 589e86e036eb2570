"""DCAP collateral: the dcap-qvl ``QuoteCollateralV3`` JSON format, and the exact signed JSON bytes.

TCB Info and QE Identity are signed over their exact JSON text, so they are kept as the bytes that
came in: from the collateral file's string value, or (``raw_json_member``) the raw substring of the
``tcbInfo`` / ``enclaveIdentity`` member of a PCS response body. Re-serializing would break them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from phala_agents.errors import CollateralUnavailable

__all__ = ["Collateral", "collateral_to_json", "load_collateral", "raw_json_member"]

_PEM_KEYS = ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain")
_HEX_KEYS = ("root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature")
_TEXT_KEYS = ("tcb_info", "qe_identity")


@dataclass(frozen=True, slots=True, kw_only=True)
class Collateral:
    """Everything besides the quote needed to verify it. ``fingerprint`` is SHA-256 over all fields."""

    pck_crl_issuer_chain: bytes  # PEM
    root_ca_crl: bytes  # DER
    pck_crl: bytes  # DER
    tcb_info_issuer_chain: bytes  # PEM
    tcb_info: bytes  # exact signed JSON
    tcb_info_signature: bytes  # raw r||s
    qe_identity_issuer_chain: bytes  # PEM
    qe_identity: bytes  # exact signed JSON
    qe_identity_signature: bytes  # raw r||s
    # Always computed from the fields (init=False, so ``dataclasses.replace`` cannot carry a stale one
    # into a modified copy: the verification cache trusts it as the content's identity).
    fingerprint: bytes = field(init=False, compare=False)

    def __post_init__(self) -> None:
        h = hashlib.sha256()
        for name in (*_PEM_KEYS, *_HEX_KEYS, *_TEXT_KEYS):
            value = getattr(self, name)
            if not isinstance(value, bytes):
                raise TypeError(f"Collateral.{name} must be bytes, got {type(value).__name__}")
            h.update(len(value).to_bytes(8, "little"))
            h.update(value)
        object.__setattr__(self, "fingerprint", h.digest())


def load_collateral(json_text: str | bytes) -> Collateral:
    """Load the dcap-qvl ``QuoteCollateralV3`` JSON (the format of the shared vectors)."""
    try:
        doc = json.loads(json_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CollateralUnavailable("collateral is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise CollateralUnavailable("collateral is not a JSON object")
    values: dict[str, bytes] = {}
    for key in (*_PEM_KEYS, *_HEX_KEYS, *_TEXT_KEYS):
        v = doc.get(key)
        if isinstance(v, list) and key in _HEX_KEYS and all(isinstance(b, int) for b in v):
            values[key] = bytes(v)  # dcap-qvl also writes byte arrays as JSON lists
            continue
        if not isinstance(v, str):
            raise CollateralUnavailable(f"collateral field {key} is {type(v).__name__}. Expect a string")
        if key in _HEX_KEYS:
            try:
                values[key] = bytes.fromhex(v)
            except ValueError as exc:
                raise CollateralUnavailable(f"collateral field {key} is not hex") from exc
        else:
            values[key] = v.encode()
    return Collateral(**values)


def collateral_to_json(c: Collateral) -> str:
    """The inverse of ``load_collateral`` (used by the disk cache and the PCS test double)."""
    doc: dict[str, str] = {}
    for key in (*_PEM_KEYS, *_TEXT_KEYS):
        doc[key] = getattr(c, key).decode()
    for key in _HEX_KEYS:
        doc[key] = getattr(c, key).hex()
    return json.dumps(doc, indent=1, sort_keys=True)


_WS = " \t\r\n"


def raw_json_member(body: bytes | str, key: str) -> str:
    """The exact source text of top-level member ``key`` of a JSON object, without re-serializing.

    Raises ValueError when the body is not a JSON object or lacks the member.
    """
    text = body.decode() if isinstance(body, bytes) else body
    dec = json.JSONDecoder()
    i = 0
    n = len(text)

    def skip(j: int) -> int:
        while j < n and text[j] in _WS:
            j += 1
        return j

    i = skip(i)
    if i >= n or text[i] != "{":
        raise ValueError("body is not a JSON object")
    i = skip(i + 1)
    while i < n and text[i] != "}":
        name, i = dec.raw_decode(text, i)
        i = skip(i)
        if i >= n or text[i] != ":":
            raise ValueError("malformed JSON object")
        start = skip(i + 1)
        _, end = dec.raw_decode(text, start)
        if name == key:
            return text[start:end]
        i = skip(end)
        if i < n and text[i] == ",":
            i = skip(i + 1)
    raise ValueError(f"JSON object has no member {key!r}")
