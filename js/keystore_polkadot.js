// Keystore conformance helper: @polkadot/keyring decodes our JSON key files and writes its own.
// Reads one JSON request on stdin, writes one JSON answer on stdout (secrets never on argv).
//   {"op": "decode", "json": {...}, "password": "...", "message": "0x..."}
//     -> {"address", "public_key", "signature"}   (sr25519 signature of message, hex)
//   {"op": "encode", "suri": "//Alice" | "<mnemonic>", "password": "...", "name": "..."}
//     -> {"json": <pair.toJson(password)>, "address"}
'use strict';

const { Keyring } = require('@polkadot/keyring');
const { cryptoWaitReady } = require('@polkadot/util-crypto');
const { u8aToHex, hexToU8a } = require('@polkadot/util');

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  const request = await readStdin();
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  if (request.op === 'decode') {
    const pair = keyring.addFromJson(request.json);
    pair.decodePkcs8(request.password);
    const signature = pair.sign(hexToU8a(request.message));
    return { address: pair.address, public_key: u8aToHex(pair.publicKey), signature: u8aToHex(signature) };
  }
  if (request.op === 'encode') {
    const pair = keyring.addFromUri(request.suri, { name: request.name });
    return { json: pair.toJson(request.password), address: pair.address };
  }
  throw new Error(`unknown op ${request.op}`);
}

main().then(
  (answer) => {
    process.stdout.write(JSON.stringify(answer) + '\n');
    process.exit(0);
  },
  (err) => {
    // The message only: never the request, which holds a password.
    process.stderr.write(`error: ${err && err.message}\n`);
    process.exit(1);
  },
);
