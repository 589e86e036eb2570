// Drives the dev node with unmodified @polkadot/api + @polkadot/keyring and prints one JSON
// document on stdout: `node js/node_polkadot.js ws://127.0.0.1:PORT`.
// Connect, read metadata and constants, sign and send a transfer from //Alice, follow it to
// finalized, decode its events, subscribe to new heads. Exit 0 on success, 1 on error, 2 on timeout.
"use strict";

const { ApiPromise, WsProvider } = require("@polkadot/api");
const { Keyring } = require("@polkadot/keyring");
const { cryptoWaitReady } = require("@polkadot/util-crypto");

const TIMEOUT_MS = 90000;

async function main() {
  const url = process.argv[2];
  const timer = setTimeout(() => {
    console.error("timeout");
    process.exit(2);
  }, TIMEOUT_MS);
  await cryptoWaitReady();
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true, throwOnConnect: true });
  const out = {};
  out.chain = (await api.rpc.system.chain()).toString();
  out.nodeName = (await api.rpc.system.name()).toString();
  out.specName = api.runtimeVersion.specName.toString();
  out.specVersion = api.runtimeVersion.specVersion.toNumber();
  out.metadataVersion = api.runtimeMetadata.version;
  out.pallets = api.runtimeMetadata.asLatest.pallets.map((p) => [p.name.toString(), p.index.toNumber()]);
  out.signedExtensions = api.registry.signedExtensions;
  out.ss58Format = api.registry.chainSS58;
  out.tokenSymbol = api.registry.chainTokens;
  out.tokenDecimals = api.registry.chainDecimals;
  out.existentialDeposit = api.consts.balances.existentialDeposit.toString();
  out.genesisHash = api.genesisHash.toHex();

  const keyring = new Keyring({ type: "sr25519", ss58Format: out.ss58Format });
  const alice = keyring.addFromUri("//Alice");
  const bob = keyring.addFromUri("//Bob");
  const bobBefore = (await api.query.system.account(bob.address)).data.free.toBigInt();

  const heads = [];
  const unsubHeads = await api.rpc.chain.subscribeNewHeads((header) => {
    heads.push(header.number.toNumber());
  });

  const amount = 10n ** 12n;
  const tx = api.tx.balances.transferKeepAlive(bob.address, amount);
  const info = await tx.paymentInfo(alice);
  out.partialFee = info.partialFee.toString();

  const statuses = [];
  const result = await new Promise((resolve, reject) => {
    let unsub = null;
    tx.signAndSend(alice, (res) => {
      statuses.push(res.status.type);
      if (res.dispatchError) {
        reject(new Error(`dispatch error: ${res.dispatchError.toString()}`));
      }
      if (res.status.isFinalized) {
        if (unsub) unsub();
        resolve(res);
      }
    })
      .then((u) => {
        unsub = u;
      })
      .catch(reject);
  });
  out.statuses = statuses;
  out.finalizedBlock = result.status.asFinalized.toHex();
  out.events = result.events.map(({ event }) => ({
    name: `${event.section}.${event.method}`,
    data: event.data.toJSON(),
  }));
  const block = await api.rpc.chain.getBlock(out.finalizedBlock);
  out.blockNumber = block.block.header.number.toNumber();
  out.blockExtrinsics = block.block.extrinsics.map((x) => `${x.method.section}.${x.method.method}`);
  out.finalizedHead = (await api.rpc.chain.getFinalizedHead()).toHex();
  const bobAfter = (await api.query.system.account(bob.address)).data.free.toBigInt();
  out.bobDelta = (bobAfter - bobBefore).toString();
  out.aliceNonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
  out.accountEntries = (await api.query.system.account.entries()).length;
  out.timestampNow = (await api.query.timestamp.now()).toNumber();

  // one more block so the head subscription sees a change
  await new Promise((resolve, reject) => {
    api.tx.system
      .remark("0x1234")
      .signAndSend(alice, (res) => {
        if (res.status.isInBlock) resolve();
      })
      .catch(reject);
  });
  const deadline = Date.now() + 10000;
  while (heads.length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  unsubHeads();
  out.heads = heads;
  console.log(JSON.stringify(out));
  clearTimeout(timer);
  await api.disconnect();
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  });
