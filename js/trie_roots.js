// Substrate's own trie code (smoldot, in @acala-network/chopsticks-executor's wasm) as an oracle for
// tests/conformance/test_trie_chopsticks_executor.py. One request per stdin line, one JSON answer
// per stdout line, so one process serves a whole test module.
//   {"op": "root", "entries": [[keyHex, valueHex], ...], "version": 0 | 1} -> {"root": hex}
//   {"op": "decode_proof", "root": hex, "nodes": [hex, ...]}             -> {"entries": [[k, v], ...]}
//   {"op": "create_proof", "nodes": [hex, ...], "updates": [[k, v | null], ...]}
//                                                                         -> {"root": hex, "nodes": [hex, ...]}
// A failure answers {"error": message}.
'use strict';

const readline = require('node:readline');
const executor = require('@acala-network/chopsticks-executor');

async function handle(request) {
  switch (request.op) {
    case 'root':
      return { root: await executor.calculate_state_root(request.entries, request.version) };
    case 'decode_proof':
      return { entries: await executor.decode_proof(request.root, request.nodes) };
    case 'create_proof': {
      const [root, nodes] = await executor.create_proof(request.nodes, request.updates);
      return { root, nodes };
    }
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = await handle(JSON.parse(line));
    } catch (error) {
      answer = { error: String(error && error.message ? error.message : error) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`trie_roots.js: ${error}\n`);
  process.exit(1);
});
