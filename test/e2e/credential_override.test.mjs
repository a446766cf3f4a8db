// End-to-end: BackendSecurityPolicy credentialOverride (Envoy AI Gateway v1.1): a trusted
// ingress puts a tenant's own provider credential in a request header (x-aigw-api-key,
// x-aigw-aws-access-key-id / -secret-access-key / -session-token); the gateway signs that
// request with it instead of the configured credential, and the header never reaches the
// provider. The openai SDK is the client; the OpenAI-compatible simulator accepts only the
// tenant's key, the Bedrock simulator only the tenant's AWS keys (SigV4 re-computed with
// @smithy/signature-v4).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import { startOpenAICompatSim } from '../tools/provider_sims/openai_compat.mjs';
import { CLIENT_SECRETS, assertAccepted, oneUpstream, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';

const skip = sluiceSkipReason();
const TENANT_KEY = 'sk-tenant-byok-7d1e';
const TENANT_AWS = { accessKeyId: 'AKIATENANTBYOK0001', secretAccessKey: 'tenant/byok/secret+KEY', sessionToken: 'tenant-session-token==' };
const BEDROCK_MODEL = 'amazon.nova-micro-v1:0';

describe('credentialOverride: per-request credentials from headers', { skip }, () => {
  let stack;
  const client = (headers = {}) => new OpenAI({
    baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000, defaultHeaders: headers,
  });
  before(async () => {
    stack = await startProviderStack({
      sims: {
        openai: () => startOpenAICompatSim({ apiKey: TENANT_KEY }),
        strict: () => startOpenAICompatSim({ apiKey: TENANT_KEY }),
        md: () => startOpenAICompatSim({ apiKey: TENANT_KEY }),
        bedrock: () => startBedrockSim({ credentials: TENANT_AWS, region: 'us-east-1' }),
      },
      config: (s) => ({
        routes: [
          { model: 'gpt-byok', backend: 'openai' },
          { model: 'gpt-strict', backend: 'strict' },
          { model: 'gpt-md', backend: 'md' },
          { model: BEDROCK_MODEL, backend: 'bedrock' },
        ],
        backends: [
          { name: 'openai', schema: 'OpenAI', port: s.openai.port,
            auth: { type: 'APIKey', key: 'sk-configured-shared', credentialOverride: { fromRequestHeaders: {} } } },
          { name: 'strict', schema: 'OpenAI', port: s.strict.port,
            auth: { type: 'APIKey', key: 'sk-configured-shared', credentialOverride: { fromRequestHeaders: { fallbackToConfigured: false } } } },
          { name: 'md', schema: 'OpenAI', port: s.md.port, auth: {
            type: 'APIKey', key: 'sk-configured-shared',
            credentialOverride: { fromDynamicMetadata: { namespace: 'envoy.filters.http.ext_authz', fallbackToConfigured: false } },
          } },
          { name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth: {
            type: 'AWSCredentials', region: 'us-east-1', credentialOverride: { fromRequestHeaders: {} },
            ini: '[default]\naws_access_key_id = AKIACONFIGUREDSHARED\naws_secret_access_key = shared-secret\n',
          } },
        ],
      }),
    });
  });
  after(() => stack?.close());

  test('the tenant key from x-aigw-api-key reaches the provider; the header does not', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.openai;
    const mark = sim.requests.length;
    const r = await client({ 'x-aigw-api-key': TENANT_KEY }).chat.completions.create({
      model: 'gpt-byok', messages: [{ role: 'user', content: 'byok' }],
    });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'chat');
    assertAccepted(rec);
    assert.equal(rec.headers.authorization, `Bearer ${TENANT_KEY}`);
    assert.equal(rec.headers['x-aigw-api-key'], undefined);
    assert.equal(r.choices[0].message.content, rec.answer.text);
  }));

  test('without the header the configured key is used (fallbackToConfigured), which this provider refuses', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.openai;
    const mark = sim.requests.length;
    const err = await client().chat.completions.create({ model: 'gpt-byok', messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 401);
    const rec = oneUpstream(sim, mark, () => true);
    assert.equal(rec.headers.authorization, 'Bearer sk-configured-shared');
  }));

  test('fallbackToConfigured false: no header is a 401 from the gateway, nothing upstream', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.strict;
    const mark = sim.requests.length;
    const err = await client().chat.completions.create({ model: 'gpt-strict', messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.match(err.message, /missing upstream credential/);
    assert.match(`${stack.gw.stdout}${stack.gw.stderr}`, /no credential in header x-aigw-api-key/);
    assert.equal(sim.requests.length, mark);
    const ok = await client({ 'x-aigw-api-key': TENANT_KEY }).chat.completions.create({
      model: 'gpt-strict', messages: [{ role: 'user', content: 'strict' }],
    });
    assert.ok(ok.choices[0].message.content.length > 0);
  }));

  test('fromDynamicMetadata under `sluice run`: a warning at start, and a 401 without a fallback', withGatewayLogs(() => stack.gw, async () => {
    assert.match(`${stack.gw.stdout}${stack.gw.stderr}`, /default\/md: credentialOverride\.fromDynamicMetadata never finds a credential under `sluice run`/);
    const sim = stack.sims.md;
    const mark = sim.requests.length;
    const err = await client({ 'x-aigw-api-key': TENANT_KEY }).chat.completions.create({
      model: 'gpt-md', messages: [{ role: 'user', content: 'x' }],
    }).then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(sim.requests.length, mark);
  }));

  test("the tenant's AWS keys from x-aigw-aws-* sign the Bedrock call; none of them go upstream", withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.bedrock;
    const mark = sim.requests.length;
    const r = await client({
      'x-aigw-aws-access-key-id': TENANT_AWS.accessKeyId, 'x-aigw-aws-secret-access-key': TENANT_AWS.secretAccessKey,
      'x-aigw-aws-session-token': TENANT_AWS.sessionToken,
    }).chat.completions.create({ model: BEDROCK_MODEL, messages: [{ role: 'user', content: 'byok aws' }] });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'converse');
    assertAccepted(rec);
    assert.equal(rec.signatureValid, true, rec.signatureProblem);
    assert.ok(rec.headers.authorization.includes(`Credential=${TENANT_AWS.accessKeyId}/`));
    for (const h of Object.keys(rec.headers)) assert.ok(!h.startsWith('x-aigw-'), `${h} reached the provider`);
    assert.ok(r.choices[0].message.content.length > 0);
    const logs = `${stack.gw.stdout}${stack.gw.stderr}`;
    for (const secret of [TENANT_KEY, TENANT_AWS.secretAccessKey, TENANT_AWS.sessionToken]) {
      assert.ok(!logs.includes(secret), 'a per-request credential reached the log');
    }
  }));
});
