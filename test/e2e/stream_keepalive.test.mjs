// End-to-end: a translated stream whose upstream goes silent (Bedrock ConverseStream during
// long thinking sends nothing, unlike Anthropic's SSE with its pings) gets keep-alive events,
// so clients that abort silent streams (Claude Code: 300 s) keep waiting: Anthropic clients an
// `event: ping`, OpenAI clients an SSE comment, each between two whole events. The official
// SDKs still read the answer unchanged. sluice runs with --stream-keepalive 0.1 (100 ms); the
// Bedrock simulator pauses 700 ms mid-stream on "[[pause:700]]".
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { DEFAULT_AWS_CREDENTIALS, awsCredentialsIni, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import { oneUpstream, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';

const skip = sluiceSkipReason();
const MODEL = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';

// The raw SSE events of a streamed answer: [{event, data}] in order, '' event for comments.
async function rawEvents(url, init) {
  const res = await fetch(url, init);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.endsWith('\n\n'), 'the stream ends at an event boundary');
  return text.slice(0, -2).split('\n\n').map((block) => {
    const lines = block.split('\n');
    if (lines.every((l) => l.startsWith(':'))) return { comment: lines.join('\n') };
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '';
    const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    assert.equal(lines.filter((l) => !l.startsWith('event: ') && !l.startsWith('data: ')).length, 0, `a torn event: ${block}`);
    return { event, data };
  });
}

describe('keep-alive events on silent translated streams', { skip }, () => {
  let stack;
  before(async () => {
    stack = await startProviderStack({
      sims: { bedrock: () => startBedrockSim({ credentials: DEFAULT_AWS_CREDENTIALS }) },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'bedrock' }],
        backends: [{
          name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port,
          auth: { type: 'AWSCredentials', region: 'us-east-1', ini: awsCredentialsIni(DEFAULT_AWS_CREDENTIALS) },
        }],
      }),
      args: ['--stream-keepalive', '0.1'],
    });
  });
  after(async () => { await stack?.close(); });

  test('Anthropic clients get ping events during the silence, between whole events', withGatewayLogs(() => stack.gw, async () => {
    const body = JSON.stringify({ model: MODEL, max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'think long [[pause:700]]' }] });
    const events = await rawEvents(`${stack.gw.url}/v1/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'client-key', 'anthropic-version': '2023-06-01' }, body,
    });
    const pings = events.filter((e) => e.event === 'ping');
    assert.ok(pings.length >= 3, `expected pings during 700 ms of silence, got ${pings.length}`);
    for (const p of pings) assert.deepEqual(JSON.parse(p.data), { type: 'ping' });
    const kinds = events.filter((e) => e.event !== 'ping').map((e) => e.event);
    assert.equal(kinds[0], 'message_start');
    assert.equal(kinds.at(-1), 'message_stop');
    for (const e of events) if (e.event !== 'ping') JSON.parse(e.data);  // every other event whole
    // The pings fall inside the silence: after the first text delta, before the last.
    const firstDelta = events.findIndex((e) => e.event === 'content_block_delta');
    const firstPing = events.findIndex((e) => e.event === 'ping');
    assert.ok(firstDelta >= 0 && firstPing > firstDelta, 'pings come once the upstream went silent');
  }));

  test('the Anthropic SDK reads the answer unchanged through the pings', withGatewayLogs(() => stack.gw, async () => {
    const client = new Anthropic({ baseURL: stack.gw.url, apiKey: 'client-key', maxRetries: 0, timeout: 15000 });
    const sim = stack.sims.bedrock;
    const mark = sim.requests.length;
    const stream = client.messages.stream({ model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: 'pause please [[pause:500]]' }] });
    const final = await stream.finalMessage();
    const rec = oneUpstream(sim, mark, (r) => r.kind === 'converse-stream');
    assert.equal(final.content[0].text, rec.answer.text);
    assert.equal(final.stop_reason, 'end_turn');
  }));

  test('OpenAI clients get SSE comments, which the openai SDK skips', withGatewayLogs(() => stack.gw, async () => {
    const body = JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'slow one [[pause:700]]' }] });
    const events = await rawEvents(`${stack.gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' }, body,
    });
    const comments = events.filter((e) => e.comment !== undefined);
    assert.ok(comments.length >= 3, `expected keep-alive comments, got ${comments.length}`);
    assert.equal(events.filter((e) => e.comment === undefined).at(-1).data, '[DONE]');

    const client = new OpenAI({ baseURL: `${stack.gw.url}/v1`, apiKey: 'client-key', maxRetries: 0, timeout: 15000 });
    const sim = stack.sims.bedrock;
    const mark = sim.requests.length;
    let text = '';
    for await (const chunk of await client.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'again [[pause:500]]' }] })) {
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    const rec = oneUpstream(sim, mark, (r) => r.kind === 'converse-stream');
    assert.equal(text, rec.answer.text);
  }));

  // The silence that matters most comes before the first token (long thinking): the head is
  // out, no event yet. Keep-alives start as soon as the gateway has to wait for the upstream.
  test('a silence before the first event gets keep-alives too, after the head', withGatewayLogs(() => stack.gw, async () => {
    const body = JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'think first [[pause-first:600]]' }] });
    const events = await rawEvents(`${stack.gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' }, body,
    });
    const firstData = events.findIndex((e) => e.comment === undefined);
    assert.ok(firstData >= 3, `expected keep-alive comments before the first chunk, got ${firstData}`);
    for (const e of events.slice(0, firstData)) assert.equal(e.comment, ': keep-alive');
    assert.equal(events.at(-1).data, '[DONE]');
  }));

  test('a stream without silence gets no keep-alive', withGatewayLogs(() => stack.gw, async () => {
    const body = JSON.stringify({ model: MODEL, max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'quick' }] });
    const events = await rawEvents(`${stack.gw.url}/v1/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'client-key', 'anthropic-version': '2023-06-01' }, body,
    });
    // 100 ms without a byte never happens in this ~50 ms stream, unless the machine stalls once.
    assert.ok(events.filter((e) => e.event === 'ping').length <= 1);
  }));
});
