// Offline wallet check of the Python runtime: @polkadot/types + @polkadot/keyring sign v4
// transfers from the runtime's own metadata (no node, no network) and print one JSON document.
//   node js/runtime_sign_offline.js accounts
//   node js/runtime_sign_offline.js sign METADATA_HEX_FILE GENESIS_HASH BIRTH_HASH BIRTH_NUMBER SPEC TX DEST
"use strict";

const fs = require("fs");
const { TypeRegistry, Metadata } = require("@polkadot/types");
const { Keyring } = require("@polkadot/keyring");
const { cryptoWaitReady, blake2AsHex } = require("@polkadot/util-crypto");
const { u8aToHex } = require("@polkadot/util");

function pairs() {
  return {
    sr25519: new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Alice"),
    ed25519: new Keyring({ type: "ed25519", ss58Format: 42 }).addFromUri("//Alice"),
    ecdsa: new Keyring({ type: "ecdsa", ss58Format: 42 }).addFromUri("//Alice"),
  };
}

function accountId(pair) {
  // MultiSigner::Ecdsa -> blake2_256(compressed public key); the others are the public key.
  return pair.type === "ecdsa" ? blake2AsHex(pair.publicKey, 256) : u8aToHex(pair.publicKey);
}

async function main() {
  await cryptoWaitReady();
  const mode = process.argv[2];
  const ps = pairs();
  if (mode === "accounts") {
    const out = {};
    for (const [k, p] of Object.entries(ps)) out[k] = accountId(p);
    console.log(JSON.stringify(out));
    return;
  }
  const [file, genesisHash, birthHash, birthNumber, spec, tx, dest] = process.argv.slice(3);
  const registry = new TypeRegistry();
  const metadata = new Metadata(registry, fs.readFileSync(file, "utf8").trim());
  registry.setMetadata(metadata);
  const runtimeVersion = { specVersion: Number(spec), transactionVersion: Number(tx) };
  const out = { extensions: registry.signedExtensions, extrinsics: {} };
  for (const [kind, pair] of Object.entries(ps)) {
    for (const mortal of [false, true]) {
      const call = registry.createType("Call", {
        args: { dest: { Id: dest }, value: 1000000000000 },
        callIndex: [2, 3], // Balances.transfer_keep_alive
      });
      const xt = registry.createType("Extrinsic", { method: call }, { version: 4 });
      const era = mortal
        ? registry.createType("ExtrinsicEra", { current: Number(birthNumber), period: 64 })
        : registry.createType("ExtrinsicEra", "0x00");
      xt.sign(pair, {
        blockHash: mortal ? birthHash : genesisHash,
        genesisHash,
        era,
        nonce: mortal ? 1 : 0,
        tip: mortal ? 5 : 0,
        runtimeVersion,
        signedExtensions: registry.signedExtensions,
      });
      out.extrinsics[`${kind}-${mortal ? "mortal" : "immortal"}`] = xt.toHex();
    }
  }
  const events = process.argv[10];
  if (events) {
    const decoded = registry.createType("Vec<FrameSystemEventRecord>", events);
    out.events = decoded.map((r) => `${r.event.section}.${r.event.method}`);
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
