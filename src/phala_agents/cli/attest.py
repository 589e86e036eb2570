"""`phala-agent attest`: show and verify TEE evidence (AMD SEV-SNP reports, Intel TDX/SGX quotes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phala_agents.cli import _output
from phala_agents.cli._common import JsonOpt, handle_errors
from phala_agents.cli._errors import EXIT_COLLATERAL, EXIT_POLICY, EXIT_SIGNATURE
from phala_agents.errors import CollateralUnavailable, ReportFormatError, VerificationError

if TYPE_CHECKING:
    # phala_agents.attestation (cryptography, httpx) is imported when a command runs, so the
    # root app and --help do not load it; the option enums below mirror the library's.
    from phala_agents.attestation import sev, tdx
    from phala_agents.attestation.trust import Getter

CUSTOM_ROOTS = "custom-roots"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "phala-agents"  # kds/ (SNP) and pcs/ (DCAP) below it

_EXIT_CODES = (
    f"Exit codes: 0 ok, 1 failure, 2 usage, {EXIT_SIGNATURE} malformed evidence or a signature/chain/"
    f"time-window failure, {EXIT_COLLATERAL} collateral unavailable (certificate, CRL, TCB info), "
    f"{EXIT_POLICY} authentic but rejected by the policy."
)

_VERIFY_HELP = (
    "Verify evidence: the signature, the vendor chain at --at (default now), then the policy.\n\n"
    "SNP: the VCEK/VLEK comes from --cert, from --collateral DIR (files named vcek.der, *.vcek.der, "
    "*.vlek.der, vcek.pem, ...; or the kds/ folder of an --online cache, read offline), or from AMD "
    "KDS with --online (cached under --cache-dir). --roots FILE trusts other ARK/ASK bundles instead "
    "of AMD's (e.g. the simulated TEE's dev-roots.pem); that trust set is named "
    f'"{CUSTOM_ROOTS}", and a production policy (trust: ["amd-production"]) still rejects it.\n\n'
    "TDX/SGX: --collateral is the collateral JSON (dcap-qvl QuoteCollateralV3 layout) or a directory "
    "holding NAME.collateral.json or collateral.json; --online fetches it from Intel PCS.\n\n"
    "Without --policy the default policy of the kind applies (SNP: debug disallowed; TDX/SGX: debug "
    "disallowed, TCB status UpToDate only).\n\n"
    f"{_EXIT_CODES}"
)


class Kind(enum.StrEnum):
    """--kind: the values of ``phala_agents.attestation.EvidenceKind`` (a test keeps them equal)."""

    SNP = "snp"
    TDX = "tdx"
    SGX = "sgx"


class ProductLine(enum.StrEnum):
    """--product: the values of ``phala_agents.attestation.sev.ProductLine`` (a test keeps them equal)."""

    MILAN = "Milan"
    GENOA = "Genoa"
    TURIN = "Turin"


def _product(value: ProductLine | None) -> sev.ProductLine | None:
    from phala_agents.attestation import sev

    return None if value is None else sev.ProductLine(value.value)


def HttpxGetter() -> Getter:  # noqa: N802 - the name tests replace to fake AMD KDS
    """Indirection so tests can put a fake transport in place."""
    from phala_agents.attestation import trust

    return trust.HttpxGetter()


KindOpt = Annotated[
    Kind | None, typer.Option("--kind", help="Evidence kind (default: detected from the bytes).")
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(
        name="attest",
        help="Show and verify TEE evidence (AMD SEV-SNP, Intel TDX and SGX).",
        no_args_is_help=True,
    )
    group.command("verify", help=_VERIFY_HELP)(verify)
    group.command("show", help="Print every field of a report or quote with its spec name.")(show)
    group.command("simulate", help=_SIMULATE_HELP)(simulate)
    app.add_typer(group)


# --- input helpers --------------------------------------------------------------------------


_HEX_RE = re.compile(rb"^(0x)?[0-9a-fA-F\s]+$")


def read_evidence(path: Path) -> bytes:
    data = path.read_bytes()
    # Quotes are often passed around as hex text (e.g. a tappd quote); accept both.
    if data and _HEX_RE.match(data.strip()):
        text = re.sub(rb"\s+", b"", data.strip()).removeprefix(b"0x")
        if len(text) % 2 == 0:
            return bytes.fromhex(text.decode())
    return data


def detect_kind(raw: bytes) -> Kind:
    """The kind from the bytes (``phala_agents.attestation.detect_kind``), with the CLI's hint."""
    from phala_agents.attestation import detect_kind as _detect_kind

    try:
        return Kind(_detect_kind(raw).value)
    except ReportFormatError as exc:
        raise ReportFormatError(f"{exc}; pass --kind") from None


def parse_time(text: str) -> dt.datetime:
    """ISO-8601 (``2025-01-09T22:14:21Z``) or unix seconds, as an aware UTC datetime."""
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"found {text!r}, wanted ISO-8601 like 2025-01-09T22:14:21Z or unix seconds", param_hint="--at"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.name if isinstance(value, enum.IntEnum) else value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _print_fields(fields: dict[str, object], indent: str = "") -> None:
    width = max((len(k) for k in fields), default=0)
    for key, value in fields.items():
        if isinstance(value, dict):
            _output.emit_line(f"{indent}{key}:")
            _print_fields(value, indent + "  ")
        else:
            _output.emit_line(f"{indent}{key.ljust(width)}  {value}")


def _tdx_policy_from_json(text: str) -> tdx.Policy:
    """A TDX/SGX policy file: JSON keys are ``tdx.Policy`` fields (``tdx.load_policy`` when it exists).

    Hex strings for bytes, lists of hex for allow-lists, lists of strings for sets (TCB status
    names such as "UpToDate"); unknown keys are rejected.
    """
    from phala_agents.attestation import sev, tdx

    loader = getattr(tdx, "load_policy", None)
    if callable(loader):
        policy = loader(text)
        assert isinstance(policy, tdx.Policy)
        return policy
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise sev.PolicyFileError(f"policy file is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise sev.PolicyFileError("policy file: wanted a JSON object")
    if data.get("kind", "tdx") not in ("tdx", "sgx", "dcap"):
        raise sev.PolicyFileError(f"kind is {data['kind']!r}, wanted 'tdx' or 'sgx' for a DCAP policy")
    hints = typing.get_type_hints(tdx.Policy)
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if key in ("kind", "description", "$schema"):
            continue
        if key not in hints:
            raise sev.PolicyFileError(f"unknown policy key {key!r}; known keys: {sorted(hints)}")
        kwargs[key] = _convert(key, hints[key], value)
    return tdx.Policy(**kwargs)  # type: ignore[arg-type]


def _convert(key: str, hint: object, value: object) -> object:
    from phala_agents.attestation import sev

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        if type(None) in typing.get_args(hint):
            return None
        raise sev.PolicyFileError(f"{key}: null is not allowed")
    if len(args) == 1 and typing.get_origin(hint) in (types.UnionType, typing.Union):
        hint = args[0]
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if not isinstance(value, bool):
                raise sev.PolicyFileError(f"{key}: found {value!r}, wanted true or false")
            return value
        if hint is int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise sev.PolicyFileError(f"{key}: found {value!r}, wanted an integer")
            return value
        if hint is bytes and isinstance(value, str):
            return bytes.fromhex(value.removeprefix("0x"))
        if origin in (tuple, frozenset) and isinstance(value, list):
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            items = [_convert(key, item, v) for v in value]
            return tuple(items) if origin is tuple else frozenset(items)
        if isinstance(hint, type) and issubclass(hint, enum.Enum) and isinstance(value, str):
            return hint(value)
        if hint is str and isinstance(value, str):
            return value
    except ValueError as exc:
        raise sev.PolicyFileError(f"{key}: {exc}") from None
    raise sev.PolicyFileError(f"{key}: found {value!r}, which does not fit {hint}")


# --- show -------------------------------------------------------------------------------------


@handle_errors
def show(
    file: Annotated[Path, typer.Argument(help="Report or quote (binary or hex text).", exists=True)],
    *,
    kind: KindOpt = None,
    product: Annotated[
        ProductLine | None,
        typer.Option("--product", help="SNP product line, to decode TCBs of VERSION 2 reports."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    from phala_agents.attestation import sev, tdx

    raw = read_evidence(file)
    kind = kind or detect_kind(raw)
    decoded: dict[str, object] = {}
    if kind is Kind.SNP:
        report = sev.parse_report(raw)
        fields = sev.report_fields(report, _product(product))
        decoded = sev.report_decoded(report, _product(product))
    else:
        rendered = _jsonable(tdx.parse_quote(raw))
        fields = rendered if isinstance(rendered, dict) else {"quote": rendered}
    if json_output:
        # "fields" keys are the specs' field names (SNP: the ABI's upper-case names).
        _output.emit_json({"kind": kind.value, "fields": _jsonable(fields), "decoded": decoded})
    else:
        _output.emit_line(f"kind: {kind.value}")
        _print_fields(fields)
        if decoded:
            _output.emit_line("decoded:")
            _print_fields(decoded, "  ")


# --- verify -------------------------------------------------------------------------------------


def snp_cert_from_dir(directory: Path, report: sev.Report, report_path: Path) -> bytes | None:
    """The VCEK/VLEK in ``directory`` for ``report``: ``<report name>.vcek.der`` first, else the one
    whose hwID is CHIP_ID (VCEK) or whose SPLs are REPORTED_TCB (VLEK), else ``None``."""
    from phala_agents.attestation import sev

    stem = "vcek" if report.signing_key is sev.SigningKey.VCEK else "vlek"
    prefix = report_path.name.split(".")[0]
    candidates: list[Path] = []
    for pattern in (f"{prefix}.{stem}.*", f"{stem}.der", f"{stem}.pem", f"*{stem}*.der", f"*{stem}*.pem"):
        candidates += [p for p in sorted(directory.glob(pattern)) if p not in candidates]
    for path in candidates:
        data = path.read_bytes()
        try:
            endorsement = sev.load_endorsement(data)
        except VerificationError:
            continue
        if path.name.startswith(prefix + "."):
            return data
        if endorsement.kind is sev.SigningKey.VCEK:
            hwid = endorsement.hwid or b""
            if hwid and report.chip_id[: len(hwid)] == hwid:
                return data
        elif endorsement.tcb == sev.decode_tcb(report.reported_tcb, endorsement.product):
            return data
    return None


def _verify_snp(
    raw: bytes,
    *,
    path: Path,
    cert: Path | None,
    collateral: Path | None,
    online: bool,
    cache_dir: Path,
    roots: list[Path],
    product: sev.ProductLine | None,
    crl: Path | None,
    policy_file: Path | None,
    at: dt.datetime | None,
) -> dict[str, object]:
    from phala_agents.attestation import (
        EvidenceKind,
        EvidencePolicy,
        VerifyEvidenceOptions,
        sev,
        verify_evidence,
    )
    from phala_agents.attestation.kds import KdsClient
    from phala_agents.attestation.trust import (
        CachingGetter,
        FixedClock,
        OfflineGetter,
        SystemClock,
        TrustedRoots,
    )

    report = sev.parse_report(raw)
    endorsement = cert.read_bytes() if cert else None
    kds: KdsClient | None = None
    if collateral is not None:
        if endorsement is None and collateral.is_dir():
            endorsement = snp_cert_from_dir(collateral, report, path)
        kds = KdsClient(getter=CachingGetter(directory=collateral, inner=OfflineGetter(), offline=True))
    elif online:
        kds = KdsClient(getter=CachingGetter(directory=cache_dir / "kds", inner=HttpxGetter()))
    trusted = (
        TrustedRoots.from_pem(CUSTOM_ROOTS, [p.read_bytes() for p in roots])
        if roots
        else TrustedRoots.amd_production()
    )
    options = sev.VerifyOptions(
        roots=trusted,
        kds=kds,
        clock=FixedClock(at) if at else SystemClock(),
        product=product,
        crl=crl.read_bytes() if crl else None,
    )
    policy = sev.load_policy(policy_file.read_text()) if policy_file else sev.Policy()
    result = verify_evidence(
        raw,
        kind=EvidenceKind.SNP,
        collateral=endorsement,
        options=VerifyEvidenceOptions(snp=options),
        policy=EvidencePolicy(snp=policy),
    )
    verified = result.verified
    assert isinstance(verified, sev.VerifiedReport)
    ark, inter, leaf = verified.chain_sha256
    return {
        "ok": True,
        "kind": "snp",
        "product": str(verified.product),
        "signing_key": verified.signing_key.name,
        "trust": verified.trust,
        "verified_at": verified.verified_at.isoformat(),
        "policy": str(policy_file) if policy_file else "default",
        "chain_sha256": {"ark": ark, "intermediate": inter, "leaf": leaf},
        "version": report.version,
        "vmpl": report.vmpl,
        "measurement": report.measurement.hex(),
        "report_data": report.report_data.hex(),
        "host_data": report.host_data.hex(),
        "reported_tcb": sev.decode_tcb(report.reported_tcb, verified.product).components(),
        "debug": result.debug,
    }


def _der_certificate(data: bytes) -> bytes:
    """A root for ``tdx.VerifyOptions.trusted_roots``: DER as is, PEM converted."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from phala_agents.attestation._x509 import load_certificate

    if data.lstrip().startswith(b"-----BEGIN"):
        return load_certificate(data, what="--roots").public_bytes(Encoding.DER)
    return data


def collateral_file(collateral: Path, evidence: Path) -> Path:
    if not collateral.is_dir():
        return collateral
    for name in (f"{evidence.name.split('.')[0]}.collateral.json", "collateral.json"):
        if (collateral / name).is_file():
            return collateral / name
    raise CollateralUnavailable(f"TDX/SGX: no collateral.json for {evidence.name} in {collateral}")


def dcap_collateral(
    raw: bytes, path: Path, collateral: Path | None, online: bool, cache_dir: Path
) -> tdx.Collateral | None:
    """A quote's collateral from ``--collateral`` (a file, or a directory holding one), else
    Intel PCS with ``--online`` (disk-cached); ``None`` when neither was given."""
    from phala_agents.attestation import tdx
    from phala_agents.attestation.tdx.pcs import PcsClient

    if collateral is not None:
        return tdx.load_collateral(collateral_file(collateral, path).read_text())
    if online:
        with PcsClient(cache_dir=cache_dir / "pcs") as pcs:
            return pcs.collateral_for_quote(raw)
    return None


def _verify_dcap(
    raw: bytes,
    kind: Kind,
    *,
    path: Path,
    roots: list[Path],
    collateral: Path | None,
    online: bool,
    cache_dir: Path,
    policy_file: Path | None,
    at: dt.datetime | None,
) -> dict[str, object]:
    from phala_agents.attestation import (
        EvidenceKind,
        EvidencePolicy,
        VerifiedEvidence,
        VerifyEvidenceOptions,
        tdx,
        verify_evidence,
    )

    coll = dcap_collateral(raw, path, collateral, online, cache_dir)
    if coll is None:
        raise CollateralUnavailable(
            "TDX/SGX: pass --collateral FILE (collateral JSON) or a directory, or --online"
        )
    trusted = tuple(_der_certificate(p.read_bytes()) for p in roots)
    policy = _tdx_policy_from_json(policy_file.read_text()) if policy_file else tdx.Policy()
    result: VerifiedEvidence = verify_evidence(
        raw,
        kind=EvidenceKind(kind.value),
        collateral=coll,
        options=VerifyEvidenceOptions(dcap=tdx.VerifyOptions(now=at, trusted_roots=trusted)),
        policy=EvidencePolicy(dcap=policy),
    )
    verified = result.verified
    assert isinstance(verified, tdx.VerifiedQuote)
    return {
        "ok": True,
        "kind": kind.value,
        "status": verified.status.value,
        "advisory_ids": list(verified.advisory_ids),
        "fmspc": verified.fmspc.hex(),
        "trust": result.trust,
        "measurement": result.measurement.hex(),
        "report_data": result.report_data.hex(),
        "debug": result.debug,
        "policy": str(policy_file) if policy_file else "default",
        "verified_at": dt.datetime.fromtimestamp(verified.verified_at, dt.UTC).isoformat(),
    }


@handle_errors
def verify(
    file: Annotated[Path, typer.Argument(help="Report or quote (binary or hex text).", exists=True)],
    *,
    kind: KindOpt = None,
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="SNP: the VCEK or VLEK certificate (DER or PEM).", exists=True),
    ] = None,
    collateral: Annotated[
        Path | None,
        typer.Option(
            "--collateral", help="Offline collateral: a directory (SNP, TDX) or a JSON file (TDX/SGX)."
        ),
    ] = None,
    online: Annotated[
        bool,
        typer.Option("--online", help="Fetch missing collateral (AMD KDS for SNP, Intel PCS for TDX/SGX)."),
    ] = False,
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="Where --online keeps what it fetched.")
    ] = DEFAULT_CACHE_DIR,
    roots: Annotated[
        list[Path] | None,
        typer.Option("--roots", help="SNP: trust these ARK/ASK PEM bundles instead of AMD's.", exists=True),
    ] = None,
    product: Annotated[
        ProductLine | None,
        typer.Option("--product", help="SNP: the expected product line (needed to fetch for VERSION 2)."),
    ] = None,
    crl: Annotated[
        Path | None, typer.Option("--crl", help="SNP: an ARK-signed CRL to check (DER or PEM).", exists=True)
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Policy file (JSON; see attestation/policies/).", exists=True),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Verify at this time (ISO-8601 or unix seconds); default now.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    from phala_agents.attestation import sev

    if collateral is not None and online:
        raise typer.BadParameter("pass either --collateral or --online, not both", param_hint="--online")
    when = parse_time(at) if at else None
    raw = read_evidence(file)
    kind = kind or detect_kind(raw)
    if kind is Kind.SNP:
        try:
            result = _verify_snp(
                raw,
                path=file,
                cert=cert,
                collateral=collateral,
                online=online,
                cache_dir=cache_dir,
                roots=roots or [],
                product=_product(product),
                crl=crl,
                policy_file=policy,
                at=when,
            )
        except sev.PolicyFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--policy") from None
    else:
        try:
            result = _verify_dcap(
                raw,
                kind,
                path=file,
                roots=roots or [],
                collateral=collateral,
                online=online,
                cache_dir=cache_dir,
                policy_file=policy,
                at=when,
            )
        except sev.PolicyFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--policy") from None
    if json_output:
        _output.emit_json(result)
        return
    if kind is Kind.SNP:
        _output.emit_line(
            f"OK: SEV-SNP report verified ({result['product']}, {result['signing_key']}, "
            f"trust {result['trust']}) at {result['verified_at']}; policy {result['policy']} passed"
        )
    else:
        _output.emit_line(
            f"OK: {kind.value.upper()} quote verified, TCB status {result['status']}, "
            f"advisories {result['advisory_ids'] or 'none'}; policy {result['policy']} passed"
        )


# --- simulate ---------------------------------------------------------------------------------

_SIMULATE_HELP = (
    "Write simulated evidence for development (dev roots, never the vendors').\n\n"
    "SNP (default): a real-format report signed by a freshly generated ARK -> ASK -> VCEK hierarchy; "
    "OUT_DIR gets report.bin, vcek.der and dev-roots.pem. Verify with: attest verify "
    "OUT_DIR/report.bin --cert OUT_DIR/vcek.der --roots OUT_DIR/dev-roots.pem --policy "
    "attestation/policies/dev-simulated.json.\n\n"
    "--kind tdx|sgx: a quote and its collateral from a generated DCAP hierarchy; OUT_DIR gets "
    "quote.bin, collateral.json and dev-root.der. Verify with: attest verify OUT_DIR/quote.bin "
    "--collateral OUT_DIR --roots OUT_DIR/dev-root.der.\n\n"
    "Without --roots the vendors' pinned roots reject all of it."
)


@handle_errors
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the evidence and its dev roots into.")],
    *,
    kind: Annotated[
        Kind, typer.Option("--kind", help="snp (default), or tdx/sgx (simulated DCAP).")
    ] = Kind.SNP,
    report_data: Annotated[str, typer.Option("--report-data", help="Up to 64 bytes, hex, zero-padded.")] = "",
    product: Annotated[ProductLine, typer.Option("--product", help="Product line to simulate.")] = (
        ProductLine.MILAN
    ),
    vmpl: Annotated[int, typer.Option("--vmpl", min=0, max=3, help="VMPL of the report.")] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Set the guest policy DEBUG bit.")] = False,
    json_output: JsonOpt = False,
) -> None:
    try:
        data = bytes.fromhex(report_data)
    except ValueError:
        raise typer.BadParameter(f"found {report_data!r}, wanted hex", param_hint="--report-data") from None
    if len(data) > 64:
        raise typer.BadParameter(f"found {len(data)} bytes, wanted at most 64", param_hint="--report-data")
    if kind is not Kind.SNP:
        paths = _simulate_dcap(out_dir, kind, data, debug=debug)
    else:
        paths = _simulate_snp(out_dir, data, product=ProductLine(product), vmpl=vmpl, debug=debug)
    if json_output:
        _output.emit_json({k: str(v) for k, v in paths.items()})
    else:
        for name, path in paths.items():
            _output.emit_line(f"{name}: {path}")


def _simulate_snp(
    out_dir: Path, data: bytes, *, product: ProductLine, vmpl: int, debug: bool
) -> dict[str, Path]:
    from phala_agents.attestation import sev
    from phala_agents.attestation.simulated import SimulatedSnp

    sim = SimulatedSnp.generate(product=sev.ProductLine(product.value))
    policy = sev.abi.POLICY_RESERVED_MUST_BE_ONE | sev.abi.POLICY_SMT | (sev.abi.POLICY_DEBUG if debug else 0)
    report = sim.report(report_data=data.ljust(64, b"\x00"), vmpl=vmpl, policy=policy)
    return sim.save(out_dir, report)


def _simulate_dcap(out_dir: Path, kind: Kind, data: bytes, *, debug: bool) -> dict[str, Path]:
    from phala_agents.attestation import tdx
    from phala_agents.attestation.tdx.simulated import SimulatedTdx

    now = int(dt.datetime.now(dt.UTC).timestamp())
    sim = SimulatedTdx.generate(not_before=now - 86400)
    sgx = kind is Kind.SGX
    if sgx:
        attributes = bytes([0x07 if debug else 0x05]) + bytes(15)  # bit 1: DEBUG
        quote = sim.quote(report_data=data, sgx=True, sgx_attributes=attributes)
    else:
        attributes = bytes([0x01 if debug else 0x00, 0, 0, 0x10]) + bytes(4)  # TUD.DEBUG, SEPT_VE_DISABLE
        quote = sim.quote(report_data=data, td_attributes=attributes)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "quote": out_dir / "quote.bin",
        "collateral": out_dir / "collateral.json",
        "roots": out_dir / "dev-root.der",
    }
    paths["quote"].write_bytes(quote)
    paths["collateral"].write_text(tdx.collateral_to_json(sim.collateral(issue=now - 3600, tdx=not sgx)))
    paths["roots"].write_bytes(sim.root_der)
    return paths
