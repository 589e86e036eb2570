// Billing conformance helper: @polkadot/types encodes our CallAuthorization/Receipt type
// definitions, @polkadot/keyring signs the authorization message the way a wallet's signRaw does
// (u8aWrapBytes), and verifies signatures made by our Python helpers.
// Reads one JSON request on stdin, writes one JSON answer on stdout:
//   {"authorization": {...json values...}, "receipt": {...}, "domain": "0x...",
//    "python_signature": "0x...", "suri": "//Alice"}
//   -> {"authorization_scale", "receipt_scale", "wrapped", "signature", "python_signature_ok", "public_key"}
'use strict';

const { Keyring } = require('@polkadot/keyring');
const { TypeRegistry } = require('@polkadot/types');
const { cryptoWaitReady, signatureVerify } = require('@polkadot/util-crypto');
const { u8aToHex, hexToU8a, u8aConcat, u8aWrapBytes } = require('@polkadot/util');

const TYPES = {
  CallAuthorization: {
    genesis: 'H256',
    agent_id: 'u64',
    agent_version: 'u32',
    worker: 'AccountId32',
    caller: 'AccountId32',
    nonce: 'u64',
    max_charge: 'u128',
    expires_at_block: 'u32',
    request_hash: 'H256',
    parent: 'Option<H256>',
  },
  BillingUsage: { input_tokens: 'u32', output_tokens: 'u32', estimated: 'bool' },
  BillingReceipt: {
    authorization: 'CallAuthorization',
    caller_signature: '[u8; 64]',
    usage: 'BillingUsage',
    charge: 'u128',
    response_hash: 'H256',
    children: 'Vec<H256>',
  },
};

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  const request = await readStdin();
  await cryptoWaitReady();
  const registry = new TypeRegistry();
  registry.register(TYPES);
  const auth = registry.createType('CallAuthorization', request.authorization).toU8a();
  const receipt = registry.createType('BillingReceipt', request.receipt).toU8a();
  const unwrapped = u8aConcat(hexToU8a(request.domain), auth);
  const wrapped = u8aWrapBytes(unwrapped); // what signRaw signs; a no-op on already wrapped bytes
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const pair = keyring.addFromUri(request.suri);
  const signature = pair.sign(wrapped);
  const check = signatureVerify(wrapped, hexToU8a(request.python_signature), pair.publicKey);
  return {
    authorization_scale: u8aToHex(auth),
    receipt_scale: u8aToHex(receipt),
    wrapped: u8aToHex(wrapped),
    signature: u8aToHex(signature),
    python_signature_ok: check.isValid,
    public_key: u8aToHex(pair.publicKey),
  };
}

main().then(
  (answer) => process.stdout.write(JSON.stringify(answer)),
  (err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err));
    process.exit(1);
  },
);
