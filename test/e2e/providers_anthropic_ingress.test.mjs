// End-to-end: the official @anthropic-ai/sdk talks to sluice's Anthropic endpoints
// (/anthropic/v1/messages with x-api-key, /v1/messages with Authorization: Bearer), and sluice
// routes by model to: Anthropic (passthrough), OpenAI (the provider_sim.mjs simulator for text,
// the openai_compat simulator for tools), GCPAnthropic (Vertex rawPredict), AWS Bedrock
// (AWSBedrock Converse and AWSAnthropic InvokeModel), and, through the OpenAI chat leg, Gemini
// (GCPVertexAI) and Azure OpenAI. No client credential may reach any
// simulator, nor any backend's credential another backend.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { chatReplyText, startProviderSim } from '../tools/provider_sim.mjs';
import { anthropicTokenCount, startAnthropicSim } from '../tools/provider_sims/anthropic.mjs';
import { DEFAULT_AWS_CREDENTIALS, awsCredentialsIni, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import { THINKING_TEXT } from '../tools/provider_sims/common.mjs';
import {
  ANTHROPIC_TOOLS, CLIENT_SECRETS, assertAccepted, assertAnthropicEventOrder, assertNoCredentialLeaks,
  defineAnthropicClientCases, oneUpstream, startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';
import { startAzureSim } from '../tools/provider_sims/azure.mjs';
import { startOpenAICompatSim } from '../tools/provider_sims/openai_compat.mjs';
import { serviceAccountJson, startVertexSim } from '../tools/provider_sims/vertex.mjs';

const skip = sluiceSkipReason();
const KEYS = {
  anthropic: 'sk-ant-backend-ingress-key',
  openaiText: 'sk-openai-text-backend-key',
  openaiTools: 'sk-openai-tools-backend-key',
  azure: 'azure-ingress-backend-key-0123',
};
const AZURE_API_VERSION = '2024-10-21';
const CREDS = DEFAULT_AWS_CREDENTIALS;
const CLIENT_EMAIL = 'ingress@p.iam.gserviceaccount.com';
const M = {
  anthropic: 'claude-opus-4-1',
  openaiText: 'gpt-text-sim',
  openaiTools: 'gpt-tools-sim',
  vertex: 'claude-opus-4-1@20250805',
  converse: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
  invoke: 'anthropic.claude-3-5-sonnet-20240620-v1:0',
  gemini: 'gemini-2.5-flash',
  azure: 'gpt-4o-ingress',
};

describe('@anthropic-ai/sdk -> sluice (Anthropic endpoints) -> every backend', { skip }, () => {
  let stack;
  let apiKeyClient;
  let bearerClient;
  let privateKeyPem;
  before(async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    stack = await startProviderStack({
      sims: {
        anthropic: () => startAnthropicSim({ apiKey: KEYS.anthropic }),
        openaiText: () => startProviderSim({ apiKey: KEYS.openaiText }),
        openaiTools: () => startOpenAICompatSim({ apiKey: KEYS.openaiTools }),
        vertex: () => startVertexSim({ publicKey, clientEmail: CLIENT_EMAIL, privateKeyId: 'ingress-1' }),
        bedrock: () => startBedrockSim({ credentials: CREDS }),
        azure: () => startAzureSim({ apiKey: KEYS.azure, apiVersion: AZURE_API_VERSION }),
      },
      config: (s) => {
        const aws = { type: 'AWSCredentials', region: 'us-east-1', ini: awsCredentialsIni(CREDS) };
        const gcp = {
          type: 'GCPCredentials', project: 'p', region: 'us-central1',
          serviceAccountJson: serviceAccountJson({ sim: s.vertex, privateKey, clientEmail: CLIENT_EMAIL, privateKeyId: 'ingress-1' }),
        };
        return {
          routes: [
            { model: M.anthropic, backend: 'anthropic' },
            { model: M.openaiText, backend: 'openai-text' },
            { model: M.openaiTools, backend: 'openai-tools' },
            { model: M.vertex, backend: 'gcpanthropic' },
            { model: M.converse, backend: 'bedrock' },
            { model: M.invoke, backend: 'awsanthropic' },
            { model: M.gemini, backend: 'gemini' },
            { model: M.azure, backend: 'azure' },
          ],
          backends: [
            { name: 'anthropic', schema: 'Anthropic', port: s.anthropic.port, auth: { type: 'AnthropicAPIKey', key: KEYS.anthropic } },
            { name: 'openai-text', schema: 'OpenAI', port: s.openaiText.port, auth: { type: 'APIKey', key: KEYS.openaiText } },
            { name: 'openai-tools', schema: 'OpenAI', port: s.openaiTools.port, auth: { type: 'APIKey', key: KEYS.openaiTools } },
            { name: 'gcpanthropic', schema: 'GCPAnthropic', version: 'vertex-2023-10-16', port: s.vertex.port, auth: gcp },
            { name: 'gemini', schema: 'GCPVertexAI', port: s.vertex.port, auth: gcp },
            { name: 'azure', schema: 'AzureOpenAI', version: AZURE_API_VERSION, port: s.azure.port, auth: { type: 'AzureAPIKey', key: KEYS.azure } },
            { name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth: aws },
            { name: 'awsanthropic', schema: 'AWSAnthropic', version: 'bedrock-2023-05-31', port: s.bedrock.port, auth: aws },
          ],
        };
      },
    });
    apiKeyClient = new Anthropic({ baseURL: `${stack.gw.url}/anthropic`, apiKey: CLIENT_SECRETS.anthropicKey, authToken: null, maxRetries: 0, timeout: 15000 });
    bearerClient = new Anthropic({ baseURL: stack.gw.url, apiKey: null, authToken: CLIENT_SECRETS.bearer, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  const common = () => ({ stack: () => stack, apiKeyClient: () => apiKeyClient, bearerClient: () => bearerClient });

  describe('-> Anthropic (passthrough)', () => {
    const isChat = (r) => r.kind === 'messages' || r.kind === 'messages-stream';
    defineAnthropicClientCases({ ...common(), simName: 'anthropic', model: M.anthropic, isChat, retryAfter: true });

    test('the body reaches Anthropic as the client sent it, with the backend key and the client\'s anthropic-version', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.anthropic;
      const mark = sim.requests.length;
      const params = {
        model: M.anthropic, max_tokens: 300, system: [{ type: 'text', text: 'sys' }], temperature: 0.2, top_k: 5,
        metadata: { user_id: 'u-1' }, stop_sequences: ['END'], tools: ANTHROPIC_TOOLS, tool_choice: { type: 'auto' },
        messages: [{ role: 'user', content: [{ type: 'text', text: 'exact body please' }] }],
      };
      await apiKeyClient.messages.create(params, { headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'token-efficient-tools-2025-02-19' } });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.deepEqual(rec.json, params);
      assert.equal(rec.url.pathname, '/v1/messages');
      assert.equal(rec.headers['x-api-key'], KEYS.anthropic);
      assert.equal(rec.headers['anthropic-version'], '2023-06-01');
      assert.equal(rec.headers['anthropic-beta'], 'token-efficient-tools-2025-02-19');
      assert.equal(rec.headers.authorization, undefined);
    }));

    test('thinking blocks stream through with their signature', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.anthropic;
      const mark = sim.requests.length;
      const stream = apiKeyClient.messages.stream({
        model: M.anthropic, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 },
        messages: [{ role: 'user', content: 'think about it' }],
      });
      const events = [];
      for await (const ev of stream) events.push(ev);
      const final = await stream.finalMessage();
      const rec = oneUpstream(sim, mark, isChat);
      assertAnthropicEventOrder(events);
      assert.equal(final.content[0].type, 'thinking');
      assert.equal(final.content[0].thinking, THINKING_TEXT);
      assert.match(final.content[0].signature, /^sig-sim-/);
      assert.equal(final.content[1].text, rec.answer.text);
    }));

    test('upstream 529 overloaded reaches the client as overloaded_error', withGatewayLogs(() => stack.gw, async () => {
      const err = await apiKeyClient.messages.create({ model: M.anthropic, max_tokens: 5, messages: [{ role: 'user', content: '[[error:529]]' }] }).then(() => null, (e) => e);
      assert.equal(err?.status, 529, String(err));
      assert.equal(err.error?.error?.type, 'overloaded_error');
    }));

    test('a mid-stream error event reaches the client', withGatewayLogs(() => stack.gw, async () => {
      const stream = apiKeyClient.messages.stream({ model: M.anthropic, max_tokens: 50, messages: [{ role: 'user', content: 'go on [[stream-error]] then' }] });
      const err = await stream.finalMessage().then(() => null, (e) => e);
      assert.ok(err, 'the stream should have failed');
      assert.match(String(err.message ?? err), /overloaded|Overloaded/);
    }));
  });

  describe('-> OpenAI (provider_sim.mjs, text)', () => {
    const isChat = (r) => r.path.startsWith('/v1/chat/completions');
    defineAnthropicClientCases({
      ...common(), simName: 'openaiText', model: M.openaiText, isChat, retryAfter: true, tools: false, usage: false,
      answerOf: (rec) => ({ text: chatReplyText(JSON.parse(rec.body)) }),
      errorViaHeader: true, // provider_sim.mjs injects errors by the x-sim-status request header
    });

    test('the upstream request is an OpenAI chat completion with the backend key', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.openaiText;
      const mark = sim.requests.length;
      await apiKeyClient.messages.create({ model: M.openaiText, max_tokens: 42, system: 'sys text', messages: [{ role: 'user', content: 'to openai' }] });
      const rec = oneUpstream(sim, mark, isChat);
      const body = JSON.parse(rec.body);
      assert.equal(rec.headers.authorization, `Bearer ${KEYS.openaiText}`);
      assert.equal(rec.headers['x-api-key'], undefined);
      assert.equal(body.model, M.openaiText);
      assert.deepEqual(body.messages.map((m) => m.role), ['system', 'user']);
      assert.equal(body.max_tokens ?? body.max_completion_tokens, 42);
    }));
  });

  describe('-> OpenAI (openai_compat sim, tools)', () => {
    const isChat = (r) => r.kind === 'chat' || r.kind === 'chat-stream';
    defineAnthropicClientCases({ ...common(), simName: 'openaiTools', model: M.openaiTools, isChat, retryAfter: true });
  });

  describe('-> GCPAnthropic (Vertex rawPredict)', () => {
    const isChat = (r) => r.kind === 'anthropic:rawPredict' || r.kind === 'anthropic:streamRawPredict';
    defineAnthropicClientCases({ ...common(), simName: 'vertex', model: M.vertex, isChat, retryAfter: true });

    test('rawPredict body has anthropic_version vertex-2023-10-16 and no model; a bearer token issued by the sim', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.vertex;
      const mark = sim.requests.length;
      await apiKeyClient.messages.create({ model: M.vertex, max_tokens: 20, messages: [{ role: 'user', content: 'vertex wire' }] });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.equal(rec.path, `/v1/projects/p/locations/us-central1/publishers/anthropic/models/${M.vertex}:rawPredict`);
      assert.equal(rec.json.anthropic_version, 'vertex-2023-10-16');
      assert.equal(rec.json.model, undefined);
      assert.equal(rec.tokenValid, true);
    }));
  });

  describe('-> AWSBedrock (Converse)', () => {
    const isChat = (r) => (r.kind === 'converse' || r.kind === 'converse-stream') && r.modelId === M.converse;
    defineAnthropicClientCases({
      ...common(), simName: 'bedrock', model: M.converse, isChat, retryAfter: false,
    });
  });

  describe('-> AWSAnthropic (InvokeModel)', () => {
    const isChat = (r) => (r.kind === 'anthropic-invoke' || r.kind === 'anthropic-invoke-stream') && r.modelId === M.invoke;
    defineAnthropicClientCases({
      ...common(), simName: 'bedrock', model: M.invoke, isChat, retryAfter: false,
    });
  });

  // No Anthropic translator of their own: the Anthropic -> OpenAI translator, then the
  // OpenAI -> provider one (translate/chain).
  describe('-> GCPVertexAI (Gemini generateContent, through OpenAI chat)', () => {
    const isChat = (r) => r.kind === 'google:generateContent' || r.kind === 'google:streamGenerateContent';
    // Gemini has no tool call ids: the gateway makes them up.
    defineAnthropicClientCases({ ...common(), simName: 'vertex', model: M.gemini, isChat, retryAfter: false, simToolIds: false });
  });

  describe('-> AzureOpenAI (deployment chat completions, through OpenAI chat)', () => {
    const isChat = (r) => r.kind === 'chat' || r.kind === 'chat-stream';
    defineAnthropicClientCases({ ...common(), simName: 'azure', model: M.azure, isChat, retryAfter: true });

    test('the upstream request is an Azure deployment chat completion with the api-key, no Anthropic headers', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.azure;
      const mark = sim.requests.length;
      await apiKeyClient.messages.create({ model: M.azure, max_tokens: 20, messages: [{ role: 'user', content: 'azure wire' }] });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.equal(rec.path, `/openai/deployments/${M.azure}/chat/completions?api-version=${AZURE_API_VERSION}`);
      assert.equal(rec.headers['api-key'], KEYS.azure);
      assert.equal(rec.headers.authorization, undefined);
      assert.equal(rec.headers['x-api-key'], undefined);
      assert.equal(rec.headers['anthropic-version'], undefined);
      const body = JSON.parse(rec.body);
      assert.equal(body.messages.at(-1).content, 'azure wire');
      assert.equal(body.max_tokens ?? body.max_completion_tokens, 20);
    }));
  });

  describe('count_tokens (messages.countTokens)', () => {
    const params = (model) => ({
      model,
      system: [{ type: 'text', text: 'You count words for a living.' }],
      messages: [
        { role: 'user', content: 'how many tokens is this question' },
        { role: 'assistant', content: [{ type: 'text', text: 'several I think' }] },
        { role: 'user', content: [{ type: 'text', text: 'count them exactly please' }] },
      ],
      // Tool definitions are part of the prompt: every backend must count them (the
      // simulators count their names and descriptions).
      tools: [{
        name: 'lookup_word', description: 'Looks a word up in the dictionary',
        input_schema: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] },
      }],
    });
    const cases = [
      { name: 'Anthropic', sim: 'anthropic', model: M.anthropic, kind: 'count_tokens' },
      { name: 'GCPAnthropic (count-tokens:rawPredict)', sim: 'vertex', model: M.vertex, kind: 'anthropic:count-tokens' },
      { name: 'AWSBedrock (CountTokens, converse input)', sim: 'bedrock', model: M.converse, kind: 'count-tokens-converse' },
      { name: 'AWSAnthropic (CountTokens, invokeModel input)', sim: 'bedrock', model: M.invoke, kind: 'count-tokens-invoke' },
    ];
    for (const c of cases) {
      test(`-> ${c.name}: the provider's count comes back as input_tokens, over both client auth styles`, withGatewayLogs(() => stack.gw, async () => {
        const sim = stack.sims[c.sim];
        for (const client of [apiKeyClient, bearerClient]) {
          const mark = sim.requests.length;
          const p = params(c.model);
          const result = await client.messages.countTokens(p);
          const rec = oneUpstream(sim, mark, (r) => r.kind === c.kind);
          assertAccepted(rec);
          assert.equal(result.input_tokens, anthropicTokenCount(p));
          assert.equal(result.input_tokens, rec.answer.usage.input);
          if (c.sim === 'vertex') {
            assert.equal(rec.json.model, M.vertex);
            assert.equal(rec.tokenValid, true);
          }
          if (c.sim === 'bedrock') assert.equal(rec.signatureValid, true);
        }
      }));
    }

    test('-> OpenAI: not served (404 not_found_error), so clients fall back to estimating', withGatewayLogs(() => stack.gw, async () => {
      const err = await apiKeyClient.messages.countTokens(params(M.openaiText)).then(() => null, (e) => e);
      assert.equal(err?.status, 404, String(err));
      assert.equal(err.error?.type, 'error');
      assert.equal(err.error?.error?.type, 'not_found_error');
      assert.match(err.error.error.message, /does not support this endpoint/);
    }));
  });

  describe('a request the target cannot express: 400 invalid_request_error naming the field, nothing upstream', () => {
    /**
     * Sends params (streamed or not, over the x-api-key client) and asserts the SDK throws
     * BadRequestError with Anthropic's error body whose message names `field` (and matches
     * `mention`), and that no request reached any simulator meanwhile (token fetches aside).
     */
    async function expectRefused(params, field, mention, { stream = false } = {}) {
      const marks = Object.fromEntries(Object.entries(stack.sims).map(([n, s]) => [n, s.requests.length]));
      const err = await (stream
        ? apiKeyClient.messages.stream(params).finalMessage()
        : apiKeyClient.messages.create(params)).then(() => null, (e) => e);
      assert.ok(err, `the gateway accepted a request its backend cannot express (${field})`);
      assert.ok(err instanceof Anthropic.BadRequestError, `expected BadRequestError (400), got ${err?.constructor?.name} ${err?.status}: ${err?.message}`);
      assert.equal(err.status, 400);
      assert.match(headerValue(err.headers, 'content-type') ?? '', /^application\/json/);
      assert.equal(err.error?.type, 'error', `body: ${JSON.stringify(err.error)}`);
      assert.equal(err.error?.error?.type, 'invalid_request_error', `body: ${JSON.stringify(err.error)}`);
      const message = err.error.error.message;
      assert.equal(typeof message, 'string');
      assert.ok(message.includes(field), `the message does not name ${field}: ${message}`);
      if (mention) assert.match(message, mention);
      assert.equal(err.error.param, undefined, 'an OpenAI-shaped field in an Anthropic error body');
      for (const [name, sim] of Object.entries(stack.sims)) {
        const seen = sim.requests.slice(marks[name]).filter((r) => r.kind !== 'token');
        assert.deepEqual(seen.map((r) => `${r.method} ${r.path}`), [], `a refused request reached the ${name} simulator`);
      }
    }
    const headerValue = (h, name) => (h && typeof h.get === 'function' ? h.get(name) : h?.[name]) ?? null;
    const urlImage = { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } };
    const webSearch = { type: 'web_search_20250305', name: 'web_search', max_uses: 1 };

    test('-> AWSBedrock (Converse): an image by URL (Converse takes bytes only) names messages[0].content[1]', withGatewayLogs(() => stack.gw, async () => {
      const params = { model: M.converse, max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, urlImage] }] };
      await expectRefused(params, 'messages[0].content[1]', /base64/);
      await expectRefused(params, 'messages[0].content[1]', /base64/, { stream: true });
    }));

    test('-> AWSBedrock (Converse): the path names the right turn and block of a longer conversation', withGatewayLogs(() => stack.gw, async () => {
      await expectRefused({
        model: M.converse, max_tokens: 64,
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: [{ type: 'text', text: 'first answer' }] },
          { role: 'user', content: [{ type: 'text', text: 'and this?' }, { type: 'text', text: 'look' }, urlImage] },
        ],
      }, 'messages[2].content[2]', /base64/);
    }));

    test('-> AWSBedrock (Converse): a server tool (web_search) names tools[0]', withGatewayLogs(() => stack.gw, async () => {
      await expectRefused({ model: M.converse, max_tokens: 64, tools: [webSearch], messages: [{ role: 'user', content: 'search the web' }] },
        'tools[0]', /web_search_20250305/);
    }));

    test('-> OpenAI: a document by URL names messages[0].content[1].source', withGatewayLogs(() => stack.gw, async () => {
      await expectRefused({
        model: M.openaiTools, max_tokens: 64,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'summarise' }, { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }] }],
      }, 'messages[0].content[1].source', /PDF/);
    }));

    test('-> OpenAI: a server tool (web_search) names tools[0].type', withGatewayLogs(() => stack.gw, async () => {
      const params = { model: M.openaiTools, max_tokens: 64, tools: [webSearch], messages: [{ role: 'user', content: 'search the web' }] };
      await expectRefused(params, 'tools[0].type', /web_search_20250305/);
      await expectRefused(params, 'tools[0].type', /web_search_20250305/, { stream: true });
    }));
  });

  test('no client credential (x-api-key or bearer) and no other backend\'s credential reached any simulator', () => {
    assertNoCredentialLeaks(stack.sims, {
      anthropic: [KEYS.anthropic],
      openaiText: [KEYS.openaiText],
      openaiTools: [KEYS.openaiTools],
      vertex: stack.sims.vertex.issuedTokens(),
      bedrock: [CREDS.accessKeyId, CREDS.sessionToken],
      azure: [KEYS.azure],
    }, [CREDS.secretAccessKey, privateKeyPem.split('\n')[5]]);
    const unsigned = stack.sims.bedrock.requests.filter((r) => r.signatureValid !== true);
    assert.deepEqual(unsigned.map((r) => `${r.path}: ${r.signatureProblem}`), []);
  });
});
