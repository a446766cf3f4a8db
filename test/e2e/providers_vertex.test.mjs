// End-to-end: the official openai SDK talks to sluice, which translates to GCP Vertex AI
// (Gemini generateContent / streamGenerateContent?alt=sse / :predict embeddings for schema
// GCPVertexAI, Anthropic rawPredict / streamRawPredict for schema GCPAnthropic). Credentials
// are a service-account key generated here (node:crypto RSA) whose token_uri points at the
// simulator (test/tools/provider_sims/vertex.mjs), which verifies the RS256 JWT assertion
// with the public key and only accepts model calls bearing a token it issued.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { CLOUD_PLATFORM_SCOPE, checkGeminiBody, serviceAccountJson, startVertexSim } from '../tools/provider_sims/vertex.mjs';
import {
  CLIENT_SECRETS, IMAGE_WIRE, PNG_RED, assertAccepted, assertNoCredentialLeaks, defineOpenAIChatCases, oneUpstream, startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';
import { embeddingFor } from '../tools/provider_sims/common.mjs';

const skip = sluiceSkipReason();
const GEMINI_MODEL = 'gemini-2.5-flash';
const EMBED_MODEL = 'text-embedding-005';
const GEMINI_EMBED_MODEL = 'gemini-embedding-2-preview';  // served by :embedContent
const GEMINI_EMBED_001 = 'gemini-embedding-001';          // :predict, one text per request
const CLAUDE_MODEL = 'claude-sonnet-4@20250514';
const CLIENT_EMAIL = 'sluice-e2e@p.iam.gserviceaccount.com';
const KEY_ID = 'e2e-key-0001';

describe('openai SDK -> sluice -> GCP Vertex AI (schemas GCPVertexAI and GCPAnthropic, service-account OAuth2)', { skip }, () => {
  let stack;
  let client;
  let privateKeyPem;
  before(async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    stack = await startProviderStack({
      sims: { vertex: () => startVertexSim({ publicKey, clientEmail: CLIENT_EMAIL, privateKeyId: KEY_ID, project: 'p', region: 'us-central1' }) },
      config: (s) => {
        const auth = {
          type: 'GCPCredentials', project: 'p', region: 'us-central1',
          serviceAccountJson: serviceAccountJson({ sim: s.vertex, privateKey, clientEmail: CLIENT_EMAIL, privateKeyId: KEY_ID }),
        };
        return {
          routes: [
            { model: GEMINI_MODEL, backend: 'vertex' },
            { model: EMBED_MODEL, backend: 'vertex' },
            { model: GEMINI_EMBED_MODEL, backend: 'vertex' },
            { model: GEMINI_EMBED_001, backend: 'vertex' },
            { model: CLAUDE_MODEL, backend: 'gcpanthropic' },
          ],
          backends: [
            { name: 'vertex', schema: 'GCPVertexAI', port: s.vertex.port, auth },
            { name: 'gcpanthropic', schema: 'GCPAnthropic', version: 'vertex-2023-10-16', port: s.vertex.port, auth },
          ],
        };
      },
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  test('the gateway fetches a token with a valid JWT assertion and uses it', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.vertex;
    const mark = sim.requests.length;
    const r = await client.chat.completions.create({ model: GEMINI_MODEL, messages: [{ role: 'user', content: 'token please' }] });
    const tokenReqs = sim.requests.filter((x) => x.kind === 'token');
    assert.ok(tokenReqs.length >= 1, 'no request reached the token endpoint');
    const good = tokenReqs.filter((x) => x.jwtValid);
    assert.ok(good.length >= 1, `no token request had a valid assertion: ${tokenReqs.map((x) => x.problems.join('; ')).join(' | ')}`);
    assert.equal(good[0].jwtClaims.iss, CLIENT_EMAIL);
    assert.equal(good[0].jwtClaims.aud, `${sim.url}/token`);
    assert.ok(good[0].jwtClaims.scope.split(' ').includes(CLOUD_PLATFORM_SCOPE));
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'google:generateContent');
    assertAccepted(rec);
    assert.equal(rec.tokenValid, true);
    assert.equal(rec.path, `/v1/projects/p/locations/us-central1/publishers/google/models/${GEMINI_MODEL}:generateContent`);
    assert.equal(r.choices[0].message.content, rec.answer.text);
  }));

  describe('GCPVertexAI: Gemini', () => {
    const isChat = (r) => r.kind === 'google:generateContent' || r.kind === 'google:streamGenerateContent';
    defineOpenAIChatCases({
      stack: () => stack, client: () => client, simName: 'vertex', model: GEMINI_MODEL, isChat,
      simToolIds: false, retryAfter: false,
      images: { wire: IMAGE_WIRE.gemini, url: 'forward' },
      // Gemini has no cache writes; it reports thoughtsTokenCount.
      usageDetail: { cacheWrite: false, reasoning: true },
    });

    test('streaming uses :streamGenerateContent?alt=sse', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      for await (const _ of await client.chat.completions.create({ model: GEMINI_MODEL, messages: [{ role: 'user', content: 'x' }], stream: true })) { /* drain */ }
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.equal(rec.path, `/v1/projects/p/locations/us-central1/publishers/google/models/${GEMINI_MODEL}:streamGenerateContent?alt=sse`);
    }));

    test('Gemini body: systemInstruction, generationConfig.maxOutputTokens, functionDeclarations', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      await client.chat.completions.create({
        model: GEMINI_MODEL, max_completion_tokens: 55,
        messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'hi' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.deepEqual(rec.json.systemInstruction?.parts, [{ text: 'Be terse.' }]);
      assert.equal(rec.json.generationConfig?.maxOutputTokens, 55);
      assert.equal(rec.json.tools?.[0]?.functionDeclarations?.[0]?.name, 'get_weather');
      assert.equal(rec.json.toolConfig?.functionCallingConfig?.mode, 'ANY');
      assert.deepEqual(rec.json.toolConfig?.functionCallingConfig?.allowedFunctionNames, ['get_weather']);
    }));

    test('embeddings via :predict (float and the SDK default base64)', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      const r = await client.embeddings.create({ model: EMBED_MODEL, input: 'embed me on vertex', encoding_format: 'float' });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'google:predict');
      assertAccepted(rec);
      assert.equal(rec.tokenValid, true);
      assert.deepEqual(rec.json.instances?.map((i) => i.content), ['embed me on vertex']);
      const want = rec.answer.embeddings[0];
      assert.equal(r.data[0].embedding.length, want.length);
      r.data[0].embedding.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `component ${i}`));
      assert.equal(r.usage.prompt_tokens, rec.answer.usage.input);
      const b = await client.embeddings.create({ model: EMBED_MODEL, input: 'base64 on vertex', dimensions: 16 });
      const want16 = embeddingFor('base64 on vertex', 16);
      assert.equal(b.data[0].embedding.length, 16);
      b.data[0].embedding.forEach((v, i) => assert.equal(v, Math.fround(want16[i]), `component ${i}`));
    }));

    test('embeddings: Envoy AI Gateway\'s task_type / title / auto_truncate reach :predict', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      const r = await client.embeddings.create({
        model: EMBED_MODEL, encoding_format: 'float', auto_truncate: false,
        input: [{ content: 'a document', task_type: 'RETRIEVAL_DOCUMENT', title: 'Doc' }, { content: ['q one', 'q two'], task_type: 'RETRIEVAL_QUERY' }],
      });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'google:predict');
      assertAccepted(rec);
      assert.deepEqual(rec.json.instances, [
        { content: 'a document', task_type: 'RETRIEVAL_DOCUMENT', title: 'Doc' },
        { content: 'q one', task_type: 'RETRIEVAL_QUERY' },
        { content: 'q two', task_type: 'RETRIEVAL_QUERY' },
      ]);
      assert.deepEqual(rec.json.parameters, { autoTruncate: false });
      assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
      r.data.forEach((d, n) => assert.deepEqual(d.embedding, rec.answer.embeddings[n]));
      assert.equal(r.usage.prompt_tokens, rec.answer.usage.input);
    }));

    test('embeddings: newer Gemini models via :embedContent (float and base64)', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      const r = await client.embeddings.create({
        model: GEMINI_EMBED_MODEL, input: 'embed me with gemini', dimensions: 32, task_type: 'SEMANTIC_SIMILARITY', encoding_format: 'float',
      });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'google:embedContent');
      assertAccepted(rec);
      assert.deepEqual(rec.json, {
        content: { parts: [{ text: 'embed me with gemini' }] },
        embedContentConfig: { taskType: 'SEMANTIC_SIMILARITY', outputDimensionality: 32 },
      });
      assert.equal(r.model, GEMINI_EMBED_MODEL);
      assert.equal(r.data.length, 1);
      assert.deepEqual(r.data[0].embedding, embeddingFor('embed me with gemini', 32));
      assert.equal(r.usage.prompt_tokens, rec.answer.usage.input);
      assert.equal(r.usage.total_tokens, rec.answer.usage.input);
      // The SDK's default: base64, decoded by the SDK to float32.
      const b = await client.embeddings.create({ model: GEMINI_EMBED_MODEL, input: 'gemini base64', dimensions: 8 });
      const want = embeddingFor('gemini base64', 8);
      b.data[0].embedding.forEach((v, i) => assert.equal(v, Math.fround(want[i]), `component ${i}`));
    }));

    test('embeddings: a batch for a one-text model is one call per text, merged in order', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      for (const [model, kind] of [[GEMINI_EMBED_MODEL, 'google:embedContent'], [GEMINI_EMBED_001, 'google:predict']]) {
        const mark = sim.requests.length;
        const input = ['one', 'two words', 'three little words'];
        const r = await client.embeddings.create({ model, input, encoding_format: 'float', dimensions: 16 });
        const recs = sim.requests.slice(mark).filter((x) => x.kind === kind);
        assert.equal(recs.length, 3, `${model}: one call per text`);
        recs.forEach((rec) => { assertAccepted(rec); assert.equal(rec.tokenValid, true); });
        assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
        r.data.forEach((d, i) => assert.deepEqual(d.embedding, embeddingFor(input[i], 16), `${model} text ${i}`));
        assert.equal(r.usage.prompt_tokens, recs.reduce((n, x) => n + x.answer.usage.input, 0));
      }
      // One text is one call, as before.
      const mark = sim.requests.length;
      const r = await client.embeddings.create({ model: GEMINI_EMBED_001, input: ['only one'], encoding_format: 'float' });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'google:predict');
      assertAccepted(rec);
      assert.deepEqual(r.data[0].embedding, rec.answer.embeddings[0]);
    }));
  });

  describe('GCPAnthropic: rawPredict / streamRawPredict', () => {
    const isChat = (r) => r.kind === 'anthropic:rawPredict' || r.kind === 'anthropic:streamRawPredict';
    defineOpenAIChatCases({
      stack: () => stack, client: () => client, simName: 'vertex', model: CLAUDE_MODEL, isChat,
      simToolIds: true, retryAfter: true, midStreamError: true,
      // Claude on Vertex AI takes base64 image sources only.
      images: { wire: IMAGE_WIRE.anthropic, url: 'refuse' },
      usageDetail: { cacheWrite: true },
    });

    test('rawPredict body: anthropic_version vertex-2023-10-16, no model; stream:true on streamRawPredict', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      await client.chat.completions.create({ model: CLAUDE_MODEL, messages: [{ role: 'user', content: 'x' }] });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.equal(rec.path, `/v1/projects/p/locations/us-central1/publishers/anthropic/models/${CLAUDE_MODEL}:rawPredict`);
      assert.equal(rec.json.anthropic_version, 'vertex-2023-10-16');
      assert.equal(rec.json.model, undefined);
      const mark2 = sim.requests.length;
      for await (const _ of await client.chat.completions.create({ model: CLAUDE_MODEL, messages: [{ role: 'user', content: 'y' }], stream: true })) { /* drain */ }
      const rec2 = oneUpstream(sim, mark2, isChat);
      assertAccepted(rec2);
      assert.equal(rec2.kind, 'anthropic:streamRawPredict');
      assert.equal(rec2.json.stream, true);
    }));
  });

  test('the access token is cached: a handful of token requests, not one per model call', () => {
    const tokenReqs = stack.sims.vertex.requests.filter((r) => r.kind === 'token');
    const calls = stack.sims.vertex.requests.filter((r) => r.kind !== 'token');
    assert.ok(calls.length > 20, `only ${calls.length} model calls`);
    // Two GCP backends share the key; a token per backend (plus a prefetch) is fine, a token
    // per request is not.
    assert.ok(tokenReqs.length >= 1 && tokenReqs.length <= 4, `${tokenReqs.length} token requests for ${calls.length} model calls (tokens live 3599 s); sequence: ${stack.sims.vertex.requests.map((r) => r.kind === 'token' ? 'TOKEN' : r.kind.split(':')[1]).join(' ')}`);
  });

  test('no client credential reached the simulator; the private key was never sent', () => {
    const tokens = stack.sims.vertex.issuedTokens();
    assertNoCredentialLeaks(stack.sims, { vertex: tokens }, [privateKeyPem.split('\n')[5]]);
    const unauth = stack.sims.vertex.requests.filter((r) => r.kind !== 'token' && r.tokenValid !== true);
    assert.deepEqual(unauth.map((r) => r.path), [], 'every model call must bear an issued token');
  });
});

describe('GCP access tokens are refreshed when they expire', { skip }, () => {
  let stack;
  let client;
  before(async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    stack = await startProviderStack({
      sims: { vertex: () => startVertexSim({ publicKey, clientEmail: CLIENT_EMAIL, privateKeyId: KEY_ID, tokenLifetimeSeconds: 2 }) },
      config: (s) => ({
        routes: [{ model: GEMINI_MODEL, backend: 'vertex' }],
        backends: [{
          name: 'vertex', schema: 'GCPVertexAI', port: s.vertex.port,
          auth: {
            type: 'GCPCredentials', project: 'p', region: 'us-central1',
            serviceAccountJson: serviceAccountJson({ sim: s.vertex, privateKey, clientEmail: CLIENT_EMAIL, privateKeyId: KEY_ID }),
          },
        }],
      }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  test('a request after the 2 s token expired still carries a valid token', withGatewayLogs(() => stack.gw, async () => {
    const ask = (text) => client.chat.completions.create({ model: GEMINI_MODEL, messages: [{ role: 'user', content: text }] });
    assert.equal((await ask('before expiry')).choices[0].message.content, 'You said: before expiry');
    await new Promise((r) => setTimeout(r, 2300));
    const r = await ask('after expiry');
    assert.equal(r.choices[0].message.content, 'You said: after expiry');
    const sim = stack.sims.vertex;
    assert.ok(sim.requests.filter((x) => x.kind === 'token' && x.jwtValid).length >= 2, 'the expired token was not refreshed');
    assert.equal(sim.last((x) => x.kind !== 'token').tokenValid, true);
  }));
});

test('the simulator\'s Gemini media checks refuse what Vertex refuses (so the image cases can fail)', () => {
  const check = (part) => {
    const problems = [];
    const conv = checkGeminiBody({ contents: [{ role: 'user', parts: [{ text: 'look' }, part] }] }, problems);
    return { problems, conv };
  };
  const data = PNG_RED.toString('base64');
  const ok = check({ inlineData: { mimeType: 'image/png', data } });
  assert.deepEqual(ok.problems, []);
  assert.ok(ok.conv.images[0].bytes.equals(PNG_RED));
  assert.match(check({ inlineData: { mimeType: 'image/webp', data } }).problems.join(), /does not match the provided media type/);
  assert.match(check({ inlineData: { data } }).problems.join(), /mime_type: required/);
  assert.match(check({ inlineData: { mimeType: 'image/png', data: data.slice(0, -1) } }).problems.join(), /not valid base64/);
  assert.deepEqual(check({ fileData: { mimeType: 'image/png', fileUri: 'https://x.example/a.png' } }).problems, []);
  assert.match(check({ fileData: { fileUri: 'https://x.example/a.png' } }).problems.join(), /mime_type: required/);
  assert.match(check({ fileData: { mimeType: 'image/png', fileUri: 'ftp://x.example/a.png' } }).problems.join(), /file_uri/);
});
