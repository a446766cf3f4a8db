// End-to-end: a provider whose answer breaks (a corrupted AWS event-stream CRC, an SSE event
// that is not JSON, a connection closed mid-event or below its content-length, a 200 whose body
// is not JSON) must end the client's response with a clear error in the client's own dialect:
// never a hang, never a crash, never a success ending ([DONE], message_stop) that passes a
// truncated answer off as complete. The text relayed before the break must still have reached
// the client, and the gateway keeps serving afterwards. The translators have unit tests for
// this; here it goes through a real `sluice run` process, its upstream client and its listener.
// Same-dialect backends are pass-throughs: an answer that ends whole, however odd its content,
// reaches the client exactly as the provider sent it (asserted against a direct request); a
// break (a cut mid-event, a bad frame) still ends with the gateway's error event on its own.
//
// The upstream is test/tools/provider_sims/broken_upstream.mjs, one server in every dialect
// (Bedrock Converse / ConverseStream, Anthropic, OpenAI, Vertex Gemini and its token endpoint)
// that breaks its answer as the "[[broken:NAME]]" marker in the user text says. It checks no
// signature: each case asserts the routing headers the request arrived with instead.
// Every request carries a deadline (AbortSignal) and every test a timeout, so a hang fails.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { assertOpenAIErrorShape, sseData } from './lib/http.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { DEFAULT_AWS_CREDENTIALS, awsCredentialsIni } from '../tools/provider_sims/bedrock.mjs';
import {
  AFTER_BREAK, BEFORE_BREAK, BROKEN_ACCESS_TOKEN, SOUND_TEXT, startBrokenUpstream,
} from '../tools/provider_sims/broken_upstream.mjs';
import {
  CLIENT_SECRETS, assertNoCredentialLeaks, oneUpstream, startProviderStack, twoRequestsOnOneConnection,
} from '../tools/provider_sims/e2e_support.mjs';
import { serviceAccountJson } from '../tools/provider_sims/vertex.mjs';

const skip = sluiceSkipReason();
const CREDS = DEFAULT_AWS_CREDENTIALS;
const KEYS = { anthropic: 'sk-ant-broken-backend-key', openai: 'sk-openai-broken-backend-key' };
const M = {
  converse: 'anthropic.claude-3-5-haiku-20241022-v1:0',
  anthropic: 'claude-broken-sim',
  openai: 'gpt-broken-sim',
  gemini: 'gemini-2.5-flash',
};
const DEADLINE_MS = 5000;                  // per request: longer means the gateway hung
const T = { timeout: 3 * DEADLINE_MS };    // per test

// How each backend's requests must look when they reach the upstream: the right endpoint with
// the right credential, so the case really went through that backend.
const UPSTREAM = {
  converse: {
    is: (r) => r.kind === 'bedrock:converse-stream' || r.kind === 'bedrock:converse',
    auth: (r) => assert.match(r.headers.authorization ?? '', /^AWS4-HMAC-SHA256 Credential=AKIASLUICESIMEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request/),
  },
  anthropic: {
    is: (r) => r.kind === 'anthropic:messages',
    auth: (r) => assert.equal(r.headers['x-api-key'], KEYS.anthropic),
  },
  openai: {
    is: (r) => r.kind === 'openai:chat',
    auth: (r) => assert.equal(r.headers.authorization, `Bearer ${KEYS.openai}`),
  },
  gemini: {
    is: (r) => r.kind === 'gemini:stream' || r.kind === 'gemini:generate',
    auth: (r) => assert.equal(r.headers.authorization, `Bearer ${BROKEN_ACCESS_TOKEN}`),
  },
};

/** The SSE events of a body as [{event, data}] (event null when the block has no event: line). */
function sseEvents(text) {
  return text.split(/\r?\n\r?\n/).filter((b) => b.trim().length > 0).map((b) => {
    const lines = b.split(/\r?\n/);
    const ev = lines.find((l) => l.startsWith('event:'));
    const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    return { event: ev ? ev.slice(6).trim() : null, data };
  });
}

function parseEach(datas, body) {
  return datas.map((d) => {
    try {
      return JSON.parse(d);
    } catch {
      return assert.fail(`an event the client got is not JSON: ${JSON.stringify(d)}\nwhole body:\n${body}`);
    }
  });
}

describe('clients -> sluice -> a provider whose answers break (malformed, truncated)', { skip }, () => {
  let stack;
  let openai;
  let anthropic;
  let privateKeyPem;
  const up = () => stack.sims.up;
  const wrap = (fn) => withGatewayLogs(() => stack?.gw, fn);
  const deadline = () => AbortSignal.timeout(DEADLINE_MS);
  /** POSTs an OpenAI chat request to the gateway, as a client with its own key would. */
  const postChat = (body) => fetch(`${stack.gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_SECRETS.openaiKey}` },
    body: JSON.stringify(body),
    signal: deadline(),
  });

  before(async () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    stack = await startProviderStack({
      sims: { up: () => startBrokenUpstream() },
      config: (s) => ({
        routes: [
          { model: M.converse, backend: 'bedrock' },
          { model: M.anthropic, backend: 'anthropic' },
          { model: M.openai, backend: 'openai' },
          { model: M.gemini, backend: 'vertex' },
        ],
        backends: [
          { name: 'bedrock', schema: 'AWSBedrock', port: s.up.port, auth: { type: 'AWSCredentials', region: 'us-east-1', ini: awsCredentialsIni(CREDS) } },
          { name: 'anthropic', schema: 'Anthropic', port: s.up.port, auth: { type: 'AnthropicAPIKey', key: KEYS.anthropic } },
          { name: 'openai', schema: 'OpenAI', port: s.up.port, auth: { type: 'APIKey', key: KEYS.openai } },
          // The key file's token_uri is the broken upstream's /token: it issues BROKEN_ACCESS_TOKEN.
          {
            name: 'vertex', schema: 'GCPVertexAI', port: s.up.port,
            auth: {
              type: 'GCPCredentials', project: 'p', region: 'us-central1',
              serviceAccountJson: serviceAccountJson({ sim: s.up, privateKey, clientEmail: 'broken@p.iam.gserviceaccount.com', privateKeyId: 'broken-1' }),
            },
          },
        ],
      }),
    });
    openai = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: DEADLINE_MS });
    anthropic = new Anthropic({ baseURL: `${stack.gw.url}/anthropic`, apiKey: CLIENT_SECRETS.anthropicKey, authToken: null, maxRetries: 0, timeout: DEADLINE_MS });
  });
  after(async () => { await stack?.close(); });

  /** Secrets that may appear neither in a client's error nor in the gateway's log. */
  const secrets = () => [
    ...Object.values(CLIENT_SECRETS), ...Object.values(KEYS), CREDS.secretAccessKey, CREDS.sessionToken,
    BROKEN_ACCESS_TOKEN, privateKeyPem.split('\n')[1],
  ];
  const assertNoSecretIn = (text, where) => {
    for (const s of secrets()) assert.ok(!text.includes(s), `a secret (${s.slice(0, 8)}...) appears in ${where}`);
  };

  /** Exactly one upstream request for `backend` since mark, with the marker's fault and the backend's credential. */
  const checkUpstream = (backend, mark, fault, stream) => {
    const rec = oneUpstream(up(), mark, UPSTREAM[backend].is, `${backend} request`);
    assert.equal(rec.fault, fault, `the upstream saw fault ${rec.fault}`);
    assert.equal(rec.stream, stream, `streamed upstream: ${rec.stream} (${rec.path})`);
    UPSTREAM[backend].auth(rec);
    return rec;
  };

  const userText = (fault) => `please answer [[broken:${fault}]]`;

  // ---------------------------------------------------------------------------------------
  // OpenAI client, streamed

  /**
   * The raw bytes first: 200 and an event stream whose events are all JSON, BEFORE_BREAK
   * relayed in chat.completion.chunk events, no finish_reason, then exactly one OpenAI error
   * event last, and no [DONE]. Then the same through the openai SDK: the iteration throws an
   * APIError carrying that error, after BEFORE_BREAK.
   */
  async function checkOpenAIStreamBreak({ backend, fault, message }) {
    const model = M[backend];
    const body = { model, messages: [{ role: 'user', content: userText(fault) }], stream: true };
    let mark = up().requests.length;
    const res = await postChat(body);
    const text = await res.text();
    checkUpstream(backend, mark, fault, true);
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const datas = sseData(text);
    assert.ok(!datas.includes('[DONE]'), `[DONE] after a broken upstream stream passes a truncated answer off as complete:\n${text}`);
    assert.ok(!text.includes(AFTER_BREAK), `text from after the break reached the client:\n${text}`);
    const events = parseEach(datas, text);
    const last = events.at(-1);
    assertOpenAIErrorShape(last, 'the last event');
    assert.equal(last.error.type, 'upstream_error', JSON.stringify(last));
    assert.equal(last.error.code, 'upstream_stream_error', JSON.stringify(last));
    assert.match(last.error.message, message);
    assertNoSecretIn(last.error.message, 'the error event');
    const chunks = events.slice(0, -1);
    assert.ok(chunks.length >= 1, `nothing was relayed before the error:\n${text}`);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk', JSON.stringify(c));
      assert.equal(c.error, undefined, `more than one error event:\n${text}`);
      for (const ch of c.choices ?? []) assert.equal(ch.finish_reason ?? null, null, `a finish_reason before the error: ${JSON.stringify(c)}`);
    }
    assert.equal(chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), BEFORE_BREAK);

    mark = up().requests.length;
    let got = '';
    const err = await (async () => {
      const stream = await openai.chat.completions.create(body, { signal: deadline() });
      for await (const chunk of stream) got += chunk.choices?.[0]?.delta?.content ?? '';
      return null;
    })().catch((e) => e);
    checkUpstream(backend, mark, fault, true);
    assert.ok(err, `the SDK's stream ended normally after ${JSON.stringify(got)}`);
    assert.ok(err instanceof OpenAI.APIError, `the SDK threw ${err?.name}: ${err?.message} (not the gateway's error event)`);
    assert.equal(err.code, 'upstream_stream_error', err.message);
    assert.match(err.message, message);
    assert.equal(got, BEFORE_BREAK, 'the text before the break must reach the SDK');
  }

  describe('OpenAI client, streamed', () => {
    test('AWSBedrock ConverseStream: the 3rd event-stream message has a bad message CRC', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'converse', fault: 'message-crc', message: /malformed.*message CRC/,
    })));

    test('AWSBedrock ConverseStream: the 3rd message has a bad prelude CRC', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'converse', fault: 'prelude-crc', message: /malformed.*prelude CRC/,
    })));

    test('AWSBedrock ConverseStream: the connection closes in the middle of the 3rd message', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'converse', fault: 'cut', message: /connection closed before the body ended/,
    })));

    test('Anthropic: an SSE event whose data is not JSON (sound events follow it)', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'anthropic', fault: 'bad-json', message: /malformed.*JSON/,
    })));

    test('Anthropic: the connection closes in the middle of an event', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'anthropic', fault: 'cut', message: /connection closed before the body ended/,
    })));

    test('GCPVertexAI Gemini streamGenerateContent?alt=sse: an event whose data is not JSON', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'gemini', fault: 'bad-json', message: /not valid JSON/,
    })));

    // The pass-through holds the bytes of an event until it ends, so the half event the upstream
    // sent before closing never reaches the client: the error event comes on its own.
    test('OpenAI (pass-through): the connection closes in the middle of an event', T, wrap(() => checkOpenAIStreamBreak({
      backend: 'openai', fault: 'cut', message: /connection closed before the body ended/,
    })));

    // A pass-through does not judge the provider's events: a whole stream, however odd, reaches
    // the client byte for byte, so the client meets what it would meet talking to the provider.
    test('OpenAI (pass-through): an SSE event whose data is not JSON is relayed as the provider sent it', T, wrap(() => checkPassthroughTransparent({
      backend: 'openai', fault: 'bad-json', stream: true,
    })));
  });

  // ---------------------------------------------------------------------------------------
  // OpenAI client, not streamed

  /**
   * Same-dialect backends (OpenAI, Anthropic) are pass-throughs: a provider answer that ends
   * whole reaches the client byte for byte, however odd its content, with the provider's status.
   * The same request sent to the provider directly (with the backend's key) must give the same
   * status and bytes as through sluice.
   */
  async function checkPassthroughTransparent({ backend, fault, stream }) {
    const openaiDialect = backend === 'openai';
    const body = openaiDialect
      ? { model: M[backend], messages: [{ role: 'user', content: userText(fault) }], stream }
      : { model: M[backend], max_tokens: 256, messages: [{ role: 'user', content: userText(fault) }], stream };
    const path = openaiDialect ? '/v1/chat/completions' : '/v1/messages';
    const send = async (url, headers) => {
      const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: deadline(),
      });
      return { status: res.status, text: await res.text() };
    };
    const providerAuth = openaiDialect
      ? { authorization: `Bearer ${KEYS.openai}` }
      : { 'x-api-key': KEYS.anthropic, 'anthropic-version': '2023-06-01' };
    const direct = await send(`${up().url}${path}`, providerAuth);
    const mark = up().requests.length;
    const via = openaiDialect
      ? await send(`${stack.gw.baseURL}/chat/completions`, { authorization: `Bearer ${CLIENT_SECRETS.openaiKey}` })
      : await send(`${stack.gw.url}/anthropic/v1/messages`, { 'x-api-key': CLIENT_SECRETS.anthropicKey, 'anthropic-version': '2023-06-01' });
    checkUpstream(backend, mark, fault, stream);
    assert.equal(direct.status, 200, direct.text);
    assert.ok(direct.text.length > 0);
    assert.equal(via.status, direct.status);
    assert.equal(via.text, direct.text, 'the client gets the provider\'s bytes unchanged');
    assertNoSecretIn(via.text, 'the relayed answer');
  }

  /** 502 with an OpenAI error object (raw and through the SDK), nothing secret in it. */
  async function checkOpenAIPlainBreak({ backend, fault, code, message }) {
    const body = { model: M[backend], messages: [{ role: 'user', content: userText(fault) }] };
    let mark = up().requests.length;
    const res = await postChat(body);
    const text = await res.text();
    checkUpstream(backend, mark, fault, false);
    assert.equal(res.status, 502, text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const obj = parseEach([text], text)[0];
    assertOpenAIErrorShape(obj);
    assert.equal(obj.error.type, 'upstream_error', text);
    assert.equal(obj.error.code, code, text);
    assert.match(obj.error.message, message);
    assertNoSecretIn(text, 'the error body');

    mark = up().requests.length;
    const err = await openai.chat.completions.create(body, { signal: deadline() }).then(() => null, (e) => e);
    checkUpstream(backend, mark, fault, false);
    assert.ok(err instanceof OpenAI.APIError, `the SDK got ${err?.name ?? 'a success'}: ${err?.message}`);
    assert.equal(err.status, 502, err.message);
    assert.match(err.error?.message ?? '', message);
  }

  describe('OpenAI client, not streamed', () => {
    const NOT_JSON = { fault: 'garbage', code: 'upstream_malformed', message: /upstream response could not be translated/ };
    const SHORT = { fault: 'short-body', code: 'upstream_error', message: /connection closed before the body ended/ };

    test('AWSBedrock Converse: 200 with a body that is not JSON', T, wrap(() => checkOpenAIPlainBreak({ backend: 'converse', ...NOT_JSON })));
    test('AWSBedrock Converse: the body closes below its content-length', T, wrap(() => checkOpenAIPlainBreak({ backend: 'converse', ...SHORT })));
    test('Anthropic: 200 with a body that is not JSON', T, wrap(() => checkOpenAIPlainBreak({ backend: 'anthropic', ...NOT_JSON })));
    test('Anthropic: the body closes below its content-length', T, wrap(() => checkOpenAIPlainBreak({ backend: 'anthropic', ...SHORT })));
    test('OpenAI (pass-through): the body closes below its content-length', T, wrap(() => checkOpenAIPlainBreak({ backend: 'openai', ...SHORT })));
    // Same dialect: the provider's 200 and its body, as they came (see checkPassthroughTransparent).
    test('OpenAI (pass-through): 200 with a body that is not JSON is relayed as the provider sent it', T, wrap(() => checkPassthroughTransparent({
      backend: 'openai', fault: 'garbage', stream: false,
    })));
  });

  // ---------------------------------------------------------------------------------------
  // Anthropic client

  /**
   * Raw bytes: 200, every event JSON, BEFORE_BREAK in text_delta events, then `event: error`
   * with {"type":"error","error":{"type":"api_error","message"}} last; no message_delta or
   * message_stop. Then through @anthropic-ai/sdk: the iteration throws an APIError of that type.
   */
  async function checkAnthropicStreamBreak({ backend, fault, message }) {
    const body = { model: M[backend], max_tokens: 256, messages: [{ role: 'user', content: userText(fault) }], stream: true };
    let mark = up().requests.length;
    const res = await fetch(`${stack.gw.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_SECRETS.anthropicKey, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(body),
      signal: deadline(),
    });
    const text = await res.text();
    checkUpstream(backend, mark, fault, true);
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.ok(!text.includes(AFTER_BREAK), `text from after the break reached the client:\n${text}`);
    const sse = sseEvents(text);
    const events = parseEach(sse.map((e) => e.data), text);
    events.forEach((e, i) => assert.equal(sse[i].event, e.type, `event: line and data type differ:\n${text}`));
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'message_start', types.join(','));
    assert.ok(!types.includes('message_stop') && !types.includes('message_delta'), `a success ending after a broken upstream stream: ${types.join(',')}`);
    assert.equal(types.filter((t) => t === 'error').length, 1, types.join(','));
    const last = events.at(-1);
    assert.equal(last.type, 'error', `the stream must end with an error event: ${types.join(',')}`);
    assert.equal(last.error?.type, 'api_error', JSON.stringify(last));
    assert.equal(typeof last.error.message, 'string');
    assert.match(last.error.message, message);
    assertNoSecretIn(last.error.message, 'the error event');
    const relayed = events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta?.text ?? '').join('');
    assert.equal(relayed, BEFORE_BREAK);

    mark = up().requests.length;
    let got = '';
    const err = await (async () => {
      const stream = await anthropic.messages.create(body, { signal: deadline() });
      for await (const ev of stream) if (ev.type === 'content_block_delta') got += ev.delta?.text ?? '';
      return null;
    })().catch((e) => e);
    checkUpstream(backend, mark, fault, true);
    assert.ok(err, `the SDK's stream ended normally after ${JSON.stringify(got)}`);
    assert.ok(err instanceof Anthropic.APIError, `the SDK threw ${err?.name}: ${err?.message} (not the gateway's error event)`);
    assert.equal(err.type, 'api_error', err.message);
    assert.match(err.error?.error?.message ?? '', message);
    assert.equal(got, BEFORE_BREAK, 'the text before the break must reach the SDK');
  }

  describe('Anthropic client', () => {
    test('AWSBedrock ConverseStream with a bad message CRC: event: error', T, wrap(() => checkAnthropicStreamBreak({
      backend: 'converse', fault: 'message-crc', message: /malformed.*message CRC/,
    })));

    test('OpenAI backend stream cut in the middle of an event: event: error', T, wrap(() => checkAnthropicStreamBreak({
      backend: 'openai', fault: 'cut', message: /connection closed before the body ended/,
    })));

    test('Anthropic backend stream cut in the middle of an event (pass-through): event: error', T, wrap(() => checkAnthropicStreamBreak({
      backend: 'anthropic', fault: 'cut', message: /connection closed before the body ended/,
    })));

    test('Anthropic backend stream with an event whose data is not JSON (pass-through): relayed as the provider sent it', T, wrap(() => checkPassthroughTransparent({
      backend: 'anthropic', fault: 'bad-json', stream: true,
    })));

    test('AWSBedrock Converse, not streamed, 200 with a body that is not JSON: 502 Anthropic error', T, wrap(async () => {
      const mark = up().requests.length;
      const err = await anthropic.messages.create({
        model: M.converse, max_tokens: 256, messages: [{ role: 'user', content: userText('garbage') }],
      }, { signal: deadline() }).then(() => null, (e) => e);
      checkUpstream('converse', mark, 'garbage', false);
      assert.ok(err instanceof Anthropic.APIError, `the SDK got ${err?.name ?? 'a success'}: ${err?.message}`);
      assert.equal(err.status, 502, err.message);
      assert.equal(err.error?.type, 'error', JSON.stringify(err.error));
      assert.equal(err.error?.error?.type, 'api_error', JSON.stringify(err.error));
      assert.match(err.error.error.message, /upstream response could not be translated/);
    }));
  });

  // ---------------------------------------------------------------------------------------
  // Afterwards: the same gateway still serves, and said nothing secret.

  describe('afterwards', () => {
    test('the process is alive and every backend answers a sound request, plain and streamed', T, wrap(async () => {
      assert.equal(stack.gw.exitStatus, null, `sluice exited: ${JSON.stringify(stack.gw.exitStatus)}`);
      for (const backend of ['converse', 'anthropic', 'openai', 'gemini']) {
        const r = await openai.chat.completions.create({ model: M[backend], messages: [{ role: 'user', content: 'a sound request' }] }, { signal: deadline() });
        assert.equal(r.choices[0].message.content, SOUND_TEXT, `${backend}, not streamed`);
        let text = '';
        let finish = null;
        const stream = await openai.chat.completions.create({ model: M[backend], messages: [{ role: 'user', content: 'a sound stream' }], stream: true }, { signal: deadline() });
        for await (const c of stream) {
          text += c.choices?.[0]?.delta?.content ?? '';
          finish = c.choices?.[0]?.finish_reason ?? finish;
        }
        assert.equal(text, SOUND_TEXT, `${backend}, streamed`);
        assert.equal(finish, 'stop', `${backend}, streamed`);
      }
      const msg = await anthropic.messages.create({ model: M.converse, max_tokens: 64, messages: [{ role: 'user', content: 'a sound request' }] }, { signal: deadline() });
      assert.equal(msg.content.map((b) => b.text ?? '').join(''), SOUND_TEXT);
    }));

    test('after a broken stream, the same client connection serves the next request', T, wrap(async () => {
      // The client's response was complete (an error event, then the chunked body's end): only
      // the upstream connection was bad.
      const replies = await twoRequestsOnOneConnection(stack.gw.baseURL, [
        { model: M.converse, messages: [{ role: 'user', content: userText('message-crc') }], stream: true },
        { model: M.converse, messages: [{ role: 'user', content: 'sound, on the same connection' }] },
      ]);
      assert.match(replies[0] ?? '', /^HTTP\/1\.1 200/);
      assert.match(replies[0], /"code":"upstream_stream_error"/, 'the first answer must end with the error event');
      assert.ok(replies[1] !== null && replies[1] !== undefined, 'the gateway closed the client connection after the broken stream');
      assert.match(replies[1], /^HTTP\/1\.1 200/, replies[1]);
      assert.ok(replies[1].includes(SOUND_TEXT), replies[1]);
    }));

    test('the gateway log names the failures and holds no secret; no secret reached the upstream', T, wrap(async () => {
      const log = `${stack.gw.stdout}\n${stack.gw.stderr}`;
      for (const what of ['message CRC mismatch', 'prelude CRC mismatch', 'connection closed before the body ended']) {
        assert.ok(log.includes(what), `the log does not mention "${what}"`);
      }
      assertNoSecretIn(log, 'the gateway log');
      // One upstream server holds every backend's credential; clients' and never-sent ones must not reach it.
      assertNoCredentialLeaks({ up: up() }, { up: [...Object.values(KEYS), CREDS.accessKeyId, CREDS.sessionToken, BROKEN_ACCESS_TOKEN] },
        [CREDS.secretAccessKey, privateKeyPem.split('\n')[1]]);
      assert.deepEqual(up().requests.flatMap((r) => r.problems), []);
    }));
  });
});
