// End-to-end: `sluice run FILE` reloads a changed file while serving. Under continuous load
// the config is replaced with a new valid one, then an invalid one, then the original: no
// request fails, the new model appears and disappears, and the invalid file changes nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sluiceSkipReason } from './lib/env.mjs';
import { gatewayResources, writeResourceFile } from './lib/resources.mjs';
import { startProviderSim, SIM_API_KEY } from './lib/harness.mjs';
import { startSluice, withGatewayLogs } from './lib/sluice.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('hot reload of the resource file', { skip: sluiceSkipReason() }, () => {
  let sim, gw, res;
  before(async () => {
    sim = await startProviderSim({ apiKey: SIM_API_KEY });
    res = writeResourceFile(gatewayResources({ simPort: sim.port, rules: [{ model: 'gpt-sim' }] }));
    gw = await startSluice({ resourceFile: res.file });
  });
  after(async () => {
    await gw?.stop();
    await sim?.close();
    res?.cleanup();
  });

  async function models() {
    const r = await fetch(`${gw.baseURL}/models`);
    assert.equal(r.status, 200);
    return (await r.json()).data.map((m) => m.id).sort();
  }
  async function waitModels(expected, what) {
    const deadline = Date.now() + 10000;
    let got;
    while (Date.now() < deadline) {
      got = await models();
      if (JSON.stringify(got) === JSON.stringify(expected)) return;
      await sleep(100);
    }
    assert.fail(`${what}: models stayed ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
  }
  // Atomic replacement, as editors and Kubernetes do it (write aside, rename over).
  function replace(text) {
    const tmp = path.join(res.dir, '.next.yaml');
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, res.file);
  }

  test('valid -> invalid -> original under load, no failed request', withGatewayLogs(() => gw, async () => {
    const original = fs.readFileSync(res.file, 'utf8');
    let stop = false;
    let sent = 0;
    const failures = [];
    const load = (async () => {
      while (!stop) {
        const r = await fetch(`${gw.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-sim', messages: [{ role: 'user', content: `n${sent}` }] }),
        });
        const body = await r.text();
        if (r.status !== 200) failures.push(`${r.status} ${body}`);
        sent++;
      }
    })();

    assert.deepEqual(await models(), ['gpt-sim']);
    replace(gatewayResources({ simPort: sim.port, rules: [{ model: 'gpt-sim' }, { model: 'gpt-new' }] }));
    await waitModels(['gpt-new', 'gpt-sim'], 'after a valid change');

    replace(original.replace('kind: AIGatewayRoute', 'kind: AIGatewayRoute\nbogus: [unclosed'));
    await sleep(1500);
    assert.deepEqual(await models(), ['gpt-new', 'gpt-sim'], 'an invalid file must not change the config');

    replace(original);
    await waitModels(['gpt-sim'], 'after restoring the original');

    stop = true;
    await load;
    assert.ok(sent > 20, `too few requests during the test (${sent})`);
    assert.deepEqual(failures, [], 'requests failed during reloads');
    assert.match(gw.stderr, /reload rejected/);
  }));
});
