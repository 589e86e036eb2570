"""`phala-agent workers register` against a fake client: usage errors (hex lengths, conflicting
evidence sources) before any connection; --simulate refused on a non-dev chain; --evidence whose
REPORT_DATA is not the worker binding refused with found/wanted; no evidence outside a CVM; the
local check (the pallet's own) naming `Workers::DevRootsNotTrusted` and sending nothing; a
successful registration's bundle, params and output; a failure on chain named Pallet::Error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import structlog
from typer.testing import CliRunner

from phala_agents import attestation
from phala_agents.attestation import SimulatedSnp, worker_report_data
from phala_agents.chain.pallets.workers import EvidenceBundle, WorkerPolicy, dev_worker_policy
from phala_agents.cli import workers as workers_cli
from phala_agents.cli._app import app
from phala_agents.client import Event, ExtrinsicResult
from phala_agents.errors import EvidenceUnavailable
from phala_agents.scale import ss58_decode, storage_prefix

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
GENESIS = bytes([0x0A]) * 32
X25519 = "11" * 32
TLS = "0x" + "22" * 32
POLICY_KEY = "0x" + storage_prefix("Workers", "Policy").hex()
BASE = ["workers", "register", "--endpoint", "https://w.example:8443", "--x25519-pub", X25519]
BASE += ["--tls-spki-hash", TLS, "--suri", "//Alice", "--url", "ws://fake"]


class _Head:
    def __init__(self, number: int) -> None:
        self.number = number


class FakeChain:
    """What register reads and calls: chain kind, genesis, constants, raw Policy, submit, Workers."""

    def __init__(
        self, *, dev: bool = True, policy: dict[str, object] | None = None, fail: str | None = None
    ) -> None:
        self.is_dev_chain = dev
        self.chain = "Development" if dev else "Phala Agents"
        self.ss58_format = 42
        self.policy = dev_worker_policy() if policy is None else policy
        self.fail = fail
        self.submitted: list[dict[str, object]] = []

    def __enter__(self) -> FakeChain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def block_hash(self, at: object = "best") -> str:
        return "0x" + (GENESIS.hex() if at == 0 else "05" * 32)

    def head(self, at: object = "best") -> _Head:
        return _Head(6)

    def constant(self, pallet: str, name: str) -> int:
        return {"MaxEndpointLen": 256, "MaxEvidenceLen": 65_536, "ReattestPeriod": 14_400}[name]

    def rpc(self, method: str, params: list[object]) -> object:
        assert (method, params[0]) == ("state_getStorage", POLICY_KEY)
        return "0x" + WorkerPolicy.encode(self.policy).hex()

    def sign_and_submit(
        self, pallet: str, call: str, params: dict[str, object], signer: object, **kw: object
    ) -> ExtrinsicResult:
        assert (pallet, call, kw.get("wait_for")) == ("Workers", "register_worker", "finalized")
        self.submitted.append(params)
        ok = self.fail is None
        events = (Event(pallet="Workers", name="WorkerRegistered", attributes={}, phase="ApplyExtrinsic"),)
        return ExtrinsicResult(
            extrinsic_hash="0x" + "ee" * 32,
            block_hash="0x" + "06" * 32,
            block_number=6,
            extrinsic_index=1,
            status="finalized",
            ok=ok,
            events=events if ok else (),
            error=None if ok else f"Workers::{self.fail}",
            error_docs="" if ok else "The policy does not allow this TEE kind.",
        )

    def query(self, pallet: str, item: str, *keys: object, at: object = "best") -> object:
        assert (pallet, item, keys) == ("Workers", "Workers", (ALICE,))
        return {
            "endpoint": "https://w.example:8443",
            "x25519_pub": "0x" + X25519,
            "tls_spki_hash": TLS,
            "tee": "SevSnp",
            "roots": "Dev",
            "measurement": "0x" + "00" * 48,
            "tcb": {"Snp": {"bootloader": 4, "tee": 0, "snp": 22, "microcode": 213}},
            "registered_at": 6,
            "attested_at": 6,
        }


def binding() -> bytes:
    return worker_report_data(
        GENESIS, ss58_decode(ALICE, None), bytes.fromhex(X25519), bytes.fromhex(TLS[2:])
    )


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChain]:
    fake = FakeChain()
    monkeypatch.setattr(workers_cli, "_connect", lambda url, timeout: fake)
    saved = structlog.get_config()
    yield fake
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def snp() -> SimulatedSnp:
    return SimulatedSnp.generate(rsa_key_size=2048)


@pytest.fixture(autouse=True)
def _fast_simulation(monkeypatch: pytest.MonkeyPatch, snp: SimulatedSnp) -> None:
    # RSA-4096 dev roots take seconds to generate; the module's 2048-bit ones verify the same way.
    monkeypatch.setattr(SimulatedSnp, "generate", classmethod(lambda cls, **kw: snp))


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--x25519-pub", "0x12", "found 1 bytes, wanted 32"),
        ("--x25519-pub", "zz" * 32, "wanted 32 bytes of hex"),
        ("--tls-spki-hash", "22" * 33, "found 33 bytes, wanted 32"),
    ],
)
def test_bad_hex_is_a_usage_error(chain: FakeChain, option: str, value: str, message: str) -> None:
    args = list(BASE)
    args[args.index(option) + 1] = value
    result = run(*args, "--simulate", "snp")
    assert result.exit_code == 2, result.output
    assert option in result.stderr and message in result.stderr
    assert chain.submitted == []


def test_one_source_of_evidence(chain: FakeChain, tmp_path: Path) -> None:
    file = tmp_path / "report.bin"
    file.write_bytes(b"x")
    result = run(*BASE, "--simulate", "snp", "--evidence", str(file))
    assert result.exit_code == 2 and "wanted one source of evidence" in result.stderr
    both = run(*BASE, "--evidence", str(file), "--collateral", str(tmp_path), "--online")
    assert both.exit_code == 2 and "either --collateral or --online" in both.stderr


def test_simulate_is_refused_on_a_non_dev_chain(chain: FakeChain) -> None:
    chain.is_dev_chain = False
    chain.chain = "Phala Agents"
    result = run(*BASE, "--simulate", "tdx")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --simulate: found chain 'Phala Agents'")
    assert "wanted a dev chain" in result.stderr and "Hint: run this inside the worker's CVM" in result.stderr
    assert chain.submitted == []


def test_evidence_with_another_binding_is_refused_before_signing(
    chain: FakeChain, snp: SimulatedSnp, tmp_path: Path
) -> None:
    file = tmp_path / "report.bin"
    file.write_bytes(snp.report(report_data=bytes(64)))
    result = run(*BASE, "--evidence", str(file), "--collateral", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert f"REPORT_DATA: found {'00' * 64}, wanted the worker binding {binding().hex()}" in result.stderr
    assert "nothing was sent" in result.stderr
    assert chain.submitted == []


def test_bound_evidence_with_dev_roots_fails_the_local_check(
    chain: FakeChain, snp: SimulatedSnp, tmp_path: Path
) -> None:
    """Right binding, but --evidence carries no dev roots: AMD's roots refuse the simulated chain."""
    (tmp_path / "report.bin").write_bytes(snp.report(report_data=binding()))
    (tmp_path / "vcek.der").write_bytes(snp.endorsement())
    result = run(*BASE, "--evidence", str(tmp_path / "report.bin"), "--collateral", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: Workers::EvidenceInvalid: ")
    assert "checked before signing; nothing was sent" in result.stderr
    assert chain.submitted == []


def test_no_cvm_says_so_and_hints_simulate(chain: FakeChain, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(report_data: bytes, options: object = None) -> object:
        raise EvidenceUnavailable("no TEE guest interface: none of /sys/kernel/config/tsm/report")

    monkeypatch.setattr(attestation, "get_evidence", unavailable)
    result = run(*BASE)
    assert result.exit_code == 1, result.output
    assert "wanted a TEE guest" in result.stderr and "--simulate snp|tdx" in result.stderr
    assert chain.submitted == []


def test_dev_roots_not_trusted_is_named_and_nothing_is_sent(chain: FakeChain) -> None:
    chain.policy = {**dev_worker_policy(), "trust_dev_roots": False}
    result = run(*BASE, "--simulate", "snp")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: Workers::DevRootsNotTrusted: ")
    assert "Hint: " in result.stderr
    assert chain.submitted == []


def test_register_simulated_snp(chain: FakeChain) -> None:
    result = run(*BASE, "--simulate", "snp", "--json")
    assert result.exit_code == 0, result.output
    (params,) = chain.submitted
    assert params["endpoint"] == "https://w.example:8443"
    assert (params["x25519_pub"], params["tls_spki_hash"]) == ("0x" + X25519, TLS)
    raw = bytes.fromhex(str(params["evidence"])[2:])
    (kind, payload), end = EvidenceBundle.decode(raw)
    parts = cast("dict[str, bytes | None]", payload)
    assert (kind, end) == ("SevSnp", len(raw))
    assert parts["dev_roots"] is not None
    assert attestation.sev.parse_report(cast(bytes, parts["report"])).report_data == binding()
    record = json.loads(result.stdout)
    assert record["account"] == ALICE and record["event"] == "WorkerRegistered"
    assert (record["tee"], record["roots"], record["active"], record["attested_at"]) == (
        "SevSnp",
        "Dev",
        True,
        6,
    )
    text = run(*BASE, "--simulate", "snp")
    assert text.exit_code == 0 and f"worker {ALICE} registered" in text.stdout


def test_register_simulated_tdx_bundle(chain: FakeChain) -> None:
    result = run(*BASE, "--simulate", "tdx", "--json")
    assert result.exit_code == 0, result.output
    raw = bytes.fromhex(str(chain.submitted[0]["evidence"])[2:])
    (kind, payload), _ = EvidenceBundle.decode(raw)
    parts = cast("dict[str, bytes | None]", payload)
    assert kind == "Dcap" and parts["dev_root"] is not None
    assert attestation.tdx.parse_quote(cast(bytes, parts["quote"])).report_data == binding()


def test_a_failure_on_chain_is_named(chain: FakeChain) -> None:
    chain.fail = "TeeNotAllowed"
    result = run(*BASE, "--simulate", "snp")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: Workers::TeeNotAllowed: The policy does not allow")
    assert "Hint: " in result.stderr


def test_evidence_that_is_no_report_is_exit_1(chain: FakeChain, tmp_path: Path) -> None:
    file = tmp_path / "junk.bin"
    file.write_bytes(b"not a report" * 10)
    result = run(*BASE, "--evidence", str(file))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: --evidence: ") and "wanted an SEV-SNP report" in result.stderr
    assert chain.submitted == []
