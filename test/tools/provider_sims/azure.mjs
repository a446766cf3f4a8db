#!/usr/bin/env node
// azure.mjs: TEST TOOL. A fake Azure OpenAI (deployment-style API) for sluice's end-to-end
// tests: POST /openai/deployments/{deployment}/chat/completions?api-version=V and
// .../embeddings, `api-key: <key>` required, no Authorization header allowed. The simulator is
// the 'azure' flavour of openai_compat.mjs (see there for the checks and the answers).
//
//   import { startAzureSim } from '../tools/provider_sims/azure.mjs';
//   const sim = await startAzureSim({ apiKey: 'azure-sim-key', apiVersion: '2024-10-21' });
//
// CLI: node test/tools/provider_sims/azure.mjs [--port N] [--api-key K] [--api-version V]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAzureSim } from './openai_compat.mjs';

export { startAzureSim };

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const sim = await startAzureSim({
    apiKey: opt('--api-key', 'azure-sim-key'),
    apiVersion: opt('--api-version', '2024-10-21'),
    port: Number(opt('--port', 0)),
  });
  console.log(`azure-sim listening on 127.0.0.1:${sim.port}`);
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
