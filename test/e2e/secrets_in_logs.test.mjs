// End-to-end: no backend secret appears in the gateway's logs, whatever the traffic. One sluice
// fronts three provider simulators: Anthropic (AnthropicAPIKey), AWS Bedrock (AWSCredentials
// from a credentials file with a session token; Converse and Anthropic InvokeModel) and GCP
// Vertex AI (GCPCredentials, a service-account key generated here; Gemini and Anthropic
// rawPredict). Through each backend it sends successful, failing (the sims' 4xx/429/5xx via
// "[[error:NNN]]", a mid-stream error) and streamed requests with the official openai and
// @anthropic-ai/sdk clients, and requests carrying a bad client key; then it asserts that the
// gateway's stdout/stderr hold none of: the Anthropic API key, the AWS secret access key, the
// session token, any 40-character slice of the GCP private key, the OAuth access tokens the
// Vertex sim issued, the client keys; and that each credential reached only its own sim.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { startAnthropicSim } from '../tools/provider_sims/anthropic.mjs';
import { awsCredentialsIni, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import {
  CLIENT_SECRETS, assertAccepted, assertNoCredentialLeaks, collectChatStream, oneUpstream, startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';
import { serviceAccountJson, startVertexSim } from '../tools/provider_sims/vertex.mjs';

const skip = sluiceSkipReason();
const rand = (n) => crypto.randomBytes(n).toString('hex');
// Fresh per run, so that nothing else (a fixture, a default) can produce the same text.
const ANTHROPIC_KEY = `sk-ant-api03-logcheck-${rand(24)}`;
const CREDS = {
  accessKeyId: `AKIALOG${rand(7).toUpperCase()}`,
  secretAccessKey: `logcheck/${crypto.randomBytes(24).toString('base64')}`,
  sessionToken: `FwoGZXIvYXdzElogcheck${crypto.randomBytes(48).toString('base64')}`,
};
const BAD_CLIENT_KEY = `sk-bad-client-key-${rand(16)}`;
const CLIENT_EMAIL = 'logcheck@p.iam.gserviceaccount.com';
const KEY_ID = `logcheck-${rand(4)}`;
// The harness keeps at most the last this-many characters of each gateway stream (test/e2e/lib/sluice.mjs).
const MAX_LOG_CHARS = 256 * 1024;

// [name, model, sim, isChat(record)]: every model path through the three sims.
// [name, model, sim, isChat(record), served on the Anthropic endpoints (Gemini is not)]
const BACKENDS = [
  ['Anthropic', 'claude-opus-4-1', 'anthropic', (r) => r.kind === 'messages' || r.kind === 'messages-stream', true],
  ['AWSBedrock (Converse)', 'us.anthropic.claude-3-7-sonnet-20250219-v1:0', 'bedrock', (r) => r.kind === 'converse' || r.kind === 'converse-stream', true],
  ['AWSAnthropic (InvokeModel)', 'anthropic.claude-3-5-sonnet-20240620-v1:0', 'bedrock', (r) => r.kind === 'anthropic-invoke' || r.kind === 'anthropic-invoke-stream', true],
  ['GCPVertexAI (Gemini)', 'gemini-2.5-flash', 'vertex', (r) => r.kind === 'google:generateContent' || r.kind === 'google:streamGenerateContent', false],
  ['GCPAnthropic (rawPredict)', 'claude-sonnet-4@20250514', 'vertex', (r) => r.kind === 'anthropic:rawPredict' || r.kind === 'anthropic:streamRawPredict', true],
];
// Sims that fail mid-stream on "[[stream-error]]".
const MID_STREAM_ERROR = new Set(['anthropic', 'bedrock']);
// The statuses each sim answers "[[error:NNN]]" with (Bedrock has no 401: its auth failures are 403).
const ERROR_STATUSES = {
  anthropic: [400, 401, 403, 404, 429, 500, 503, 529],
  bedrock: [400, 403, 404, 429, 500, 503],
  vertex: [400, 401, 403, 404, 429, 500, 503],
};

/** The base64 body of a PEM key, on one line. */
function pemBody(pem) {
  return pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
}

/** Every 40-character slice of s. */
function slices40(s) {
  const out = [];
  for (let i = 0; i + 40 <= s.length; i++) out.push(s.slice(i, i + 40));
  return out;
}

describe('secrets stay out of the gateway logs (Anthropic, Bedrock with a session token, Vertex service account)', { skip }, () => {
  let stack;
  let openai;
  let anthropic;
  let privateKeyPem;
  before(async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    stack = await startProviderStack({
      sims: {
        anthropic: () => startAnthropicSim({ apiKey: ANTHROPIC_KEY }),
        bedrock: () => startBedrockSim({ credentials: CREDS, region: 'us-east-1' }),
        vertex: () => startVertexSim({ publicKey, clientEmail: CLIENT_EMAIL, privateKeyId: KEY_ID, project: 'p', region: 'us-central1' }),
      },
      config: (s) => {
        const aws = { type: 'AWSCredentials', region: 'us-east-1', ini: awsCredentialsIni(CREDS) };
        const gcp = {
          type: 'GCPCredentials', project: 'p', region: 'us-central1',
          serviceAccountJson: serviceAccountJson({ sim: s.vertex, privateKey, clientEmail: CLIENT_EMAIL, privateKeyId: KEY_ID }),
        };
        const backendOf = { 'Anthropic': 'anthropic', 'AWSBedrock (Converse)': 'bedrock', 'AWSAnthropic (InvokeModel)': 'awsanthropic', 'GCPVertexAI (Gemini)': 'vertex', 'GCPAnthropic (rawPredict)': 'gcpanthropic' };
        return {
          routes: BACKENDS.map(([name, model]) => ({ model, backend: backendOf[name] })),
          backends: [
            { name: 'anthropic', schema: 'Anthropic', port: s.anthropic.port, auth: { type: 'AnthropicAPIKey', key: ANTHROPIC_KEY } },
            { name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth: aws },
            { name: 'awsanthropic', schema: 'AWSAnthropic', version: 'bedrock-2023-05-31', port: s.bedrock.port, auth: aws },
            { name: 'vertex', schema: 'GCPVertexAI', port: s.vertex.port, auth: gcp },
            { name: 'gcpanthropic', schema: 'GCPAnthropic', version: 'vertex-2023-10-16', port: s.vertex.port, auth: gcp },
          ],
        };
      },
      // debug: one line per request (method, path, model, status) besides warnings and errors,
      // so the check below reads the most the gateway ever writes.
      args: ['--log-level', 'debug'],
    });
    openai = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
    anthropic = new Anthropic({ baseURL: `${stack.gw.url}/anthropic`, apiKey: CLIENT_SECRETS.anthropicKey, authToken: null, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });
  const t = (name, fn) => test(name, withGatewayLogs(() => stack.gw, fn));

  for (const [name, model, simName, isChat, anthropicIngress] of BACKENDS) {
    describe(`-> ${name}`, () => {
      t('openai client: a chat and a streamed chat with usage succeed', async () => {
        const sim = stack.sims[simName];
        let mark = sim.requests.length;
        const r = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: `plain hello to ${name}` }] });
        let rec = oneUpstream(sim, mark, isChat);
        assertAccepted(rec);
        assert.equal(r.choices[0].message.content, rec.answer.text);
        mark = sim.requests.length;
        const got = await collectChatStream(await openai.chat.completions.create({
          model, messages: [{ role: 'user', content: `streamed hello to ${name}` }], stream: true, stream_options: { include_usage: true },
        }));
        rec = oneUpstream(sim, mark, isChat);
        assertAccepted(rec);
        assert.equal(got.text, rec.answer.text);
        assert.ok(got.usage?.total_tokens > 0);
      });

      if (anthropicIngress) t('anthropic client: a message and a streamed message succeed', async () => {
        const sim = stack.sims[simName];
        let mark = sim.requests.length;
        const msg = await anthropic.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: `anthropic hello to ${name}` }] });
        let rec = oneUpstream(sim, mark, isChat);
        assert.equal(msg.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), rec.answer.text);
        mark = sim.requests.length;
        const final = await anthropic.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: `anthropic stream to ${name}` }] }).finalMessage();
        rec = oneUpstream(sim, mark, isChat);
        assert.equal(final.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), rec.answer.text);
      });

      t(`upstream ${ERROR_STATUSES[simName].join('/')} reach the client with that status, streamed and not`, async () => {
        const sim = stack.sims[simName];
        for (const status of ERROR_STATUSES[simName]) {
          for (const stream of [false, true]) {
            const mark = sim.requests.length;
            const err = await openai.chat.completions.create({
              model, stream, messages: [{ role: 'user', content: `fail please [[error:${status}]]` }],
            }).then(async (res) => {
              if (stream) for await (const _ of res) { /* drain */ }
              return null;
            }, (e) => e);
            assert.ok(err, `an upstream ${status} (stream: ${stream}) was answered as a success`);
            // Anthropic's 529 "overloaded" is 503 to an OpenAI client (openai_to_anthropic).
            const want = status === 529 ? 503 : status;
            assert.equal(err.status, want, `upstream ${status} (stream: ${stream}) gave ${err.status}: ${err.message}`);
            assert.ok(since(sim, mark, isChat).length >= 1, `upstream ${status}: the request never reached the sim`);
          }
          if (!anthropicIngress) continue;
          const err = await anthropic.messages.create({
            model, max_tokens: 32, messages: [{ role: 'user', content: `anthropic fail [[error:${status}]]` }],
          }).then(() => null, (e) => e);
          assert.equal(err?.status, status, `anthropic client, upstream ${status}: ${err?.status} ${err?.message}`);
        }
      });

      if (MID_STREAM_ERROR.has(simName)) {
        t('an error in the middle of the upstream stream reaches both clients', async () => {
          const s = await openai.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'begin then [[stream-error]] break' }] });
          const err = await (async () => { for await (const _ of s) { /* drain */ } return null; })().catch((e) => e);
          assert.ok(err, 'the openai stream ended normally although the upstream stream failed');
          if (!anthropicIngress) return;
          const aerr = await anthropic.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'begin then [[stream-error]] break' }] })
            .finalMessage().then(() => null, (e) => e);
          assert.ok(aerr, 'the anthropic stream ended normally although the upstream stream failed');
        });
      }

      t('a request with a bad client key: the client key goes nowhere, the backend credential is used', async () => {
        // sluice does not authenticate its clients (that is the ingress's job): a client key is
        // never forwarded, so a wrong one changes nothing upstream and must not be logged.
        const sim = stack.sims[simName];
        const bad = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: BAD_CLIENT_KEY, maxRetries: 0, timeout: 15000 });
        let mark = sim.requests.length;
        await bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'bad client key' }] }).catch(() => null);
        const rec = oneUpstream(sim, mark, isChat);
        assert.ok(!JSON.stringify(rec.headers).includes(BAD_CLIENT_KEY), 'the bad client key was forwarded');
        if (!anthropicIngress) return;
        const badAnthropic = new Anthropic({ baseURL: `${stack.gw.url}/anthropic`, apiKey: BAD_CLIENT_KEY, authToken: null, maxRetries: 0, timeout: 15000 });
        mark = sim.requests.length;
        await badAnthropic.messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'bad x-api-key' }] }).catch(() => null);
        for (const r of sim.requests.slice(mark)) assert.ok(!JSON.stringify(r.headers).includes(BAD_CLIENT_KEY), 'the bad client key was forwarded');
      });
    });
  }

  test('the traffic really went through every sim, with the configured credentials', () => {
    const { anthropic: a, bedrock: b, vertex: v } = stack.sims;
    assert.ok(a.requests.filter((r) => r.headers['x-api-key'] === ANTHROPIC_KEY).length >= 10, 'few Anthropic requests carried the key');
    assert.ok(b.requests.filter((r) => r.headers['x-amz-security-token'] === CREDS.sessionToken && r.signatureValid).length >= 20,
      'few Bedrock requests were signed with the session credentials');
    assert.ok(v.requests.some((r) => r.kind === 'token' && r.jwtValid), 'no service-account token was fetched');
    assert.ok(v.issuedTokens().length >= 1);
    assert.ok(v.requests.filter((r) => r.tokenValid).length >= 20, 'few Vertex requests carried an issued token');
  });

  test('the gateway logs contain no backend secret, no issued token and no client key', () => {
    const { stdout, stderr } = stack.gw;
    assert.ok(stdout.length < MAX_LOG_CHARS && stderr.length < MAX_LOG_CHARS,
      'the captured log reached its size cap: its start was dropped and could hide a secret');
    assert.match(stdout + stderr, /listening on http/, 'the gateway log was not captured');
    assert.match(stdout + stderr, /POST \/v1\/chat\/completions model=\S+ status=200/, 'per-request debug lines were not logged');
    assert.match(stdout + stderr, /POST \/anthropic\/v1\/messages model=\S+ status=\d+/, 'per-request debug lines for the Anthropic endpoint were not logged');
    // The log as written, and with JSON escapes and line breaks folded, as a key could be
    // printed inside a quoted string.
    const logs = `${stdout}\n${stderr}`;
    const folded = logs.replace(/\\n/g, '').replace(/\\\//g, '/').replace(/\s+/g, '');
    const check = (secret, what) => {
      assert.ok(!logs.includes(secret) && !folded.includes(secret), `${what} appears in the gateway logs`);
    };
    check(ANTHROPIC_KEY, 'the Anthropic API key');
    check(CREDS.secretAccessKey, 'the AWS secret access key');
    check(CREDS.sessionToken, 'the AWS session token');
    const pem = pemBody(privateKeyPem);
    const parts = slices40(pem);
    assert.ok(parts.length > 1000, `the private key body is ${pem.length} chars`);
    const leaked = parts.findIndex((s) => logs.includes(s) || folded.includes(s));
    assert.equal(leaked, -1, `a 40-character slice of the GCP private key (at offset ${leaked}) appears in the gateway logs`);
    const tokens = stack.sims.vertex.issuedTokens();
    assert.ok(tokens.length >= 1);
    tokens.forEach((tok, i) => check(tok, `OAuth access token #${i + 1} issued by the Vertex sim`));
    check(BAD_CLIENT_KEY, 'the bad client key');
    for (const [k, v] of Object.entries(CLIENT_SECRETS)) check(v, `the client credential ${k}`);
  });

  test('each credential reached only its own simulator; the secret key and the private key reached none', () => {
    const never = [CREDS.secretAccessKey, ...slices40(pemBody(privateKeyPem)).filter((_, i) => i % 40 === 0)];
    assertNoCredentialLeaks(stack.sims, {
      anthropic: [ANTHROPIC_KEY],
      bedrock: [CREDS.accessKeyId, CREDS.sessionToken],
      vertex: stack.sims.vertex.issuedTokens(),
    }, never);
    for (const [n, sim] of Object.entries(stack.sims)) {
      for (const r of sim.requests) assert.ok(!`${JSON.stringify(r.headers)}${r.body}`.includes(BAD_CLIENT_KEY), `the bad client key reached the ${n} sim`);
    }
  });
});

/** The requests a sim recorded since `mark` that match pred. */
function since(sim, mark, pred) {
  return sim.requests.slice(mark).filter(pred);
}
