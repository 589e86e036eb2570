// A wallet's view of the AgentRegistry: unmodified @polkadot/api + @polkadot/keyring against the
// dev node. `node js/registry_polkadot.js ws://127.0.0.1:PORT < request.json` where the request
// holds the register arguments (the sealed prompt is made by the Python side: HPKE is not in
// polkadot.js). Signs `agentRegistry.register(...)` with //Bob, follows it to finalized, decodes
// its events and the stored AgentInfo, then has //Alice try to pause Bob's agent and decodes the
// module error. Prints one JSON document. Exit 0 ok, 1 error, 2 timeout.
"use strict";

const { ApiPromise, WsProvider } = require("@polkadot/api");
const { Keyring } = require("@polkadot/keyring");
const { cryptoWaitReady } = require("@polkadot/util-crypto");

const TIMEOUT_MS = 90000;

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => (data += chunk));
    process.stdin.on("end", () => resolve(data));
    process.stdin.on("error", reject);
  });
}

function follow(tx, signer) {
  return new Promise((resolve, reject) => {
    const statuses = [];
    let unsub = null;
    tx.signAndSend(signer, (res) => {
      statuses.push(res.status.type);
      if (res.status.isFinalized) {
        if (unsub) unsub();
        resolve({ res, statuses });
      }
      if (res.isError) reject(new Error(`status ${res.status.type}`));
    })
      .then((u) => {
        unsub = u;
      })
      .catch(reject);
  });
}

function moduleError(api, dispatchError) {
  if (!dispatchError) return null;
  if (dispatchError.isModule) {
    const meta = api.registry.findMetaError(dispatchError.asModule);
    return `${meta.section}.${meta.name}`;
  }
  return dispatchError.toString();
}

async function main() {
  const url = process.argv[2];
  const timer = setTimeout(() => {
    console.error("timeout");
    process.exit(2);
  }, TIMEOUT_MS);
  const request = JSON.parse(await readStdin());
  await cryptoWaitReady();
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true, throwOnConnect: true });
  const keyring = new Keyring({ type: "sr25519", ss58Format: api.registry.chainSS58 });
  const alice = keyring.addFromUri("//Alice");
  const bob = keyring.addFromUri("//Bob");
  const out = {};

  out.palletIndex = api.runtimeMetadata.asLatest.pallets
    .filter((p) => p.name.toString() === "AgentRegistry")
    .map((p) => p.index.toNumber())[0];
  out.constants = {
    maxNameLen: api.consts.agentRegistry.maxNameLen.toNumber(),
    maxSealedPromptLen: api.consts.agentRegistry.maxSealedPromptLen.toNumber(),
    depositBase: api.consts.agentRegistry.depositBase.toString(),
    depositPerByte: api.consts.agentRegistry.depositPerByte.toString(),
  };
  const clusterKey = (await api.query.workers.clusterKey()).toJSON();
  out.clusterKey = clusterKey;
  out.nextAgentIdBefore = (await api.query.agentRegistry.nextAgentId()).toNumber();
  out.registerArgs = api.tx.agentRegistry.register.meta.args.map((a) => a.name.toString());

  const a = request.args;
  const tx = api.tx.agentRegistry.register(
    a.expected_id,
    a.name,
    a.description,
    a.model,
    a.prompt,
    a.prompt_commitment,
    a.prices,
    a.defaults,
    a.access,
    a.allow,
    a.tools,
    a.code_hash,
  );
  out.bobReservedBefore = (await api.query.system.account(bob.address)).data.reserved.toString();
  const { res, statuses } = await follow(tx, bob);
  out.statuses = statuses;
  out.finalizedBlock = res.status.asFinalized.toHex();
  out.dispatchError = moduleError(api, res.dispatchError);
  out.events = res.events.map(({ event }) => ({
    name: `${event.section}.${event.method}`,
    data: event.data.toJSON(),
    fields: event.meta.fields.map((f) => (f.name.isSome ? f.name.unwrap().toString() : null)),
  }));
  const registered = res.events.find(({ event }) => api.events.agentRegistry.Registered.is(event));
  const agentId = registered ? registered.event.data[0].toNumber() : null;
  out.agentId = agentId;
  const stored = await api.query.agentRegistry.agents(agentId);
  out.isSome = stored.isSome;
  const info = stored.unwrap();
  out.agent = {
    owner: info.owner.toString(),
    name: info.name.toUtf8(),
    description: info.description.toUtf8(),
    model: info.model.toUtf8(),
    promptEpoch: info.prompt.epoch.toNumber(),
    promptEnc: info.prompt.enc.toHex(),
    promptCiphertext: info.prompt.ciphertext.toHex(),
    promptCommitment: info.promptCommitment.toHex(),
    prices: info.prices.toJSON(),
    defaults: info.defaults.toJSON(),
    access: info.access.type,
    status: info.status.type,
    version: info.version.toNumber(),
    tools: info.tools.toJSON(),
    codeHash: info.codeHash.isNone ? null : info.codeHash.unwrap().toHex(),
    deposit: info.deposit.toString(),
    createdAt: info.createdAt.toNumber(),
    encodedLength: info.encodedLength,
  };
  out.access = (await api.query.agentRegistry.access.entries(agentId)).map(([key]) => key.args[1].toString());
  out.byName = (await api.query.agentRegistry.agentByName(bob.address, a.name)).toJSON();
  out.bobReservedAfter = (await api.query.system.account(bob.address)).data.reserved.toString();
  out.nextAgentIdAfter = (await api.query.agentRegistry.nextAgentId()).toNumber();

  // A wallet user who is not the owner: the chain refuses, and polkadot.js decodes the error.
  const denied = await follow(api.tx.agentRegistry.pause(agentId), alice);
  out.nonOwnerPause = moduleError(api, denied.res.dispatchError);
  out.statusAfterDenied = (await api.query.agentRegistry.agents(agentId)).unwrap().status.type;

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
