// End-to-end: the official openai SDK talks to sluice, which translates to the Anthropic
// Messages API of a simulator (test/tools/provider_sims/anthropic.mjs) that checks x-api-key,
// anthropic-version and the body, and answers text, tool_use, thinking and errors.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { checkAnthropicBody, startAnthropicSim } from '../tools/provider_sims/anthropic.mjs';
import {
  CLIENT_SECRETS, IMAGE_WIRE, PNG_RED, assertAccepted, assertNoCredentialLeaks, collectChatStream, defineOpenAIChatCases, oneUpstream,
  startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';
import { THINKING_TEXT } from '../tools/provider_sims/common.mjs';

const skip = sluiceSkipReason();
const ANTHROPIC_KEY = 'sk-ant-backend-sim-key';
const MODEL = 'claude-sonnet-4-5';

describe('openai SDK -> sluice -> Anthropic (schema Anthropic, AnthropicAPIKey)', { skip }, () => {
  let stack;
  let client;
  before(async () => {
    stack = await startProviderStack({
      sims: { anthropic: () => startAnthropicSim({ apiKey: ANTHROPIC_KEY }) },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'anthropic' }],
        backends: [{ name: 'anthropic', schema: 'Anthropic', port: s.anthropic.port, auth: { type: 'AnthropicAPIKey', key: ANTHROPIC_KEY } }],
      }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  const isChat = (r) => r.kind === 'messages' || r.kind === 'messages-stream';

  defineOpenAIChatCases({
    stack: () => stack, client: () => client, simName: 'anthropic', model: MODEL, isChat,
    simToolIds: true, retryAfter: true, midStreamError: true,
    images: { wire: IMAGE_WIRE.anthropic, url: 'forward' },
    usageDetail: { cacheWrite: true },
  });

  test('the upstream request is a proper Messages call (path, x-api-key, anthropic-version, max_tokens)', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.anthropic;
    const mark = sim.requests.length;
    await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'check the wire' }], max_completion_tokens: 77 });
    const rec = oneUpstream(sim, mark, isChat);
    assertAccepted(rec);
    assert.equal(rec.url.pathname, '/v1/messages');
    assert.equal(rec.headers['x-api-key'], ANTHROPIC_KEY);
    assert.equal(rec.headers.authorization, undefined, 'no Authorization header may reach Anthropic');
    assert.equal(rec.json.model, MODEL);
    assert.equal(rec.json.max_tokens, 77);
  }));

  test('upstream 529 overloaded becomes a 5xx OpenAI error', withGatewayLogs(() => stack.gw, async () => {
    const err = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'overload [[error:529]]' }],
    }).then(() => null, (e) => e);
    assert.ok(err, 'the request should have failed');
    assert.ok([503, 529].includes(err.status), `status ${err.status}: 529 passed through or mapped to 503`);
    assert.equal(typeof err.error?.message, 'string');
    assert.match(err.error.message, /Overloaded/i, 'the upstream message should reach the client');
  }));

  test('thinking (vendor extension) is forwarded and the thinking text does not leak into content', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.anthropic;
    const mark = sim.requests.length;
    const body = {
      model: MODEL, max_completion_tokens: 4096, messages: [{ role: 'user', content: 'think first' }],
      thinking: { type: 'enabled', budget_tokens: 2048 },
    };
    const r = await client.chat.completions.create(body);
    const rec = oneUpstream(sim, mark, isChat);
    assertAccepted(rec);
    assert.deepEqual(rec.json.thinking, { type: 'enabled', budget_tokens: 2048 });
    assert.equal(r.choices[0].message.content, rec.answer.text);
    assert.ok(!String(r.choices[0].message.content).includes(THINKING_TEXT));
    const got = await collectChatStream(await client.chat.completions.create({ ...body, stream: true }));
    assert.equal(got.text, rec.answer.text);
  }));

  test('no client credential reached the simulator', () => {
    assertNoCredentialLeaks(stack.sims, { anthropic: [ANTHROPIC_KEY] });
  });
});

test('the simulator\'s image checks refuse what Anthropic refuses (so the image cases can fail)', () => {
  const check = (content, flavor = 'anthropic', role = 'user') => {
    const problems = [];
    const messages = role === 'user' ? [{ role, content }] : [{ role: 'user', content: 'hi' }, { role, content }, { role: 'user', content: 'and?' }];
    const body = flavor === 'anthropic' ? { model: 'm', max_tokens: 10, messages } : { anthropic_version: 'v', max_tokens: 10, messages };
    const conv = checkAnthropicBody(body, problems, { flavor, anthropicVersion: 'v' });
    return { problems, conv };
  };
  const b64 = PNG_RED.toString('base64');
  const image = (source) => [{ type: 'text', text: 'look' }, { type: 'image', source }];
  const ok = check(image({ type: 'base64', media_type: 'image/png', data: b64 }));
  assert.deepEqual(ok.problems, []);
  assert.ok(ok.conv.images[0].bytes.equals(PNG_RED));
  assert.match(check(image({ type: 'base64', media_type: 'image/jpeg', data: b64 })).problems.join(), /does not match the provided media type/);
  assert.match(check(image({ type: 'base64', media_type: 'image/png', data: b64.slice(1) })).problems.join(), /not valid base64/);
  assert.match(check(image({ type: 'base64', media_type: 'image/bmp', data: b64 })).problems.join(), /media_type/);
  assert.deepEqual(check(image({ type: 'url', url: 'https://x.example/a.png' })).problems, []);
  assert.match(check(image({ type: 'url', url: 'https://x.example/a.png' }), 'vertex').problems.join(), /Input should be 'base64'/);
  assert.match(check(image({ type: 'url', url: 'https://x.example/a.png' }), 'bedrock').problems.join(), /Input should be 'base64'/);
  assert.match(check(image({ type: 'base64', media_type: 'image/png', data: b64 }), 'anthropic', 'assistant').problems.join(), /belong to user turns/);
});
