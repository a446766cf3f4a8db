// End-to-end: graceful shutdown. SIGTERM while a streamed answer is in flight: the stream
// completes, new connections are refused, and sluice exits 0.
// Needs the sluice binary ($SLUICE_BIN or build/sluice); skips without it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chatReplyText } from '../tools/provider_sim.mjs';
import { sluiceSkipReason } from './lib/env.mjs';
import { startStack } from './lib/harness.mjs';
import { sseData } from './lib/http.mjs';
import { probeConnect } from './lib/ports.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('sluice graceful shutdown', { skip: sluiceSkipReason() }, () => {
  let stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  test('SIGTERM drains an in-flight stream, refuses new connections, exits 0', withGatewayLogs(() => stack?.gw, async () => {
    const { gw } = stack;
    const stallMs = 2500;
    const messages = [{ role: 'user', content: 'a slow answer that spans the shutdown' }];
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-stream-stall-ms': String(stallMs) },
      body: JSON.stringify({ model: 'gpt-sim', stream: true, messages }),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // Wait for the first bytes so the stream is surely in flight, then stop the gateway.
    const first = await reader.read();
    assert.ok(!first.done, 'stream ended before any data');
    text += decoder.decode(first.value, { stream: true });
    const sigtermAt = Date.now();
    gw.proc.kill('SIGTERM');

    // New connections must be refused while the stream drains (the sim is still stalling).
    let probe = 'not tried';
    while (Date.now() - sigtermAt < 1500) {
      probe = await probeConnect(gw.port);
      if (probe === 'refused') break;
      await sleep(50);
    }
    assert.equal(probe, 'refused', `a new connection was still ${probe} ${Date.now() - sigtermAt} ms after SIGTERM`);
    assert.equal(gw.exitStatus, null, 'sluice exited before the in-flight stream finished');

    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const data = sseData(text);
    assert.equal(data.at(-1), '[DONE]', 'stream was cut short');
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, chatReplyText({ messages }));

    const status = await gw.waitExit(10000);
    assert.notEqual(status, 'timeout', 'sluice did not exit within 10 s of the stream ending');
    assert.deepEqual(status, { code: 0, signal: null }, 'sluice should exit 0 after SIGTERM');
    assert.equal(await probeConnect(gw.port), 'refused', 'port still accepting after exit');
  }));
});
