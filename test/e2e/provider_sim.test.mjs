// Self-test of the provider simulator (test/tools/provider_sim.mjs), without sluice.
// It keeps the tool honest, so gateway test failures can be blamed on the gateway.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import YAML from 'yaml';
import { startProviderSim, splitSseAtEvents } from '../tools/provider_sim.mjs';
import { CASSETTES_DIR, REPO_ROOT, corpusSkipReason } from './lib/env.mjs';
import { assertOpenAIErrorShape, parseJsonBody, rawPost, sseData } from './lib/http.mjs';

const KEY = 'sk-sim-selftest';

describe('provider-sim (test tool) self-test', () => {
  let sim;
  let client;
  before(async () => {
    sim = await startProviderSim({ apiKey: KEY });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await sim?.close();
  });

  test('listens on an ephemeral loopback port', () => {
    assert.ok(sim.port > 0);
    assert.equal(sim.url, `http://127.0.0.1:${sim.port}`);
  });

  test('chat completion echoes the last user message and the model', async () => {
    const r = await client.chat.completions.create({
      model: 'm-1',
      messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }],
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'm-1');
    assert.equal(r.choices[0].message.content, 'You said: hello there');
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    const seen = sim.requests.at(-1);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
    assert.equal(JSON.parse(seen.body).model, 'm-1');
  });

  test('wrong API key gives 401 invalid_api_key', async () => {
    const bad = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
  });

  test('streamed chat: several chunks, [DONE], usage chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'm-2',
      messages: [{ role: 'user', content: 'stream me some words please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let contentChunks = 0;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.choices.length === 0) usage = chunk.usage;
      const piece = chunk.choices[0]?.delta?.content;
      if (piece) {
        text += piece;
        contentChunks++;
      }
    }
    assert.equal(text, 'You said: stream me some words please');
    assert.ok(contentChunks >= 3, `expected several content chunks, got ${contentChunks}`);
    assert.ok(usage && usage.total_tokens > 0, 'usage chunk missing');
    const raw = await rawPost(`${sim.url}/v1/chat/completions`,
      JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'a b' }] }),
      { authorization: `Bearer ${KEY}` });
    assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
    const data = sseData(raw.text);
    assert.equal(data.at(-1), '[DONE]');
    assert.ok(!data.slice(0, -1).some((d) => JSON.parse(d).choices.length === 0), 'no usage chunk unless asked');
  });

  test('legacy completions, streamed and not', async () => {
    const r = await client.completions.create({ model: 'c-1', prompt: 'say this' });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, 'You said: say this');
    const s = await client.completions.create({ model: 'c-1', prompt: 'say this', stream: true });
    let text = '';
    for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, 'You said: say this');
  });

  test('embeddings are deterministic', async () => {
    const a = await client.embeddings.create({ model: 'e-1', input: ['one', 'two'], encoding_format: 'float' });
    const b = await client.embeddings.create({ model: 'e-1', input: 'one', encoding_format: 'float' });
    assert.equal(a.object, 'list');
    assert.equal(a.data.length, 2);
    assert.deepEqual(a.data.map((d) => d.index), [0, 1]);
    assert.equal(a.data[0].object, 'embedding');
    assert.deepEqual(a.data[0].embedding, b.data[0].embedding);
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
  });

  test('x-sim-status 429 gives retry-after: 7 and an OpenAI error', async () => {
    const r = await rawPost(`${sim.url}/v1/chat/completions`, '{"model":"m"}',
      { authorization: `Bearer ${KEY}`, 'x-sim-status': '429' });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '7');
    assertOpenAIErrorShape(parseJsonBody(r.text));
    const custom = await rawPost(`${sim.url}/v1/chat/completions`, '{"model":"m"}',
      { authorization: `Bearer ${KEY}`, 'x-sim-status': '503', 'x-sim-body': '{"oops":1}' });
    assert.equal(custom.status, 503);
    assert.equal(custom.text, '{"oops":1}');
  });

  test('x-sim-delay-ms delays the answer', async () => {
    const t0 = Date.now();
    const r = await rawPost(`${sim.url}/v1/embeddings`, '{"model":"e","input":"x"}',
      { authorization: `Bearer ${KEY}`, 'x-sim-delay-ms': '150' });
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 >= 140);
  });

  test('records method, path with query, lower-cased headers and raw body', async () => {
    const body = '{ "model" : "m",  "input": "spaced" }';
    await rawPost(`${sim.url}/v1/embeddings?x=1`, body, { authorization: `Bearer ${KEY}`, 'X-Mixed-Case': 'v' });
    const seen = sim.requests.at(-1);
    assert.equal(seen.path, '/v1/embeddings?x=1');
    assert.equal(seen.headers['x-mixed-case'], 'v');
    assert.equal(seen.body, body);
  });

  test('splitSseAtEvents splits only at event boundaries', () => {
    const body = 'data: 1\n\ndata: 2\n\ndata: 3\n\ndata: [DONE]\n\n';
    const pieces = splitSseAtEvents(body, 2);
    assert.equal(pieces.join(''), body);
    assert.equal(pieces.length, 2);
    for (const p of pieces) assert.ok(p.endsWith('\n\n'));
  });

  describe('cassette mode', { skip: corpusSkipReason(CASSETTES_DIR, 'provider-sim cassette self-tests') }, () => {
    const load = (name) => YAML.parse(fs.readFileSync(path.join(CASSETTES_DIR, `${name}.yaml`), 'utf8')).interactions[0];

    for (const name of ['chat-basic', 'chat-streaming', 'embeddings-unknown-model']) {
      test(`replays ${name} byte for byte`, async () => {
        const it = load(name);
        const r = await rawPost(`${sim.url}${new URL(it.request.url).pathname}`, it.request.body,
          { authorization: `Bearer ${KEY}`, 'x-cassette-name': name });
        assert.equal(r.status, it.response.code);
        assert.equal(r.headers.get('content-type'), it.response.headers['Content-Type'][0]);
        assert.ok(r.body.equals(Buffer.from(it.response.body, 'utf8')), 'body differs from the recording');
        assert.equal(Number(r.headers.get('content-length')), Buffer.byteLength(it.response.body));
        if (it.response.headers['X-Request-Id']) {
          assert.equal(r.headers.get('x-request-id'), it.response.headers['X-Request-Id'][0]);
        }
      });
    }

    test('a JSON-equal body with other formatting still matches', async () => {
      const it = load('chat-basic');
      const compact = JSON.stringify(JSON.parse(it.request.body));
      const r = await rawPost(`${sim.url}/v1/chat/completions`, compact,
        { authorization: `Bearer ${KEY}`, 'x-cassette-name': 'chat-basic' });
      assert.equal(r.status, 200);
    });

    test('a different body, path or unknown cassette answers 409', async () => {
      const it = load('chat-basic');
      const changed = { ...JSON.parse(it.request.body), model: 'other' };
      const r1 = await rawPost(`${sim.url}/v1/chat/completions`, JSON.stringify(changed),
        { authorization: `Bearer ${KEY}`, 'x-cassette-name': 'chat-basic' });
      assert.equal(r1.status, 409);
      assert.match(parseJsonBody(r1.text).error.message, /body/);
      const r2 = await rawPost(`${sim.url}/v1/completions`, it.request.body,
        { authorization: `Bearer ${KEY}`, 'x-cassette-name': 'chat-basic' });
      assert.equal(r2.status, 409);
      assert.match(parseJsonBody(r2.text).error.message, /path/);
      const r3 = await rawPost(`${sim.url}/v1/chat/completions`, it.request.body,
        { authorization: `Bearer ${KEY}`, 'x-cassette-name': 'no-such-cassette' });
      assert.equal(r3.status, 409);
      const r4 = await rawPost(`${sim.url}/v1/chat/completions`, it.request.body,
        { authorization: `Bearer ${KEY}`, 'x-cassette-name': '../x' });
      assert.equal(r4.status, 409);
    });
  });

  test('CLI prints its listening line', async () => {
    const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'test/tools/provider_sim.mjs'), '--port', '0', '--api-key', 'k'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 5000);
        proc.stdout.on('data', (c) => {
          out += c;
          if (out.includes('\n')) {
            clearTimeout(timer);
            resolve(out.trim());
          }
        });
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const m = /^provider-sim listening on 127\.0\.0\.1:(\d+)$/.exec(line);
      assert.ok(m, line);
      const r = await fetch(`http://127.0.0.1:${m[1]}/v1/models`, { headers: { authorization: 'Bearer k' } });
      assert.equal(r.status, 200);
    } finally {
      proc.kill('SIGTERM');
    }
  });
});
