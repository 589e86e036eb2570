"""polkadot.js reads the key files we write, and we read the ones it writes (@polkadot/keyring 14)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from substrateinterface import Keypair

from phala_agents.client.keystore import Keystore

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "js" / "keystore_polkadot.js"
DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
PASSWORD = "pässwörd with spaces"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "js" / "node_modules" / "@polkadot" / "keyring").is_dir(),
    reason="node or js/node_modules missing (run `make setup`)",
)


def polkadot_js(request: dict[str, object]) -> dict[str, object]:
    # subprocess.run waits for the process and kills it on timeout: nothing outlives the test.
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO / "js",
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_polkadot_js_decodes_our_file_and_signs(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    created = store.new("fresh", PASSWORD)
    store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    for name, address in (("fresh", created.info.address), ("alice", ALICE)):
        message = b"phala-agents keystore conformance"
        answer = polkadot_js(
            {
                "op": "decode",
                "json": store.export_json(name),
                "password": PASSWORD,
                "message": "0x" + message.hex(),
            }
        )
        assert answer["address"] == address
        ours = store.load(name, PASSWORD)
        assert answer["public_key"] == "0x" + ours.public_key.hex()
        signature = bytes.fromhex(str(answer["signature"])[2:])
        assert Keypair(ss58_address=address).verify(message, signature)
        # And the reverse: polkadot.js verifies nothing here, but our signature is valid for our key.
        assert Keypair(ss58_address=address).verify(message, ours.sign(message))


def test_polkadot_js_rejects_wrong_password_for_our_file(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.new("k", PASSWORD)
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(
            {"op": "decode", "json": store.export_json("k"), "password": "nope", "message": "0x00"}
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO / "js",
    )
    assert done.returncode == 1
    assert "Unable to decode" in done.stderr


@pytest.mark.parametrize(
    ("suri", "address"), [("//Bob", BOB), (DEV_PHRASE + "//Alice", ALICE)], ids=["dev-uri", "phrase-path"]
)
def test_we_import_polkadot_js_file(tmp_path: Path, suri: str, address: str) -> None:
    answer = polkadot_js({"op": "encode", "suri": suri, "password": PASSWORD, "name": "from-js"})
    assert answer["address"] == address
    document = answer["json"]
    assert isinstance(document, dict)
    assert document["encoding"]["type"] == ["scrypt", "xsalsa20-poly1305"]
    store = Keystore(tmp_path)
    info = store.import_json("imported", document, PASSWORD)
    assert info.address == address
    pair = store.load("imported", PASSWORD)
    assert pair.ss58_address == address
    # The secret key is the same one substrate-interface derives from the SURI.
    assert pair.private_key == Keypair.create_from_uri(suri).private_key
    assert Keypair(ss58_address=address).verify(b"m", pair.sign(b"m"))
