"""`phala-agent attest`: stdout carries results, stderr errors, exit codes 0/2/3/4/5 (typer CliRunner)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from snp_vectors import SNP_DATA
from typer.testing import CliRunner

from phala_agents.attestation.simulated import SimulatedSnp
from phala_agents.attestation.trust import HttpxGetter
from phala_agents.cli._app import app
from phala_agents.cli.attest import Kind, detect_kind

REPO = Path(__file__).resolve().parents[3]
POLICIES = REPO / "attestation" / "policies"
V5 = ["attest", "verify", str(SNP_DATA / "milan_v5_gcp_bound.report.bin")]
V5_CERT = ["--cert", str(SNP_DATA / "milan_v5_gcp_bound.vcek.pem"), "--at", "2026-01-04T09:42:54Z"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["attest", "verify", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for part in ("3 malformed evidence", "4 collateral unavailable", "5 authentic but rejected"):
        assert part in text


@pytest.mark.parametrize(
    ("args", "code", "stderr_part"),
    [
        (V5 + V5_CERT, 0, ""),
        (V5 + V5_CERT + ["--policy", str(POLICIES / "cloud-vmpl1-snp.json")], 0, ""),
        (
            V5 + V5_CERT + ["--policy", str(POLICIES / "production-snp.json")],
            5,
            "VMPL is 1, wanted at most 0",
        ),
        (
            [*V5, "--cert", str(SNP_DATA / "milan_v5_gcp_bound.vcek.pem"), "--at", "2020-01-01"],
            3,
            "not yet valid",
        ),
        (
            ["attest", "verify", str(SNP_DATA / "milan_v2_debug.report.bin"), "--collateral", str(SNP_DATA)],
            5,
            "DEBUG=1",
        ),
        (
            ["attest", "verify", str(SNP_DATA / "milan_v3_vlek.report.bin"), "--collateral", str(SNP_DATA)],
            3,
            "VLEK certificate expired",
        ),
        (
            [
                "attest",
                "verify",
                str(SNP_DATA / "milan_v3_vlek.report.bin"),
                "--collateral",
                str(SNP_DATA),
                "--at",
                "1736460861",
                "--policy",
                str(POLICIES / "cloud-vmpl1-snp.json"),
            ],
            0,
            "",
        ),
        ([*V5, "--at", "2026-01-04T09:42:54Z"], 4, "fetching is disabled"),
        ([*V5, "--collateral", "/nonexistent-dir", "--online"], 2, "not both"),
        (V5 + V5_CERT + ["--at", "yesterday"], 2, "wanted ISO-8601"),
        (["attest", "verify", str(SNP_DATA / "vectors.json")], 3, "cannot tell the evidence kind"),
        (["attest", "verify", str(SNP_DATA / "vectors.json"), "--kind", "snp"], 3, "report size is"),
    ],
)
def test_verify_exit_codes(runner: CliRunner, args: list[str], code: int, stderr_part: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    if code == 0:
        assert result.stdout.startswith("OK: SEV-SNP report verified")
        assert result.stderr == ""
    else:
        assert stderr_part in result.stderr
        assert result.stdout == ""
    if code in (3, 4, 5):
        assert result.stderr.startswith("Error: ")


def test_bad_policy_file_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"allow_debugg": true}')
    result = runner.invoke(app, V5 + V5_CERT + ["--policy", str(bad)])
    assert result.exit_code == 2
    assert "unknown policy key 'allow_debugg'" in result.stderr


def test_verify_json(runner: CliRunner) -> None:
    result = runner.invoke(app, V5 + V5_CERT + ["--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["kind"] == "snp" and doc["product"] == "Milan"
    assert doc["chain_sha256"]["ark"] == "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    assert doc["vmpl"] == 1 and doc["reported_tcb"]["snp"] == 27
    assert doc["debug"] is False  # from verify_evidence's common result


def test_show(runner: CliRunner) -> None:
    result = runner.invoke(app, ["attest", "show", str(SNP_DATA / "milan_v5_gcp_bound.report.bin")])
    assert result.exit_code == 0
    assert "REPORT_DATA" in result.stdout and "CPUID_FAM_ID" in result.stdout
    result = runner.invoke(
        app, ["attest", "show", str(SNP_DATA / "genoa_v2.report.bin"), "--json", "--product", "Genoa"]
    )
    doc = json.loads(result.stdout)
    assert doc["kind"] == "snp"
    assert doc["fields"]["REPORTED_TCB"]["microcode"] == 62
    assert doc["fields"]["VMPL"] == 1


def test_show_hex_input(runner: CliRunner, tmp_path: Path) -> None:
    hex_file = tmp_path / "r.hex"
    hex_file.write_text((SNP_DATA / "milan_v5_gcp_bound.report.bin").read_bytes().hex() + "\n")
    result = runner.invoke(app, ["attest", "show", str(hex_file), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["fields"]["VERSION"] == 5


def test_simulate_then_verify(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["attest", "simulate", str(out), "--report-data", "abcd"])
    assert result.exit_code == 0, result.stderr
    report, cert, roots = out / "report.bin", out / "vcek.der", out / "dev-roots.pem"
    base = ["attest", "verify", str(report), "--cert", str(cert)]
    ok = runner.invoke(
        app, [*base, "--roots", str(roots), "--policy", str(POLICIES / "dev-simulated.json"), "--json"]
    )
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["trust"] == "custom-roots"
    assert json.loads(ok.stdout)["report_data"].startswith("abcd00")
    assert runner.invoke(app, base).exit_code == 3  # AMD's roots
    prod = runner.invoke(
        app, [*base, "--roots", str(roots), "--policy", str(POLICIES / "production-snp.json")]
    )
    assert prod.exit_code == 5
    assert "trust set is 'custom-roots'" in prod.stderr


def test_detect_kind() -> None:
    assert detect_kind((SNP_DATA / "milan_v2_debug.report.bin").read_bytes()) is Kind.SNP
    tdx = REPO / "tests" / "data" / "tdx"
    quote = next(iter(sorted(tdx.glob("*.quote.bin"))), None) if tdx.is_dir() else None
    if quote is not None:
        assert detect_kind(quote.read_bytes()) is Kind.TDX
    assert detect_kind(b"\x03\x00\x02\x00\x00\x00\x00\x00" + bytes(100)) is Kind.SGX


TDX = REPO / "tests" / "data" / "tdx"
SGX = REPO / "tests" / "data" / "sgx"


@pytest.mark.skipif(not (TDX / "tdx_v4_uptodate.quote.bin").is_file(), reason="TDX vectors not present")
@pytest.mark.parametrize(
    ("args", "code", "part"),
    [
        (
            [
                "attest",
                "verify",
                str(TDX / "tdx_v4_uptodate.quote.bin"),
                "--collateral",
                str(TDX),
                "--at",
                "1752919234",
            ],
            0,
            "UpToDate",
        ),
        (
            [
                "attest",
                "verify",
                str(TDX / "tdx_v4_uptodate.quote.bin"),
                "--collateral",
                str(TDX),
                "--at",
                "1752919234",
                "--kind",
                "sgx",
            ],
            3,
            "TDX quote",
        ),
        (
            ["attest", "verify", str(TDX / "tdx_v4_uptodate.quote.bin"), "--collateral", str(TDX)],
            3,
            "expired",
        ),
        (
            [
                "attest",
                "verify",
                str(TDX / "tdx_v5_no_tcb_level.quote.bin"),
                "--collateral",
                str(TDX),
                "--at",
                "1774003274",
            ],
            3,
            "No matching TCB level",
        ),
        (
            [
                "attest",
                "verify",
                str(SGX / "sgx_v3_cswhn.quote.bin"),
                "--collateral",
                str(SGX),
                "--at",
                "1752919277",
            ],
            5,
            "ConfigurationAndSWHardeningNeeded",
        ),
        (["attest", "verify", str(TDX / "tdx_v4_tappd_a.quote.hex")], 4, "pass --collateral"),
    ],
)
def test_verify_dcap(runner: CliRunner, args: list[str], code: int, part: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert part in (result.stdout if code == 0 else result.stderr)


@pytest.mark.skipif(not (SGX / "sgx_v3_cswhn.quote.bin").is_file(), reason="SGX vectors not present")
def test_verify_dcap_policy_file(runner: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "sgx.json"
    policy.write_text(
        json.dumps({"kind": "sgx", "allowed_statuses": ["UpToDate", "ConfigurationAndSWHardeningNeeded"]})
    )
    base = [
        "attest",
        "verify",
        str(SGX / "sgx_v3_cswhn.quote.bin"),
        "--collateral",
        str(SGX),
        "--at",
        "1752919277",
    ]
    result = runner.invoke(app, [*base, "--policy", str(policy), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "ConfigurationAndSWHardeningNeeded"
    assert doc["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert doc["trust"] == "intel-production" and doc["debug"] is False
    assert len(bytes.fromhex(doc["measurement"])) == 32 and len(bytes.fromhex(doc["report_data"])) == 64
    policy.write_text(json.dumps({"allowed_statuse": []}))
    bad = runner.invoke(app, [*base, "--policy", str(policy)])
    assert bad.exit_code == 2 and "unknown policy key 'allowed_statuse'" in bad.stderr
    policy.write_text(json.dumps({"allowed_statuses": ["Great"]}))
    assert runner.invoke(app, [*base, "--policy", str(policy)]).exit_code == 2


@pytest.mark.skipif(not (TDX / "tdx_v4_tappd_a.quote.hex").is_file(), reason="TDX vectors not present")
def test_show_tdx(runner: CliRunner) -> None:
    result = runner.invoke(app, ["attest", "show", str(TDX / "tdx_v4_tappd_a.quote.hex"), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "tdx"
    assert doc["fields"]["header"]["version"] == 4


@pytest.mark.parametrize("kind", ["tdx", "sgx"])
def test_simulate_dcap_then_verify(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    out = tmp_path / kind
    made = runner.invoke(
        app, ["attest", "simulate", str(out), "--kind", kind, "--report-data", "ab", "--json"]
    )
    assert made.exit_code == 0, made.stderr
    paths = json.loads(made.stdout)
    base = ["attest", "verify", paths["quote"], "--collateral", str(out)]
    ok = runner.invoke(app, [*base, "--roots", paths["roots"], "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["kind"] == kind
    assert runner.invoke(app, base).exit_code == 3  # Intel's pinned root rejects the dev hierarchy
    debug = runner.invoke(app, ["attest", "simulate", str(tmp_path / "d"), "--kind", kind, "--debug"])
    assert debug.exit_code == 0
    rejected = runner.invoke(
        app,
        [
            "attest",
            "verify",
            str(tmp_path / "d/quote.bin"),
            "--collateral",
            str(tmp_path / "d"),
            "--roots",
            str(tmp_path / "d/dev-root.der"),
        ],
    )
    assert rejected.exit_code == 5 and "DEBUG" in rejected.stderr


def test_online_uses_kds_and_its_cache_then_offline(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snp_sim: SimulatedSnp
) -> None:
    from phala_agents.cli import attest as attest_cli

    kds = snp_sim.fake_kds()
    monkeypatch.setattr(attest_cli, "HttpxGetter", lambda: HttpxGetter(transport=kds.transport()))
    report = tmp_path / "report.bin"
    report.write_bytes(snp_sim.report())
    roots = tmp_path / "dev-roots.pem"
    roots.write_bytes(snp_sim.roots_pem())
    base = ["attest", "verify", str(report), "--roots", str(roots), "--at", "2026-01-31T00:00:00Z"]
    cache = tmp_path / "cache"
    online = runner.invoke(app, [*base, "--online", "--cache-dir", str(cache)])
    assert online.exit_code == 0, online.stderr
    assert len(kds.requests) == 1
    offline = runner.invoke(app, [*base, "--collateral", str(cache / "kds")])
    assert offline.exit_code == 0, offline.stderr
    assert len(kds.requests) == 1
    empty = runner.invoke(app, [*base, "--collateral", str(tmp_path)])
    assert empty.exit_code == 4 and "offline and not cached" in empty.stderr


def test_crl_option(runner: CliRunner, tmp_path: Path, snp_sim: SimulatedSnp) -> None:

    now = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    paths = snp_sim.save(tmp_path, snp_sim.report())
    crl = tmp_path / "crl.der"
    crl.write_bytes(
        snp_sim.crl([4], this_update=now - dt.timedelta(days=1), next_update=now + dt.timedelta(days=1))
    )
    args = [
        "attest",
        "verify",
        str(paths["report"]),
        "--cert",
        str(paths["cert"]),
        "--roots",
        str(paths["roots"]),
    ]
    args += ["--at", "2026-01-31T00:00:00Z"]
    assert runner.invoke(app, args).exit_code == 0
    revoked = runner.invoke(app, [*args, "--crl", str(crl)])
    assert revoked.exit_code == 3 and "revoked" in revoked.stderr
