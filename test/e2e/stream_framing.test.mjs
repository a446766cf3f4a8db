// End-to-end: how sluice relays a stream in time. It coalesces writes where that delays
// nothing (the response head with the first piece the upstream sent along with its head, the
// last-chunk marker with the last piece), so this checks that nothing is held back: headers
// reach the client before a slow upstream's first event, and a first event sent with the
// head is not held until the upstream's next bytes. The upstream is a scripted OpenAI-dialect
// server (test tool) whose timing each test sets.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { CLIENT_SECRETS, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';
import { sleep, startRecordingServer } from '../tools/provider_sims/common.mjs';

const skip = sluiceSkipReason();
const KEY = 'sk-stream-framing';

function chunk(content, finish = null) {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-f', object: 'chat.completion.chunk', created: 1700000000, model: 'm',
    choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
  })}\n\n`;
}

// Scripts by model: 'late-first' sends the head, waits, then every event; 'early-first' sends
// the head and the first event in one write, waits, then the rest; 'one-write' sends it all
// at once.
async function startScriptedUpstream(pauseMs) {
  return startRecordingServer('scripted-openai', async (rec, req, res) => {
    rec.kind = rec.json?.model;
    if (rec.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401);
      res.end();
      return;
    }
    const events = [chunk('Hello'), chunk(', world'), chunk(null, 'stop'), 'data: [DONE]\n\n'];
    const head = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
    if (rec.kind === 'one-write') {
      res.writeHead(200, { ...head, 'content-length': Buffer.byteLength(events.join('')) });
      res.end(events.join(''));
      return;
    }
    res.writeHead(200, head);
    if (rec.kind === 'late-first') {
      res.flushHeaders();
      await sleep(pauseMs);
      for (const e of events) res.write(e);
    } else {
      res.write(events[0]);  // with the head
      await sleep(pauseMs);
      for (const e of events.slice(1)) res.write(e);
    }
    res.end();
  });
}

describe('stream relay timing: coalesced writes never hold data back', { skip }, () => {
  const PAUSE = 1200;
  let stack;
  before(async () => {
    stack = await startProviderStack({
      sims: { up: () => startScriptedUpstream(PAUSE) },
      config: (s) => ({
        routes: ['late-first', 'early-first', 'one-write'].map((model) => ({ model, backend: 'up' })),
        backends: [{ name: 'up', schema: 'OpenAI', port: s.up.port, auth: { type: 'APIKey', key: KEY } }],
      }),
    });
  });
  after(async () => { await stack?.close(); });

  async function timedStream(model) {
    const t0 = Date.now();
    const res = await fetch(`${stack.gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_SECRETS.openaiKey}` },
      body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const headersAt = Date.now() - t0;
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let firstAt = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (firstAt === null && text.includes('Hello')) firstAt = Date.now() - t0;
    }
    return { headersAt, firstAt, endAt: Date.now() - t0, text };
  }

  function assertWholeStream(text) {
    const blocks = text.split('\n\n').filter((b) => b.length > 0);
    assert.equal(blocks.at(-1), 'data: [DONE]');
    const content = blocks.slice(0, -1).map((b) => JSON.parse(b.slice(6))).map((c) => c.choices[0].delta.content ?? '').join('');
    assert.equal(content, 'Hello, world');
  }

  test('headers go out before a slow first event', withGatewayLogs(() => stack.gw, async () => {
    const t = await timedStream('late-first');
    assert.ok(t.headersAt < PAUSE / 2, `headers after ${t.headersAt} ms; the upstream's first event came after ${PAUSE} ms`);
    assert.ok(t.endAt >= PAUSE - 50, `the stream ended after ${t.endAt} ms`);
    assertWholeStream(t.text);
  }));

  test('a first event that came with the head is not held until the upstream sends more', withGatewayLogs(() => stack.gw, async () => {
    const t = await timedStream('early-first');
    assert.ok(t.headersAt < PAUSE / 2, `headers after ${t.headersAt} ms`);
    assert.ok(t.firstAt !== null && t.firstAt < PAUSE / 2, `first event after ${t.firstAt} ms; the upstream paused ${PAUSE} ms after it`);
    assert.ok(t.endAt >= PAUSE - 50);
    assertWholeStream(t.text);
  }));

  test('a stream answered in one upstream write arrives whole, and the SDK reads it', withGatewayLogs(() => stack.gw, async () => {
    const t = await timedStream('one-write');
    assertWholeStream(t.text);
    const client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0 });
    let text = '';
    for await (const c of await client.chat.completions.create({ model: 'one-write', stream: true, messages: [{ role: 'user', content: 'hi' }] })) {
      text += c.choices[0]?.delta?.content ?? '';
    }
    assert.equal(text, 'Hello, world');
    // The connection stays usable after a coalesced last chunk.
    const again = await timedStream('one-write');
    assertWholeStream(again.text);
  }));
});
