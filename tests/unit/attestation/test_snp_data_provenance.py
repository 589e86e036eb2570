"""tests/data/snp holds the bytes its README names (SHA-256) and the roots of attestation/roots."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from snp_vectors import SNP_DATA

REPO = Path(__file__).resolve().parents[3]


def test_readme_sha256_values_match_the_files() -> None:
    readme = (SNP_DATA / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\| ([0-9a-f]{64}) \|$", readme, flags=re.MULTILINE)
    assert len(rows) >= 10
    for name, digest in rows:
        assert hashlib.sha256((SNP_DATA / name).read_bytes()).hexdigest() == digest, name


def test_roots_are_the_shipped_ones() -> None:
    for path in sorted((SNP_DATA / "roots").glob("*.pem")):
        assert path.read_bytes() == (REPO / "attestation" / "roots" / path.name).read_bytes(), path.name
