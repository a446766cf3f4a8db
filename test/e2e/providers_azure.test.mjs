// End-to-end: the official openai SDK talks to sluice, which sends Azure OpenAI
// deployment-style requests (/openai/deployments/{model}/chat/completions?api-version=V with an
// api-key header) to a simulator (test/tools/provider_sims/azure.mjs) that refuses anything
// else, and streams with Azure's leading `choices: []` prompt-filter chunk.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { startAzureSim } from '../tools/provider_sims/azure.mjs';
import {
  CLIENT_SECRETS, IMAGE_WIRE, assertAccepted, assertNoCredentialLeaks, collectChatStream, defineOpenAIChatCases, oneUpstream,
  startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';

const skip = sluiceSkipReason();
const AZURE_KEY = 'azure-backend-sim-key-0123';
const API_VERSION = '2024-10-21';
const MODEL = 'gpt-4o-deployment';
const EMBED_MODEL = 'text-embedding-3-small-deployment';

describe('openai SDK -> sluice -> Azure OpenAI (schema AzureOpenAI, AzureAPIKey)', { skip }, () => {
  let stack;
  let client;
  before(async () => {
    stack = await startProviderStack({
      sims: { azure: () => startAzureSim({ apiKey: AZURE_KEY, apiVersion: API_VERSION }) },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'azure' }, { model: EMBED_MODEL, backend: 'azure' }],
        backends: [{ name: 'azure', schema: 'AzureOpenAI', version: API_VERSION, port: s.azure.port, auth: { type: 'AzureAPIKey', key: AZURE_KEY } }],
      }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  const isChat = (r) => r.kind === 'chat' || r.kind === 'chat-stream';
  defineOpenAIChatCases({
    stack: () => stack, client: () => client, simName: 'azure', model: MODEL, isChat,
    simToolIds: true, retryAfter: true,
    // Azure takes OpenAI's parts as they are. (Its sim, openai_compat.mjs, does not read
    // images, so only the forwarded parts are checked, not the answer.)
    images: { wire: IMAGE_WIRE.openai, url: 'forward', simSees: false },
  });

  test('deployment path, api-version query and api-key header; no Authorization', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.azure;
    const mark = sim.requests.length;
    await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'azure wire' }] });
    const rec = oneUpstream(sim, mark, isChat);
    assertAccepted(rec);
    assert.equal(rec.url.pathname, `/openai/deployments/${MODEL}/chat/completions`);
    assert.equal(rec.url.searchParams.get('api-version'), API_VERSION);
    assert.equal(rec.headers['api-key'], AZURE_KEY);
    assert.equal(rec.headers.authorization, undefined);
  }));

  test('the leading Azure `choices: []` chunk does not break an SDK stream', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.azure;
    const mark = sim.requests.length;
    const runner = client.chat.completions.stream({ model: MODEL, messages: [{ role: 'user', content: 'azure stream helper' }] });
    const final = await runner.finalChatCompletion();
    const rec = oneUpstream(sim, mark, isChat);
    assert.equal(final.choices[0].message.content, rec.answer.text);
    const got = await collectChatStream(await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'raw stream' }], stream: true }));
    assert.equal(got.text, 'You said: raw stream');
  }));

  test('embeddings: deployment path, float and base64', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.azure;
    const mark = sim.requests.length;
    const r = await client.embeddings.create({ model: EMBED_MODEL, input: ['one text', 'two texts'], encoding_format: 'float' });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'embeddings');
    assertAccepted(rec);
    assert.equal(rec.url.pathname, `/openai/deployments/${EMBED_MODEL}/embeddings`);
    assert.equal(rec.url.searchParams.get('api-version'), API_VERSION);
    assert.deepEqual(r.data.map((d) => d.embedding), rec.answer.embeddings);
    const b = await client.embeddings.create({ model: EMBED_MODEL, input: 'b64' });
    const rec2 = sim.requests[sim.requests.length - 1];
    assert.equal(rec2.json.encoding_format, 'base64');
    assert.deepEqual(b.data[0].embedding, rec2.answer.embeddings[0].map(Math.fround));
  }));

  test('no client credential reached the simulator', () => {
    assertNoCredentialLeaks(stack.sims, { azure: [AZURE_KEY] });
  });
});

describe('openai SDK -> sluice -> Azure OpenAI with AzureCredentials (Entra ID client secret -> bearer token)', { skip }, () => {
  // The sim plays Entra ID too (AZURE_AUTHORITY_HOST points sluice at it): it checks the
  // client-credentials form and issues the tokens that its deployment API then requires.
  const ENTRA = { tenantId: 'tenant-0b1c', clientId: 'client-id-3d4e', clientSecret: 'entra-client-secret-5f6a7b' };
  let stack;
  let client;
  before(async () => {
    stack = await startProviderStack({
      sims: { azure: () => startAzureSim({ apiVersion: API_VERSION, entra: ENTRA }) },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'azure' }],
        backends: [{ name: 'azure', schema: 'AzureOpenAI', version: API_VERSION, port: s.azure.port, auth: { type: 'AzureCredentials', ...ENTRA } }],
      }),
      env: (s) => ({ AZURE_AUTHORITY_HOST: `http://127.0.0.1:${s.azure.port}` }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  const isChat = (r) => r.kind === 'chat' || r.kind === 'chat-stream';

  test('a client-credentials token is fetched off the request path and sent as the bearer', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.azure;
    const mark = sim.requests.length;
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'entra hello' }] });
    const rec = oneUpstream(sim, mark, isChat);
    assertAccepted(rec);
    assert.equal(r.choices[0].message.content, rec.answer.text);
    assert.equal(rec.headers['api-key'], undefined);
    const tokens = sim.requests.filter((x) => x.kind === 'entra-token');
    assert.ok(tokens.length >= 1, 'no token request reached Entra');
    const t = tokens[tokens.length - 1];
    assertAccepted(t);
    assert.equal(t.form.grant_type, 'client_credentials');
    assert.equal(t.form.client_id, ENTRA.clientId);
    assert.equal(t.form.scope, 'https://cognitiveservices.azure.com/.default');
    assert.equal(rec.headers.authorization, `Bearer ${t.answer.token}`);
    // Streams use the same token.
    const got = await collectChatStream(await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'entra stream' }], stream: true }));
    assert.equal(got.text, 'You said: entra stream');
    // A 3599 s token is fetched once, not per request.
    assert.equal(sim.requests.filter((x) => x.kind === 'entra-token').length, tokens.length);
  }));

  test('the client secret goes only to the token endpoint, never to the model API or the logs', () => {
    for (const r of stack.sims.azure.requests.filter((x) => x.kind !== 'entra-token')) {
      assert.ok(!`${r.rawHeaders.join('\n')}\n${r.path}\n${r.body}`.includes(ENTRA.clientSecret), `the client secret reached ${r.path}`);
    }
    assertNoCredentialLeaks(stack.sims, { azure: [ENTRA.clientSecret] });
    const logs = `${stack.gw.stdout}${stack.gw.stderr}`;
    assert.ok(!logs.includes(ENTRA.clientSecret), 'the client secret appeared in the gateway logs');
  });
});

describe('openai SDK -> sluice -> Azure OpenAI with AzureCredentials and no secret (AKS workload identity)', { skip }, () => {
  // What the AKS webhook gives a pod: the client and tenant ids (here in the policy) and a
  // projected service-account token, which Entra takes as a JWT-bearer client assertion.
  const ENTRA = { tenantId: 'tenant-wi-9a8b', clientId: 'client-wi-7c6d', federatedToken: 'eyJhbGciOiJSUzI1NiJ9.wi-pod-token.c2ln' };
  let stack;
  let client;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-azure-wi-'));
    const tokenFile = path.join(dir, 'azure-identity-token');
    fs.writeFileSync(tokenFile, `${ENTRA.federatedToken}\n`);
    stack = await startProviderStack({
      sims: { azure: () => startAzureSim({ apiVersion: API_VERSION, entra: ENTRA }) },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'azure' }],
        backends: [{ name: 'azure', schema: 'AzureOpenAI', version: API_VERSION, port: s.azure.port,
          auth: { type: 'AzureCredentials', tenantId: ENTRA.tenantId, clientId: ENTRA.clientId } }],
      }),
      env: (s) => ({ AZURE_AUTHORITY_HOST: `http://127.0.0.1:${s.azure.port}`, AZURE_FEDERATED_TOKEN_FILE: tokenFile }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => {
    await stack?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the federated token is the client assertion; the token Entra issues is the bearer', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.azure;
    const mark = sim.requests.length;
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'workload identity' }] });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'chat');
    assertAccepted(rec);
    assert.equal(r.choices[0].message.content, rec.answer.text);
    const t = sim.requests.filter((x) => x.kind === 'entra-token').at(-1);
    assert.ok(t, 'no token request reached Entra');
    assertAccepted(t);
    assert.equal(t.form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(t.form.client_secret, undefined);
    assert.equal(rec.headers.authorization, `Bearer ${t.answer.token}`);
    const logs = `${stack.gw.stdout}${stack.gw.stderr}`;
    assert.ok(!logs.includes(ENTRA.federatedToken), 'the federated token appeared in the gateway logs');
  }));
});

describe('openai SDK -> sluice -> Azure OpenAI with AzureCredentials and neither secret nor federated token (managed identity)', { skip }, () => {
  const MI = { clientId: 'a1b2c3d4-user-assigned', identityHeader: 'app-service-identity-header-secret' };
  const ENTRA = { tenantId: 'tenant-mi', clientId: MI.clientId, managedIdentity: MI };
  for (const [where, env, kind] of [
    ['the instance metadata service (VM, AKS node)', (s) => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${s.azure.port}` }), 'imds-token'],
    ['App Service / Container Apps (IDENTITY_ENDPOINT)', (s) => ({
      IDENTITY_ENDPOINT: `http://127.0.0.1:${s.azure.port}/msi/token`, IDENTITY_HEADER: MI.identityHeader,
    }), 'app-service-token'],
  ]) {
    describe(where, () => {
      let stack;
      let client;
      before(async () => {
        stack = await startProviderStack({
          sims: { azure: () => startAzureSim({ apiVersion: API_VERSION, entra: ENTRA }) },
          config: (s) => ({
            routes: [{ model: MODEL, backend: 'azure' }],
            backends: [{ name: 'azure', schema: 'AzureOpenAI', version: API_VERSION, port: s.azure.port,
              auth: { type: 'AzureCredentials', tenantId: ENTRA.tenantId, clientId: MI.clientId } }],
          }),
          env: (s) => ({ AZURE_FEDERATED_TOKEN_FILE: '', IDENTITY_ENDPOINT: '', IDENTITY_HEADER: '', ...env(s) }),
        });
        client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
      });
      after(async () => { await stack?.close(); });

      test('the managed identity token is the bearer', withGatewayLogs(() => stack.gw, async () => {
        const sim = stack.sims.azure;
        const mark = sim.requests.length;
        const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'managed identity' }] });
        const rec = oneUpstream(sim, mark, (x) => x.kind === 'chat');
        assertAccepted(rec);
        assert.equal(r.choices[0].message.content, rec.answer.text);
        const t = sim.requests.filter((x) => x.kind === kind).at(-1);
        assert.ok(t, `no request reached the ${kind} endpoint`);
        assertAccepted(t);
        assert.equal(rec.headers.authorization, `Bearer ${t.answer.token}`);
        assert.equal(sim.requests.filter((x) => x.kind === 'entra-token').length, 0, 'Entra was asked instead');
        const logs = `${stack.gw.stdout}${stack.gw.stderr}`;
        assert.ok(!logs.includes(MI.identityHeader), 'the identity header secret appeared in the gateway logs');
        assert.ok(!logs.includes(t.answer.token), 'the access token appeared in the gateway logs');
      }));
    });
  }
});
