"""The simulated SNP TEE: accepted only under its own (dev) roots;
AMD's roots and a production policy reject it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from snp_vectors import SIM_NOW

from phala_agents.attestation.sev import (
    ChainCache,
    Policy,
    ProductLine,
    SigningKey,
    VerifyOptions,
    load_policy,
    parse_report,
    validate_report,
    verify_report,
)
from phala_agents.attestation.sev.abi import POLICY_DEBUG, POLICY_RESERVED_MUST_BE_ONE
from phala_agents.attestation.simulated import DEV_TRUST_NAME, SimulatedSnp
from phala_agents.attestation.trust import FixedClock, TrustedRoots
from phala_agents.errors import PolicyError, VerificationError

REPO = Path(__file__).resolve().parents[3]


def _dev(sim: SimulatedSnp) -> VerifyOptions:
    return VerifyOptions(roots=sim.roots(), clock=FixedClock(SIM_NOW), cache=ChainCache())


@pytest.mark.parametrize("version", [2, 3, 5])
@pytest.mark.parametrize("signing_key", [SigningKey.VCEK, SigningKey.VLEK])
def test_round_trip_accepted_with_dev_roots(
    snp_sim: SimulatedSnp, version: int, signing_key: SigningKey
) -> None:
    raw = snp_sim.report(
        report_data=b"\x42" * 64, measurement=b"\x01" * 48, version=version, signing_key=signing_key
    )
    report = parse_report(raw)
    assert report.version == version and report.signing_key is signing_key
    verified = verify_report(raw, _dev(snp_sim), endorsement=snp_sim.endorsement(signing_key))
    assert verified.trust == DEV_TRUST_NAME
    assert verified.product is ProductLine.MILAN
    validate_report(
        verified,
        Policy(
            report_data=b"\x42" * 64,
            measurements=frozenset({b"\x01" * 48}),
            trust=frozenset({DEV_TRUST_NAME}),
        ),
    )


def test_rejected_by_the_production_trust_set(snp_sim: SimulatedSnp) -> None:
    options = VerifyOptions(clock=FixedClock(SIM_NOW), cache=ChainCache())
    with pytest.raises(VerificationError, match="VCEK by ASK"):
        verify_report(snp_sim.report(), options, endorsement=snp_sim.endorsement())


def test_even_with_amd_names_the_pinned_ark_decides(snp_sim: SimulatedSnp) -> None:
    """AMD's ARK with the sim's ASK still rejects: AMD's ARK signed nothing of the sim."""
    amd = TrustedRoots.amd_production().get(ProductLine.MILAN)
    mixed = TrustedRoots(
        name="mixed",
        products={ProductLine.MILAN: type(amd)(product=ProductLine.MILAN, ark=amd.ark, ask=snp_sim.ask)},
    )
    options = VerifyOptions(roots=mixed, clock=FixedClock(SIM_NOW), cache=ChainCache())
    with pytest.raises(VerificationError, match="ASK by ARK"):
        verify_report(snp_sim.report(), options, endorsement=snp_sim.endorsement())


def test_rejected_by_the_production_policy(snp_sim: SimulatedSnp) -> None:
    production = load_policy((REPO / "attestation/policies/production-snp.json").read_text())
    verified = verify_report(snp_sim.report(), _dev(snp_sim), endorsement=snp_sim.endorsement())
    with pytest.raises(
        PolicyError, match="trust set is 'dev-simulated', wanted one of \\['amd-production'\\]"
    ):
        validate_report(verified, production)
    dev = load_policy((REPO / "attestation/policies/dev-simulated.json").read_text())
    validate_report(verified, dev)


def test_dev_policy_still_rejects_debug(snp_sim: SimulatedSnp) -> None:
    raw = snp_sim.report(policy=POLICY_RESERVED_MUST_BE_ONE | POLICY_DEBUG)
    verified = verify_report(raw, _dev(snp_sim), endorsement=snp_sim.endorsement())
    dev = load_policy((REPO / "attestation/policies/dev-simulated.json").read_text())
    with pytest.raises(PolicyError, match="DEBUG=1"):
        validate_report(verified, dev)


def test_outside_the_dev_validity_window(snp_sim: SimulatedSnp) -> None:
    late = VerifyOptions(roots=snp_sim.roots(), clock=FixedClock(snp_sim.not_after + dt.timedelta(days=1)))
    with pytest.raises(VerificationError, match="expired"):
        verify_report(snp_sim.report(), late, endorsement=snp_sim.endorsement())


def test_save_writes_only_public_parts(tmp_path: Path, snp_sim: SimulatedSnp) -> None:
    paths = snp_sim.save(tmp_path, snp_sim.report())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-roots.pem", "report.bin", "vcek.der"]
    assert b"PRIVATE" not in paths["roots"].read_bytes()
    assert "ark_key" not in repr(snp_sim)


def test_bad_field_sizes_are_caller_bugs(snp_sim: SimulatedSnp) -> None:
    with pytest.raises(ValueError, match="report_data is 3 bytes, wanted 64"):
        snp_sim.report(report_data=b"abc")
