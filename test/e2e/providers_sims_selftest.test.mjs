// Self-tests of the provider simulators (test/tools/provider_sims/): the checks the gateway
// tests rely on must reject what is wrong, not only accept what is right. No gateway needed.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { startAnthropicSim } from '../tools/provider_sims/anthropic.mjs';
import {
  DEFAULT_AWS_CREDENTIALS, crc32, decodeEventStream, encodeEventStreamMessage, startBedrockSim,
} from '../tools/provider_sims/bedrock.mjs';
import { startAzureSim } from '../tools/provider_sims/azure.mjs';
import { CLOUD_PLATFORM_SCOPE, serviceAccountJson, startVertexSim } from '../tools/provider_sims/vertex.mjs';

describe('AWS event-stream encoder', () => {
  test('matches the reference vector without headers', () => {
    const msg = encodeEventStreamMessage([], '{"foo": "bar"}');
    assert.equal(msg.length, 30);
    assert.equal(msg.subarray(0, 12).toString('hex'), '0000001e00000000baf2f68a');
    assert.equal(msg.subarray(26).toString('hex'), 'ae7258e4');
  });
  test('matches the reference vector with three string headers', () => {
    const msg = encodeEventStreamMessage(
      [[':event-type', 'messageStop'], [':content-type', 'application/json'], [':message-type', 'event']],
      '{"stopReason":"end_turn"}',
    );
    assert.equal(msg.length, 122);
    assert.equal(msg.readUInt32BE(4), 81);
    assert.equal(msg.readUInt32BE(8), 0xca2c4665);
    assert.equal(msg.readUInt32BE(118), 0x5fbf09fc);
    const [decoded] = decodeEventStream(msg);
    assert.equal(decoded.headers[':event-type'], 'messageStop');
    assert.equal(decoded.payload.toString(), '{"stopReason":"end_turn"}');
  });
  test('crc32 of "123456789" is the check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });
});

describe('bedrock sim: SigV4 verification and Bedrock checks', () => {
  let sim;
  const C = DEFAULT_AWS_CREDENTIALS;
  const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
  before(async () => { sim = await startBedrockSim(); });
  after(async () => { await sim?.close(); });

  async function signedFetch(bodyObj, { creds = C, tamper, op = 'converse', model = MODEL, service = 'bedrock' } = {}) {
    const body = JSON.stringify(bodyObj);
    const path = `/model/${encodeURIComponent(model)}/${op}`;
    const signer = new SignatureV4({ credentials: creds, region: 'us-east-1', service, sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
    const signed = await signer.sign({
      method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: sim.port, path,
      headers: { host: `127.0.0.1:${sim.port}`, 'content-type': 'application/json' }, body,
    });
    const headers = { ...signed.headers };
    delete headers.host;
    const sent = tamper ? tamper(body) : body;
    const res = await fetch(`${sim.url}${path}`, { method: 'POST', headers, body: sent });
    const buf = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, buf, text: buf.toString(), rec: sim.requests[sim.requests.length - 1] };
  }
  const hello = { messages: [{ role: 'user', content: [{ text: 'hello' }] }] };

  test('a request signed with @smithy/signature-v4 is accepted', async () => {
    const r = await signedFetch(hello);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.rec.signatureValid, true, r.rec.signatureProblem);
    assert.equal(JSON.parse(r.text).output.message.content[0].text, 'You said: hello');
  });
  test('a body changed after signing is refused with 403 InvalidSignatureException', async () => {
    const r = await signedFetch(hello, { tamper: (b) => b.replace('hello', 'hellp') });
    assert.equal(r.status, 403);
    assert.match(r.headers.get('x-amzn-errortype'), /^InvalidSignatureException/);
    assert.match(JSON.parse(r.text).message, /signature we calculated does not match/);
    assert.equal(r.rec.signatureValid, false);
  });
  test('a wrong secret key, a wrong service and a wrong key id are refused', async () => {
    const wrongSecret = await signedFetch(hello, { creds: { ...C, secretAccessKey: 'not-the-secret' } });
    assert.equal(wrongSecret.status, 403);
    const wrongService = await signedFetch(hello, { service: 'bedrock-runtime' });
    assert.equal(wrongService.status, 403);
    const wrongKey = await signedFetch(hello, { creds: { ...C, accessKeyId: 'AKIAOTHER' } });
    assert.equal(wrongKey.status, 403);
    assert.match(wrongKey.headers.get('x-amzn-errortype'), /^UnrecognizedClientException/);
  });
  test('an unsigned request is refused', async () => {
    const res = await fetch(`${sim.url}/model/x/converse`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 403);
  });
  test('Converse validation: roles must alternate, toolUse needs toolConfig, no unknown fields', async () => {
    const twoUsers = await signedFetch({ messages: [{ role: 'user', content: [{ text: 'a' }] }, { role: 'user', content: [{ text: 'b' }] }] });
    assert.equal(twoUsers.status, 400);
    assert.match(twoUsers.headers.get('x-amzn-errortype'), /^ValidationException/);
    const noToolConfig = await signedFetch({ messages: [
      { role: 'user', content: [{ text: 'a' }] },
      { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'f', input: {} } }] },
      { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'r' }] } }] },
    ] });
    assert.equal(noToolConfig.status, 400);
    assert.match(JSON.parse(noToolConfig.text).message, /toolConfig field must be defined/);
    const extra = await signedFetch({ ...hello, model: 'x', stream: true });
    assert.equal(extra.status, 400);
    const blank = await signedFetch({ messages: [{ role: 'user', content: [{ text: '' }] }] });
    assert.equal(blank.status, 400);
  });
  test('throttling: 429 ThrottlingException', async () => {
    const r = await signedFetch({ messages: [{ role: 'user', content: [{ text: '[[error:429]]' }] }] });
    assert.equal(r.status, 429);
    assert.match(r.headers.get('x-amzn-errortype'), /^ThrottlingException/);
  });
  test('ConverseStream frames decode with valid CRCs into the documented event sequence', async () => {
    const r = await signedFetch({
      messages: [{ role: 'user', content: [{ text: 'parallel please' }] }],
      toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }] },
    }, { op: 'converse-stream' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/vnd.amazon.eventstream');
    const events = decodeEventStream(r.buf).map((m) => m.headers[':event-type']);
    assert.deepEqual(events, ['messageStart',
      'contentBlockStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop',
      'contentBlockStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop',
      'messageStop', 'metadata']);
  });
  test('invoke-with-response-stream wraps Anthropic events in base64 chunk payloads', async () => {
    const r = await signedFetch({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { op: 'invoke-with-response-stream', model: 'anthropic.claude-sonnet-4-20250514-v1:0' });
    assert.equal(r.status, 200, r.text);
    const msgs = decodeEventStream(r.buf);
    assert.ok(msgs.every((m) => m.headers[':event-type'] === 'chunk'));
    const types = msgs.map((m) => JSON.parse(Buffer.from(JSON.parse(m.payload).bytes, 'base64')).type);
    assert.equal(types[0], 'message_start');
    assert.equal(types[types.length - 1], 'message_stop');
    const withModel = await signedFetch({ anthropic_version: 'bedrock-2023-05-31', model: 'x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { op: 'invoke', model: 'anthropic.claude-sonnet-4-20250514-v1:0' });
    assert.equal(withModel.status, 400, 'a body with model is refused');
  });
});

describe('vertex sim: JWT-bearer token endpoint and bearer checks', () => {
  let sim;
  const clientEmail = 'selftest@p.iam.gserviceaccount.com';
  const keys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  before(async () => { sim = await startVertexSim({ publicKey: keys.publicKey, clientEmail, privateKeyId: 'k1' }); });
  after(async () => { await sim?.close(); });

  function jwt(claimsOver = {}, key = keys.privateKey, header = { alg: 'RS256', typ: 'JWT', kid: 'k1' }) {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: clientEmail, scope: CLOUD_PLATFORM_SCOPE, aud: `${sim.url}/token`, iat: now, exp: now + 3600, ...claimsOver };
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc(header)}.${enc(claims)}`;
    return `${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
  }
  async function token(assertion) {
    const res = await fetch(`${sim.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
    });
    return { status: res.status, json: await res.json() };
  }
  const gen = (tok) => fetch(`${sim.url}/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
  });

  test('a valid assertion gets a token that opens generateContent', async () => {
    const t = await token(jwt());
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.equal(t.json.token_type, 'Bearer');
    const res = await gen(t.json.access_token);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).candidates[0].content.parts[0].text, 'You said: hi');
  });
  test('bad signature, wrong aud, wrong iss, missing scope, long lifetime are invalid_grant', async () => {
    for (const a of [
      jwt({}, other.privateKey),
      jwt({ aud: 'https://oauth2.googleapis.com/token' }),
      jwt({ iss: 'someone@else' }),
      jwt({ scope: 'https://www.googleapis.com/auth/userinfo.email' }),
      jwt({ exp: Math.floor(Date.now() / 1000) + 7200 }),
      jwt({}, keys.privateKey, { alg: 'HS256', typ: 'JWT' }),
    ]) {
      const t = await token(a);
      assert.equal(t.status, 400);
      assert.equal(t.json.error, 'invalid_grant');
    }
  });
  test('model calls without a token, or with a token it did not issue, are 401', async () => {
    assert.equal((await gen(null)).status, 401);
    assert.equal((await gen('ya29.made-up')).status, 401);
  });
  test('the service-account JSON names the sim as token_uri', () => {
    const sa = JSON.parse(serviceAccountJson({ sim, privateKey: keys.privateKey, clientEmail, privateKeyId: 'k1' }));
    assert.equal(sa.token_uri, `${sim.url}/token`);
    assert.match(sa.private_key, /^-----BEGIN PRIVATE KEY-----/);
  });
});

describe('anthropic sim and azure sim: credential and body checks', () => {
  let anth;
  let az;
  before(async () => {
    anth = await startAnthropicSim({ apiKey: 'k' });
    az = await startAzureSim({ apiKey: 'az', apiVersion: '2024-10-21' });
  });
  after(async () => { await anth?.close(); await az?.close(); });
  const post = (url, body, headers) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const msg = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };

  test('anthropic: key, version, unknown fields and tool_result ids are checked', async () => {
    assert.equal((await post(`${anth.url}/v1/messages`, msg, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' })).status, 200);
    assert.equal((await post(`${anth.url}/v1/messages`, msg, { 'x-api-key': 'bad', 'anthropic-version': '2023-06-01' })).status, 401);
    assert.equal((await post(`${anth.url}/v1/messages`, msg, { 'x-api-key': 'k' })).status, 400);
    assert.equal((await post(`${anth.url}/v1/messages`, { ...msg, stream_options: {} }, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' })).status, 400);
    const badResult = {
      ...msg,
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'r' }] },
      ],
    };
    const r = await post(`${anth.url}/v1/messages`, badResult, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).type, 'error');
    const limited = await post(`${anth.url}/v1/messages`, { ...msg, messages: [{ role: 'user', content: '[[error:429]]' }] }, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '7');
  });
  test('azure: api-key, api-version and no Authorization are required', async () => {
    const url = `${az.url}/openai/deployments/d/chat/completions`;
    const body = { messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await post(`${url}?api-version=2024-10-21`, body, { 'api-key': 'az' })).status, 200);
    assert.equal((await post(url, body, { 'api-key': 'az' })).status, 404);
    assert.equal((await post(`${url}?api-version=2024-10-21`, body, { 'api-key': 'nope' })).status, 401);
    assert.equal((await post(`${url}?api-version=2024-10-21`, body, { 'api-key': 'az', authorization: 'Bearer x' })).status, 401);
  });
});
