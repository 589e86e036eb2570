"""SEV-SNP vectors from tests/data/snp and the pinned times the tests use (imported by conftest and tests)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from phala_agents.attestation.sev import ProductLine, SigningKey

SNP_DATA = Path(__file__).resolve().parents[2] / "data" / "snp"
# Pinned "now" for the simulated hierarchy (go-tdx-guest verify_test.go `currentTime` idiom).
SIM_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SIM_NOW = SIM_START + dt.timedelta(days=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnpVector:
    id: str
    report: bytes
    cert: bytes
    chain: bytes
    at: dt.datetime
    not_before: dt.datetime
    not_after: dt.datetime
    signing_key: SigningKey
    product: ProductLine
    meta: dict[str, object]


def _load_vectors() -> dict[str, SnpVector]:
    doc = json.loads((SNP_DATA / "vectors.json").read_text())
    out: dict[str, SnpVector] = {}
    for v in doc["vectors"]:
        files = v["files"]
        window = v["verify_at"]["valid_window"]
        out[v["id"]] = SnpVector(
            id=v["id"],
            report=(SNP_DATA / files["report"]).read_bytes(),
            cert=(SNP_DATA / files["endorsement_cert"]).read_bytes(),
            chain=(SNP_DATA / files["ask_ark_chain"]).read_bytes(),
            at=dt.datetime.fromisoformat(v["verify_at"]["recommended_now_iso"]),
            not_before=dt.datetime.fromisoformat(window[0]),
            not_after=dt.datetime.fromisoformat(window[1]),
            signing_key=SigningKey[v["signer"]],
            product=ProductLine.GENOA if v["id"].startswith("genoa") else ProductLine.MILAN,
            meta=v,
        )
    return out


SNP_VECTORS = _load_vectors()
