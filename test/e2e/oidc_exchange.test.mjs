// End-to-end: BackendSecurityPolicies with Envoy AI Gateway's oidcExchangeToken, which its
// controller runs (and `aigw run` refuses). sluice runs the exchange itself, at every refresh:
// the OAuth2 client-credentials grant at an OIDC provider (test/tools/provider_sims/
// oidc_provider.mjs: discovery, HTTP Basic client authentication, fresh JWT-shaped tokens),
// then
//   - AWSCredentials: STS AssumeRoleWithWebIdentity with that token for awsRoleArn (the AWS
//     identity simulator accepts only tokens the OIDC provider issued), whose keys sign the
//     Bedrock call (the Bedrock simulator re-computes SigV4 with @smithy/signature-v4);
//   - AzureCredentials: the token as Entra's client assertion (the Azure simulator plays Entra
//     and accepts only tokens the provider issued), Entra's token as the bearer.
// The openai SDK is the client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { DEFAULT_AWS_CREDENTIALS, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import { startAwsIdentitySim } from '../tools/provider_sims/aws_identity.mjs';
import { startAzureSim } from '../tools/provider_sims/azure.mjs';
import { startOidcProviderSim } from '../tools/provider_sims/oidc_provider.mjs';
import { CLIENT_SECRETS, assertAccepted, oneUpstream, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';

const skip = sluiceSkipReason();
const CLIENT = { clientId: 'gateway-client', clientSecret: 'oidc-client-secret-9f8e7d' };
// Nothing from the developer's or CI's own AWS / Azure setup may leak in.
const CLEAN_ENV = {
  AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '', AWS_WEB_IDENTITY_TOKEN_FILE: '',
  AWS_ROLE_ARN: '', AWS_EC2_METADATA_DISABLED: 'true', AZURE_FEDERATED_TOKEN_FILE: '',
};

function assertNoSecretsLogged(gw, secrets) {
  const logs = `${gw.stdout}${gw.stderr}`;
  for (const s of secrets) assert.ok(!logs.includes(s), `a secret appeared in the gateway's log: ${s.slice(0, 10)}...`);
}

describe('AWSCredentials with oidcExchangeToken: OIDC client credentials -> STS AssumeRoleWithWebIdentity -> Bedrock', { skip }, () => {
  const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
  const ROLE_ARN = 'arn:aws:iam::123456789012:role/ai-gateway-oidc';
  const creds = { ...DEFAULT_AWS_CREDENTIALS, accessKeyId: 'AKIDNOTISSUEDYET' };
  let stack;
  let client;
  let idp;
  before(async () => {
    stack = await startProviderStack({
      sims: {
        idp: async () => { idp = await startOidcProviderSim({ ...CLIENT, basicOnly: true }); return idp; },
        identity: () => startAwsIdentitySim({ current: creds, roleArn: ROLE_ARN, webIdentityToken: (t) => idp.isIssued(t) }),
        bedrock: () => startBedrockSim({ credentials: creds, region: 'us-east-1' }),
      },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'bedrock' }],
        backends: [{ name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth: {
          type: 'AWSCredentials', region: 'us-east-1',
          oidc: { issuer: s.idp.url, ...CLIENT, scopes: ['bedrock.invoke'], aud: 'sts.amazonaws.com', roleArn: ROLE_ARN },
        } }],
      }),
      env: (s) => ({ ...CLEAN_ENV, AWS_ENDPOINT_URL_STS: s.identity.url }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(() => stack?.close());

  test('the provider\'s token assumes the role; STS\'s keys sign the Bedrock call', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.bedrock;
    const mark = sim.requests.length;
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'oidc exchange' }] });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'converse');
    assertAccepted(rec);
    assert.equal(rec.signatureValid, true, rec.signatureProblem);
    assert.ok(rec.headers.authorization.includes(`Credential=${creds.accessKeyId}/`), rec.headers.authorization);
    assert.equal(rec.headers['x-amz-security-token'], creds.sessionToken);
    assert.ok(r.choices[0].message.content.length > 0);
    // Discovery, then the grant with HTTP Basic, the scopes and the audience.
    const grant = idp.requests.filter((x) => x.kind === 'token').at(-1);
    assert.ok(idp.requests.some((x) => x.kind === 'discovery'), 'the token endpoint was not discovered');
    assert.deepEqual(grant.problems, []);
    assert.equal(grant.clientAuth, 'basic');
    assert.equal(grant.form.scope, 'bedrock.invoke');
    assert.equal(grant.form.audience, 'sts.amazonaws.com');
    assert.equal(grant.form.client_secret, undefined, 'the secret went in the form as well');
    // STS saw that token, for the role, with Envoy AI Gateway's session name.
    const sts = stack.sims.identity.requests.filter((x) => x.kind === 'sts').at(-1);
    assert.deepEqual(sts.problems, []);
    assert.equal(sts.webIdentityToken, grant.issuedToken);
    assert.equal(sts.roleSessionName, 'ai-gateway-bedrock-auth');
    assertNoSecretsLogged(stack.gw, [CLIENT.clientSecret, grant.issuedToken, creds.secretAccessKey, creds.sessionToken]);
  }));
});

describe('AzureCredentials with oidcExchangeToken: the OIDC token is Entra\'s client assertion', { skip }, () => {
  const API_VERSION = '2024-10-21';
  const MODEL = 'gpt-4o-deployment';
  let stack;
  let client;
  let idp;
  before(async () => {
    stack = await startProviderStack({
      sims: {
        idp: async () => { idp = await startOidcProviderSim(CLIENT); return idp; },
        azure: () => startAzureSim({
          apiVersion: API_VERSION, entra: { tenantId: 'tenant-oidc-1', clientId: 'app-oidc-2', federatedToken: (t) => idp.isIssued(t) },
        }),
      },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'azure' }],
        backends: [{ name: 'azure', schema: 'AzureOpenAI', version: API_VERSION, port: s.azure.port, auth: {
          type: 'AzureCredentials', tenantId: 'tenant-oidc-1', clientId: 'app-oidc-2',
          oidc: { issuer: s.idp.url, tokenEndpoint: `${s.idp.url}/oauth2/token`, ...CLIENT, aud: 'api://AzureADTokenExchange' },
        } }],
      }),
      env: (s) => ({ ...CLEAN_ENV, AZURE_AUTHORITY_HOST: s.azure.url }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(() => stack?.close());

  test('Entra takes the provider\'s token as the assertion; its token is the bearer', withGatewayLogs(() => stack.gw, async () => {
    const sim = stack.sims.azure;
    const mark = sim.requests.length;
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'oidc azure' }] });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'chat');
    assertAccepted(rec);
    assert.equal(r.choices[0].message.content, rec.answer.text);
    const t = sim.requests.filter((x) => x.kind === 'entra-token').at(-1);
    assertAccepted(t);
    assert.equal(t.form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(t.form.client_secret, undefined);
    assert.equal(rec.headers.authorization, `Bearer ${t.answer.token}`);
    // The configured tokenEndpoint: no discovery.
    assert.equal(idp.requests.filter((x) => x.kind === 'discovery').length, 0);
    const grant = idp.requests.filter((x) => x.kind === 'token').at(-1);
    assert.equal(t.clientAssertion, grant.issuedToken);
    assertNoSecretsLogged(stack.gw, [CLIENT.clientSecret, grant.issuedToken, t.answer.token]);
  }));
});
