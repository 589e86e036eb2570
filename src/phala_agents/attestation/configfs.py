"""In-guest evidence: configfs-tsm first, ``/dev/sev-guest`` and ``/dev/tdx_guest`` ioctls as fallbacks.

configfs-tsm (Linux 6.7+, ``Documentation/ABI/testing/configfs-tsm``): ``mkdir`` an entry under
``/sys/kernel/config/tsm/report``, write up to 64 bytes to ``inblob`` (and ``privlevel`` for an
SNP VMPL), read ``outblob`` (an SNP report or a TDX quote), ``auxblob`` (the SNP certificate
table, when the host supplies one) and ``provider`` (``sev_guest`` / ``tdx_guest``), then
``rmdir``. ``generation`` counts writes; it is read before and after so a concurrent writer on
the same entry is detected instead of returning someone else's report.

Older kernels: ``SNP_GET_REPORT`` on ``/dev/sev-guest`` returns a report; ``TDX_CMD_GET_REPORT0``
on ``/dev/tdx_guest`` returns a TDREPORT, which still needs the host's quoting enclave to become a
quote (``Evidence.kind == "tdx_report"``).

File and ioctl access go through small Protocols so tests run against a fake tree in a tmp dir.
"""

from __future__ import annotations

import ctypes
import os
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import structlog

from phala_agents.errors import EvidenceUnavailable

TSM_REPORT_ROOT = Path("/sys/kernel/config/tsm/report")
SEV_GUEST_DEVICE = Path("/dev/sev-guest")
TDX_GUEST_DEVICE = Path("/dev/tdx_guest")

# ioctl numbers: _IOWR(type, nr, size) = 3 << 30 | size << 16 | type << 8 | nr.
SNP_GET_REPORT = (3 << 30) | (32 << 16) | (ord("S") << 8) | 0x0  # struct snp_guest_request_ioctl
TDX_CMD_GET_REPORT0 = (3 << 30) | (1088 << 16) | (ord("T") << 8) | 0x1  # struct tdx_report_req

SNP_REPORT_SIZE = 1184
SNP_RESP_SIZE = 4000
TDREPORT_SIZE = 1024

# GUIDs of the SNP extended-report certificate table (GHCB spec, "Certificate table").
CERT_TABLE_GUIDS: dict[uuid.UUID, str] = {
    uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd"): "vcek",
    uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1"): "vlek",
    uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782"): "ask",
    uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae"): "ark",
}

Kind = Literal["snp", "tdx", "tdx_report"]
_PROVIDER_KIND: dict[str, Kind] = {"sev_guest": "snp", "tdx_guest": "tdx"}

log = structlog.get_logger()


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Evidence from the TEE: an SNP report, a TDX quote, or (old kernels) a TDREPORT."""

    kind: Kind
    blob: bytes
    auxblob: bytes | None = None
    source: str
    provider: str

    def certificates(self) -> dict[str, bytes]:
        """The SNP certificate table from ``auxblob`` (``{"vcek"|"vlek"|"ask"|"ark": DER}``)."""
        return parse_cert_table(self.auxblob) if self.auxblob else {}


def parse_cert_table(data: bytes) -> dict[str, bytes]:
    """Parse the GHCB certificate table: (GUID, offset u32, length u32) entries, zero-GUID terminated."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos + 24 <= len(data):
        raw_guid, offset, length = struct.unpack_from("<16sII", data, pos)
        if raw_guid == bytes(16):
            return out
        if offset + length > len(data):
            raise EvidenceUnavailable(
                f"certificate table entry at {pos}: offset {offset} + length {length} is past the "
                f"table's {len(data)} bytes"
            )
        # RFC 4122 byte order (go-sev-guest), with the little-endian GUID layout accepted too.
        name = CERT_TABLE_GUIDS.get(uuid.UUID(bytes=raw_guid)) or CERT_TABLE_GUIDS.get(
            uuid.UUID(bytes_le=raw_guid)
        )
        if name is not None:
            out[name] = data[offset : offset + length]
        pos += 24
    raise EvidenceUnavailable("certificate table has no terminating zero entry")


def build_cert_table(certs: dict[str, bytes]) -> bytes:
    """The inverse of ``parse_cert_table`` (for tests and the simulated TEE)."""
    by_name = {v: k for k, v in CERT_TABLE_GUIDS.items()}
    header_len = 24 * (len(certs) + 1)
    header, body = b"", b""
    for name, blob in certs.items():
        header += struct.pack("<16sII", by_name[name].bytes, header_len + len(body), len(blob))
        body += blob
    return header + bytes(24) + body


class TsmFs(Protocol):
    """The file operations configfs-tsm needs (a fake tree implements them in tests)."""

    def exists(self, path: Path) -> bool: ...
    def mkdir(self, path: Path) -> None: ...
    def rmdir(self, path: Path) -> None: ...
    def read(self, path: Path) -> bytes: ...
    def write(self, path: Path, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class OsFs:
    """The real file system."""

    def exists(self, path: Path) -> bool:
        return path.exists()

    def mkdir(self, path: Path) -> None:
        path.mkdir()

    def rmdir(self, path: Path) -> None:
        path.rmdir()

    def read(self, path: Path) -> bytes:
        return path.read_bytes()

    def write(self, path: Path, data: bytes) -> None:
        # One write() call: configfs binary attributes take the whole blob at once.
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


Ioctl = Callable[[int, int, bytearray], int]


def _default_ioctl(fd: int, request: int, buf: bytearray) -> int:
    import fcntl

    result: int = fcntl.ioctl(fd, request, buf, True)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceOptions:
    """Where to look (defaults are the real kernel paths) and how."""

    tsm_root: Path = TSM_REPORT_ROOT
    sev_device: Path = SEV_GUEST_DEVICE
    tdx_device: Path = TDX_GUEST_DEVICE
    fs: TsmFs = field(default_factory=OsFs)
    ioctl: Ioctl = _default_ioctl
    privlevel: int | None = None  # SNP VMPL to request (configfs ``privlevel``)
    entry_name: Callable[[], str] = field(default_factory=lambda: lambda: f"phala-{uuid.uuid4().hex}")
    retries: int = 3


def _check_report_data(report_data: bytes) -> None:
    if len(report_data) > 64:
        raise ValueError(f"report_data is {len(report_data)} bytes, wanted at most 64")


def get_evidence_configfs(report_data: bytes, options: EvidenceOptions | None = None) -> Evidence:
    """Evidence through configfs-tsm; ``EvidenceUnavailable`` if it is absent or fails."""
    options = options or EvidenceOptions()
    _check_report_data(report_data)
    fs = options.fs
    if not fs.exists(options.tsm_root):
        raise EvidenceUnavailable(f"configfs-tsm: {options.tsm_root} does not exist")
    for attempt in range(options.retries):
        entry = options.tsm_root / options.entry_name()
        try:
            fs.mkdir(entry)
        except OSError as exc:
            raise EvidenceUnavailable(f"configfs-tsm: mkdir {entry} failed: {exc.strerror}") from exc
        try:
            provider = fs.read(entry / "provider").decode().strip()
            writes = 0
            if options.privlevel is not None:
                fs.write(entry / "privlevel", str(options.privlevel).encode())
                writes += 1
            fs.write(entry / "inblob", report_data.ljust(64, b"\x00"))
            writes += 1
            outblob = fs.read(entry / "outblob")
            aux = fs.read(entry / "auxblob") if fs.exists(entry / "auxblob") else b""
            generation = int(fs.read(entry / "generation").decode().strip() or "0")
        except OSError as exc:
            raise EvidenceUnavailable(
                f"configfs-tsm: {entry}: {exc.strerror or exc} (is the TEE guest driver loaded?)"
            ) from exc
        finally:
            try:
                fs.rmdir(entry)
            except OSError as exc:
                log.warning("configfs_tsm_rmdir_failed", entry=str(entry), error=str(exc))
        if generation != writes:
            # Another writer touched our entry between our write and read: the outblob may be theirs.
            log.warning("configfs_tsm_generation_mismatch", found=generation, wanted=writes, attempt=attempt)
            continue
        kind = _PROVIDER_KIND.get(provider)
        if kind is None:
            raise EvidenceUnavailable(
                f"configfs-tsm: provider is {provider!r}, wanted sev_guest or tdx_guest"
            )
        return Evidence(
            kind=kind, blob=outblob, auxblob=aux or None, source="configfs-tsm", provider=provider
        )
    raise EvidenceUnavailable(f"configfs-tsm: generation kept changing over {options.retries} attempts")


def get_evidence_sev_guest(report_data: bytes, options: EvidenceOptions | None = None) -> Evidence:
    """An SNP report through ``SNP_GET_REPORT`` on ``/dev/sev-guest``."""
    options = options or EvidenceOptions()
    _check_report_data(report_data)
    req = ctypes.create_string_buffer(
        report_data.ljust(64, b"\x00") + struct.pack("<I", options.privlevel or 0) + bytes(28), 96
    )
    resp = ctypes.create_string_buffer(SNP_RESP_SIZE)
    ioc = bytearray(struct.pack("<B7xQQQ", 1, ctypes.addressof(req), ctypes.addressof(resp), 0))
    try:
        fd = os.open(options.sev_device, os.O_RDWR)
    except OSError as exc:
        raise EvidenceUnavailable(f"{options.sev_device}: {exc.strerror}") from exc
    try:
        options.ioctl(fd, SNP_GET_REPORT, ioc)
    except OSError as exc:
        (exitinfo2,) = struct.unpack_from("<Q", ioc, 24)
        raise EvidenceUnavailable(
            f"{options.sev_device}: SNP_GET_REPORT failed: {exc.strerror} (exitinfo2 0x{exitinfo2:x})"
        ) from exc
    finally:
        os.close(fd)
    status, size = struct.unpack_from("<II", resp.raw, 0)
    if status != 0:
        raise EvidenceUnavailable(f"{options.sev_device}: MSG_REPORT_RSP status is 0x{status:x}, wanted 0")
    if size != SNP_REPORT_SIZE:
        raise EvidenceUnavailable(f"{options.sev_device}: report_size is {size}, wanted {SNP_REPORT_SIZE}")
    return Evidence(
        kind="snp",
        blob=resp.raw[0x20 : 0x20 + SNP_REPORT_SIZE],
        source=str(options.sev_device),
        provider="sev_guest",
    )


def get_evidence_tdx_guest(report_data: bytes, options: EvidenceOptions | None = None) -> Evidence:
    """A TDREPORT through ``TDX_CMD_GET_REPORT0`` on ``/dev/tdx_guest`` (not a quote)."""
    options = options or EvidenceOptions()
    _check_report_data(report_data)
    buf = bytearray(report_data.ljust(64, b"\x00") + bytes(TDREPORT_SIZE))
    try:
        fd = os.open(options.tdx_device, os.O_RDWR)
    except OSError as exc:
        raise EvidenceUnavailable(f"{options.tdx_device}: {exc.strerror}") from exc
    try:
        options.ioctl(fd, TDX_CMD_GET_REPORT0, buf)
    except OSError as exc:
        raise EvidenceUnavailable(
            f"{options.tdx_device}: TDX_CMD_GET_REPORT0 failed: {exc.strerror}"
        ) from exc
    finally:
        os.close(fd)
    return Evidence(
        kind="tdx_report", blob=bytes(buf[64:]), source=str(options.tdx_device), provider="tdx_guest"
    )


def get_evidence(report_data: bytes, options: EvidenceOptions | None = None) -> Evidence:
    """Evidence binding ``report_data`` from whichever interface this guest has.

    configfs-tsm when its directory exists, else ``/dev/sev-guest``, else ``/dev/tdx_guest``;
    ``EvidenceUnavailable`` when none is present (not in a TEE guest).
    """
    options = options or EvidenceOptions()
    if options.fs.exists(options.tsm_root):
        return get_evidence_configfs(report_data, options)
    if options.fs.exists(options.sev_device):
        return get_evidence_sev_guest(report_data, options)
    if options.fs.exists(options.tdx_device):
        return get_evidence_tdx_guest(report_data, options)
    raise EvidenceUnavailable(
        f"no TEE guest interface: none of {options.tsm_root}, {options.sev_device}, {options.tdx_device}"
    )
