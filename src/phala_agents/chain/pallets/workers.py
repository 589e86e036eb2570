"""``Workers`` (index 11): attested confidential workers, their policy, and the cluster key.

The normative spec is ``chain/pallets/workers.md``. A worker registers with vendor-signed TEE
evidence (``register_worker``); the runtime verifies it with ``phala_agents.attestation`` against
the on-chain ``Policy`` at the block's timestamp and requires REPORT_DATA to be the worker binding
of DESIGN.md section 4 (``worker_report_data(genesis, worker account, x25519_pub,
tls_spki_hash)``). A worker is active while ``now < attested_at + ReattestPeriod``; re-registering
refreshes ``attested_at``. Root sets the policy; the dev genesis trusts the simulated TEE's dev
roots, a production policy never does.

``ClusterKey`` (the X25519 public key prompts are sealed to) and ``set_cluster_key`` came first:
until the key hand-over between attested workers exists, root (sudo on the dev chain) sets it; the
dev genesis sets it to the **dev cluster key**, derived from the public ``DEV_CLUSTER_SEED`` the
way //Alice derives from the public dev phrase: anyone can open prompts sealed to it, so it must
never be used outside a dev chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import ClassVar, Protocol, cast

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phala_agents.attestation import (
    EvidenceKind,
    EvidencePolicy,
    TrustedRoots,
    VerifiedEvidence,
    VerifyEvidenceOptions,
    detect_kind,
    sev,
    tdx,
    validate_evidence,
    verify_evidence,
    worker_report_data,
)
from phala_agents.attestation.simulated import DEV_TRUST_NAME
from phala_agents.chain.frame import (
    Blake2_128Concat,
    OptionQuery,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    Weight,
    arg,
    call,
    constant,
    ensure_root,
    ensure_signed,
    error,
    event,
    weight_info,
)
from phala_agents.chain.frame._types import BlockNumber
from phala_agents.chain.pallets.system import System
from phala_agents.chain.pallets.timestamp import Timestamp
from phala_agents.errors import (
    CollateralUnavailable,
    DecodeError,
    PolicyError,
    ReportFormatError,
    VerificationError,
)
from phala_agents.scale import (
    H256,
    U8,
    U32,
    U64,
    AccountId,
    Bool,
    BoundedVec,
    Bytes,
    Enum,
    FixedBytes,
    Option,
    Struct,
    Vec,
    blake2_256,
    field,
    unit_enum,
    variant,
)

_log = structlog.get_logger()

DEV_CLUSTER_SEED = b"phala-agents/dev-cluster-key/v1"
"""Public seed of the dev cluster key: private key = blake2_256(DEV_CLUSTER_SEED) (X25519 clamps
it). ``phala_agents.client.dev_cluster`` derives the same key for the dev worker (a test keeps the
two in step: ``client`` may not import ``chain``)."""
DEV_CLUSTER_EPOCH = 0


def dev_cluster_private_key() -> bytes:
    """The dev cluster key's 32 private bytes (public knowledge, like //Alice's seed)."""
    return blake2_256(DEV_CLUSTER_SEED)


def dev_cluster_public_key() -> bytes:
    """The X25519 public key of the dev cluster key (what the dev genesis puts in ``ClusterKey``)."""
    private = X25519PrivateKey.from_private_bytes(dev_cluster_private_key())
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- types (workers.md "Types") ----------------------------------------------------------------------

_PATH = "pallet_workers::types::"

ClusterKeyInfo = Struct(
    _PATH + "ClusterKeyInfo",
    [
        field("public", FixedBytes(32), "[u8; 32]"),
        field("epoch", U32, "u32"),
    ],
    docs=(" The cluster's X25519 public key and its epoch (prompts are sealed to it).",),
)

TEE_KINDS: tuple[str, ...] = ("SevSnp", "Tdx", "Sgx")
TeeKind = unit_enum(
    _PATH + "TeeKind", TEE_KINDS, docs=(" The evidence format: an SEV-SNP report, a TDX or an SGX quote.",)
)
ROOTS_KINDS: tuple[str, ...] = ("Vendor", "Dev")
RootsKind = unit_enum(
    _PATH + "RootsKind",
    ROOTS_KINDS,
    docs=(
        " Whose roots the evidence chains to: the vendor's (AMD, Intel) or the simulated TEE's dev roots.",
    ),
)
# Intel's TCB status names in the on-chain spelling (the attestation library's `TcbStatus` values).
TCB_STATUSES: tuple[str, ...] = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
)
DcapTcbStatus = unit_enum(
    _PATH + "DcapTcbStatus", TCB_STATUSES, docs=(" Intel's TCB status of a TDX/SGX platform.",)
)
SnpTcb = Struct(
    _PATH + "SnpTcb",
    [
        field("bootloader", U8, "u8"),
        field("tee", U8, "u8"),
        field("snp", U8, "u8"),
        field("microcode", U8, "u8"),
    ],
    docs=(" An SEV-SNP TCB_VERSION (Turin's FMC is not compared).",),
)
TcbSummary = Enum(
    _PATH + "TcbSummary",
    [
        variant("Snp", 0, [field(None, SnpTcb, "SnpTcb")], docs="REPORTED_TCB of an SEV-SNP report."),
        variant("Dcap", 1, [field(None, DcapTcbStatus, "DcapTcbStatus")], docs="Intel's TCB status."),
    ],
    docs=(" The platform's TCB as the evidence showed it.",),
)

MEASUREMENT_LENGTHS = (32, 48)  # SGX MRENCLAVE; SNP MEASUREMENT and TDX MR_TD


# --- weights ------------------------------------------------------------------------------------------


class WorkersWeightInfo(Protocol):
    """``pallet_workers::WeightInfo``: the declared weight of each call."""

    def set_cluster_key(self) -> Weight: ...
    def register_worker(self, bundle_kind: int) -> Weight: ...
    def set_policy(self, measurements: int) -> Weight: ...
    def deregister(self) -> Weight: ...


# `ClusterKey`: its key (twox128 ++ twox128) and the longest `ClusterKeyInfo` (`Some` ++ 32 + 4).
_CLUSTER_KEY_READ = 32 + 1 + 32 + 4
# A `Workers` entry at its longest: key (32 + 16 + 32) and value (endpoint, keys, a 48-byte
# measurement, the TCB, two block numbers, length prefixes).
_WORKER_READ = 80 + 2 + 256 + 64 + 3 + 1 + 48 + 6 + 8
# `Policy` at its longest (64 measurements of 48 bytes dominate).
_POLICY_READ = 32 + 4 + 3 + 2 + 64 * 49 + 8 + 6 + 8 + 1


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class WorkersWeights:
    """The default ``WorkersWeightInfo``.

    ``register_worker`` is dominated by verifying the evidence in Python, measured through the
    pallet's checks on this project's dev machine (median of 30, simulated evidence): an SNP report
    with an RSA-4096 ARK -> ASK -> VCEK chain, chain cache cleared, about 1.0 ms (1.8 ms worst); a
    TDX quote with its collateral (JSON, PEM chains, CRLs, ECDSA P-256 checks, TCB evaluation)
    about 0.8 ms (1.2 ms worst). Declared per bundle kind (the first byte of ``evidence``) with
    about 3x headroom: 3 ms for SNP, 4 ms for DCAP; another first byte fails at decoding and is
    charged the DCAP weight. Proof sizes: the ``Policy``, a ``Workers`` entry, ``Timestamp.Now``
    and ``BlockHash(0)``."""

    snp: ClassVar[Weight] = Weight(3_000_000_000, _POLICY_READ + _WORKER_READ + 200)
    dcap: ClassVar[Weight] = Weight(4_000_000_000, _POLICY_READ + _WORKER_READ + 200)

    def set_cluster_key(self) -> Weight:
        return Weight(10_000_000, _CLUSTER_KEY_READ)

    def register_worker(self, bundle_kind: int) -> Weight:
        return self.snp if bundle_kind == 0 else self.dcap

    def set_policy(self, measurements: int) -> Weight:
        return Weight(10_000_000 + 100_000 * measurements, _POLICY_READ)

    def deregister(self) -> Weight:
        return Weight(20_000_000, _WORKER_READ)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkersConfig:
    """The pallet's Config: constants and weights (workers.md "Constants")."""

    # A day of 6 s blocks. On the instant-seal dev node blocks come with transactions, so a day
    # of blocks is longer in wall time there; a worker re-registers well before (half-way).
    reattest_period: int = 14_400
    # A TDX quote (~5 KB) and its collateral JSON (~15 KB, mostly PEM) fit with room to spare;
    # an SNP report with its VCEK and dev roots is under 10 KB.
    max_evidence_len: int = 65_536
    max_endpoint_len: int = 256
    max_measurements: int = 64
    weights: WorkersWeightInfo = dc_field(default_factory=WorkersWeights)


_CFG = WorkersConfig()
Measurement = Bytes  # 32 or 48 bytes, checked by `set_policy`
EndpointBytes: BoundedVec[bytes] = BoundedVec(
    U8, _CFG.max_endpoint_len, bound="T::MaxEndpointLen", enforce=False
)
EvidenceBytes: BoundedVec[bytes] = BoundedVec(
    U8, _CFG.max_evidence_len, bound="T::MaxEvidenceLen", enforce=False
)

WorkerInfo = Struct(
    _PATH + "WorkerInfo",
    [
        field("endpoint", EndpointBytes, "BoundedVec<u8, T::MaxEndpointLen>"),
        field("x25519_pub", FixedBytes(32), "[u8; 32]"),
        field("tls_spki_hash", H256, "H256"),
        field("tee", TeeKind, "TeeKind"),
        field("roots", RootsKind, "RootsKind"),
        field("measurement", Bytes, "Vec<u8>"),
        field("tcb", TcbSummary, "TcbSummary"),
        field("registered_at", BlockNumber, "BlockNumberFor<T>"),
        field("attested_at", BlockNumber, "BlockNumberFor<T>"),
    ],
    params=(("T", None),),
    docs=(" A registered worker: where it serves, its keys, and what its last evidence proved.",),
)
WorkerPolicy = Struct(
    _PATH + "WorkerPolicy",
    [
        field("allowed_tees", Vec(TeeKind), "Vec<TeeKind>"),
        field("allowed_measurements", Vec(Measurement), "Vec<Vec<u8>>"),
        field("allowed_tcb_statuses", Vec(DcapTcbStatus), "Vec<DcapTcbStatus>"),
        field("min_snp_tcb", Option(SnpTcb), "Option<SnpTcb>"),
        field("max_evidence_age", U64, "u64"),
        field("trust_dev_roots", Bool, "bool"),
    ],
    docs=(" What evidence the chain accepts from workers (set by root).",),
)
EvidenceBundle = Enum(
    _PATH + "EvidenceBundle",
    [
        variant(
            "SevSnp",
            0,
            [
                field("report", Bytes, "Vec<u8>"),
                field("endorsement", Bytes, "Vec<u8>"),
                field("dev_roots", Option(Bytes), "Option<Vec<u8>>"),
            ],
            docs="A 1184-byte SNP report, its VCEK or VLEK (DER), and for the simulated TEE its roots (PEM).",
        ),
        variant(
            "Dcap",
            1,
            [
                field("quote", Bytes, "Vec<u8>"),
                field("collateral", Bytes, "Vec<u8>"),
                field("dev_root", Option(Bytes), "Option<Vec<u8>>"),
            ],
            docs=(
                "A TDX or SGX quote, its collateral (QuoteCollateralV3 JSON), and for the\n"
                "simulated TEE its root (DER)."
            ),
        ),
    ],
    docs=(" The `evidence` argument of `register_worker`, SCALE-encoded.",),
)
EVIDENCE_BUNDLE_KINDS = ("SevSnp", "Dcap")


def snp_evidence_bundle(report: bytes, endorsement: bytes, *, dev_roots: bytes | None = None) -> bytes:
    """The ``evidence`` bytes for an SEV-SNP report (``dev_roots``: the simulated TEE's PEM)."""
    payload = {"report": report, "endorsement": endorsement, "dev_roots": dev_roots}
    return EvidenceBundle.encode(("SevSnp", payload))


def dcap_evidence_bundle(quote: bytes, collateral_json: bytes, *, dev_root: bytes | None = None) -> bytes:
    """The ``evidence`` bytes for a TDX/SGX quote (``dev_root``: the simulated TEE's root, DER)."""
    payload = {"quote": quote, "collateral": collateral_json, "dev_root": dev_root}
    return EvidenceBundle.encode(("Dcap", payload))


def _register_worker_weight(pallet: Pallet, args: Mapping[str, object]) -> Weight:
    evidence = cast(bytes, args.get("evidence", b""))
    kind = evidence[0] if evidence else 0xFF
    return cast(WorkersWeightInfo, pallet.weights).register_worker(kind)


def _set_policy_weight(pallet: Pallet, args: Mapping[str, object]) -> Weight:
    policy = cast("Mapping[str, object]", args.get("policy", {}))
    count = len(cast("Sequence[bytes]", policy.get("allowed_measurements", ())))
    return cast(WorkersWeightInfo, pallet.weights).set_policy(count)


# --- the pallet ---------------------------------------------------------------------------------------


class EvidenceRefused(Exception):
    """An evidence check failed: the pallet error's name and, for the debug log, why."""

    def __init__(self, error_name: str, reason: str) -> None:
        super().__init__(error_name)
        self.error_name = error_name
        self.reason = reason


_KIND_TO_TEE = {EvidenceKind.SNP: "SevSnp", EvidenceKind.TDX: "Tdx", EvidenceKind.SGX: "Sgx"}
_ACCOUNT = "T::AccountId"
# The checks of the kinds' own policies that the pallet does not make itself (workers.md
# "register_worker", step 9): debug, TCB status, measurements and REPORT_DATA are the pallet's.
_BASE_SNP = sev.Policy(allow_debug=True)
_BASE_DCAP = tdx.Policy(allow_debug=True, allowed_statuses=frozenset(tdx.TcbStatus))


class Workers(Pallet, name="Workers"):
    """Confidential workers, the policy their evidence must meet, and the cluster key."""

    cluster_key = StorageValue(
        "ClusterKey",
        ClusterKeyInfo,
        query=OptionQuery,
        docs=" The current cluster key: X25519 public key and epoch. Sealed prompts must use this epoch.",
    )
    workers = StorageMap(
        "Workers",
        Blake2_128Concat,
        AccountId,
        WorkerInfo,
        query=OptionQuery,
        docs=" Registered workers by account; active while `now < attested_at + ReattestPeriod`.",
    )
    policy = StorageValue(
        "Policy",
        WorkerPolicy,
        query=OptionQuery,
        docs=" What evidence `register_worker` accepts. None: no worker can register.",
    )

    EVENTS = (
        event(
            "ClusterKeySet",
            field("public", FixedBytes(32), "[u8; 32]"),
            field("epoch", U32, "u32"),
            docs="The cluster key was set (rotated) by root.",
        ),
        event(
            "WorkerRegistered",
            field("worker", AccountId, _ACCOUNT),
            field("tee", TeeKind, "TeeKind"),
            field("roots", RootsKind, "RootsKind"),
            field("measurement", Bytes, "Vec<u8>"),
            docs="A worker registered with verified evidence.",
        ),
        event(
            "WorkerReattested",
            field("worker", AccountId, _ACCOUNT),
            field("tee", TeeKind, "TeeKind"),
            field("roots", RootsKind, "RootsKind"),
            field("measurement", Bytes, "Vec<u8>"),
            docs="A registered worker presented new evidence; `attested_at` is now.",
        ),
        event("WorkerDeregistered", field("worker", AccountId, _ACCOUNT), docs="A worker left."),
        event("PolicySet", docs="Root replaced the worker policy (registered workers keep their record)."),
    )
    ERRORS = (
        error("EpochNotIncreasing", "A new cluster key must have a higher epoch than the current one."),
        error("NoPolicy", "No worker policy is set, so no evidence can be accepted."),
        error("EndpointTooLong", "The endpoint is longer than `MaxEndpointLen`."),
        error("EvidenceTooLarge", "The evidence bundle is longer than `MaxEvidenceLen`."),
        error("EvidenceMalformed", "The evidence is not a bundle, or its report/quote does not parse."),
        error("DevRootsNotTrusted", "The bundle carries dev roots and the policy does not trust them."),
        error("CollateralUnavailable", "The bundle lacks collateral the evidence needs (VCEK, TCB info)."),
        error(
            "EvidenceInvalid",
            "A signature, certificate chain, CRL or validity window does not hold at the block's time.",
        ),
        error("TeeNotAllowed", "The policy does not allow this TEE kind."),
        error("DebugEnabled", "The evidence comes from a debug guest or enclave."),
        error("MeasurementNotAllowed", "The launch measurement is not in the policy's list."),
        error("TcbNotAllowed", "The TCB status is not allowed, or the SNP TCB is below the minimum."),
        error("EvidenceTooOld", "The evidence's collateral was issued more than `max_evidence_age` ago."),
        error("ReportDataMismatch", "REPORT_DATA is not the worker binding of this chain, origin and keys."),
        error("PolicyViolation", "The evidence breaks another check of its kind's default policy."),
        error("NotRegistered", "The account is not a registered worker."),
        error("TooManyMeasurements", "The policy lists more than `MaxMeasurements` measurements."),
        error("InvalidMeasurementLength", "A measurement in the policy is not 32 or 48 bytes."),
    )
    CONSTANTS = (
        constant(
            "ReattestPeriod",
            BlockNumber,
            "reattest_period",
            " Blocks after `attested_at` during which a worker is active; it must re-register before.",
        ),
        constant("MaxEvidenceLen", U32, "max_evidence_len", " Maximum bytes of an evidence bundle."),
        constant("MaxEndpointLen", U32, "max_endpoint_len", " Maximum bytes of a worker's endpoint URL."),
        constant("MaxMeasurements", U32, "max_measurements", " Maximum measurements a policy lists."),
    )

    config: WorkersConfig

    # --- cluster key ---------------------------------------------------------------------------------

    def current_epoch(self) -> int | None:
        """The epoch of the current cluster key, or None when none is set."""
        info = self.cluster_key.get()
        return None if info is None else cast(int, info["epoch"])

    @call(
        index=0,
        weight=weight_info("set_cluster_key"),
        args=[arg("public", FixedBytes(32), "[u8; 32]"), arg("epoch", U32, "u32")],
    )
    def set_cluster_key(self, origin: Origin, public: bytes, epoch: int) -> None:
        """Set the cluster key (root). The epoch must grow, so old sealed blobs stay tied to
        their own key."""
        ensure_root(origin)
        current = self.current_epoch()
        if current is not None and epoch <= current:
            raise self.error("EpochNotIncreasing")
        self.cluster_key.put({"public": bytes(public), "epoch": epoch})
        self.deposit_event("ClusterKeySet", {"public": bytes(public), "epoch": epoch})

    # --- workers -------------------------------------------------------------------------------------

    @call(
        index=1,
        weight=_register_worker_weight,
        args=[
            arg("evidence", EvidenceBytes, "BoundedVec<u8, T::MaxEvidenceLen>"),
            arg("endpoint", EndpointBytes, "BoundedVec<u8, T::MaxEndpointLen>"),
            arg("x25519_pub", FixedBytes(32), "[u8; 32]"),
            arg("tls_spki_hash", H256, "H256"),
        ],
    )
    def register_worker(
        self, origin: Origin, evidence: bytes, endpoint: bytes, x25519_pub: bytes, tls_spki_hash: bytes
    ) -> None:
        """Register (or re-attest) the signing account as a worker: the evidence must verify
        against the `Policy` at the block's time and bind this chain, account and keys."""
        who = ensure_signed(origin)
        cfg = self.config
        if len(endpoint) > cfg.max_endpoint_len:
            raise self.error("EndpointTooLong")
        if len(evidence) > cfg.max_evidence_len:
            raise self.error("EvidenceTooLarge")
        policy = self.policy.get()
        if policy is None:
            raise self.error("NoPolicy")
        genesis = self.runtime.pallet(System).block_hash.get(0)
        binding = worker_report_data(genesis, who, bytes(x25519_pub), bytes(tls_spki_hash))
        now_s = self.runtime.pallet(Timestamp).now.get() // 1000
        try:
            verified, roots = check_evidence(bytes(evidence), policy, binding, now_s)
        except EvidenceRefused as refused:
            # Evidence is public (measurements, TCB, REPORT_DATA): the reason may be logged.
            _log.debug("worker_evidence_refused", error=refused.error_name, reason=refused.reason)
            raise self.error(refused.error_name) from None
        now = self.runtime.pallet(System).number.get()
        existing = self.workers.get(who)
        tee = _KIND_TO_TEE[verified.kind]
        self.workers.insert(
            who,
            {
                "endpoint": bytes(endpoint),
                "x25519_pub": bytes(x25519_pub),
                "tls_spki_hash": bytes(tls_spki_hash),
                "tee": (tee, None),
                "roots": (roots, None),
                "measurement": verified.measurement,
                "tcb": _tcb_summary(verified),
                "registered_at": now if existing is None else existing["registered_at"],
                "attested_at": now,
            },
        )
        name = "WorkerRegistered" if existing is None else "WorkerReattested"
        payload = {
            "worker": who,
            "tee": (tee, None),
            "roots": (roots, None),
            "measurement": verified.measurement,
        }
        self.deposit_event(name, payload)

    @call(index=2, weight=_set_policy_weight, args=[arg("policy", WorkerPolicy, "WorkerPolicy")])
    def set_policy(self, origin: Origin, policy: dict[str, object]) -> None:
        """Replace the worker policy (root). Registered workers keep their records; the new
        policy applies from their next `register_worker`."""
        ensure_root(origin)
        measurements = cast("Sequence[bytes]", policy["allowed_measurements"])
        if len(measurements) > self.config.max_measurements:
            raise self.error("TooManyMeasurements")
        if any(len(m) not in MEASUREMENT_LENGTHS for m in measurements):
            raise self.error("InvalidMeasurementLength")
        self.policy.put(policy)
        self.deposit_event("PolicySet")

    @call(index=3, weight=weight_info("deregister"))
    def deregister(self, origin: Origin) -> None:
        """Remove the signing account's worker record."""
        who = ensure_signed(origin)
        if not self.workers.contains(who):
            raise self.error("NotRegistered")
        self.workers.remove(who)
        self.deposit_event("WorkerDeregistered", {"worker": who})

    # --- views ---------------------------------------------------------------------------------------

    def is_active(self, account: bytes, now: int) -> bool:
        """Whether ``account`` is a registered worker whose attestation holds at block ``now``:
        ``now < attested_at + ReattestPeriod``. (Billing.settle will require it; not yet.)"""
        info = self.workers.get(account)
        if info is None:
            return False
        return now < cast(int, info["attested_at"]) + self.config.reattest_period

    def genesis(self, config: Mapping[str, object]) -> None:
        key = config.get("cluster_key")
        if key is not None:
            public, epoch = cast(tuple[bytes, int], key)
            self.cluster_key.put({"public": bytes(public), "epoch": epoch})
        policy = config.get("policy")
        if policy is not None:
            self.policy.put(dict(cast("Mapping[str, object]", policy)))


# --- evidence checks (workers.md "register_worker") -----------------------------------------------


def check_evidence(
    evidence: bytes, policy: Mapping[str, object], binding: bytes, now_s: int
) -> tuple[VerifiedEvidence, str]:
    """Verify and check ``evidence`` in the spec's order; return it and its roots kind
    ("Vendor" or "Dev"), or raise ``EvidenceRefused`` naming the pallet error. Public so that
    ``phala-agent workers register`` checks a bundle exactly as the runtime will before it signs."""
    try:
        (bundle_kind, payload), end = EvidenceBundle.decode(evidence)
    except DecodeError as exc:
        raise EvidenceRefused("EvidenceMalformed", str(exc)) from None
    if end != len(evidence):
        trailing = len(evidence) - end
        raise EvidenceRefused("EvidenceMalformed", f"bundle: {trailing} trailing bytes, wanted none")
    parts = cast("dict[str, object]", payload)
    dev_root_field = "dev_roots" if bundle_kind == "SevSnp" else "dev_root"
    dev = cast("bytes | None", parts[dev_root_field])
    if dev is not None and not policy["trust_dev_roots"]:
        raise EvidenceRefused(
            "DevRootsNotTrusted", f"bundle field {dev_root_field} is set, the policy trusts vendor roots only"
        )
    verified = _verify(bundle_kind, parts, dev, now_s)
    _check_policy(verified, policy, binding, now_s)
    return verified, ("Vendor" if dev is None else "Dev")


def _verify(bundle_kind: str, parts: Mapping[str, object], dev: bytes | None, now_s: int) -> VerifiedEvidence:
    """The verify stage at the block's time, with no network: everything comes from the bundle."""
    try:
        if bundle_kind == "SevSnp":
            report = cast(bytes, parts["report"])
            roots = (
                TrustedRoots.amd_production() if dev is None else TrustedRoots.from_pem(DEV_TRUST_NAME, [dev])
            )
            options = VerifyEvidenceOptions(snp=sev.VerifyOptions(roots=roots, kds=None), now=now_s)
            endorsement = cast(bytes, parts["endorsement"]) or None
            return verify_evidence(
                report, kind=EvidenceKind.SNP, collateral=endorsement, options=options, policy=None
            )
        quote = cast(bytes, parts["quote"])
        detect_kind(quote)  # a quote that is no quote is malformed, whatever its collateral
        collateral = tdx.load_collateral(cast(bytes, parts["collateral"]))
        # No verdict cache: a verdict must come from this block's inputs alone.
        dcap = tdx.VerifyOptions(trusted_roots=() if dev is None else (dev,), cache=None)
        options = VerifyEvidenceOptions(dcap=dcap, now=now_s)
        return verify_evidence(quote, collateral=collateral, options=options, policy=None)
    except ReportFormatError as exc:
        raise EvidenceRefused("EvidenceMalformed", str(exc)) from None
    except CollateralUnavailable as exc:
        raise EvidenceRefused("CollateralUnavailable", str(exc)) from None
    except VerificationError as exc:
        raise EvidenceRefused("EvidenceInvalid", str(exc)) from None
    except (ValueError, TypeError) as exc:
        # Malformed certificates or keys inside the bundle make `cryptography` raise these.
        raise EvidenceRefused("EvidenceMalformed", f"{type(exc).__name__}: {exc}") from None


def _check_policy(
    verified: VerifiedEvidence, policy: Mapping[str, object], binding: bytes, now_s: int
) -> None:
    """The on-chain policy's checks, one pallet error each, then the kind's remaining defaults."""
    tee = _KIND_TO_TEE[verified.kind]
    allowed_tees = [t[0] for t in cast("list[tuple[str, None]]", policy["allowed_tees"])]
    if tee not in allowed_tees:
        raise EvidenceRefused("TeeNotAllowed", f"TEE is {tee}, wanted one of {allowed_tees}")
    if verified.debug:
        raise EvidenceRefused("DebugEnabled", f"{tee} evidence has DEBUG set, wanted it clear")
    measurements = cast("list[bytes]", policy["allowed_measurements"])
    if measurements and verified.measurement not in measurements:
        raise EvidenceRefused(
            "MeasurementNotAllowed",
            f"measurement is {verified.measurement.hex()}, wanted one of {[m.hex() for m in measurements]}",
        )
    _check_tcb(verified, policy)
    max_age = cast(int, policy["max_evidence_age"])
    if max_age and isinstance(verified.verified, tdx.VerifiedQuote):
        age = now_s - verified.verified.collateral_issued_at
        if age > max_age:
            raise EvidenceRefused("EvidenceTooOld", f"collateral age is {age} s, wanted at most {max_age} s")
    if verified.report_data != binding:
        raise EvidenceRefused(
            "ReportDataMismatch",
            f"REPORT_DATA is {verified.report_data.hex()}, wanted the worker binding {binding.hex()}",
        )
    try:
        validate_evidence(verified, EvidencePolicy(snp=_BASE_SNP, dcap=_BASE_DCAP))
    except PolicyError as exc:
        raise EvidenceRefused("PolicyViolation", "; ".join(exc.violations)) from None


def _check_tcb(verified: VerifiedEvidence, policy: Mapping[str, object]) -> None:
    if isinstance(verified.verified, sev.VerifiedReport):
        floor = cast("Mapping[str, int] | None", policy["min_snp_tcb"])
        if floor is None:
            return
        reported = sev.decode_tcb(verified.verified.report.reported_tcb, verified.verified.product)
        low = reported.at_least(sev.TcbVersion(**floor))
        if low:
            raise EvidenceRefused(
                "TcbNotAllowed", f"REPORTED_TCB is {reported}, below the minimum in {', '.join(low)}"
            )
        return
    status = str(verified.tcb_status)
    allowed = [s[0] for s in cast("list[tuple[str, None]]", policy["allowed_tcb_statuses"])]
    if status not in allowed:
        raise EvidenceRefused("TcbNotAllowed", f"TCB status is {status}, wanted one of {allowed}")


def _tcb_summary(verified: VerifiedEvidence) -> tuple[str, object]:
    if isinstance(verified.verified, sev.VerifiedReport):
        tcb = sev.decode_tcb(verified.verified.report.reported_tcb, verified.verified.product)
        return "Snp", {
            "bootloader": tcb.bootloader,
            "tee": tcb.tee,
            "snp": tcb.snp,
            "microcode": tcb.microcode,
        }
    return "Dcap", (str(verified.tcb_status), None)


# --- policies ------------------------------------------------------------------------------------------


def dev_worker_policy() -> dict[str, object]:
    """The dev genesis policy: every TEE kind, any measurement, the simulated TEE's dev roots
    trusted. Anyone can produce evidence this accepts: dev chains only (workers.md "Policies")."""
    return {
        "allowed_tees": [(name, None) for name in TEE_KINDS],
        "allowed_measurements": [],
        "allowed_tcb_statuses": [("UpToDate", None)],
        "min_snp_tcb": None,
        "max_evidence_age": 7 * 86_400,
        "trust_dev_roots": True,
    }


__all__ = [
    "DEV_CLUSTER_EPOCH",
    "DEV_CLUSTER_SEED",
    "EVIDENCE_BUNDLE_KINDS",
    "MEASUREMENT_LENGTHS",
    "ROOTS_KINDS",
    "TCB_STATUSES",
    "TEE_KINDS",
    "ClusterKeyInfo",
    "DcapTcbStatus",
    "EvidenceBundle",
    "EvidenceRefused",
    "RootsKind",
    "SnpTcb",
    "TcbSummary",
    "TeeKind",
    "WorkerInfo",
    "WorkerPolicy",
    "Workers",
    "WorkersConfig",
    "WorkersWeightInfo",
    "WorkersWeights",
    "check_evidence",
    "dcap_evidence_bundle",
    "dev_cluster_private_key",
    "dev_cluster_public_key",
    "dev_worker_policy",
    "snp_evidence_bundle",
]
