"""The encrypted keystore: polkadot.js JSON format, wrong passwords, imports, dev URIs, no leaks."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from substrateinterface import Keypair

from phala_agents.client import keystore as ks_module
from phala_agents.client.keystore import (
    ENCODING_CONTENT,
    ENCODING_TYPE,
    PKCS8_DIVIDER,
    PKCS8_HEADER,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    Keystore,
    Secret,
    decode_keystore_json,
    default_keystore_dir,
    encode_keystore_json,
    resolve_signer,
)
from phala_agents.errors import KeystoreError

DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def store(keystore_dir: Path) -> Keystore:
    return Keystore(keystore_dir)


def test_json_layout_matches_polkadot_js(store: Keystore) -> None:
    info = store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    assert info.address == ALICE
    doc = json.loads(info.path.read_text())
    assert doc["encoding"] == {"content": list(ENCODING_CONTENT), "type": list(ENCODING_TYPE), "version": "3"}
    assert doc["address"] == ALICE
    assert doc["meta"]["name"] == "alice"
    assert isinstance(doc["meta"]["whenCreated"], int)
    raw = base64.b64decode(doc["encoded"])
    # salt(32) || N || p || r (u32 LE) || nonce(24) || secretbox(16 + 16 + 64 + 5 + 32)
    assert int.from_bytes(raw[32:36], "little") == SCRYPT_N == 32768
    assert int.from_bytes(raw[36:40], "little") == SCRYPT_P == 1
    assert int.from_bytes(raw[40:44], "little") == SCRYPT_R == 8
    assert len(raw) == 44 + 24 + 16 + len(PKCS8_HEADER) + 64 + len(PKCS8_DIVIDER) + 32


def test_file_and_directory_modes(store: Keystore) -> None:
    info = store.new("k1", PASSWORD).info
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert not [p for p in store.directory.iterdir() if p.name.startswith(".")]


def test_new_load_round_trip_and_mnemonic(store: Keystore) -> None:
    created = store.new("k1", PASSWORD)
    assert repr(created.mnemonic) == "Secret(********)"
    assert str(created.mnemonic) == "Secret(********)"
    phrase = created.mnemonic.reveal()
    assert len(phrase.split()) == 12
    pair = store.load("k1", PASSWORD)
    assert pair.ss58_address == created.info.address
    # The mnemonic reproduces the stored key (so it is a real backup).
    assert Keypair.create_from_mnemonic(phrase).private_key == pair.private_key
    signature = pair.sign(b"hello")
    assert Keypair(ss58_address=created.info.address).verify(b"hello", signature)


def test_load_by_address(store: Keystore) -> None:
    store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    assert store.load(ALICE, PASSWORD).ss58_address == ALICE
    # Another SS58 prefix for the same public key finds it too.
    polkadot_alice = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"
    assert store.get(polkadot_alice).name == "alice"


def test_wrong_password(store: Keystore) -> None:
    store.new("k1", PASSWORD)
    with pytest.raises(KeystoreError) as info:
        store.load("k1", "not the password")
    assert str(info.value) == "wrong password for key k1"


def test_unknown_key(store: Keystore) -> None:
    with pytest.raises(KeystoreError, match="no key named 'nope'"):
        store.load("nope", PASSWORD)
    with pytest.raises(KeystoreError, match="no key named"):
        store.get(BOB)


def test_refuses_duplicates_and_bad_names(store: Keystore) -> None:
    store.new("k1", PASSWORD)
    with pytest.raises(KeystoreError, match="key k1 already exists"):
        store.new("k1", PASSWORD)
    for bad in ("", "../evil", "a/b", "-x", "x" * 65, "//Alice", "has space"):
        with pytest.raises(KeystoreError, match="key name: found"):
            store.new(bad, PASSWORD)


def test_empty_password_refused(store: Keystore) -> None:
    with pytest.raises(KeystoreError, match="empty"):
        store.new("k1", "")


@pytest.mark.usefixtures("fresh_structlog")
def test_list(store: Keystore) -> None:
    assert store.list() == []
    store.import_mnemonic("bob", DEV_PHRASE + "//Bob", PASSWORD)
    store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    (store.directory / "broken.json").write_text("{not json")
    with capture_logs() as logs:
        entries = store.list()
    assert [(e.name, e.address, e.crypto_type) for e in entries] == [
        ("alice", ALICE, "sr25519"),
        ("bob", BOB, "sr25519"),
    ]
    assert all(e.created is not None for e in entries)
    assert [entry["file"] for entry in logs if entry["event"] == "keystore_file_skipped"] == ["broken.json"]


def test_import_mnemonic_validation(store: Keystore) -> None:
    with pytest.raises(KeystoreError) as info:
        store.import_mnemonic(
            "k", "bottom drive obey lake curtain smoke basket hold race lonely fit fit", PASSWORD
        )
    assert "bottom" not in str(info.value)
    info2 = store.import_mnemonic("k", "  " + DEV_PHRASE.replace(" ", "  \n") + " ", PASSWORD)
    assert info2.address == Keypair.create_from_mnemonic(DEV_PHRASE).ss58_address


def test_import_seed(store: Keystore) -> None:
    seed = bytes.fromhex(
        "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
    )  # //Alice mini secret
    assert store.import_seed("alice", seed, PASSWORD).address == ALICE
    with pytest.raises(KeystoreError, match="seed: found 31 bytes, wanted 32"):
        store.import_seed("short", seed[:31], PASSWORD)


def test_import_json_keeps_file_and_password(tmp_path: Path, store: Keystore) -> None:
    alice = Keypair.create_from_uri("//Alice")
    document = encode_keystore_json(alice, "their password", name="from-wallet")
    info = store.import_json("mine", json.dumps(document), "their password")
    assert info.address == ALICE
    assert store.load("mine", "their password").private_key == alice.private_key
    assert json.loads(info.path.read_text())["meta"]["name"] == "mine"
    with pytest.raises(KeystoreError, match="wrong password for key other"):
        store.import_json("other", document, "wrong")
    assert not (store.directory / "other.json").exists()


def test_import_json_substrate_interface_export(store: Keystore) -> None:
    """substrate-interface writes polkadot.js files too (N=2^15, p=1); ours reads them."""
    bob = Keypair.create_from_uri("//Bob")
    exported = bob.export_to_encrypted_json("pw", name="bob")
    assert store.import_json("bob", exported, "pw").address == BOB
    assert store.load("bob", "pw").private_key == bob.private_key


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["encoding"].update(version="2"), "encoding.version"),
        (lambda d: d["encoding"].update(content=["pkcs8", "ed25519"]), '"sr25519"'),
        (lambda d: d["encoding"].update(type=["none"]), "encrypted"),
        (lambda d: d.update(encoded="!!!"), "encoded"),
        (lambda d: d.update(address="5notanaddress"), "address"),
        (lambda d: d.update(address=BOB), "public key"),
    ],
    ids=["version", "ed25519", "unencrypted", "base64", "address", "other-address"],
)
def test_bad_documents(mutate: object, message: str) -> None:
    document = encode_keystore_json(Keypair.create_from_uri("//Alice"), PASSWORD, name="a")
    mutate(document)  # type: ignore[operator]
    with pytest.raises(KeystoreError, match=message):
        decode_keystore_json(document, PASSWORD)


def test_unlisted_scrypt_params_refused() -> None:
    document = encode_keystore_json(Keypair.create_from_uri("//Alice"), PASSWORD, name="a")
    raw = bytearray(base64.b64decode(str(document["encoded"])))
    raw[32:36] = (1 << 20).to_bytes(4, "little")
    document["encoded"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(KeystoreError, match="scrypt params: found N=1048576"):
        decode_keystore_json(document, PASSWORD)


def test_keystore_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_keystore_dir({}) == Path("~/.local/share/phala-agents/keys").expanduser()
    assert default_keystore_dir({"PHALA_AGENT_KEYSTORE": str(tmp_path)}) == tmp_path
    monkeypatch.setenv("PHALA_AGENT_KEYSTORE", str(tmp_path / "x"))
    assert Keystore().directory == tmp_path / "x"


def test_dev_uris_only_on_dev_chains(store: Keystore) -> None:
    assert ks_module._is_dev_uri("//Bob//stash") and not ks_module._is_dev_uri("//Alice///pw")
    assert resolve_signer("//Alice", dev_chain=True).ss58_address == ALICE
    with pytest.raises(KeystoreError, match="only against a dev chain"):
        resolve_signer("//Alice", dev_chain=False)
    with pytest.raises(KeystoreError, match="malformed"):
        resolve_signer("//Alice///password", dev_chain=True)
    # Keystore entries are never dev URIs, and vice versa.
    store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    assert resolve_signer("alice", keystore=store, password=PASSWORD, dev_chain=False).ss58_address == ALICE
    assert resolve_signer(ALICE, keystore=store, password=PASSWORD, dev_chain=False).ss58_address == ALICE
    with pytest.raises(KeystoreError, match="password is needed"):
        resolve_signer("alice", keystore=store, dev_chain=False)


@pytest.mark.parametrize("secret", [DEV_PHRASE, "0x" + "ab" * 32])
def test_signer_refuses_secret_material_without_echoing(secret: str) -> None:
    with pytest.raises(KeystoreError) as info:
        resolve_signer(secret, dev_chain=True)
    assert secret not in str(info.value)
    assert "drive" not in str(info.value) and "abab" not in str(info.value)


@pytest.mark.usefixtures("fresh_structlog")
def test_no_secret_in_logs_reprs_or_errors(store: Keystore) -> None:
    with capture_logs() as logs:
        created = store.new("k1", PASSWORD)
        store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
        pair = store.load("k1", PASSWORD)
        with pytest.raises(KeystoreError) as wrong:
            store.load("alice", "bad-" + PASSWORD)
        store.list()
    assert pair.private_key is not None
    forbidden = [
        PASSWORD,
        created.mnemonic.reveal(),
        DEV_PHRASE,
        pair.private_key.hex(),
        Keypair.create_from_uri("//Alice").private_key.hex(),
    ]
    text = " ".join(
        [repr(logs), repr(created), repr(store.get("k1")), repr(store), str(wrong.value), repr(wrong.value)]
    )
    assert {entry["event"] for entry in logs} >= {"keystore_key_stored", "keystore_key_unlocked"}
    for needle in forbidden:
        assert needle not in text


def test_secret_holder() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"


def test_module_constants_match_polkadot_js() -> None:
    # @polkadot/keyring pair/defaults.js (generations 1-3).
    assert list(PKCS8_HEADER) == [48, 83, 2, 1, 1, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32]
    assert list(PKCS8_DIVIDER) == [161, 35, 3, 33, 0]
    assert (SCRYPT_N, SCRYPT_P, SCRYPT_R) in ks_module.ALLOWED_SCRYPT_PARAMS


def test_reads_seed_form_body() -> None:
    """Generation 1-2 bodies hold the 32-byte seed where generation 3 has the 64-byte secret."""
    import nacl.secret

    seed = bytes.fromhex("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a")  # //Alice
    alice = Keypair.create_from_uri("//Alice")
    body = PKCS8_HEADER + seed + PKCS8_DIVIDER + alice.public_key
    salt, nonce = bytes(range(32)), bytes(24)
    derived = ks_module._scrypt(PASSWORD, salt, SCRYPT_N, SCRYPT_P, SCRYPT_R)
    boxed = nacl.secret.SecretBox(derived[:32]).encrypt(body, nonce).ciphertext
    prefix = salt + b"".join(v.to_bytes(4, "little") for v in (SCRYPT_N, SCRYPT_P, SCRYPT_R))
    document = encode_keystore_json(alice, PASSWORD, name="a")
    document["encoded"] = base64.b64encode(prefix + nonce + boxed).decode()
    pair = decode_keystore_json(document, PASSWORD)
    assert pair.ss58_address == ALICE
    assert pair.private_key == alice.private_key
