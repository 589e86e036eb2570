"""`phala-agent workers list`, `workers show ACCOUNT` and `workers register`: the Workers pallet.

``list`` and ``show`` are read-only: each reads one block (the best), the ``Workers`` map and the
``ReattestPeriod`` constant, and says whether each worker is active at that block
(``number < attested_at + ReattestPeriod``, ``chain/pallets/workers.md`` "Activity"). Everything
shown is public on-chain data (endpoints, keys' public halves, measurements).

``register`` computes the worker binding (``worker_report_data(genesis, signer, x25519_pub,
tls_spki_hash)``), gets evidence carrying it (simulated on dev chains, configfs-tsm in the guest,
or a pre-fetched file), packs it with its collateral into the pallet's ``EvidenceBundle``, checks
the bundle locally with the pallet's own checks against the on-chain ``Policy`` (a doomed
registration sends nothing), then signs ``register_worker`` and follows it to finalized.
"""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer

from phala_agents.cli import _output
from phala_agents.cli._common import DEFAULT_URL, JsonOpt, QuietOpt, UrlOpt, handle_errors
from phala_agents.cli._errors import EXIT_FAILURE
from phala_agents.cli.agents import KeyOpt, SuriOpt
from phala_agents.cli.attest import DEFAULT_CACHE_DIR
from phala_agents.cli.keys import KeystoreOpt, PasswordStdinOpt, signer_from_options
from phala_agents.errors import AttestationError

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from phala_agents.client import ChainClient, ExtrinsicResult, JsonValue

PALLET = "Workers"

_EXIT_CODES = "Exit codes: 0 ok, 1 failure (node unreachable, no such worker), 2 usage."

TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the node.")]
AccountArg = Annotated[str, typer.Argument(help="The worker's account (SS58 address).")]


def _connect(url: str, timeout: float) -> ChainClient:
    """Indirection so tests can put a fake client in place."""
    from phala_agents.client import ChainClient

    return ChainClient.connect(url, timeout=timeout)


def _account(text: str) -> str:
    from phala_agents.scale import ss58_decode

    try:
        decoded = ss58_decode(text, None)
    except Exception:  # any malformed address is the user's input error
        raise typer.BadParameter(f"found {text!r}, wanted an SS58 address", param_hint="ACCOUNT") from None
    if len(decoded) != 32:
        raise typer.BadParameter(
            f"found a {len(decoded)}-byte account, wanted 32 bytes", param_hint="ACCOUNT"
        )
    return text


def _hex(value: JsonValue) -> str:
    """substrate-interface shows a ``Vec<u8>`` that happens to be UTF-8 as text: hex it again."""
    text = str(value)
    if text.startswith("0x"):
        try:
            bytes.fromhex(text[2:])
        except ValueError:
            pass
        else:
            return text
    return "0x" + text.encode().hex()


def _tcb(value: JsonValue) -> str:
    """``{"Snp": {...}}`` -> ``SNP bootloader=4 tee=0 snp=22 microcode=213``; ``{"Dcap": s}`` -> ``s``."""
    if isinstance(value, dict) and "Snp" in value:
        parts = cast("dict[str, JsonValue]", value["Snp"])
        return "SNP " + " ".join(f"{k}={v}" for k, v in parts.items())
    if isinstance(value, dict) and "Dcap" in value:
        return str(value["Dcap"])
    return str(value)


def _record(account: str, info: dict[str, JsonValue], number: int, period: int) -> dict[str, object]:
    attested_at = int(cast(int, info.get("attested_at", 0)))
    active_until = attested_at + period
    return {
        "account": account,
        "endpoint": info.get("endpoint"),
        "tee": info.get("tee"),
        "roots": info.get("roots"),
        "measurement": _hex(info.get("measurement", "0x")),
        "tcb": _tcb(info.get("tcb")),
        "x25519_pub": info.get("x25519_pub"),
        "tls_spki_hash": info.get("tls_spki_hash"),
        "registered_at": info.get("registered_at"),
        "attested_at": attested_at,
        "active_until": active_until,
        "active": number < active_until,
    }


def _read(api: ChainClient) -> tuple[str, int, int]:
    at = api.block_hash("best")
    return at, api.head(at).number, int(cast(int, api.constant(PALLET, "ReattestPeriod")))


@handle_errors
def list_workers(
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    with _connect(url, timeout) as api:
        at, number, period = _read(api)
        rows = [
            _record(str(k), v, number, period)
            for k, v in api.query_map(PALLET, "Workers", at=at, page_size=500)
            if isinstance(v, dict)
        ]
    rows.sort(key=lambda r: str(r["account"]))
    _output.emit_rows(
        rows,
        key="account",
        columns=["account", "tee", "roots", "active", "attested_at", "endpoint"],
        json_out=json_out,
        quiet=quiet,
    )


@handle_errors
def show(
    account: AccountArg,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    _account(account)
    with _connect(url, timeout) as api:
        at, number, period = _read(api)
        info = api.query(PALLET, "Workers", account, at=at)
    if not isinstance(info, dict):
        # The node answered: "is the node running?" (ClientError's hint) would mislead.
        _output.error(
            f"worker {account}: found no Workers entry at block #{number}, wanted a registered worker",
            "list registered workers with `phala-agent workers list`",
        )
        raise typer.Exit(EXIT_FAILURE)
    record = _record(account, info, number, period)
    if json_out:
        _output.emit_json(record)
        return
    state = "active" if record["active"] else "inactive"
    lines = [
        ("worker", f"{account} ({state} until block #{record['active_until']}, now #{number})"),
        ("endpoint", record["endpoint"]),
        ("tee", f"{record['tee']} ({record['roots']} roots)"),
        ("measurement", record["measurement"]),
        ("tcb", record["tcb"]),
        ("x25519_pub", record["x25519_pub"]),
        ("tls_spki", record["tls_spki_hash"]),
        ("blocks", f"registered #{record['registered_at']}, attested #{record['attested_at']}"),
    ]
    for label, value in lines:
        _output.emit_line(f"{label + ':':<14}{value}")


# --- register ------------------------------------------------------------------------------------

_REGISTER_EXIT_CODES = (
    "Exit codes: 0 ok, 1 failure (node unreachable, no evidence, the binding does not match, the "
    "local check or the chain refused it: the pallet error is printed as Workers::Error), 2 usage."
)

_REGISTER_HELP = (
    "Register the signing account as a worker (or re-attest it) with TEE evidence.\\n\\n"
    "REPORT_DATA must be the worker binding: SHA-512 of 'phala-agents/worker/v1', the chain's "
    "genesis hash, the signer's public key, --x25519-pub and --tls-spki-hash "
    "(chain/pallets/workers.md). Evidence: --simulate snp|tdx (dev chains only: simulated evidence "
    "with its dev roots); else, in the CVM, read through configfs-tsm with that REPORT_DATA; or "
    "--evidence FILE, a report/quote fetched before (its REPORT_DATA must already be the binding). "
    "Collateral: SNP's VCEK/VLEK comes from the configfs certificate table, --collateral DIR or "
    "--online (AMD KDS); TDX's collateral JSON from --collateral FILE|DIR or --online (Intel PCS).\\n\\n"
    "The bundle is checked locally against the on-chain Policy with the pallet's own checks before "
    "anything is signed, so a doomed registration sends nothing.\\n\\n"
    f"{_REGISTER_EXIT_CODES}"
)


class SimulateKind(enum.StrEnum):
    """--simulate: which simulated TEE produces the evidence."""

    SNP = "snp"
    TDX = "tdx"


_REGISTER_HINTS = {
    "NoPolicy": "root must set a policy first (Workers.set_policy)",
    "EndpointTooLong": "shorten --endpoint",
    "EvidenceTooLarge": "the bundle exceeds Workers.MaxEvidenceLen",
    "EvidenceMalformed": "the report/quote or a certificate in the bundle does not parse",
    "DevRootsNotTrusted": (
        "the chain's Policy does not trust simulated evidence (trust_dev_roots is false); "
        "register from a real CVM without --simulate"
    ),
    "CollateralUnavailable": "pass --collateral DIR or --online",
    "EvidenceInvalid": "a signature, certificate, CRL or validity window does not hold now",
    "TeeNotAllowed": "the policy's allowed_tees does not list this TEE; see the Policy",
    "DebugEnabled": "launch the CVM without debug; no policy accepts a debug guest",
    "MeasurementNotAllowed": "the CVM image is not in the policy's allowed_measurements",
    "TcbNotAllowed": "update the platform's firmware/TCB, or ask root to widen the policy",
    "EvidenceTooOld": "fetch fresh collateral (--online) and register again",
    "ReportDataMismatch": "the evidence must be produced for this chain, signer and keys",
    "PolicyViolation": "the evidence breaks the TEE kind's default checks",
}

EndpointOpt = Annotated[
    str, typer.Option("--endpoint", help="The worker's URL (https://host:port).", show_default=False)
]
X25519Opt = Annotated[
    str,
    typer.Option("--x25519-pub", help="The worker's X25519 public key, 32 bytes hex.", show_default=False),
]
TlsSpkiOpt = Annotated[
    str,
    typer.Option(
        "--tls-spki-hash",
        help="SHA-256 of the worker's TLS SubjectPublicKeyInfo (DER), 32 bytes hex.",
        show_default=False,
    ),
]
SimulateOpt = Annotated[
    SimulateKind | None,
    typer.Option("--simulate", help="Simulated evidence (dev chains only).", show_default=False),
]
EvidenceOpt = Annotated[
    Path | None,
    typer.Option(
        "--evidence",
        help="A pre-fetched SNP report or TDX quote (binary or hex) instead of reading it in the guest.",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]
CollateralOpt = Annotated[
    Path | None,
    typer.Option(
        "--collateral",
        help="Offline collateral: SNP a directory with the VCEK/VLEK; TDX collateral JSON or its directory.",
        exists=True,
        show_default=False,
    ),
]
OnlineOpt = Annotated[
    bool, typer.Option("--online", help="Fetch collateral (AMD KDS for SNP, Intel PCS for TDX).")
]
CacheDirOpt = Annotated[Path, typer.Option("--cache-dir", help="Where --online keeps what it fetched.")]


def _hex32(text: str, param: str) -> bytes:
    try:
        data = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise typer.BadParameter(f"found {text!r}, wanted 32 bytes of hex", param_hint=param) from None
    if len(data) != 32:
        raise typer.BadParameter(f"found {len(data)} bytes, wanted 32", param_hint=param)
    return data


def _fail(message: str, hint: str) -> NoReturn:
    _output.error(message, hint)
    raise typer.Exit(EXIT_FAILURE)


def _simulated_bundle(kind: SimulateKind, report_data: bytes) -> bytes:
    """Simulated evidence bound to ``report_data``, packed with its freshly generated dev roots."""
    from phala_agents.chain.pallets.workers import dcap_evidence_bundle, snp_evidence_bundle

    if kind is SimulateKind.SNP:
        from phala_agents.attestation import SimulatedSnp

        snp = SimulatedSnp.generate()
        report = snp.report(report_data=report_data)
        return snp_evidence_bundle(report, snp.endorsement(), dev_roots=snp.roots_pem())
    from phala_agents.attestation import tdx
    from phala_agents.attestation.tdx.simulated import SimulatedTdx

    now = int(time.time())
    sim = SimulatedTdx.generate(not_before=now - 86_400)
    quote = sim.quote(report_data=report_data)  # default TD attributes: SEPT_VE_DISABLE, no debug
    collateral = tdx.collateral_to_json(sim.collateral(issue=now - 3600, tdx=True)).encode()
    return dcap_evidence_bundle(quote, collateral, dev_root=sim.root_der)


def _guest_evidence(report_data: bytes, dev_chain: bool) -> tuple[bytes, bytes | None]:
    """The report/quote read in the guest (configfs-tsm, else the guest devices) and, for SNP,
    the VCEK/VLEK of its certificate table when the host provides one."""
    from phala_agents.attestation import get_evidence, sev
    from phala_agents.errors import EvidenceUnavailable

    try:
        evidence = get_evidence(report_data)
    except EvidenceUnavailable as exc:
        hint = (
            "this is not a confidential VM; on a dev chain use --simulate snp|tdx"
            if dev_chain
            else "run this inside the worker's CVM, or pass a pre-fetched report/quote with --evidence FILE"
        )
        _fail(f"evidence: {exc}, wanted a TEE guest (SEV-SNP or TDX) to read it from", hint)
    if evidence.kind == "tdx_report":
        _fail(
            f"evidence: found a TDREPORT from {evidence.source}, wanted a quote",
            "the kernel has no configfs-tsm quote provider; fetch a quote and pass it with --evidence FILE",
        )
    endorsement = None
    if evidence.kind == "snp":
        report = sev.parse_report(evidence.blob)
        certs = evidence.certificates()
        endorsement = certs.get("vlek" if report.signing_key is sev.SigningKey.VLEK else "vcek")
    return evidence.blob, endorsement


def _check_binding(raw: bytes, wanted: bytes) -> str:
    """The kind of ``raw`` ("snp", "tdx", "sgx"); exits 1 unless its REPORT_DATA is ``wanted``."""
    from phala_agents.attestation import EvidenceKind, detect_kind, sev, tdx

    try:
        kind = detect_kind(raw)
        found = (
            sev.parse_report(raw).report_data
            if kind is EvidenceKind.SNP
            else tdx.parse_quote(raw).report_data
        )
    except AttestationError as exc:
        _fail(
            f"--evidence: {exc}, wanted an SEV-SNP report or a TDX/SGX quote",
            "pass the report/quote itself (binary or hex), not a TDREPORT or a certificate",
        )
    if found != wanted:
        _fail(
            f"--evidence REPORT_DATA: found {found.hex()}, wanted the worker binding {wanted.hex()} "
            "(this chain's genesis hash, the signer, --x25519-pub, --tls-spki-hash)",
            "produce the evidence with that REPORT_DATA (it is Workers::ReportDataMismatch on chain); "
            "nothing was sent",
        )
    return kind.value


def _snp_endorsement(
    raw: bytes, path: Path, collateral: Path | None, online: bool, cache_dir: Path
) -> bytes | None:
    """SNP's VCEK/VLEK from --collateral (a directory as `attest verify` reads it, or the certificate
    itself) or from AMD KDS (--online)."""
    from phala_agents.attestation import CachingGetter, KdsClient, sev
    from phala_agents.cli.attest import HttpxGetter, snp_cert_from_dir

    report = sev.parse_report(raw)
    if collateral is not None:
        return snp_cert_from_dir(collateral, report, path) if collateral.is_dir() else collateral.read_bytes()
    if not online:
        return None
    product = report.product_from_cpuid
    if product is None or report.signing_key is sev.SigningKey.VLEK:
        _fail(
            f"--online: found a {'VLEK-signed' if product else f'VERSION {report.version}'} report, "
            "wanted a VCEK-signed report with CPUID (AMD KDS serves VCEKs by chip and TCB)",
            "pass the VCEK/VLEK with --collateral DIR",
        )
    kds = KdsClient(getter=CachingGetter(directory=cache_dir / "kds", inner=HttpxGetter()))
    return kds.vcek(product, report.chip_id, sev.decode_tcb(report.reported_tcb, product))


def _dcap_collateral(raw: bytes, path: Path, collateral: Path | None, online: bool, cache_dir: Path) -> bytes:
    """TDX/SGX collateral JSON, loaded (and so checked) the way `attest verify` loads it."""
    from phala_agents.attestation import tdx
    from phala_agents.cli.attest import dcap_collateral

    coll = dcap_collateral(raw, path, collateral, online, cache_dir)
    if coll is None:
        _fail(
            "collateral: found none for the quote, wanted its collateral JSON",
            "pass --collateral FILE|DIR or --online (Intel PCS)",
        )
    return tdx.collateral_to_json(coll).encode()


def _real_bundle(
    report_data: bytes,
    *,
    evidence: Path | None,
    collateral: Path | None,
    online: bool,
    cache_dir: Path,
    dev_chain: bool,
) -> bytes:
    from phala_agents.chain.pallets.workers import dcap_evidence_bundle, snp_evidence_bundle
    from phala_agents.cli.attest import read_evidence

    if evidence is not None:
        raw, endorsement, path = read_evidence(evidence), None, evidence
    else:
        raw, endorsement = _guest_evidence(report_data, dev_chain)
        path = Path("evidence.bin")
    kind = _check_binding(raw, report_data)
    try:
        if kind == "snp":
            if endorsement is None:
                endorsement = _snp_endorsement(raw, path, collateral, online, cache_dir)
            if endorsement is None:
                _fail(
                    "collateral: found no VCEK/VLEK for the SNP report (no certificate table), "
                    "wanted the endorsement certificate",
                    "pass --collateral DIR (vcek.der, vlek.der, ...) or --online (AMD KDS)",
                )
            return snp_evidence_bundle(raw, endorsement)
        return dcap_evidence_bundle(raw, _dcap_collateral(raw, path, collateral, online, cache_dir))
    except AttestationError as exc:
        _fail(
            f"collateral: {exc}",
            "check --collateral, or fetch with --online (network access to AMD KDS / Intel PCS)",
        )


def _policy(api: ChainClient, at: str) -> dict[str, object] | None:
    """The on-chain ``Workers.Policy`` decoded with the pallet's own type (the form its checks take)."""
    from phala_agents.chain.pallets.workers import WorkerPolicy
    from phala_agents.scale import storage_prefix

    key = "0x" + storage_prefix(PALLET, "Policy").hex()
    raw = api.rpc("state_getStorage", [key, at])
    if raw is None:
        return None
    value, _ = WorkerPolicy.decode(bytes.fromhex(str(raw).removeprefix("0x")))
    return value


def _preflight(api: ChainClient, at: str, bundle: bytes, endpoint: bytes, report_data: bytes) -> None:
    """The pallet's guards and evidence checks (``check_evidence``: the same code, the same policy)
    at the current time, so that a doomed registration sends nothing (no fee, no nonce)."""
    from phala_agents.chain.pallets.workers import EvidenceRefused, check_evidence

    def refuse(name: str, reason: str) -> NoReturn:
        _fail(
            f"{PALLET}::{name}: {reason} (checked before signing; nothing was sent)",
            _REGISTER_HINTS.get(name, "see chain/pallets/workers.md"),
        )

    max_endpoint = int(cast(int, api.constant(PALLET, "MaxEndpointLen")))
    if len(endpoint) > max_endpoint:
        refuse("EndpointTooLong", f"--endpoint is {len(endpoint)} bytes, wanted at most {max_endpoint}")
    max_evidence = int(cast(int, api.constant(PALLET, "MaxEvidenceLen")))
    if len(bundle) > max_evidence:
        refuse("EvidenceTooLarge", f"the bundle is {len(bundle)} bytes, wanted at most {max_evidence}")
    policy = _policy(api, at)
    if policy is None:
        refuse("NoPolicy", "found no Workers.Policy, wanted one")
    try:
        check_evidence(bundle, policy, report_data, int(time.time()))
    except EvidenceRefused as refused:
        refuse(refused.error_name, refused.reason)


def _submit(
    api: ChainClient, params: dict[str, object], signer: Keypair, *, progress: bool
) -> ExtrinsicResult:
    _output.progress(f"{PALLET}.register_worker: signing and submitting...", enabled=progress)
    result = api.sign_and_submit(PALLET, "register_worker", params, signer, wait_for="finalized")
    _output.progress(f"{PALLET}.register_worker: finalized in #{result.block_number}", enabled=progress)
    _output.progress_done(enabled=progress)
    if not result.ok:
        name = (result.error or "").split("::")[-1]
        docs = f": {result.error_docs}" if result.error_docs else ""
        _fail(
            f"{result.error}{docs} (extrinsic {result.extrinsic_hash} in block {result.block_hash})",
            _REGISTER_HINTS.get(name, "the call was included but failed; nothing changed but the fee"),
        )
    return result


@handle_errors
def register_worker(  # noqa: PLR0917 - typer maps each parameter to an option
    endpoint: EndpointOpt,
    x25519_pub: X25519Opt,
    tls_spki_hash: TlsSpkiOpt,
    simulate: SimulateOpt = None,
    evidence: EvidenceOpt = None,
    collateral: CollateralOpt = None,
    online: OnlineOpt = False,
    cache_dir: CacheDirOpt = DEFAULT_CACHE_DIR,
    url: UrlOpt = DEFAULT_URL,
    suri: SuriOpt = None,
    key: KeyOpt = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    x25519 = _hex32(x25519_pub, "--x25519-pub")
    tls = _hex32(tls_spki_hash, "--tls-spki-hash")
    endpoint_bytes = endpoint.encode()
    if not endpoint_bytes:
        raise typer.BadParameter("found an empty URL, wanted the worker's URL", param_hint="--endpoint")
    if simulate is not None and (evidence is not None or collateral is not None or online):
        raise typer.BadParameter(
            "found --simulate with --evidence/--collateral/--online, wanted one source of evidence",
            param_hint="--simulate",
        )
    if collateral is not None and online:
        raise typer.BadParameter("pass either --collateral or --online, not both", param_hint="--online")
    from phala_agents.attestation import worker_report_data

    with _connect(url, timeout) as api:
        if simulate is not None and not api.is_dev_chain:
            _fail(
                f"--simulate: found chain {api.chain!r}, which the node does not say is a development "
                "chain, wanted a dev chain: simulated evidence is signed by dev roots anyone can make",
                "run this inside the worker's CVM without --simulate (evidence from configfs-tsm), "
                "or pass a pre-fetched report/quote with --evidence FILE",
            )
        signer = signer_from_options(api, suri, key, keystore, password_stdin)
        account = _address(signer.public_key, api.ss58_format)
        genesis = bytes.fromhex(api.block_hash(0).removeprefix("0x"))
        report_data = worker_report_data(genesis, signer.public_key, x25519, tls)
        if simulate is not None:
            bundle = _simulated_bundle(simulate, report_data)
        else:
            bundle = _real_bundle(
                report_data,
                evidence=evidence,
                collateral=collateral,
                online=online,
                cache_dir=cache_dir,
                dev_chain=api.is_dev_chain,
            )
        at = api.block_hash("best")
        _preflight(api, at, bundle, endpoint_bytes, report_data)
        params: dict[str, object] = {
            "evidence": "0x" + bundle.hex(),
            "endpoint": endpoint,
            "x25519_pub": "0x" + x25519.hex(),
            "tls_spki_hash": "0x" + tls.hex(),
        }
        result = _submit(api, params, signer, progress=not json_out)
        action = next(
            (e.name for e in result.events if e.pallet == PALLET and e.name.startswith("Worker")), "?"
        )
        number = api.head(result.block_hash).number
        period = int(cast(int, api.constant(PALLET, "ReattestPeriod")))
        info = api.query(PALLET, "Workers", account, at=result.block_hash)
    if not isinstance(info, dict):  # pragma: no cover - the call succeeded, so the entry exists
        _fail(f"worker {account}: found no Workers entry after {action}, wanted one", "see `workers show`")
    record = {
        **_record(account, info, number, period),
        "event": action,
        "extrinsic_hash": result.extrinsic_hash,
        "block_hash": result.block_hash,
        "block_number": result.block_number,
    }
    if json_out:
        _output.emit_json(record)
        return
    verb = "re-attested" if action == "WorkerReattested" else "registered"
    _output.emit_line(f"worker {account} {verb} (active until block #{record['active_until']})")
    _output.emit_line(f"{'tee:':<14}{record['tee']} ({record['roots']} roots)")
    _output.emit_line(f"{'measurement:':<14}{record['measurement']}")
    _output.emit_line(f"{'attested_at:':<14}#{record['attested_at']}")
    _output.emit_line(f"{'extrinsic:':<14}{result.extrinsic_hash}")
    _output.emit_line(f"{'block:':<14}{result.block_hash} (#{result.block_number}, finalized)")


def _address(public_key: bytes, ss58_format: int) -> str:
    from phala_agents.scale import ss58_encode

    return ss58_encode(public_key, ss58_format)


def register(app: typer.Typer) -> None:
    """Add the ``workers`` group to the root app."""
    group = typer.Typer(
        name="workers",
        help="List, show and register attested workers in the Workers pallet.",
        no_args_is_help=True,
    )
    group.command("list", help=f"Every registered worker and whether it is active.\n\n{_EXIT_CODES}")(
        list_workers
    )
    group.command("show", help=f"One worker's record.\n\n{_EXIT_CODES}")(show)
    group.command("register", help=_REGISTER_HELP)(register_worker)
    app.add_typer(group)


__all__ = ["register"]
