// End-to-end: an AWSCredentials policy with no credentials file, as Envoy AI Gateway's
// examples for EKS (aws-irsa.yaml, aws-pod-identity.yaml) write it. The gateway finds its keys
// through the AWS default credential chain: IRSA's web identity (STS
// AssumeRoleWithWebIdentity) and EKS Pod Identity's container endpoint, both played by the
// identity simulator (test/tools/provider_sims/aws_identity.mjs), which mints fresh temporary
// credentials at every call; the Bedrock simulator accepts only the latest, recomputing every
// SigV4 signature with @smithy/signature-v4. Temporary credentials expire: the gateway must
// refresh them before they do, off the request path.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { DEFAULT_AWS_CREDENTIALS, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import { startAwsIdentitySim } from '../tools/provider_sims/aws_identity.mjs';
import { CLIENT_SECRETS, assertAccepted, oneUpstream, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';
import { sleep } from '../tools/provider_sims/common.mjs';

const skip = sluiceSkipReason();
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/ai-gateway-bedrock-role';
const WEB_IDENTITY_TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InNpbSJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpzbHVpY2UifQ.c2ln';
const AGENT_TOKEN = 'eks-pod-identity-agent-token';
// Nothing from the developer's or CI's own AWS setup may leak in.
const CLEAN_ENV = {
  AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '', AWS_SHARED_CREDENTIALS_FILE: '',
  AWS_WEB_IDENTITY_TOKEN_FILE: '', AWS_ROLE_ARN: '', AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '', AWS_EC2_METADATA_DISABLED: 'true',
};

function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-aws-chain-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function until(pred, what, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function chainStack({ identityEnv, lifetimeSeconds, sso }) {
  const state = { creds: { ...DEFAULT_AWS_CREDENTIALS, accessKeyId: 'AKIDNOTISSUEDYET' }, tmp: tempDir() };
  state.start = async () => {
    state.stack = await startProviderStack({
      sims: {
        identity: () => startAwsIdentitySim({
          current: state.creds, roleArn: ROLE_ARN, webIdentityToken: WEB_IDENTITY_TOKEN, agentToken: AGENT_TOKEN, lifetimeSeconds, sso,
        }),
        bedrock: () => startBedrockSim({ credentials: state.creds, region: 'us-east-1' }),
      },
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'bedrock' }],
        backends: [{ name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth: { type: 'AWSCredentials', region: 'us-east-1' } }],
      }),
      env: (s) => ({ ...CLEAN_ENV, HOME: state.tmp.dir, ...identityEnv(s, state.tmp.dir) }),
    });
    state.client = new OpenAI({ baseURL: state.stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  };
  state.stop = async () => {
    await state.stack?.close();
    state.tmp.cleanup();
  };
  // One chat call; the upstream request it made, checked for a valid signature with the
  // identity sim's latest credentials.
  state.call = async (content) => {
    const sim = state.stack.sims.bedrock;
    const mark = sim.requests.length;
    const r = await state.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }] });
    const rec = oneUpstream(sim, mark, (x) => x.kind === 'converse');
    assertAccepted(rec);
    assert.equal(rec.signatureValid, true, rec.signatureProblem);
    assert.equal(rec.headers['x-amz-security-token'], state.creds.sessionToken);
    assert.ok(rec.headers.authorization.includes(`Credential=${state.creds.accessKeyId}/`), rec.headers.authorization);
    assert.ok(r.choices[0].message.content.length > 0);
    return rec;
  };
  return state;
}

describe('AWS default credential chain: IRSA web identity (STS AssumeRoleWithWebIdentity)', { skip }, () => {
  const s = chainStack({
    lifetimeSeconds: 4,
    identityEnv: (sims, dir) => {
      const tokenFile = path.join(dir, 'token');
      fs.writeFileSync(tokenFile, `${WEB_IDENTITY_TOKEN}\n`);
      // What EKS injects into the pod (AWS_ENDPOINT_URL_STS: the SDKs' endpoint override).
      return { AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ROLE_ARN: ROLE_ARN, AWS_ENDPOINT_URL_STS: sims.identity.url };
    },
  });
  before(() => s.start());
  after(() => s.stop());

  test('the role is assumed with the projected token, and Bedrock calls are signed with what STS issued', withGatewayLogs(() => s.stack.gw, async () => {
    const ids = s.stack.sims.identity;
    await until(() => ids.issued.length >= 1, 'the first AssumeRoleWithWebIdentity');
    const sts = ids.requests.find((r) => r.kind === 'sts');
    assertAccepted(sts);
    assert.equal(new URLSearchParams(sts.body).get('WebIdentityToken'), WEB_IDENTITY_TOKEN);
    await s.call('signed with web identity credentials');
  }));

  test('temporary credentials are refreshed before they expire; the next call uses the new ones', withGatewayLogs(() => s.stack.gw, async () => {
    const ids = s.stack.sims.identity;
    const before = ids.issued.length;
    await until(() => ids.issued.length > before, 'a refresh (the credentials live 4 s)');
    await sleep(300);  // the gateway stores what STS just answered
    const rec = await s.call('signed after the refresh');
    assert.equal(rec.headers['x-amz-security-token'], ids.issued.at(-1).sessionToken);
    assert.deepEqual(ids.requests.flatMap((r) => r.problems), []);
  }));

  test('no secret of the chain reaches the logs', () => {
    const logs = s.stack.gw.logs();
    for (const secret of [WEB_IDENTITY_TOKEN, ...s.stack.sims.identity.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])]) {
      assert.equal(logs.includes(secret), false, 'a secret was logged');
    }
    assert.match(logs, /aws credentials: from web identity/);
  });
});

describe('AWS default credential chain: EKS Pod Identity (container credentials)', { skip }, () => {
  const s = chainStack({
    lifetimeSeconds: 3600,
    identityEnv: (sims, dir) => {
      const tokenFile = path.join(dir, 'eks-pod-identity-token');
      fs.writeFileSync(tokenFile, AGENT_TOKEN);
      return { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${sims.identity.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile };
    },
  });
  before(() => s.start());
  after(() => s.stop());

  test('credentials come from the agent, with its token, and sign the Bedrock call', withGatewayLogs(() => s.stack.gw, async () => {
    const ids = s.stack.sims.identity;
    await until(() => ids.issued.length >= 1, 'the container credentials call');
    const got = ids.requests.find((r) => r.kind === 'container');
    assertAccepted(got);
    assert.equal(got.headers.authorization, AGENT_TOKEN);
    await s.call('signed with pod identity credentials');
    assert.equal(ids.issued.length, 1, 'an hour-long credential is not fetched again per request');
  }));
});

describe('AWS default credential chain: a profile with credential_process (aws-vault, granted, 1Password, ...)', { skip }, () => {
  const s = chainStack({
    lifetimeSeconds: 3600,
    identityEnv: (sims, dir) => {
      // The helper prints the credentials the Bedrock simulator accepts, in the documented
      // format, and says something on stderr as such helpers do.
      const script = path.join(dir, 'creds.mjs');
      fs.writeFileSync(script, `const c = JSON.parse(process.env.SIM_CREDS);
console.error('credential helper: handing out keys');
console.log(JSON.stringify({ Version: 1, AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: c.sessionToken,
  Expiration: new Date(Date.now() + 3600e3).toISOString() }));
`);
      const config = path.join(dir, 'config');
      fs.writeFileSync(config, `[profile dev]\ncredential_process = node ${script}\nregion = us-east-1\n`);
      return { AWS_CONFIG_FILE: config, AWS_PROFILE: 'dev', SIM_CREDS: JSON.stringify(s.creds) };
    },
  });
  before(() => s.start());
  after(() => s.stop());

  test('the process\'s credentials sign the Bedrock call; none reach the log', withGatewayLogs(() => s.stack.gw, async () => {
    await s.call('signed with credential_process keys');
    const logs = s.stack.gw.logs();
    assert.equal(logs.includes(s.creds.secretAccessKey), false, 'the secret was logged');
    assert.equal(logs.includes(s.creds.sessionToken), false, 'the session token was logged');
    assert.match(logs, /aws credentials: from the shared credentials file/);
  }));
});

describe('AWS default credential chain: an IAM Identity Center (SSO) profile after `aws sso login`', { skip }, () => {
  // What `aws sso login --sso-session corp` leaves behind: the config file's profile and
  // session, and the session's token in ~/.aws/sso/cache/<sha1("corp")>.json, here five
  // minutes from expiry, so the gateway must refresh it (SSO OIDC) before trading it for
  // role keys (SSO GetRoleCredentials), both played by the identity simulator.
  const sso = {
    accessToken: 'sso-access-0', refreshToken: 'sso-refresh-0', clientId: 'sso-client', clientSecret: 'sso-client-secret',
    accountId: '111122223333', roleName: 'BedrockInvoke',
  };
  let cacheFile;
  const s = chainStack({
    lifetimeSeconds: 3600,
    sso,
    identityEnv: (sims, dir) => {
      fs.mkdirSync(path.join(dir, '.aws', 'sso', 'cache'), { recursive: true });
      fs.writeFileSync(path.join(dir, '.aws', 'config'), `[profile dev]
sso_session = corp
sso_account_id = ${sso.accountId}
sso_role_name = ${sso.roleName}
region = us-east-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
`);
      cacheFile = path.join(dir, '.aws', 'sso', 'cache', `${crypto.createHash('sha1').update('corp').digest('hex')}.json`);
      fs.writeFileSync(cacheFile, JSON.stringify({
        startUrl: 'https://corp.awsapps.com/start', region: 'eu-west-1', accessToken: sso.accessToken,
        expiresAt: new Date(Date.now() + 60e3).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        clientId: sso.clientId, clientSecret: sso.clientSecret, refreshToken: sso.refreshToken,
        registrationExpiresAt: new Date(Date.now() + 30 * 86400e3).toISOString(),
      }), { mode: 0o644 });  // as a careless umask left it: the write-back must tighten it
      const url = `http://127.0.0.1:${sims.identity.port}`;
      return { AWS_PROFILE: 'dev', AWS_ENDPOINT_URL_SSO: url, AWS_ENDPOINT_URL_SSO_OIDC: url };
    },
  });
  before(() => s.start());
  after(() => s.stop());

  test('the cached login is refreshed, written back, and traded for role keys that sign the Bedrock call', withGatewayLogs(() => s.stack.gw, async () => {
    const ids = s.stack.sims.identity;
    await s.call('signed with IAM Identity Center role keys');
    assert.equal(ids.ssoRefreshes.length, 1, 'the token five minutes from expiry was refreshed once');
    const portal = ids.requests.filter((r) => r.kind === 'sso-role-credentials');
    assert.equal(portal.length, 1);
    assert.deepEqual(portal[0].problems, []);
    assert.equal(portal[0].headers['x-amz-sso_bearer_token'], sso.accessToken, 'the refreshed token was used');
    // The CLI's cache now holds what the refresh issued, as the AWS SDKs leave it.
    const cached = JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
    assert.equal(cached.accessToken, sso.accessToken);
    assert.equal(cached.refreshToken, sso.refreshToken);
    assert.ok(Date.parse(cached.expiresAt) > Date.now() + 7 * 3600e3, cached.expiresAt);
    assert.equal(cached.startUrl, 'https://corp.awsapps.com/start');
    assert.equal(fs.statSync(cacheFile).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(cacheFile)), [path.basename(cacheFile)], 'a temporary file was left behind');
    const logs = s.stack.gw.logs();
    for (const secret of [sso.accessToken, sso.refreshToken, sso.clientSecret, s.creds.secretAccessKey]) {
      assert.equal(logs.includes(secret), false, 'a secret reached the log');
    }
  }));
});

describe('AWS default credential chain: nothing configured', { skip }, () => {
  const s = chainStack({ lifetimeSeconds: 3600, identityEnv: () => ({}) });
  before(() => s.start());
  after(() => s.stop());

  test('the config loads; a Bedrock call is a 503, the log says what was tried, and nothing goes upstream', withGatewayLogs(() => s.stack.gw, async () => {
    const sim = s.stack.sims.bedrock;
    const err = await s.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 503);
    assert.match(err.message, /credentials for backend .* are not available/);
    // What was tried is in the gateway's log, not in the answer to an API client.
    assert.doesNotMatch(err.message, /AWS_WEB_IDENTITY_TOKEN_FILE|instance metadata/);
    assert.match(s.stack.gw.logs(), /no AWS credentials: .*AWS_WEB_IDENTITY_TOKEN_FILE/);
    assert.equal(sim.requests.length, 0);
  }));
});
