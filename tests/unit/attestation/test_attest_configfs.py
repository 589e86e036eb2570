"""In-guest evidence against a fake configfs-tsm tree in a tmp dir, and the ioctl fallbacks."""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from snp_vectors import SIM_NOW
from structlog.testing import capture_logs

from phala_agents.attestation.configfs import (
    SNP_GET_REPORT,
    TDX_CMD_GET_REPORT0,
    EvidenceOptions,
    OsFs,
    build_cert_table,
    get_evidence,
    get_evidence_sev_guest,
    get_evidence_tdx_guest,
    parse_cert_table,
)
from phala_agents.attestation.sev import ChainCache, VerifyOptions, verify_report
from phala_agents.attestation.simulated import SimulatedSnp
from phala_agents.attestation.trust import FixedClock
from phala_agents.errors import EvidenceUnavailable


@dataclass
class FakeTsm:
    """A fake of the kernel side of configfs-tsm on a real tmp directory.

    mkdir creates the attribute files, a write to inblob/privlevel bumps generation and (for
    inblob) produces the outblob, rmdir removes the entry. ``interfere`` simulates another writer.
    """

    root: Path
    provider: str
    make_outblob: Callable[[bytes, int], bytes]
    auxblob: bytes | None = None
    interfere: int = 0
    fs: OsFs = field(default_factory=OsFs)
    privlevels: list[int] = field(default_factory=list)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def mkdir(self, path: Path) -> None:
        path.mkdir()
        (path / "provider").write_text(self.provider + "\n")
        (path / "generation").write_text("0\n")
        (path / "privlevel_floor").write_text("0\n")
        if self.auxblob is not None:
            (path / "auxblob").write_bytes(self.auxblob)

    def rmdir(self, path: Path) -> None:
        for child in path.iterdir():
            child.unlink()
        path.rmdir()

    def read(self, path: Path) -> bytes:
        return path.read_bytes()

    def write(self, path: Path, data: bytes) -> None:
        entry = path.parent
        generation = int((entry / "generation").read_text()) + 1
        if path.name == "privlevel":
            self.privlevels.append(int(data))
        if path.name == "inblob":
            assert len(data) == 64
            vmpl = self.privlevels[-1] if self.privlevels else 0
            (entry / "outblob").write_bytes(self.make_outblob(data, vmpl))
            if self.interfere:
                self.interfere -= 1
                generation += 1
        path.write_bytes(data)
        (entry / "generation").write_text(f"{generation}\n")


@pytest.fixture
def tsm_root(tmp_path: Path) -> Path:
    root = tmp_path / "sys/kernel/config/tsm/report"
    root.mkdir(parents=True)
    return root


def _opts(tsm_root: Path, fake: FakeTsm, **kw: object) -> EvidenceOptions:
    return EvidenceOptions(
        tsm_root=tsm_root,
        sev_device=tsm_root / "no-sev-guest",
        tdx_device=tsm_root / "no-tdx-guest",
        fs=fake,
        **kw,  # type: ignore[arg-type]
    )


def test_configfs_snp_round_trip_with_the_simulated_tee(tsm_root: Path, snp_sim: SimulatedSnp) -> None:
    table = build_cert_table({"vcek": snp_sim.endorsement()})
    fake = FakeTsm(
        root=tsm_root,
        provider="sev_guest",
        make_outblob=lambda data, vmpl: snp_sim.report(report_data=data, vmpl=vmpl),
        auxblob=table,
    )
    evidence = get_evidence(b"nonce-123", _opts(tsm_root, fake, privlevel=1))
    assert evidence.kind == "snp" and evidence.source == "configfs-tsm"
    assert list(tsm_root.iterdir()) == []  # the entry was removed
    certs = evidence.certificates()
    verified = verify_report(
        evidence.blob,
        VerifyOptions(roots=snp_sim.roots(), clock=FixedClock(SIM_NOW), cache=ChainCache()),
        endorsement=certs["vcek"],
    )
    assert verified.report.report_data == b"nonce-123".ljust(64, b"\x00")
    assert verified.report.vmpl == 1


def test_configfs_tdx_provider(tsm_root: Path) -> None:
    fake = FakeTsm(root=tsm_root, provider="tdx_guest", make_outblob=lambda data, _: b"QUOTE" + data)
    evidence = get_evidence(b"\x01" * 64, _opts(tsm_root, fake))
    assert evidence.kind == "tdx" and evidence.blob == b"QUOTE" + b"\x01" * 64
    assert evidence.auxblob is None


def test_configfs_generation_race_is_retried(tsm_root: Path) -> None:
    fake = FakeTsm(root=tsm_root, provider="tdx_guest", make_outblob=lambda d, _: d, interfere=1)
    with capture_logs() as logs:
        assert get_evidence(b"x", _opts(tsm_root, fake)).kind == "tdx"
    assert [e["event"] for e in logs] == ["configfs_tsm_generation_mismatch"]
    assert logs[0]["found"] == 2 and logs[0]["wanted"] == 1
    always = FakeTsm(root=tsm_root, provider="tdx_guest", make_outblob=lambda d, _: d, interfere=99)
    with capture_logs(), pytest.raises(EvidenceUnavailable, match="generation kept changing"):
        get_evidence(b"x", _opts(tsm_root, always))


def test_configfs_unknown_provider(tsm_root: Path) -> None:
    fake = FakeTsm(root=tsm_root, provider="arm_cca_guest", make_outblob=lambda d, _: d)
    with pytest.raises(EvidenceUnavailable, match="provider is 'arm_cca_guest'"):
        get_evidence(b"x", _opts(tsm_root, fake))


def test_no_tee_interface(tmp_path: Path) -> None:
    options = EvidenceOptions(
        tsm_root=tmp_path / "none", sev_device=tmp_path / "sev", tdx_device=tmp_path / "tdx"
    )
    with pytest.raises(EvidenceUnavailable, match="no TEE guest interface"):
        get_evidence(b"x", options)


def test_report_data_too_long_is_a_caller_bug(tsm_root: Path) -> None:
    fake = FakeTsm(root=tsm_root, provider="sev_guest", make_outblob=lambda d, _: d)
    with pytest.raises(ValueError, match="at most 64"):
        get_evidence(b"x" * 65, _opts(tsm_root, fake))


def test_cert_table_round_trip_and_errors() -> None:
    certs = {"vcek": b"V" * 10, "ask": b"A" * 3, "ark": b"R"}
    assert parse_cert_table(build_cert_table(certs)) == certs
    with pytest.raises(EvidenceUnavailable, match="no terminating zero entry"):
        parse_cert_table(struct.pack("<16sII", b"\x01" * 16, 0, 0))
    bad = struct.pack("<16sII", b"\x01" * 16, 1000, 5) + bytes(24)
    with pytest.raises(EvidenceUnavailable, match="past the table"):
        parse_cert_table(bad)


def test_sev_guest_ioctl(tmp_path: Path, snp_sim: SimulatedSnp) -> None:
    device = tmp_path / "sev-guest"
    device.write_bytes(b"")
    seen: list[tuple[int, bytes, int]] = []

    def fake_ioctl(fd: int, request: int, buf: bytearray) -> int:
        assert request == SNP_GET_REPORT == 0xC0205300
        msg_version, req_addr, resp_addr, _ = struct.unpack("<B7xQQQ", buf)
        assert msg_version == 1
        req = ctypes.string_at(req_addr, 96)
        vmpl = struct.unpack_from("<I", req, 64)[0]
        seen.append((request, req[:64], vmpl))
        report = snp_sim.report(report_data=req[:64], vmpl=vmpl)
        resp = struct.pack("<II", 0, len(report)) + bytes(24) + report
        ctypes.memmove(resp_addr, resp, len(resp))
        return 0

    options = EvidenceOptions(
        tsm_root=tmp_path / "no-configfs",
        sev_device=device,
        tdx_device=tmp_path / "none",
        ioctl=fake_ioctl,
        privlevel=2,
    )
    evidence = get_evidence(b"abc", options)
    assert evidence.kind == "snp" and evidence.source == str(device)
    assert seen == [(SNP_GET_REPORT, b"abc".ljust(64, b"\x00"), 2)]
    verify_report(
        evidence.blob,
        VerifyOptions(roots=snp_sim.roots(), clock=FixedClock(SIM_NOW), cache=ChainCache()),
        endorsement=snp_sim.endorsement(),
    )


def test_sev_guest_firmware_error(tmp_path: Path) -> None:
    device = tmp_path / "sev-guest"
    device.write_bytes(b"")

    def failing(fd: int, request: int, buf: bytearray) -> int:
        buf[24:32] = struct.pack("<Q", 0x16)
        raise OSError(5, "Input/output error")

    with pytest.raises(
        EvidenceUnavailable, match=r"SNP_GET_REPORT failed: Input/output error \(exitinfo2 0x16\)"
    ):
        get_evidence_sev_guest(b"", EvidenceOptions(sev_device=device, ioctl=failing))

    def bad_status(fd: int, request: int, buf: bytearray) -> int:
        _, _, resp_addr, _ = struct.unpack("<B7xQQQ", buf)
        ctypes.memmove(resp_addr, struct.pack("<II", 0x16, 0), 8)
        return 0

    with pytest.raises(EvidenceUnavailable, match="MSG_REPORT_RSP status is 0x16"):
        get_evidence_sev_guest(b"", EvidenceOptions(sev_device=device, ioctl=bad_status))


def test_tdx_guest_ioctl(tmp_path: Path) -> None:
    device = tmp_path / "tdx_guest"
    device.write_bytes(b"")

    def fake_ioctl(fd: int, request: int, buf: bytearray) -> int:
        assert request == TDX_CMD_GET_REPORT0 == 0xC4405401
        assert len(buf) == 1088
        buf[64:] = b"\x07" * 1024
        return 0

    evidence = get_evidence_tdx_guest(b"n", EvidenceOptions(tdx_device=device, ioctl=fake_ioctl))
    assert evidence.kind == "tdx_report" and evidence.blob == b"\x07" * 1024


def test_missing_devices(tmp_path: Path) -> None:
    with pytest.raises(EvidenceUnavailable, match="sev"):
        get_evidence_sev_guest(b"", EvidenceOptions(sev_device=tmp_path / "sev"))
    with pytest.raises(EvidenceUnavailable, match="tdx"):
        get_evidence_tdx_guest(b"", EvidenceOptions(tdx_device=tmp_path / "tdx"))
