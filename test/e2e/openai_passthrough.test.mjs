// End-to-end: the official OpenAI SDK → sluice → provider simulator, OpenAI → OpenAI.
// Needs the sluice binary ($SLUICE_BIN or build/sluice); skips without it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chatReplyText, completionReplyTexts, embeddingFor } from '../tools/provider_sim.mjs';
import { sluiceSkipReason } from './lib/env.mjs';
import { SIM_API_KEY, startStack } from './lib/harness.mjs';
import { parseJsonBody, rawPost, sseData } from './lib/http.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import OpenAI from 'openai';
import {
  CLIENT_SECRETS, assertAccepted, assertNoCredentialLeaks, defineOpenAIChatCases, oneUpstream, startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';
import { startOpenAICompatSim } from '../tools/provider_sims/openai_compat.mjs';

const CLIENT_KEY = 'sk-client-key-must-not-leak';

describe('sluice OpenAI passthrough (SDK client → sluice → provider-sim)', { skip: sluiceSkipReason() }, () => {
  let stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });
  const t = (name, fn) => test(name, withGatewayLogs(() => stack?.gw, fn));

  /** Runs fn and returns what the simulator received meanwhile. */
  async function upstreamDuring(fn) {
    const from = stack.sim.requests.length;
    const result = await fn();
    return { result, seen: stack.sim.requests.slice(from) };
  }

  function assertUpstreamAuth(req) {
    assert.equal(req.headers.authorization, `Bearer ${SIM_API_KEY}`, 'backend API key not applied');
    for (const [name, value] of Object.entries(req.headers)) {
      assert.ok(!String(value).includes(CLIENT_KEY), `client credential leaked upstream in header ${name}`);
    }
  }

  t('chat, non-streamed: answer, upstream path, auth, headers and body', async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is a sluice?' },
    ];
    const { result, seen } = await upstreamDuring(() => stack.client.chat.completions.create(
      { model: 'gpt-sim', messages },
      { headers: { 'x-e2e-trace': 'trace-123' } },
    ));
    assert.equal(result.object, 'chat.completion');
    assert.equal(result.model, 'gpt-sim');
    assert.equal(result.choices[0].message.content, 'You said: What is a sluice?');
    assert.equal(result.choices[0].finish_reason, 'stop');
    assert.ok(result.usage.total_tokens > 0);

    assert.equal(seen.length, 1, `expected one upstream request, got ${seen.length}`);
    const up = seen[0];
    assert.equal(up.method, 'POST');
    assert.equal(up.path, '/v1/chat/completions');
    assertUpstreamAuth(up);
    assert.equal(up.headers['x-e2e-trace'], 'trace-123', 'client header not forwarded upstream');
    assert.deepEqual(JSON.parse(up.body), { model: 'gpt-sim', messages });
  });

  t('chat, non-streamed: request body bytes reach the backend unchanged', async () => {
    const body = '{\n  "messages" : [ {"content": "spacing\\u0021 kept", "role":"user"} ],\n  "model": "gpt-sim",  "temperature": 0.5, "x_extra": {"a": [1, 2.50]}\n}';
    const { result, seen } = await upstreamDuring(() => rawPost(`${stack.gw.baseURL}/chat/completions`, body,
      { authorization: `Bearer ${CLIENT_KEY}` }));
    assert.equal(result.status, 200, result.text);
    assert.equal(parseJsonBody(result.text).choices[0].message.content, 'You said: spacing! kept');
    assert.equal(seen.length, 1);
    assertUpstreamAuth(seen[0]);
    assert.equal(seen[0].body, body, 'upstream body is not byte-identical to the client body');
  });

  t('chat, streamed via SDK: reassembled text equals the simulator answer', async () => {
    const messages = [{ role: 'user', content: 'Tell me about streaming responses' }];
    const { result: text, seen } = await upstreamDuring(async () => {
      const stream = await stack.client.chat.completions.create({ model: 'gpt-sim', messages, stream: true });
      let out = '';
      let pieces = 0;
      let finish = null;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'chat.completion.chunk');
        const c = chunk.choices[0]?.delta?.content;
        if (c) {
          out += c;
          pieces++;
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.ok(pieces >= 3, `expected several content chunks, got ${pieces}`);
      assert.equal(finish, 'stop');
      return out;
    });
    assert.equal(text, chatReplyText({ messages }));
    assert.equal(seen.length, 1);
    assertUpstreamAuth(seen[0]);
    assert.equal(seen[0].path, '/v1/chat/completions');
    assert.deepEqual(JSON.parse(seen[0].body), { model: 'gpt-sim', messages, stream: true });
  });

  t('chat, streamed with stream_options.include_usage: the usage chunk arrives', async () => {
    const messages = [{ role: 'user', content: 'count my tokens' }];
    const stream = await stack.client.chat.completions.create({
      model: 'gpt-sim', messages, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usageChunks = 0;
    let usage = null;
    let sawChunkAfterUsage = false;
    for await (const chunk of stream) {
      if (usage) sawChunkAfterUsage = true;
      if (chunk.choices.length === 0 && chunk.usage) {
        usage = chunk.usage;
        usageChunks++;
      }
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.equal(text, chatReplyText({ messages }));
    assert.equal(usageChunks, 1, 'expected exactly one usage chunk with choices: []');
    assert.ok(!sawChunkAfterUsage, 'the usage chunk must be the last chunk');
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.ok(usage.completion_tokens > 0);
  });

  t('chat, streamed: SSE is relayed incrementally, not buffered', async () => {
    const stallMs = 1000;
    const t0 = Date.now();
    const res = await fetch(`${stack.gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-stream-stall-ms': String(stallMs) },
      body: JSON.stringify({ model: 'gpt-sim', stream: true, messages: [{ role: 'user', content: 'one two three four five six' }] }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let text = '';
    let firstDataAt = null;
    for await (const chunk of res.body) {
      const s = decoder.decode(chunk, { stream: true });
      if (firstDataAt === null && s.includes('data:')) firstDataAt = Date.now() - t0;
      text += s;
    }
    const total = Date.now() - t0;
    assert.ok(total >= stallMs, `stream finished after ${total} ms, before the ${stallMs} ms stall ended?`);
    assert.ok(firstDataAt !== null && firstDataAt < stallMs - 300,
      `first SSE event reached the client after ${firstDataAt} ms; the simulator sent it before stalling ${stallMs} ms (gateway buffers the stream?)`);
    const data = sseData(text);
    assert.equal(data.at(-1), '[DONE]');
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, 'You said: one two three four five six');
  });

  t('completions, non-streamed', async () => {
    const { result, seen } = await upstreamDuring(() => stack.client.completions.create({ model: 'gpt-sim', prompt: 'Once upon a time' }));
    assert.equal(result.object, 'text_completion');
    assert.equal(result.model, 'gpt-sim');
    assert.equal(result.choices[0].text, completionReplyTexts({ prompt: 'Once upon a time' })[0]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].path, '/v1/completions');
    assertUpstreamAuth(seen[0]);
    assert.deepEqual(JSON.parse(seen[0].body), { model: 'gpt-sim', prompt: 'Once upon a time' });
  });

  t('completions, streamed (with usage)', async () => {
    const stream = await stack.client.completions.create({
      model: 'gpt-sim', prompt: 'stream this prompt', stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.choices.length === 0) usage = chunk.usage;
      text += chunk.choices[0]?.text ?? '';
    }
    assert.equal(text, 'You said: stream this prompt');
    assert.ok(usage && usage.total_tokens > 0, 'usage chunk missing');
  });

  t('embeddings', async () => {
    const input = ['first text', 'second text'];
    const { result, seen } = await upstreamDuring(() => stack.client.embeddings.create({
      model: 'gpt-sim', input, encoding_format: 'float',
    }));
    assert.equal(result.object, 'list');
    assert.equal(result.data.length, 2);
    result.data.forEach((d, i) => {
      assert.equal(d.object, 'embedding');
      assert.equal(d.index, i);
      assert.deepEqual(d.embedding, embeddingFor(input[i]));
    });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].path, '/v1/embeddings');
    assertUpstreamAuth(seen[0]);
    assert.deepEqual(JSON.parse(seen[0].body), { model: 'gpt-sim', input, encoding_format: 'float' });
  });

  t('models list (SDK client.models.list) shows the exact-match model names', async () => {
    const ids = [];
    for await (const m of stack.client.models.list()) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
      ids.push(m.id);
    }
    assert.deepEqual([...ids].sort(), ['gpt-dead', 'gpt-renamed', 'gpt-sim', 'gpt-slow']);
    const raw = await fetch(`${stack.gw.baseURL}/models`);
    assert.equal(raw.status, 200);
    const body = await raw.json();
    assert.equal(body.object, 'list');
    assert.ok(Array.isArray(body.data));
  });

  t('GET /health answers 200', async () => {
    const res = await fetch(`${stack.gw.url}/health`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  t('modelNameOverride: gpt-renamed reaches the backend as gpt-sim, rest of the body kept', async () => {
    const messages = [{ role: 'user', content: 'who am I talking to?' }];
    const { result, seen } = await upstreamDuring(() => stack.client.chat.completions.create({
      model: 'gpt-renamed', messages, temperature: 0.25, user: 'u-1',
    }));
    assert.equal(result.choices[0].message.content, chatReplyText({ messages }));
    assert.equal(seen.length, 1);
    assertUpstreamAuth(seen[0]);
    assert.deepEqual(JSON.parse(seen[0].body), { model: 'gpt-sim', messages, temperature: 0.25, user: 'u-1' });
  });

  t('modelNameOverride applies to streamed requests too', async () => {
    const messages = [{ role: 'user', content: 'renamed stream' }];
    const { result: text, seen } = await upstreamDuring(async () => {
      const stream = await stack.client.chat.completions.create({ model: 'gpt-renamed', messages, stream: true });
      let out = '';
      for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? '';
      return out;
    });
    assert.equal(text, chatReplyText({ messages }));
    assert.equal(seen.length, 1);
    assert.deepEqual(JSON.parse(seen[0].body), { model: 'gpt-sim', messages, stream: true });
  });
});

// The shared OpenAI-client cases (tools, parallel tool calls, tool results, include_usage,
// 429 with retry-after, 400, mid-stream error) against the openai_compat simulator, which
// checks OpenAI's body rules and answers tool calls: same dialect, so sluice relays.
describe('openai SDK -> sluice -> OpenAI (schema OpenAI, APIKey; openai_compat sim with tools)', { skip: sluiceSkipReason() }, () => {
  const BACKEND_KEY = 'sk-openai-passthrough-backend-key';
  const MODEL = 'gpt-4o-tools-sim';
  let stack;
  let client;
  before(async () => {
    stack = await startProviderStack({
      sims: { openai: () => startOpenAICompatSim({ apiKey: BACKEND_KEY }) },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'openai' }],
        backends: [{ name: 'openai', schema: 'OpenAI', port: s.openai.port, auth: { type: 'APIKey', key: BACKEND_KEY } }],
      }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  const isChat = (r) => r.kind === 'chat' || r.kind === 'chat-stream';
  defineOpenAIChatCases({
    stack: () => stack, client: () => client, simName: 'openai', model: MODEL, isChat,
    simToolIds: true, retryAfter: true, midStreamError: true, midStreamErrorType: 'server_error',
  });

  test('tools request: the body reaches the backend as sent, with the backend key', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.openai;
    const mark = sim.requests.length;
    const params = {
      model: MODEL, messages: [{ role: 'user', content: 'parallel: exact body' }], parallel_tool_calls: true,
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
      tool_choice: 'auto',
    };
    await client.chat.completions.create(params);
    const rec = oneUpstream(sim, mark, isChat);
    assertAccepted(rec);
    assert.deepEqual(rec.json, params);
    assert.equal(rec.path, '/v1/chat/completions');
    assert.equal(rec.headers.authorization, `Bearer ${BACKEND_KEY}`);
  }));

  test('no client credential reached the simulator', () => {
    assertNoCredentialLeaks(stack.sims, { openai: [BACKEND_KEY] });
  });
});
