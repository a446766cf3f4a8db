// End-to-end: replay recorded OpenAI traffic (the shared corpus's go-vcr cassettes) through
// sluice. The provider simulator serves each cassette's recorded response when the request
// sluice forwards matches the recording (method, path, JSON body); the client must receive
// the recorded status, content type and body byte for byte.
// Reads ../shared/corpus/openai-cassettes in place; skips when it or the sluice binary is absent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { CASSETTES_DIR, corpusSkipReason, sluiceSkipReason } from './lib/env.mjs';
import { SIM_API_KEY, startStack } from './lib/harness.mjs';
import { rawPost } from './lib/http.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';

const IN_SCOPE_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

function loadCassettes() {
  if (!fs.existsSync(CASSETTES_DIR)) return [];
  return fs.readdirSync(CASSETTES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.yaml'.length);
      const doc = YAML.parse(fs.readFileSync(path.join(CASSETTES_DIR, f), 'utf8'));
      const it = doc.interactions[0];
      const url = new URL(it.request.url);
      let model = null;
      try {
        model = JSON.parse(it.request.body).model ?? null;
      } catch { /* multipart placeholder */ }
      return { name, version: doc.version, request: it.request, response: it.response, path: url.pathname, host: url.host, model };
    });
}

function outOfScopeReason(c) {
  if (c.version !== 2) return `cassette format version ${c.version} is not supported (expected 2)`;
  if (!IN_SCOPE_PATHS.has(c.path)) {
    if (c.path.startsWith('/openai/deployments/')) return `Azure OpenAI deployment path ${c.path} is out of scope for the OpenAI passthrough replay`;
    return `endpoint ${c.path} (audio, images) is out of scope for the OpenAI passthrough replay`;
  }
  if (typeof c.model !== 'string') return 'recorded request body has no model';
  return false;
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function assertSameBytes(actual, expected, what) {
  if (actual.equals(expected)) return;
  const at = firstDifference(actual, expected);
  assert.fail(`${what} differs from the recording at byte ${at} (got ${actual.length} bytes, recorded ${expected.length}):\n` +
    `  got:      ${JSON.stringify(actual.subarray(Math.max(0, at - 40), at + 80).toString('utf8'))}\n` +
    `  recorded: ${JSON.stringify(expected.subarray(Math.max(0, at - 40), at + 80).toString('utf8'))}`);
}

const cassettes = loadCassettes();
const inScope = cassettes.filter((c) => !outOfScopeReason(c));
const skip = corpusSkipReason(CASSETTES_DIR, 'cassette replay tests') || sluiceSkipReason();

describe('cassette replay through sluice (OpenAI → OpenAI passthrough)', { skip }, () => {
  let stack;
  before(async () => {
    // One Exact rule per recorded model (including the deliberately wrong ones), all to the sim.
    const models = [...new Set(inScope.map((c) => c.model))].sort();
    stack = await startStack({ rules: models.map((model) => ({ model })), simOpts: { cassettesDir: CASSETTES_DIR } });
  });
  after(async () => {
    await stack?.close();
  });

  test('the corpus has in-scope cassettes', () => {
    assert.ok(inScope.length > 0, `no chat/completions/embeddings cassettes found in ${CASSETTES_DIR}`);
  });

  for (const c of cassettes) {
    const reason = outOfScopeReason(c);
    if (reason) {
      test(`${c.name}`, { skip: reason }, () => {});
      continue;
    }
    test(`${c.name}: ${c.request.method} ${c.path} (${c.model}) → ${c.response.code}`, withGatewayLogs(() => stack?.gw, async () => {
      const from = stack.sim.requests.length;
      const r = await rawPost(`${stack.gw.url}${c.path}`, c.request.body, {
        'content-type': 'application/json',
        'x-cassette-name': c.name,
      });
      const seen = stack.sim.requests.slice(from);
      if (r.status === 409) {
        assert.fail(`the simulator rejected what sluice forwarded (409): ${r.text}`);
      }
      assert.equal(r.status, c.response.code, `status (body: ${r.text.slice(0, 300)})`);
      const recordedType = c.response.headers?.['Content-Type']?.[0];
      assert.equal(r.headers.get('content-type'), recordedType, 'content-type');
      assertSameBytes(r.body, Buffer.from(c.response.body ?? '', 'utf8'), 'response body');

      // What sluice sent upstream: one request, same method and path, backend key, same body bytes.
      assert.equal(seen.length, 1, `expected one upstream request, got ${seen.length}`);
      assert.equal(seen[0].method, c.request.method);
      assert.equal(seen[0].path, c.path);
      assert.equal(seen[0].headers.authorization, `Bearer ${SIM_API_KEY}`);
      assert.equal(seen[0].body, c.request.body, 'upstream request body is not byte-identical to the client body');
    }));
  }

  const withRequestId = inScope.find((c) => c.name === 'chat-basic' && c.response.headers?.['X-Request-Id']);
  test('provider response headers (x-request-id, openai-processing-ms) reach the client',
    { skip: withRequestId ? false : 'chat-basic cassette with X-Request-Id not found' },
    withGatewayLogs(() => stack?.gw, async () => {
      const c = withRequestId;
      const r = await rawPost(`${stack.gw.url}${c.path}`, c.request.body, { 'x-cassette-name': c.name });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-request-id'), c.response.headers['X-Request-Id'][0]);
      const ms = c.response.headers['Openai-Processing-Ms']?.[0];
      if (ms !== undefined) assert.equal(r.headers.get('openai-processing-ms'), ms);
    }));
});
