"""validate_quote: each policy check fails alone, and every violation is reported at once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tdx_helpers import SIM_ISSUE, SIM_NOW, T_SGX, vector_collateral, vector_quote

from phala_agents.attestation.tdx import (
    Collateral,
    Policy,
    TcbStatus,
    TdReport,
    VerifiedQuote,
    VerifyOptions,
    validate_quote,
    verify_quote,
)
from phala_agents.attestation.tdx.simulated import SimulatedTdx
from phala_agents.errors import PolicyError


@pytest.fixture(scope="module")
def verified(sim: SimulatedTdx, sim_collateral: Collateral) -> VerifiedQuote:
    raw = sim.quote(
        mr_td=b"\x01" * 48,
        rtmrs=(b"\x02" * 48, b"\x03" * 48, b"\x04" * 48, b"\x05" * 48),
        report_data=b"\x0a" * 32,
    )
    return verify_quote(
        raw, sim_collateral, VerifyOptions(now=SIM_NOW, trusted_roots=(sim.root_der,), cache=None)
    )


def _td(v: VerifiedQuote, **kw: object) -> VerifiedQuote:
    assert isinstance(v.quote.body, TdReport)
    return replace(v, quote=replace(v.quote, body=replace(v.quote.body, **kw)))


def test_production_default_accepts(verified: VerifiedQuote) -> None:
    validate_quote(verified, Policy())
    validate_quote(verified, Policy(mr_td=(b"\x01" * 48,), rtmr3=(b"\x05" * 48,), report_data=b"\x0a" * 32))


@pytest.mark.parametrize(
    ("mutate", "policy", "want"),
    [
        (lambda v: _td(v, td_attributes=bytes.fromhex("0100001000000000")), Policy(), "with DEBUG set"),
        (
            lambda v: _td(v, td_attributes=bytes.fromhex("0000000000000000")),
            Policy(),
            "without SEPT_VE_DISABLE",
        ),
        (lambda v: _td(v, td_attributes=bytes.fromhex("0200001000000000")), Policy(), "reserved TUD bits"),
        (lambda v: _td(v, td_attributes=bytes.fromhex("0001001000000000")), Policy(), "reserved SEC bits"),
        (lambda v: _td(v, tee_tcb_svn2=bytes(16), mr_service_td=b"\x01" * 48), Policy(), "MR_SERVICETD"),
        (lambda v: v, Policy(mr_td=(b"\x09" * 48,)), "quote field MR_TD is 0101"),
        (lambda v: v, Policy(rtmr2=(b"\x09" * 48,)), "quote field RTMR2 is 0404"),
        (lambda v: v, Policy(mr_config_id=(b"\x09" * 48,)), "MR_CONFIG_ID"),
        (lambda v: v, Policy(report_data=b"\x0b"), "quote field REPORT_DATA is 0a0a"),
        (
            lambda v: replace(v, status=TcbStatus.OUT_OF_DATE),
            Policy(),
            "TCB status is OutOfDate. Expect one of UpToDate",
        ),
        (
            lambda v: replace(v, advisory_ids=("INTEL-SA-1",)),
            Policy(rejected_advisory_ids=frozenset({"INTEL-SA-1"})),
            "INTEL-SA-1",
        ),
        (
            lambda v: replace(v, advisory_ids=("INTEL-SA-2",)),
            Policy(allowed_advisory_ids=frozenset()),
            "INTEL-SA-2",
        ),
        (
            lambda v: v,
            Policy(min_tcb_eval_data_number=18),
            "tcbEvaluationDataNumber is 17. Expect at least 18",
        ),
        (lambda v: v, Policy(max_collateral_age=60), "collateral age is 3600 s. Expect at most 60 s"),
        (lambda v: v, Policy(require_tdx=False), "quote TEE is TDX. Expect SGX"),
        (lambda v: replace(v, pck=replace(v.pck, smt_enabled=True)), Policy(allow_smt=False), "SMTEnabled"),
        (
            lambda v: replace(v, pck=replace(v.pck, dynamic_platform=True)),
            Policy(allow_dynamic_platform=False),
            "dynamicPlatform",
        ),
        (
            lambda v: replace(v, pck=replace(v.pck, cached_keys=True)),
            Policy(allow_cached_keys=False),
            "cachedKeys",
        ),
    ],
)
def test_each_check(verified: VerifiedQuote, mutate, policy: Policy, want: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError) as info:
        validate_quote(mutate(verified), policy)
    assert any(want in v for v in info.value.violations), info.value.violations


def test_every_violation_reported(verified: VerifiedQuote) -> None:
    v = replace(
        _td(verified, td_attributes=bytes.fromhex("0100001000000000")), status=TcbStatus.SW_HARDENING_NEEDED
    )
    policy = Policy(mr_td=(bytes(48),), rtmr0=(bytes(48),), report_data=bytes(64), max_collateral_age=1)
    with pytest.raises(PolicyError) as info:
        validate_quote(v, policy)
    assert len(info.value.violations) == 6
    assert "DEBUG" in str(info.value) and "RTMR0" in str(info.value)


def test_debug_allowed_when_asked(verified: VerifiedQuote) -> None:
    validate_quote(_td(verified, td_attributes=bytes.fromhex("0100001000000000")), Policy(allow_debug=True))


def test_sgx_vector_policy() -> None:
    v = verify_quote(
        vector_quote("sgx/sgx_v3_cswhn"),
        vector_collateral("sgx/sgx_v3_cswhn"),
        VerifyOptions(now=T_SGX, cache=None),
    )
    # A strict policy (UpToDate only) rejects the ConfigurationAndSWHardeningNeeded vector ...
    with pytest.raises(PolicyError, match="ConfigurationAndSWHardeningNeeded"):
        validate_quote(v, Policy())
    # ... one that allows that status and these advisories accepts it, with its measurements pinned.
    ok = Policy(
        allowed_statuses=frozenset({TcbStatus.UP_TO_DATE, TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED}),
        allowed_advisory_ids=frozenset({"INTEL-SA-00289", "INTEL-SA-00615"}),
        mr_enclave=(bytes.fromhex("33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"),),
        report_data=b"Hello, world!",
        require_tdx=False,
    )
    validate_quote(v, ok)
    with pytest.raises(PolicyError) as info:
        validate_quote(v, replace(ok, mr_signer=(bytes(32),), isv_prod_id=5, min_isv_svn=1))
    assert len(info.value.violations) == 3


def test_report_data_too_long(verified: VerifiedQuote) -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        validate_quote(verified, Policy(report_data=bytes(65)))


def test_sim_issue_constant() -> None:
    assert SIM_NOW - SIM_ISSUE == 3600
