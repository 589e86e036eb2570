"""An encrypted sr25519 keystore in the polkadot.js JSON format (wallets import our files as-is).

One JSON file per key, ``<name>.json`` (mode 0600, directory 0700), exactly what
``@polkadot/keyring``'s ``pair.toJson(password)`` writes (encoding version "3"):

``encoded`` (base64) = scrypt salt (32) || N (u32 LE) || p (u32 LE) || r (u32 LE)
|| xsalsa20-poly1305 nonce (24) || secretbox(PKCS8 body), with the secretbox key = the first 32
bytes of ``scrypt(password UTF-8, salt, N, r, p, dkLen=64)``.

PKCS8 body = ``PKCS8_HEADER`` (16) || secret key (64) || ``PKCS8_DIVIDER`` (5) || public key (32).
The 64-byte secret is schnorrkel's "ed25519 form" (the scalar multiplied by the cofactor, then the
nonce), which is what polkadot.js stores; substrate-interface keeps the canonical form, so the two
are converted with ``sr25519.convert_secret_key_to_ed25519`` / ``pair_from_ed25519_secret_key``.

Dev URIs (``//Alice``) are not keystore entries: :func:`resolve_signer` accepts them only when the
caller says the chain is a dev chain. No secret, seed, mnemonic or password is ever logged,
printed or put into an error message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nacl.exceptions
import nacl.secret
import sr25519
import structlog
from substrateinterface import Keypair, KeypairType

from phala_agents.errors import KeystoreError, ScaleError
from phala_agents.scale import ss58_decode_with_prefix, ss58_encode

log = structlog.get_logger()

KEYSTORE_ENV = "PHALA_AGENT_KEYSTORE"
"""Environment variable that overrides the keystore directory."""
PASSWORD_ENV = "PHALA_AGENT_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password
"""Environment variable the CLI reads a key password from when it cannot prompt."""
DEFAULT_KEYSTORE_DIR = Path("~/.local/share/phala-agents/keys")
DEV_SS58_FORMAT = 42
"""The generic Substrate prefix, what polkadot.js' keyring and our dev chain use."""

# scrypt parameters for files we write: N=2^15, r=8, p=1 (32 MiB, about 0.1 s). polkadot.js 14
# writes N=2^17 by default and accepts only the presets below when reading; ours is one of them.
SCRYPT_N = 1 << 15
SCRYPT_P = 1
SCRYPT_R = 8
ALLOWED_SCRYPT_PARAMS: tuple[tuple[int, int, int], ...] = (
    (1 << 13, 10, 8),
    (1 << 14, 5, 8),
    (1 << 15, 3, 8),
    (1 << 15, 1, 8),
    (1 << 16, 2, 8),
    (1 << 17, 1, 8),
)
"""(N, p, r) presets, the same list as ``@polkadot/util-crypto`` ``scrypt/defaults.js``."""

PKCS8_HEADER = bytes([48, 83, 2, 1, 1, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32])
PKCS8_DIVIDER = bytes([161, 35, 3, 33, 0])
ENCODING_CONTENT = ("pkcs8", "sr25519")
ENCODING_TYPE = ("scrypt", "xsalsa20-poly1305")
ENCODING_VERSION = "3"

_SALT_BYTES = 32
_SCRYPT_PREFIX_BYTES = _SALT_BYTES + 12
_NONCE_BYTES = 24
_SECRET_BYTES = 64
_SEED_BYTES = 32
_PUBLIC_BYTES = 32
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DEV_URI_RE = re.compile(r"^(//[A-Za-z0-9_-]+|/[A-Za-z0-9_-]+)+$")
_MASK = "********"


class Secret:
    """A secret string (mnemonic, password) whose ``repr``/``str`` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """Public facts about one keystore entry (no secret)."""

    name: str
    address: str
    public_key: bytes
    crypto_type: str
    created: datetime | None
    path: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class NewKey:
    """The result of :meth:`Keystore.new`: the entry and its mnemonic (shown once, on request)."""

    info: KeyInfo
    mnemonic: Secret


# --- the polkadot.js JSON format ----------------------------------------------------------------


def _scrypt(password: str, salt: bytes, n: int, p: int, r: int) -> bytes:
    # maxmem above the 128*r*N working set (128 MiB for polkadot.js' default N=2^17).
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=64, maxmem=128 * r * n * (p + 1) + (1 << 24)
    )


def encode_keystore_json(
    keypair: Keypair,
    password: str,
    *,
    name: str,
    created_ms: int | None = None,
    ss58_format: int = DEV_SS58_FORMAT,
) -> dict[str, object]:
    """The polkadot.js JSON document for an sr25519 key pair, encrypted with ``password``."""
    if keypair.crypto_type != KeypairType.SR25519 or keypair.private_key is None:
        raise ValueError("keypair: wanted an sr25519 pair with its secret key")
    secret = bytes(sr25519.convert_secret_key_to_ed25519(keypair.private_key))
    public = bytes(keypair.public_key)
    body = PKCS8_HEADER + secret + PKCS8_DIVIDER + public
    salt = secrets.token_bytes(_SALT_BYTES)
    derived = _scrypt(password, salt, SCRYPT_N, SCRYPT_P, SCRYPT_R)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    boxed = nacl.secret.SecretBox(derived[:32]).encrypt(body, nonce).ciphertext
    prefix = (
        salt
        + SCRYPT_N.to_bytes(4, "little")
        + SCRYPT_P.to_bytes(4, "little")
        + SCRYPT_R.to_bytes(4, "little")
    )
    encoded = base64.b64encode(prefix + nonce + boxed).decode("ascii")
    return {
        "encoded": encoded,
        "encoding": {
            "content": list(ENCODING_CONTENT),
            "type": list(ENCODING_TYPE),
            "version": ENCODING_VERSION,
        },
        "address": ss58_encode(public, ss58_format),
        "meta": {
            "name": name,
            "whenCreated": created_ms if created_ms is not None else int(time.time() * 1000),
        },
    }


def _bad_file(label: str, field: str, found: str, wanted: str) -> KeystoreError:
    return KeystoreError(f"key {label}: {field}: found {found}, wanted {wanted}")


def _check_format(data: Mapping[str, object], label: str) -> tuple[bytes, bytes]:
    """Validate the JSON envelope; return (encrypted bytes, public key from the address)."""
    encoding = data.get("encoding")
    if not isinstance(encoding, Mapping):
        raise _bad_file(label, "encoding", type(encoding).__name__, "an object")
    version = encoding.get("version")
    if version != ENCODING_VERSION:
        raise _bad_file(label, "encoding.version", repr(version), '"3"')
    content = encoding.get("content")
    if not isinstance(content, list) or len(content) < 2 or content[0] != "pkcs8":
        raise _bad_file(label, "encoding.content", repr(content), '["pkcs8", "sr25519"]')
    if content[1] != "sr25519":
        raise _bad_file(label, "encoding.content", repr(content[1]), '"sr25519" (the only supported type)')
    enc_type = encoding.get("type")
    types = enc_type if isinstance(enc_type, list) else [enc_type]
    if "scrypt" not in types or "xsalsa20-poly1305" not in types:
        raise _bad_file(label, "encoding.type", repr(enc_type), '["scrypt", "xsalsa20-poly1305"] (encrypted)')
    encoded = data.get("encoded")
    if not isinstance(encoded, str) or not encoded:
        raise _bad_file(label, "encoded", type(encoded).__name__, "a base64 or 0x-hex string")
    try:
        raw = (
            bytes.fromhex(encoded[2:])
            if encoded.startswith("0x")
            else base64.b64decode(encoded, validate=True)
        )
    except (ValueError, binascii.Error):
        raise _bad_file(label, "encoded", "undecodable text", "base64 or 0x-hex") from None
    if len(raw) < _SCRYPT_PREFIX_BYTES + _NONCE_BYTES + 16:
        raise _bad_file(
            label, "encoded", f"{len(raw)} bytes", f"at least {_SCRYPT_PREFIX_BYTES + _NONCE_BYTES + 16}"
        )
    address = data.get("address")
    if not isinstance(address, str):
        raise _bad_file(label, "address", type(address).__name__, "an SS58 string")
    try:
        public, _ = ss58_decode_with_prefix(address)
    except (ScaleError, ValueError):
        raise _bad_file(label, "address", repr(address), "a valid SS58 address") from None
    if len(public) != _PUBLIC_BYTES:
        raise _bad_file(
            label, "address", f"a {len(public)}-byte key", f"a {_PUBLIC_BYTES}-byte sr25519 account"
        )
    return raw, public


def _unlock(raw: bytes, password: str, label: str) -> bytes:
    salt = raw[:_SALT_BYTES]
    n, p, r = (int.from_bytes(raw[i : i + 4], "little") for i in (32, 36, 40))
    if (n, p, r) not in ALLOWED_SCRYPT_PARAMS:
        raise _bad_file(label, "scrypt params", f"N={n} p={p} r={r}", "one of the polkadot.js presets")
    derived = _scrypt(password, salt, n, p, r)
    nonce = raw[_SCRYPT_PREFIX_BYTES : _SCRYPT_PREFIX_BYTES + _NONCE_BYTES]
    try:
        return nacl.secret.SecretBox(derived[:32]).decrypt(raw[_SCRYPT_PREFIX_BYTES + _NONCE_BYTES :], nonce)
    except nacl.exceptions.CryptoError:
        raise KeystoreError(f"wrong password for key {label}") from None


def decode_keystore_json(
    data: Mapping[str, object], password: str, *, label: str | None = None, ss58_format: int | None = None
) -> Keypair:
    """Unlock a polkadot.js JSON document; ``label`` names the key in errors (never the secret)."""
    meta = data.get("meta")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    label = label or (name if isinstance(name, str) and name else str(data.get("address", "?")))
    raw, address_public = _check_format(data, label)
    body = _unlock(raw, password, label)
    if body[: len(PKCS8_HEADER)] != PKCS8_HEADER:
        raise _bad_file(label, "pkcs8 header", "other bytes", "the polkadot.js generation 1-3 header")
    offset = len(PKCS8_HEADER)
    divider_at = offset + _SECRET_BYTES
    if body[divider_at : divider_at + len(PKCS8_DIVIDER)] == PKCS8_DIVIDER:
        ed_secret = body[offset:divider_at]
        public_stored = body[
            divider_at + len(PKCS8_DIVIDER) : divider_at + len(PKCS8_DIVIDER) + _PUBLIC_BYTES
        ]
        public_raw, secret_raw = sr25519.pair_from_ed25519_secret_key(ed_secret)
        public, secret = bytes(public_raw), bytes(secret_raw)
    else:
        # Generation 1-2 files store the 32-byte mini secret (seed) instead of the expanded key.
        divider_at = offset + _SEED_BYTES
        if body[divider_at : divider_at + len(PKCS8_DIVIDER)] != PKCS8_DIVIDER:
            raise _bad_file(label, "pkcs8 divider", "other bytes", "the polkadot.js divider")
        public_stored = body[
            divider_at + len(PKCS8_DIVIDER) : divider_at + len(PKCS8_DIVIDER) + _PUBLIC_BYTES
        ]
        public_raw, secret_raw = sr25519.pair_from_seed(body[offset:divider_at])
        public, secret = bytes(public_raw), bytes(secret_raw)
    if public != public_stored or public != address_public:
        raise _bad_file(
            label, "public key", "one that differs from the secret key", "the secret key's public key"
        )
    address = data.get("address")
    fmt = ss58_format
    if fmt is None and isinstance(address, str):
        fmt = _ss58_format_of(address)
    return Keypair(
        public_key=public,
        private_key=secret,
        ss58_format=DEV_SS58_FORMAT if fmt is None else fmt,
        crypto_type=KeypairType.SR25519,
    )


def _ss58_format_of(address: str) -> int | None:
    try:
        return ss58_decode_with_prefix(address)[1]
    except (ScaleError, ValueError):
        return None


# --- the keystore directory -------------------------------------------------------------------------


def default_keystore_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$PHALA_AGENT_KEYSTORE`` or ``~/.local/share/phala-agents/keys``."""
    env = os.environ if environ is None else environ
    value = env.get(KEYSTORE_ENV)
    return Path(value).expanduser() if value else DEFAULT_KEYSTORE_DIR.expanduser()


def _check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise KeystoreError(
            f"key name: found {name[:80]!r}, wanted 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def _created(meta: object) -> datetime | None:
    if isinstance(meta, Mapping):
        when = meta.get("whenCreated")
        if isinstance(when, int) and not isinstance(when, bool) and when >= 0:
            with contextlib.suppress(OverflowError, ValueError, OSError):
                return datetime.fromtimestamp(when / 1000, tz=UTC)
    return None


class Keystore:
    """A directory of polkadot.js JSON key files, one per name."""

    def __init__(self, directory: Path | str | None = None, *, ss58_format: int = DEV_SS58_FORMAT) -> None:
        self._dir = Path(directory).expanduser() if directory is not None else default_keystore_dir()
        self._ss58_format = ss58_format

    @property
    def directory(self) -> Path:
        return self._dir

    def __repr__(self) -> str:
        return f"Keystore({str(self._dir)!r})"

    # -- writing --

    def new(self, name: str, password: str, *, words: int = 12) -> NewKey:
        """Generate a mnemonic, store its key encrypted, return the entry and the mnemonic."""
        _check_name(name)
        self._refuse_existing(name)
        if words not in (12, 15, 18, 21, 24):
            raise ValueError(f"words: found {words}, wanted 12, 15, 18, 21 or 24")
        mnemonic = Keypair.generate_mnemonic(words=words)
        keypair = Keypair.create_from_mnemonic(mnemonic, ss58_format=self._ss58_format)
        info = self._write(name, keypair, password)
        return NewKey(info=info, mnemonic=Secret(mnemonic))

    def import_mnemonic(self, name: str, mnemonic: str, password: str) -> KeyInfo:
        """Import a BIP-39 phrase, optionally followed by a derivation path (``words//hard/soft``)."""
        _check_name(name)
        self._refuse_existing(name)
        phrase = " ".join(mnemonic.split())
        words_part = phrase.split("/", 1)[0].strip()
        if not Keypair.validate_mnemonic(words_part):
            raise KeystoreError("mnemonic: found an invalid BIP-39 phrase, wanted 12-24 English words")
        try:
            keypair = (
                Keypair.create_from_uri(phrase, ss58_format=self._ss58_format)
                if "/" in phrase
                else Keypair.create_from_mnemonic(phrase, ss58_format=self._ss58_format)
            )
        except Exception:
            # Not chained and not quoted: the library's message may contain the phrase.
            raise KeystoreError(
                "mnemonic: found a phrase or path that does not derive, wanted a valid one"
            ) from None
        return self._write(name, keypair, password)

    def import_seed(self, name: str, seed: bytes, password: str) -> KeyInfo:
        """Import a raw 32-byte sr25519 mini secret (what ``0x...`` SURIs hold)."""
        _check_name(name)
        self._refuse_existing(name)
        if len(seed) != _SEED_BYTES:
            raise KeystoreError(f"seed: found {len(seed)} bytes, wanted {_SEED_BYTES}")
        keypair = Keypair.create_from_seed(seed, ss58_format=self._ss58_format)
        return self._write(name, keypair, password)

    def import_json(self, name: str, document: Mapping[str, object] | str | bytes, password: str) -> KeyInfo:
        """Import a polkadot.js JSON export; the file keeps its password and scrypt parameters."""
        _check_name(name)
        self._refuse_existing(name)
        data = self._parse_document(document, name)
        keypair = decode_keystore_json(data, password, label=name)  # proves the password and the address
        stored = dict(data)
        old_meta = data.get("meta")
        meta: dict[str, object] = dict(old_meta) if isinstance(old_meta, Mapping) else {}
        meta["name"] = name
        meta.setdefault("whenCreated", int(time.time() * 1000))
        stored["meta"] = meta
        stored["address"] = ss58_encode(bytes(keypair.public_key), self._ss58_format)
        return self._store(name, stored)

    # -- reading --

    def list(self) -> list[KeyInfo]:
        """Every readable entry, sorted by name; unreadable files are skipped with a warning."""
        if not self._dir.is_dir():
            return []
        out = []
        for path in sorted(self._dir.glob("*.json")):
            try:
                out.append(self._info(path))
            except KeystoreError as exc:
                log.warning("keystore_file_skipped", file=path.name, reason=str(exc))
        return out

    def get(self, name_or_address: str) -> KeyInfo:
        """The entry with this name or address (any SS58 prefix)."""
        path = self._find(name_or_address)
        return self._info(path)

    def load(self, name_or_address: str, password: str) -> Keypair:
        """Unlock an entry; a wrong password raises ``KeystoreError("wrong password for key X")``."""
        path = self._find(name_or_address)
        data = self._read(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("keystore_file_mode_too_open", file=path.name, mode=oct(mode))
        keypair = decode_keystore_json(data, password, label=path.stem, ss58_format=self._ss58_format)
        log.debug("keystore_key_unlocked", name=path.stem, address=keypair.ss58_address)
        return keypair

    def export_json(self, name_or_address: str) -> dict[str, object]:
        """The stored (encrypted) document, as polkadot.js apps imports it."""
        return dict(self._read(self._find(name_or_address)))

    # -- internals --

    def _refuse_existing(self, name: str) -> None:
        if (self._dir / f"{name}.json").exists():
            raise KeystoreError(f"key {name} already exists in {self._dir}")

    def _write(self, name: str, keypair: Keypair, password: str) -> KeyInfo:
        if not password:
            raise KeystoreError("password: found an empty one, wanted a non-empty password")
        document = encode_keystore_json(keypair, password, name=name, ss58_format=self._ss58_format)
        return self._store(name, document)

    def _store(self, name: str, document: Mapping[str, object]) -> KeyInfo:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._dir / f"{name}.json"
        tmp = self._dir / f".{name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            # link() fails if the name appeared meanwhile: never overwrite a key.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeystoreError(f"key {name} already exists in {self._dir}") from None
        finally:
            tmp.unlink(missing_ok=True)
        info = self._info(path)
        log.info("keystore_key_stored", name=name, address=info.address)
        return info

    def _parse_document(
        self, document: Mapping[str, object] | str | bytes, label: str
    ) -> Mapping[str, object]:
        if isinstance(document, Mapping):
            return document
        try:
            data = json.loads(document)
        except (ValueError, UnicodeDecodeError):
            raise KeystoreError(
                f"key {label}: found text that is not JSON, wanted a polkadot.js key file"
            ) from None
        if not isinstance(data, dict):
            raise KeystoreError(f"key {label}: found a JSON {type(data).__name__}, wanted an object")
        return data

    def _read(self, path: Path) -> Mapping[str, object]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeystoreError(f"key {path.stem}: cannot read {path}: {exc.strerror}") from None
        return self._parse_document(text, path.stem)

    def _info(self, path: Path) -> KeyInfo:
        data = self._read(path)
        _, public = _check_format(data, path.stem)
        encoding = data["encoding"]
        content = encoding.get("content") if isinstance(encoding, Mapping) else None
        crypto = str(content[1]) if isinstance(content, list) and len(content) > 1 else "?"
        return KeyInfo(
            name=path.stem,
            address=ss58_encode(public, self._ss58_format),
            public_key=public,
            crypto_type=crypto,
            created=_created(data.get("meta")),
            path=path,
        )

    def _paths(self) -> Iterator[Path]:
        if self._dir.is_dir():
            yield from sorted(self._dir.glob("*.json"))

    def _find(self, name_or_address: str) -> Path:
        if _NAME_RE.fullmatch(name_or_address):
            path = self._dir / f"{name_or_address}.json"
            if path.is_file():
                return path
        wanted: bytes | None = None
        with contextlib.suppress(ScaleError, ValueError):
            wanted = ss58_decode_with_prefix(name_or_address)[0]
        if wanted is not None:
            for path in self._paths():
                with contextlib.suppress(KeystoreError):
                    if self._info(path).public_key == wanted:
                        return path
        raise KeystoreError(f"no key named {name_or_address[:80]!r} in {self._dir}")


# --- signers -------------------------------------------------------------------------------------------


def _is_dev_uri(value: str) -> bool:
    """``//Alice``, ``//Bob//stash``: derivations of the well-known dev phrase."""
    return value.startswith("//") and _DEV_URI_RE.fullmatch(value) is not None


def resolve_signer(
    suri_or_name: str,
    *,
    keystore: Keystore | None = None,
    password: str | None = None,
    dev_chain: bool,
    ss58_format: int = DEV_SS58_FORMAT,
) -> Keypair:
    """A signing key pair: a dev URI (only when ``dev_chain``) or a keystore entry (name/address)."""
    if suri_or_name.startswith("/"):
        if not _is_dev_uri(suri_or_name):
            raise KeystoreError(
                "dev URI: found a malformed one, wanted //Name with optional /soft or //hard parts"
            )
        if not dev_chain:
            raise KeystoreError(
                "dev URI signers like //Alice are allowed only against a dev chain; use a keystore key"
            )
        return Keypair.create_from_uri(suri_or_name, ss58_format=ss58_format)
    if " " in suri_or_name.strip() or (suri_or_name.startswith("0x") and len(suri_or_name) >= 66):
        # Never echo it: it may be a mnemonic or a seed.
        raise KeystoreError(
            "signer: found secret material, wanted a key name or address;"
            " import secrets with `phala-agent keys import`"
        )
    store = keystore if keystore is not None else Keystore(ss58_format=ss58_format)
    if password is None:
        raise KeystoreError(f"a password is needed to unlock key {suri_or_name[:80]}")
    return store.load(suri_or_name, password)
