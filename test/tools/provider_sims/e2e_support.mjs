// e2e_support.mjs: TEST TOOL. Helpers shared by test/e2e/providers_*.test.mjs: bring up
// simulators plus a sluice in front of them, reassemble streams, check that no credential
// leaks, and the OpenAI-client chat cases every backend schema must pass.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { sseData } from '../../e2e/lib/http.mjs';
import { writeResourceFile } from '../../e2e/lib/resources.mjs';
import { startSluice, withGatewayLogs } from '../../e2e/lib/sluice.mjs';
import { TOOL_ARGS, imageNote, tinyPng } from './common.mjs';
import { providerResources } from './gateway_resources.mjs';

export { TOOL_ARGS };

/** Test images: two real 1x1 PNGs (red, blue), and an https image URL. */
export const PNG_RED = tinyPng(255, 0, 0);
export const PNG_BLUE = tinyPng(0, 0, 255);
export const IMAGE_URL = 'https://images.example.com/photos/cat.png';
const pngDataUrl = (png) => `data:image/png;base64,${png.toString('base64')}`;
const lastOf = (list) => (Array.isArray(list) ? list[list.length - 1] : undefined);

/**
 * How each provider dialect carries an image: `blocks(rec)` gives the image blocks of the
 * recorded request's last user turn, `data(png)` the block a PNG data URL must become, `url(u)`
 * the block an https URL must become (absent where sluice refuses URLs for that dialect).
 */
export const IMAGE_WIRE = {
  // Anthropic Messages (also InvokeModel on Bedrock and rawPredict on Vertex: base64 only)
  anthropic: {
    blocks: (rec) => [].concat(lastOf(rec.json?.messages)?.content ?? []).filter((b) => b?.type === 'image'),
    data: (png) => ({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') } }),
    url: (u) => ({ type: 'image', source: { type: 'url', url: u } }),
  },
  // Bedrock Converse: inline bytes (base64 in JSON) only
  converse: {
    blocks: (rec) => (lastOf(rec.json?.messages)?.content ?? []).filter((b) => b?.image !== undefined),
    data: (png) => ({ image: { format: 'png', source: { bytes: png.toString('base64') } } }),
  },
  // Gemini: inlineData for data URLs, fileData (MIME type from the URL's extension) for URLs
  gemini: {
    blocks: (rec) => (lastOf(rec.json?.contents)?.parts ?? []).filter((p) => p?.inlineData !== undefined || p?.fileData !== undefined),
    data: (png) => ({ inlineData: { mimeType: 'image/png', data: png.toString('base64') } }),
    url: (u) => ({ fileData: { mimeType: 'image/png', fileUri: u } }),
  },
  // OpenAI chat (Azure): the client's parts, unchanged
  openai: {
    blocks: (rec) => [].concat(lastOf(rec.json?.messages)?.content ?? []).filter((p) => p?.type === 'image_url'),
    data: (png) => ({ type: 'image_url', image_url: { url: pngDataUrl(png) } }),
    url: (u) => ({ type: 'image_url', image_url: { url: u } }),
  },
};

/** Credentials the clients send: none of them may reach any simulator. */
export const CLIENT_SECRETS = {
  openaiKey: 'sk-client-openai-MUST-NOT-LEAK',
  anthropicKey: 'sk-ant-client-MUST-NOT-LEAK',
  bearer: 'client-bearer-token-MUST-NOT-LEAK',
};

export const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', description: 'City name' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
          note: { type: 'string' },
        },
        required: ['city'],
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      description: 'Local time in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' }, note: { type: 'string' } }, required: ['city'] },
    },
  },
];

/** The same tools in the Anthropic Messages shape. */
export const ANTHROPIC_TOOLS = TOOLS.map((t) => ({
  name: t.function.name,
  description: t.function.description,
  input_schema: t.function.parameters,
}));

/**
 * Starts simulators, then sluice with resources built from them. Returns a stack object
 * { sims, gw, resources, close() }.
 * @param {object} o
 * @param {Record<string, () => Promise<object>>} o.sims   name -> starter
 * @param {(sims) => {routes, backends}} o.config
 * @param {(sims) => Record<string, string>} [o.env]  extra environment for sluice
 * @param {string[]} [o.args]  extra `sluice run` arguments
 */
export async function startProviderStack({ sims: starters, config, env, args = [] }) {
  const stack = { sims: {}, gw: null, resources: null };
  stack.close = async () => {
    if (stack.gw) await stack.gw.stop();
    for (const s of Object.values(stack.sims)) await s.close();
    if (stack.resources) stack.resources.cleanup();
  };
  try {
    for (const [name, start] of Object.entries(starters)) stack.sims[name] = await start();
    const yaml = providerResources(config(stack.sims));
    stack.yaml = yaml;
    stack.resources = writeResourceFile(yaml);
    stack.gw = await startSluice({ resourceFile: stack.resources.file, env: env ? env(stack.sims) : {}, args });
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}

/** The requests a sim recorded since index `since` that match `pred`. */
export function since(sim, mark, pred = () => true) {
  return sim.requests.slice(mark).filter(pred);
}

/** Exactly one upstream request matching pred since mark; fails with what was seen. */
export function oneUpstream(sim, mark, pred, what = 'upstream request') {
  const all = sim.requests.slice(mark);
  const got = all.filter(pred);
  assert.equal(got.length, 1, `expected exactly one ${what}, saw ${got.length}; all requests since: ${JSON.stringify(all.map((r) => ({ kind: r.kind, path: r.path, problems: r.problems })))}`);
  return got[0];
}

/** Asserts the sim found nothing wrong with the request it received. */
export function assertAccepted(rec) {
  assert.deepEqual(rec.problems, [], `the simulator rejected the gateway's upstream request (${rec.method} ${rec.path}): ${rec.problems.join('; ')}\nbody: ${rec.body.slice(0, 2000)}`);
}

/** Reassembles an OpenAI chat stream (async iterable of chunks). */
export async function collectChatStream(stream) {
  const out = { text: '', toolCalls: [], finishReason: null, usage: null, usageChunks: 0, chunks: 0, role: null, finishChunks: 0 };
  for await (const chunk of stream) {
    out.chunks++;
    if (chunk.usage) {
      out.usage = chunk.usage;
      out.usageChunks++;
    }
    for (const c of chunk.choices ?? []) {
      assert.equal(c.index, 0, `unexpected choice index ${c.index}`);
      const d = c.delta ?? {};
      if (d.role) out.role = d.role;
      if (typeof d.content === 'string') out.text += d.content;
      for (const tc of d.tool_calls ?? []) {
        assert.ok(Number.isInteger(tc.index), `tool call delta without an index: ${JSON.stringify(tc)}`);
        out.toolCalls[tc.index] ??= { id: '', name: '', arguments: '', type: null };
        const slot = out.toolCalls[tc.index];
        if (tc.id) {
          assert.ok(!slot.id || slot.id === tc.id, `tool call ${tc.index} changed id from ${slot.id} to ${tc.id}`);
          slot.id = tc.id;
        }
        if (tc.type) slot.type = tc.type;
        if (tc.function?.name) slot.name += tc.function.name;
        if (tc.function?.arguments) slot.arguments += tc.function.arguments;
      }
      if (c.finish_reason) {
        out.finishReason = c.finish_reason;
        out.finishChunks++;
      }
    }
  }
  return out;
}

/**
 * Asserts that no client credential, and no credential of another backend, reached any sim,
 * and that never-sent secrets (AWS secret key, GCP private key) reached none.
 * @param {Record<string, {requests}>} sims
 * @param {Record<string, string[]>} own      sim name -> secrets that sim may receive
 * @param {string[]} neverSent                secrets no sim may receive
 */
export function assertNoCredentialLeaks(sims, own, neverSent = []) {
  const allOwn = Object.values(own).flat();
  const clientSecrets = Object.values(CLIENT_SECRETS);
  let checked = 0;
  for (const [name, sim] of Object.entries(sims)) {
    const forbidden = [
      ...clientSecrets.map((s) => [s, 'a client credential']),
      ...allOwn.filter((s) => !(own[name] ?? []).includes(s)).map((s) => [s, 'another backend\'s credential']),
      ...neverSent.map((s) => [s, 'a secret that must never be sent']),
    ];
    for (const r of sim.requests) {
      checked++;
      const headerText = r.rawHeaders ? r.rawHeaders.join('\n') : JSON.stringify(r.headers);
      const text = `${headerText}\n${r.path}\n${r.body}`;
      for (const [secret, what] of forbidden) {
        assert.ok(!text.includes(secret), `${what} reached the ${name} simulator in ${r.method} ${r.path}`);
      }
    }
  }
  assert.ok(checked > 0, 'no upstream requests were recorded at all');
}

function assertOpenAIError(err, status) {
  assert.ok(err && typeof err === 'object', `expected an APIError, got ${err}`);
  assert.equal(err.status, status, `status: ${err.status} (${err.message})`);
  assert.ok(err.error && typeof err.error === 'object', `no OpenAI error object: ${JSON.stringify(err.error)}`);
  assert.equal(typeof err.error.message, 'string');
  assert.ok(err.error.message.length > 0);
  assert.equal(typeof err.error.type, 'string', `error.type: ${JSON.stringify(err.error)}`);
}

const WEATHER_Q = 'What is the weather in Paris?';

/**
 * Registers the OpenAI-client chat cases for one backend (call inside a describe()).
 * @param {object} o
 * @param {() => object} o.stack        returns the started stack (after before() ran)
 * @param {() => object} o.client       returns an OpenAI client pointed at the gateway
 * @param {string} o.simName            the sim (in stack.sims) the model routes to
 * @param {string} o.model
 * @param {(r) => boolean} o.isChat     matches that sim's chat requests
 * @param {boolean} o.simToolIds        the provider gives tool-call ids (else the gateway invents them)
 * @param {boolean} o.retryAfter        the provider's 429 carries retry-after: 7
 * @param {boolean} [o.midStreamError]  the sim can fail mid-stream ("[[stream-error]]")
 * @param {string} [o.midStreamErrorType]  the OpenAI error type that failure must carry
 * @param {object} [o.images]          image cases: {wire: IMAGE_WIRE.<dialect>, url: 'forward' |
 *                                      'refuse' (sluice answers 400 naming the URL's field, nothing
 *                                      upstream), simSees: false for a sim that does not read
 *                                      images (its answer then does not name them)}
 * @param {object} [o.usageDetail]     cached/reasoning usage cases ("[[cache]]"): {cacheWrite:
 *                                      the provider reports cache writes (sluice passes them as
 *                                      prompt_tokens_details.cache_creation_input_tokens),
 *                                      reasoning: the provider reports reasoning tokens}
 * @param {Record<string,string>} [o.todo]  case key (chat, stream, rawStream, tools, toolsStream,
 *                                      toolResults, errors, midStreamError, images, imageUrl,
 *                                      usageDetail) -> reason, for capabilities not implemented yet
 */
export function defineOpenAIChatCases(o) {
  const sim = () => o.stack().sims[o.simName];
  const gw = () => o.stack().gw;
  const opts = (key) => (o.todo?.[key] ? { todo: o.todo[key] } : {});
  const wrap = (fn) => withGatewayLogs(gw, fn);

  const checkToolCalls = (calls, rec, n) => {
    assert.equal(calls.length, n, `tool calls: ${JSON.stringify(calls)}`);
    const names = ['get_weather', 'get_time'];
    const ids = new Set();
    calls.forEach((c, i) => {
      const want = rec.answer.toolCalls[i];
      assert.equal(c.type ?? 'function', 'function');
      const name = c.function?.name ?? c.name;
      const args = c.function?.arguments ?? c.arguments;
      assert.equal(name, want.name);
      assert.equal(name, names[i]);
      assert.deepEqual(JSON.parse(args), TOOL_ARGS[i], `arguments of call ${i}: ${args}`);
      assert.ok(typeof c.id === 'string' && c.id.length > 0, `call ${i} has no id`);
      if (o.simToolIds) assert.equal(c.id, want.id, `call ${i} id`);
      ids.add(c.id);
    });
    assert.equal(ids.size, n, 'tool-call ids must be distinct');
  };

  test('chat, not streamed: text, finish_reason, usage, system prompt and user text upstream', opts('chat'), wrap(async () => {
    const mark = sim().requests.length;
    const r = await o.client().chat.completions.create({
      model: o.model,
      messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'hello from the openai sdk' }],
      max_completion_tokens: 256,
    });
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAccepted(rec);
    assert.equal(rec.conv.lastUserText, 'hello from the openai sdk');
    assert.equal(rec.conv.system, 'Answer briefly.');
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, rec.answer.text);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.prompt_tokens, rec.answer.usage.input);
    assert.equal(r.usage.completion_tokens, rec.answer.usage.output);
    assert.equal(r.usage.total_tokens, rec.answer.usage.input + rec.answer.usage.output);
  }));

  test('chat, streamed with include_usage: reassembled text, one finish_reason, one usage chunk', opts('stream'), wrap(async () => {
    const mark = sim().requests.length;
    const stream = await o.client().chat.completions.create({
      model: o.model,
      messages: [{ role: 'user', content: 'stream these words back to me' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const got = await collectChatStream(stream);
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAccepted(rec);
    assert.equal(got.role, 'assistant');
    assert.equal(got.text, rec.answer.text);
    assert.equal(got.finishReason, 'stop');
    assert.equal(got.finishChunks, 1, 'exactly one chunk carries finish_reason');
    assert.equal(got.usageChunks, 1, 'exactly one usage chunk');
    assert.equal(got.usage.prompt_tokens, rec.answer.usage.input);
    assert.equal(got.usage.completion_tokens, rec.answer.usage.output);
    assert.equal(got.usage.total_tokens, rec.answer.usage.input + rec.answer.usage.output);
    assert.ok(got.chunks >= 3, `expected several chunks, got ${got.chunks}`);
  }));

  test('chat, streamed without include_usage: no usage chunk', opts('stream'), wrap(async () => {
    const mark = sim().requests.length;
    const stream = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'no usage please' }], stream: true,
    });
    const got = await collectChatStream(stream);
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assert.equal(got.text, rec.answer.text);
    assert.equal(got.usageChunks, 0, 'a usage chunk was sent although include_usage was not set');
  }));

  test('raw SSE framing: text/event-stream, chat.completion.chunk objects, one id, [DONE] last', opts('rawStream'), wrap(async () => {
    const res = await fetch(`${gw().baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_SECRETS.openaiKey}` },
      body: JSON.stringify({
        model: o.model, messages: [{ role: 'user', content: 'raw framing check' }], stream: true, stream_options: { include_usage: true },
      }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const data = sseData(text);
    assert.equal(data[data.length - 1], '[DONE]', `the stream must end with data: [DONE]; last events: ${data.slice(-2).join(' | ')}`);
    assert.equal(data.filter((d) => d === '[DONE]').length, 1);
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const withChoices = chunks.filter((c) => c.choices?.length > 0);
    assert.ok(withChoices.length >= 2);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk', JSON.stringify(c));
      assert.ok(Array.isArray(c.choices), JSON.stringify(c));
    }
    for (const c of withChoices) assert.equal(c.id, withChoices[0].id, 'every chunk of one completion has the same id');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], 'the usage chunk comes last and has no choices');
    assert.ok(last.usage && last.usage.total_tokens > 0, JSON.stringify(last));
  }));

  test('tools, not streamed: one tool call with the sim\'s id, name and arguments', opts('tools'), wrap(async () => {
    const mark = sim().requests.length;
    const r = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: WEATHER_Q }], tools: TOOLS,
    });
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAccepted(rec);
    assert.deepEqual(rec.conv.toolNames, ['get_weather', 'get_time']);
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    checkToolCalls(r.choices[0].message.tool_calls ?? [], rec, 1);
  }));

  test('parallel tool calls, not streamed', opts('tools'), wrap(async () => {
    const mark = sim().requests.length;
    const r = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'parallel: weather and time in Paris' }], tools: TOOLS,
    });
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAccepted(rec);
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    checkToolCalls(r.choices[0].message.tool_calls ?? [], rec, 2);
  }));

  test('parallel tool calls, streamed: ids, names and arguments reassembled from deltas', opts('toolsStream'), wrap(async () => {
    const mark = sim().requests.length;
    const stream = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'parallel: weather and time, streamed' }], tools: TOOLS, stream: true,
      stream_options: { include_usage: true },
    });
    const got = await collectChatStream(stream);
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAccepted(rec);
    assert.equal(got.finishReason, 'tool_calls');
    assert.equal(got.text, '');
    checkToolCalls(got.toolCalls, rec, 2);
    assert.equal(got.usage?.completion_tokens, rec.answer.usage.output);
  }));

  test('streamed tool call through the SDK\'s own stream helper (finalChatCompletion)', opts('toolsStream'), wrap(async () => {
    const mark = sim().requests.length;
    const runner = o.client().chat.completions.stream({
      model: o.model, messages: [{ role: 'user', content: WEATHER_Q }], tools: TOOLS,
    });
    const final = await runner.finalChatCompletion();
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    checkToolCalls(final.choices[0].message.tool_calls ?? [], rec, 1);
  }));

  test('tool results round trip: two tool messages answer two parallel calls', opts('toolResults'), wrap(async () => {
    const first = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'parallel: weather and time please' }], tools: TOOLS,
    });
    const calls = first.choices[0].message.tool_calls ?? [];
    assert.equal(calls.length, 2, `first turn: ${JSON.stringify(first.choices[0].message)}`);
    const mark = sim().requests.length;
    const messages = [
      { role: 'user', content: 'parallel: weather and time please' },
      { role: 'assistant', content: null, tool_calls: calls },
      { role: 'tool', tool_call_id: calls[0].id, content: 'Paris is 22 degrees and sunny' },
      { role: 'tool', tool_call_id: calls[1].id, content: 'It is 14:05 in Paris' },
    ];
    const r = await o.client().chat.completions.create({ model: o.model, messages, tools: TOOLS });
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAccepted(rec);
    assert.equal(rec.conv.toolResults.length, 2, `tool results upstream: ${JSON.stringify(rec.conv.toolResults)}`);
    assert.ok(rec.conv.toolResults[0].includes('Paris is 22 degrees and sunny'), rec.conv.toolResults[0]);
    assert.ok(rec.conv.toolResults[1].includes('It is 14:05 in Paris'), rec.conv.toolResults[1]);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].message.content, rec.answer.text);
    // and streamed, the same turn again
    const mark2 = sim().requests.length;
    const got = await collectChatStream(await o.client().chat.completions.create({ model: o.model, messages, tools: TOOLS, stream: true }));
    const rec2 = oneUpstream(sim(), mark2, o.isChat, 'chat request');
    assertAccepted(rec2);
    assert.equal(got.text, rec2.answer.text);
    assert.equal(got.finishReason, 'stop');
  }));

  if (o.images) {
    const { wire, url: urlMode, simSees = true } = o.images;
    const imgPart = (png) => ({ type: 'image_url', image_url: { url: pngDataUrl(png) } });
    const checkImageAnswer = (text, rec, images, prompt) => {
      if (simSees) {
        assert.equal(rec.answer.images.length, images.length, `images the sim read: ${JSON.stringify(rec.answer.images.map((i) => i.url ?? i.mediaType))}`);
        images.forEach((want, i) => {
          const got = rec.answer.images[i];
          if (want.bytes) assert.ok(got.bytes?.equals(want.bytes), `image ${i}: the bytes that arrived differ from the client's`);
          else assert.equal(got.url, want.url, `image ${i}: URL`);
        });
        // The answer depends on the images: their number and a digest of what arrived.
        assert.equal(text, `You said: ${prompt} ${imageNote(images)}`);
      } else {
        assert.equal(text, rec.answer.text);
      }
    };

    test('images: two base64 PNG data URLs reach the provider in its own image shape, same bytes, same order; the answer names them', opts('images'), wrap(async () => {
      const prompt = 'which colours are these two pictures?';
      const messages = [{ role: 'user', content: [imgPart(PNG_RED), { type: 'text', text: prompt }, imgPart(PNG_BLUE)] }];
      const mark = sim().requests.length;
      const r = await o.client().chat.completions.create({ model: o.model, messages });
      const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
      assertAccepted(rec);
      assert.deepEqual(wire.blocks(rec), [wire.data(PNG_RED), wire.data(PNG_BLUE)], `image blocks upstream: ${rec.body.slice(0, 1500)}`);
      checkImageAnswer(r.choices[0].message.content, rec, [{ bytes: PNG_RED }, { bytes: PNG_BLUE }], prompt);
      assert.equal(r.choices[0].finish_reason, 'stop');
      // streamed, the same request
      const mark2 = sim().requests.length;
      const got = await collectChatStream(await o.client().chat.completions.create({ model: o.model, messages, stream: true }));
      const rec2 = oneUpstream(sim(), mark2, o.isChat, 'chat request');
      assertAccepted(rec2);
      assert.deepEqual(wire.blocks(rec2), [wire.data(PNG_RED), wire.data(PNG_BLUE)]);
      checkImageAnswer(got.text, rec2, [{ bytes: PNG_RED }, { bytes: PNG_BLUE }], prompt);
      assert.equal(got.finishReason, 'stop');
    }));

    if (urlMode === 'forward') {
      test('images: an https image URL next to a data URL; the URL reaches the provider as its URL form', opts('imageUrl'), wrap(async () => {
        const prompt = 'compare the inline picture with the linked one';
        const mark = sim().requests.length;
        const r = await o.client().chat.completions.create({
          model: o.model,
          messages: [{ role: 'user', content: [{ type: 'text', text: prompt }, imgPart(PNG_RED), { type: 'image_url', image_url: { url: IMAGE_URL } }] }],
        });
        const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
        assertAccepted(rec);
        assert.deepEqual(wire.blocks(rec), [wire.data(PNG_RED), wire.url(IMAGE_URL)], `image blocks upstream: ${rec.body.slice(0, 1500)}`);
        checkImageAnswer(r.choices[0].message.content, rec, [{ bytes: PNG_RED }, { url: IMAGE_URL }], prompt);
      }));
    } else if (urlMode === 'refuse') {
      test('images: an https image URL (the provider takes inline bytes only) is a 400 naming image_url.url; nothing upstream', opts('imageUrl'), wrap(async () => {
        const params = {
          model: o.model,
          messages: [{ role: 'user', content: [{ type: 'text', text: 'and this one?' }, imgPart(PNG_RED), { type: 'image_url', image_url: { url: IMAGE_URL } }] }],
        };
        for (const stream of [false, true]) {
          const mark = sim().requests.length;
          const err = await o.client().chat.completions.create({ ...params, stream }).then(
            async (r) => {
              if (stream) for await (const _ of r) { /* drain */ }
              return null;
            },
            (e) => e,
          );
          assert.ok(err, `stream=${stream}: the request succeeded, so the URL image went somewhere`);
          assertOpenAIError(err, 400);
          assert.equal(err.error.param, 'messages[0].content[2].image_url.url', `stream=${stream}: ${JSON.stringify(err.error)}`);
          assert.match(err.error.message, /messages\[0\]\.content\[2\]\.image_url\.url/);
          assert.match(err.error.message, /data:? URL/i, 'the message should say what to send instead');
          assert.deepEqual(since(sim(), mark, o.isChat).map((x) => x.path), [], 'nothing may reach the provider');
        }
      }));
    }
  }

  if (o.usageDetail) {
    const detail = o.usageDetail;
    const checkUsage = (usage, rec, where) => {
      const u = rec.answer.usage;
      const show = `${where}: client usage ${JSON.stringify(usage)}; sim usage ${JSON.stringify(u)}`;
      assert.ok(u.cacheRead > 0, `the sim did not take the [[cache]] trigger: ${show}`);
      assert.ok(usage, `${where}: no usage`);
      const prompt = u.input + u.cacheRead + u.cacheWrite;
      assert.equal(usage.prompt_tokens, prompt, `prompt_tokens must count the cached input too: ${show}`);
      assert.equal(usage.completion_tokens, u.output, `completion_tokens (reasoning included): ${show}`);
      assert.equal(usage.total_tokens, prompt + u.output, `total = prompt + completion: ${show}`);
      assert.equal(usage.prompt_tokens_details?.cached_tokens, u.cacheRead, `prompt_tokens_details.cached_tokens: ${show}`);
      if (detail.cacheWrite) {
        assert.ok(u.cacheWrite > 0);
        assert.equal(usage.prompt_tokens_details?.cache_creation_input_tokens, u.cacheWrite, `cache writes (extension): ${show}`);
      } else {
        assert.equal(usage.prompt_tokens_details?.cache_creation_input_tokens ?? 0, 0, show);
      }
      if (detail.reasoning) {
        assert.ok(u.reasoning > 0);
        assert.equal(usage.completion_tokens_details?.reasoning_tokens, u.reasoning, `completion_tokens_details.reasoning_tokens: ${show}`);
      } else {
        assert.equal(usage.completion_tokens_details?.reasoning_tokens ?? 0, 0, show);
      }
    };

    test('usage detail, not streamed: cached input tokens (and reasoning tokens) reach the client, totals consistent', opts('usageDetail'), wrap(async () => {
      const mark = sim().requests.length;
      const r = await o.client().chat.completions.create({
        model: o.model, messages: [{ role: 'system', content: 'A long, cached system prompt.' }, { role: 'user', content: 'answer from the cache [[cache]]' }],
      });
      const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
      assertAccepted(rec);
      assert.equal(r.choices[0].message.content, rec.answer.text);
      checkUsage(r.usage, rec, 'non-streamed');
      // Without the trigger nothing is cached: cached_tokens is 0, prompt_tokens the plain input.
      const mark2 = sim().requests.length;
      const plain = await o.client().chat.completions.create({ model: o.model, messages: [{ role: 'user', content: 'nothing cached here' }] });
      const rec2 = oneUpstream(sim(), mark2, o.isChat, 'chat request');
      assert.equal(rec2.answer.usage.cacheRead, 0);
      assert.equal(plain.usage.prompt_tokens, rec2.answer.usage.input);
      assert.equal(plain.usage.prompt_tokens_details?.cached_tokens ?? 0, 0, JSON.stringify(plain.usage));
    }));

    test('usage detail, streamed with include_usage: one usage chunk with the same cached (and reasoning) tokens', opts('usageDetail'), wrap(async () => {
      const mark = sim().requests.length;
      const got = await collectChatStream(await o.client().chat.completions.create({
        model: o.model, messages: [{ role: 'user', content: 'stream from the cache [[cache]]' }],
        stream: true, stream_options: { include_usage: true },
      }));
      const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
      assertAccepted(rec);
      assert.equal(got.text, rec.answer.text);
      assert.equal(got.usageChunks, 1, 'exactly one usage chunk');
      checkUsage(got.usage, rec, 'streamed');
    }));
  }

  test('upstream 429 becomes an OpenAI error with status 429', opts('errors'), wrap(async () => {
    const mark = sim().requests.length;
    const err = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'please fail [[error:429]]' }],
    }).then(() => null, (e) => e);
    assert.ok(err, 'the request should have failed');
    oneUpstream(sim(), mark, o.isChat, 'chat request (the gateway must not retry a 429 on its own)');
    assertOpenAIError(err, 429);
    if (o.retryAfter) assert.equal(err.headers?.get('retry-after'), '7', 'retry-after must reach the client');
  }));

  test('upstream 429 on a streamed request is a 429 before any chunk', opts('errors'), wrap(async () => {
    const err = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'please fail [[error:429]]' }], stream: true,
    }).then(() => null, (e) => e);
    assertOpenAIError(err, 429);
    if (o.retryAfter) assert.equal(err.headers?.get('retry-after'), '7');
  }));

  test('upstream 400 (validation) becomes an OpenAI error with status 400', opts('errors'), wrap(async () => {
    const err = await o.client().chat.completions.create({
      model: o.model, messages: [{ role: 'user', content: 'bad request [[error:400]]' }],
    }).then(() => null, (e) => e);
    assertOpenAIError(err, 400);
  }));

  if (o.midStreamError) {
    test('an error in the middle of an upstream stream reaches the client as a stream error', opts('midStreamError'), wrap(async () => {
      const stream = await o.client().chat.completions.create({
        model: o.model, messages: [{ role: 'user', content: 'start then fail [[stream-error]] now' }], stream: true,
      });
      let text = '';
      const err = await (async () => {
        for await (const chunk of stream) text += chunk.choices?.[0]?.delta?.content ?? '';
        return null;
      })().catch((e) => e);
      assert.ok(err, `the stream ended normally after ${JSON.stringify(text)}: a client would take a truncated answer for a complete one`);
      if (o.midStreamErrorType) {
        // A provider's own error event keeps its kind (e.g. Bedrock's throttlingException).
        assert.equal(err.type, o.midStreamErrorType, `error event: ${JSON.stringify(err.error ?? err.message)}`);
      }
    }));

    test('after a stream that broke mid-way, the client keep-alive connection serves the next request', opts('midStreamError'), wrap(async () => {
      // The client's response was complete (an error event, then the chunked body's end): only
      // the upstream connection is in doubt. Two requests on one raw socket, as a pooling
      // client sends them.
      const replies = await twoRequestsOnOneConnection(gw().baseURL, [
        { model: o.model, messages: [{ role: 'user', content: 'start then fail [[stream-error]] now' }], stream: true },
        { model: o.model, messages: [{ role: 'user', content: 'after the stream error' }] },
      ]);
      assert.match(replies[0], /^HTTP\/1\.1 200/);
      assert.match(replies[0], /"error"/, 'the first answer must end with an error event');
      assert.ok(replies[1] !== null, 'the gateway closed the client connection after the broken stream');
      assert.match(replies[1], /^HTTP\/1\.1 200/, replies[1]);
      assert.match(replies[1], /after the stream error/);
    }));
  }
}

/**
 * Sends OpenAI chat requests one after the other on a single keep-alive TCP connection and
 * returns each raw HTTP answer (null for one the server closed the connection before).
 * Answers are read to their end: content-length, or the last chunk of a chunked body.
 */
export async function twoRequestsOnOneConnection(baseURL, bodies) {
  const u = new URL(baseURL);
  const sock = net.connect(Number(u.port), u.hostname);
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake = null;
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); wake?.(); });
  sock.on('close', () => { closed = true; wake?.(); });
  sock.on('error', () => {});
  const complete = () => {
    const head = buf.indexOf('\r\n\r\n');
    if (head < 0) return -1;
    const headers = buf.subarray(0, head).toString('latin1');
    const len = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
    if (len) return buf.length >= head + 4 + Number(len[1]) ? head + 4 + Number(len[1]) : -1;
    const end = buf.indexOf('\r\n0\r\n\r\n', head);
    return end >= 0 ? end + 7 : -1;
  };
  const replies = [];
  try {
    for (const body of bodies) {
      const payload = JSON.stringify(body);
      sock.write(`POST ${u.pathname.replace(/\/$/, '')}/chat/completions HTTP/1.1\r\nhost: ${u.host}\r\n` +
        `authorization: Bearer ${CLIENT_SECRETS.openaiKey}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
      const deadline = Date.now() + 15000;
      let end;
      while ((end = complete()) < 0 && !closed && Date.now() < deadline) {
        await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 200); });
      }
      if (end < 0) {
        replies.push(null);
        break;
      }
      replies.push(buf.subarray(0, end).toString('utf8'));
      buf = buf.subarray(end);
      // A server that closes after an answer does so right away; give it the chance.
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (closed) {
        if (replies.length < bodies.length) replies.push(null);
        break;
      }
    }
  } finally {
    sock.destroy();
  }
  return replies;
}

// ---------------------------------------------------------------------------------------
// Anthropic-client cases

const headerOf = (h, name) => (h && typeof h.get === 'function' ? h.get(name) : h?.[name]) ?? null;

/** Checks the order of a Messages SSE event sequence; returns the list of event types. */
export function assertAnthropicEventOrder(events) {
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'message_start', `first event: ${types.join(',')}`);
  assert.equal(types[types.length - 1], 'message_stop', `last event: ${types.join(',')}`);
  const deltaAt = types.lastIndexOf('message_delta');
  assert.equal(deltaAt, types.length - 2, `message_delta must come right before message_stop: ${types.join(',')}`);
  let open = null;
  let next = 0;
  for (const e of events) {
    if (e.type === 'content_block_start') {
      assert.equal(open, null, `block ${e.index} started while block ${open} is open`);
      assert.equal(e.index, next, 'content blocks must be numbered 0, 1, 2, ...');
      open = e.index;
    } else if (e.type === 'content_block_delta') {
      assert.equal(e.index, open, `delta for block ${e.index} outside its start/stop`);
    } else if (e.type === 'content_block_stop') {
      assert.equal(e.index, open, `stop for block ${e.index} that is not open`);
      open = null;
      next++;
    }
  }
  assert.equal(open, null, 'a content block was never stopped');
  return types;
}

/**
 * Registers the Anthropic-client (official @anthropic-ai/sdk) cases for one backend.
 * @param {object} o
 * @param {() => object} o.stack
 * @param {() => object} o.apiKeyClient   Anthropic client with x-api-key, base URL <gw>/anthropic
 * @param {() => object} o.bearerClient   Anthropic client with Authorization: Bearer, base URL <gw>
 * @param {string} o.simName
 * @param {string} o.model
 * @param {(r) => boolean} o.isChat
 * @param {(rec) => {text, usage, toolCalls}} [o.answerOf]  expected answer (default rec.answer)
 * @param {boolean} [o.tools=true]       the backend sim answers tool calls
 * @param {boolean} [o.usage=true]       exact usage comparison
 * @param {boolean} [o.simToolIds=true]  the provider gives tool-call ids (else the gateway invents
 *                                       them: distinct, non-empty, and sent back in tool results)
 * @param {boolean} o.retryAfter
 * @param {boolean} [o.errorViaHeader]   inject the 429 with the x-sim-status header (provider_sim.mjs)
 * @param {Record<string,string>} [o.todo]  case key (text, stream, tools, toolsStream, toolResults,
 *                                       errors, or all) -> reason, for what is not implemented yet
 */
export function defineAnthropicClientCases(o) {
  const sim = () => o.stack().sims[o.simName];
  const gw = () => o.stack().gw;
  const opts = (key) => {
    const reason = o.todo?.[key] ?? o.todo?.all;
    return reason ? { todo: reason } : {};
  };
  const wrap = (fn) => withGatewayLogs(gw, fn);
  const answerOf = o.answerOf ?? ((rec) => rec.answer);
  const tools = o.tools ?? true;
  const usage = o.usage ?? true;

  const checkText = (msg, rec) => {
    const want = answerOf(rec);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    const texts = msg.content.filter((b) => b.type === 'text');
    assert.equal(texts.map((b) => b.text).join(''), want.text, `content: ${JSON.stringify(msg.content)}`);
    assert.equal(msg.stop_reason, 'end_turn');
    if (usage) {
      assert.equal(msg.usage.input_tokens, want.usage.input, `usage: ${JSON.stringify(msg.usage)}`);
      assert.equal(msg.usage.output_tokens, want.usage.output, `usage: ${JSON.stringify(msg.usage)}`);
    } else {
      assert.ok(msg.usage.output_tokens > 0, `usage: ${JSON.stringify(msg.usage)}`);
    }
  };
  const checkToolUses = (msg, rec, n) => {
    const uses = msg.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, n, `content: ${JSON.stringify(msg.content)}`);
    assert.equal(msg.stop_reason, 'tool_use');
    uses.forEach((u, i) => {
      const want = rec.answer.toolCalls[i];
      if (o.simToolIds ?? true) assert.equal(u.id, want.id, `tool_use ${i} id`);
      else assert.ok(typeof u.id === 'string' && u.id.length > 0, `tool_use ${i} has no id`);
      assert.equal(u.name, want.name);
      assert.deepEqual(u.input, TOOL_ARGS[i]);
    });
  };
  const base = (content, extra = {}) => ({ model: o.model, max_tokens: 512, messages: [{ role: 'user', content }], ...extra });

  test('messages, not streamed, x-api-key client on /anthropic/v1/messages', opts('text'), wrap(async () => {
    const mark = sim().requests.length;
    const msg = await o.apiKeyClient().messages.create(base('hello from the anthropic sdk', { system: 'Answer briefly.' }));
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    if (rec.problems) assertAccepted(rec);
    if (rec.conv) {
      assert.equal(rec.conv.lastUserText, 'hello from the anthropic sdk');
      assert.equal(rec.conv.system, 'Answer briefly.');
    }
    checkText(msg, rec);
  }));

  test('messages, not streamed, Authorization: Bearer client on /v1/messages', opts('text'), wrap(async () => {
    const mark = sim().requests.length;
    const msg = await o.bearerClient().messages.create(base('hello with a bearer token'));
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    checkText(msg, rec);
  }));

  test('messages, streamed: event order, reassembled text, usage in message_delta', opts('stream'), wrap(async () => {
    const mark = sim().requests.length;
    const stream = o.apiKeyClient().messages.stream(base('stream these words please'));
    const events = [];
    for await (const ev of stream) events.push(ev);
    const final = await stream.finalMessage();
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    assertAnthropicEventOrder(events);
    checkText(final, rec);
    const texts = events.filter((e) => e.type === 'content_block_delta' && e.delta.type === 'text_delta');
    assert.ok(texts.length >= 2, 'the text should arrive in several deltas');
  }));

  test('messages, streamed, bearer client on /v1/messages', opts('stream'), wrap(async () => {
    const mark = sim().requests.length;
    const final = await o.bearerClient().messages.stream(base('bearer stream')).finalMessage();
    const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
    checkText(final, rec);
  }));

  if (tools) {
    test('tool_use, not streamed: the sim\'s id, name and input', opts('tools'), wrap(async () => {
      const mark = sim().requests.length;
      const msg = await o.apiKeyClient().messages.create(base('What is the weather in Paris?', { tools: ANTHROPIC_TOOLS }));
      const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
      assertAccepted(rec);
      assert.deepEqual(rec.conv.toolNames, ['get_weather', 'get_time']);
      checkToolUses(msg, rec, 1);
    }));

    test('parallel tool_use, streamed: input_json_delta reassembled by the SDK', opts('toolsStream'), wrap(async () => {
      const mark = sim().requests.length;
      const stream = o.apiKeyClient().messages.stream(base('parallel: weather and time', { tools: ANTHROPIC_TOOLS }));
      const events = [];
      for await (const ev of stream) events.push(ev);
      const final = await stream.finalMessage();
      const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
      assertAccepted(rec);
      assertAnthropicEventOrder(events);
      assert.ok(events.some((e) => e.type === 'content_block_delta' && e.delta.type === 'input_json_delta'), 'no input_json_delta events');
      checkToolUses(final, rec, 2);
    }));

    test('tool_result round trip: two results answer two tool_use blocks', opts('toolResults'), wrap(async () => {
      const first = await o.apiKeyClient().messages.create(base('parallel: weather and time', { tools: ANTHROPIC_TOOLS }));
      const uses = first.content.filter((b) => b.type === 'tool_use');
      assert.equal(uses.length, 2, JSON.stringify(first.content));
      const mark = sim().requests.length;
      const params = {
        model: o.model, max_tokens: 512, tools: ANTHROPIC_TOOLS,
        messages: [
          { role: 'user', content: 'parallel: weather and time' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [
            { type: 'tool_result', tool_use_id: uses[0].id, content: 'Paris is 22 degrees and sunny' },
            { type: 'tool_result', tool_use_id: uses[1].id, content: [{ type: 'text', text: 'It is 14:05 in Paris' }] },
          ] },
        ],
      };
      const msg = await o.apiKeyClient().messages.create(params);
      const rec = oneUpstream(sim(), mark, o.isChat, 'chat request');
      assertAccepted(rec);
      assert.equal(rec.conv.toolResults.length, 2, JSON.stringify(rec.conv.toolResults));
      assert.ok(rec.conv.toolResults[0].includes('Paris is 22 degrees and sunny'));
      assert.ok(rec.conv.toolResults[1].includes('It is 14:05 in Paris'));
      checkText(msg, rec);
      const final = await o.apiKeyClient().messages.stream(params).finalMessage();
      assert.equal(final.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), rec.answer.text);
    }));
  }

  test('upstream 429 becomes an Anthropic rate_limit_error with status 429', opts('errors'), wrap(async () => {
    const err = await (o.errorViaHeader
      ? o.apiKeyClient().messages.create(base('please fail'), { headers: { 'x-sim-status': '429' } })
      : o.apiKeyClient().messages.create(base('please fail [[error:429]]'))).then(() => null, (e) => e);
    assert.ok(err, 'the request should have failed');
    assert.equal(err.status, 429, String(err));
    assert.equal(err.error?.type, 'error', `body: ${JSON.stringify(err.error)}`);
    assert.equal(err.error?.error?.type, 'rate_limit_error', `body: ${JSON.stringify(err.error)}`);
    if (o.retryAfter) assert.equal(headerOf(err.headers, 'retry-after'), '7');
  }));
}
