// End-to-end: `sluice run` with no file configures itself from the environment, as `aigw run`
// does, and with nothing configured still starts and says how to configure it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { after, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceBinary, sluiceSkipReason } from './lib/env.mjs';
import { startProviderSim, SIM_API_KEY } from './lib/harness.mjs';
import { startVertexSim } from '../tools/provider_sims/vertex.mjs';

/** Starts `sluice run --port 0` with exactly `env` (plus PATH); resolves {port, stdout, stop}. */
function startWithEnv(env) {
  const proc = spawn(sluiceBinary(), ['run', '--address', '127.0.0.1', '--port', '0'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c) => { stdout += c; });
  proc.stderr.on('data', (c) => { stderr += c; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line\n${stdout}\n${stderr}`)), 15000);
    proc.once('exit', (code) => reject(new Error(`exited ${code}\n${stdout}\n${stderr}`)));
    const check = () => {
      const m = /listening on http:\/\/[^\s:]+:(\d+)/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      // Give the rest of the startup lines a moment to arrive.
      setTimeout(() => resolve({
        port: Number(m[1]),
        get stdout() { return stdout; },
        get stderr() { return stderr; },
        stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGTERM'); }),
      }), 100);
    };
    proc.stdout.on('data', check);
  });
}

describe('embedded default (no resource file)', { skip: sluiceSkipReason() }, () => {
  const cleanups = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('nothing configured: starts, serves health, says how to configure', async () => {
    const gw = await startWithEnv({});
    cleanups.push(gw.stop);
    assert.match(gw.stdout, /nothing is configured/);
    assert.match(gw.stdout, /OPENAI_API_KEY/);
    const h = await fetch(`http://127.0.0.1:${gw.port}/health`);
    assert.equal(h.status, 200);
    const r = await fetch(`http://127.0.0.1:${gw.port}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.code, 'model_not_found');
  });

  test('OPENAI_API_KEY + OPENAI_BASE_URL: any model goes to that server with that key', async () => {
    const sim = await startProviderSim({ apiKey: SIM_API_KEY });
    cleanups.push(() => sim.close());
    const gw = await startWithEnv({ OPENAI_API_KEY: SIM_API_KEY, OPENAI_BASE_URL: `http://127.0.0.1:${sim.port}/v1`,
                                    OPENAI_PROJECT_ID: 'proj_e2e' });
    cleanups.push(gw.stop);
    assert.match(gw.stdout, /OpenAI at http:\/\/127\.0\.0\.1/);
    assert.doesNotMatch(gw.stdout + gw.stderr, new RegExp(SIM_API_KEY), 'the key must not be printed');
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'whatever-model', messages: [{ role: 'user', content: 'ping' }] });
    assert.match(c.choices[0].message.content, /ping/);
    const seen = sim.requests.at(-1);
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, `Bearer ${SIM_API_KEY}`);
    assert.equal(seen.headers['openai-project'], 'proj_e2e');
  });

  // On GKE with Workload Identity (or with gcloud's login) there is no key file: the project
  // turns Vertex on, and the gateway takes its tokens from Application Default Credentials.
  test('GOOGLE_CLOUD_PROJECT without a key file: Gemini models go to Vertex with the metadata server\'s token', async () => {
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sim = await startVertexSim({ publicKey, clientEmail: 'unused@p.iam.gserviceaccount.com', project: 'adc-proj', region: 'europe-west4' });
    cleanups.push(() => sim.close());
    const gw = await startWithEnv({
      GOOGLE_CLOUD_PROJECT: 'adc-proj', GOOGLE_CLOUD_LOCATION: 'europe-west4', VERTEX_BASE_URL: sim.url,
      GCE_METADATA_HOST: `127.0.0.1:${sim.port}`, HOME: '/nonexistent-home',
    });
    cleanups.push(gw.stop);
    assert.match(gw.stdout, /GCP Vertex AI \(project adc-proj, europe-west4, Application Default Credentials\)/);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hello vertex' }] });
    const rec = sim.requests.find((r) => r.kind === 'google:generateContent');
    assert.ok(rec, 'no model call reached the simulator');
    assert.equal(rec.tokenSource, 'metadata');
    assert.deepEqual(rec.problems, []);
    assert.equal(rec.path, '/v1/projects/adc-proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent');
    assert.equal(c.choices[0].message.content, rec.answer.text);
  });
});
