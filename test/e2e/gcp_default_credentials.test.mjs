// End-to-end: a GCPCredentials policy without a key file, and Envoy AI Gateway's `gcp` filter
// config without an access token, use Google's Application Default Credentials, found by the
// gateway at run time as Google's client libraries find them:
//   - GKE Workload Identity / GCE / Cloud Run: the metadata server (GCE_METADATA_HOST points
//     the gateway at the simulator's);
//   - `gcloud auth application-default login`: gcloud's authorized_user file, whose refresh
//     token the simulator's OAuth2 endpoint exchanges;
//   - workload identity federation (EKS, AKS, any OIDC issuer): an external_account file in
//     GOOGLE_APPLICATION_CREDENTIALS; the projected token is exchanged at the simulator's STS,
//     then for a service account's token (IAM Credentials generateAccessToken);
//   - workload identity federation with X.509 certificates: the certificate configuration names
//     the workload's certificate and key; the exchange and the impersonation go over mutual TLS
//     to the simulator's HTTPS listener (test certificates made with the openssl command).
// The Vertex simulator (test/tools/provider_sims/vertex.mjs) issues every token itself, records
// how each was minted, and refuses model calls with anything else (including a federated token
// used without impersonation, as for a pool granted no Vertex role of its own). The openai SDK
// is the client.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { startVertexSim } from '../tools/provider_sims/vertex.mjs';
import { CLIENT_SECRETS, assertAccepted, oneUpstream, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';

const skip = sluiceSkipReason();
const MODEL = 'gemini-2.5-flash';
const USER_LOGIN = {
  clientId: '764086051850-e2e.apps.googleusercontent.com', clientSecret: 'd-FL95Q19q7MQmFpd7hHD0Ty',
  refreshToken: '1//0e2e-refresh-token-never-logged',
};
const SERVICE_ACCOUNT = 'vertex-caller@p.iam.gserviceaccount.com';
const AUDIENCE = '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/eks/providers/oidc';
const PROJECTED_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWk6c2x1aWNlIn0.projected-sig';
// The AWS workload (an EC2 instance, an EKS pod) federating into Google from AWS.
const AWS_WORKLOAD = {
  accessKeyId: 'AKIAWORKLOADEXAMPLE', secretAccessKey: 'workload/secret/key/EXAMPLE+1', sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//token==',
};
// Nothing from the developer's or CI's own Google or AWS setup may leak in.
const CLEAN_ENV = {
  GOOGLE_APPLICATION_CREDENTIALS: '', CLOUDSDK_CONFIG: '', GCE_METADATA_HOST: '', NO_GCE_CHECK: '',
  AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_REGION: '', AWS_DEFAULT_REGION: '',
};

// `opts`: {tls, x509} for the Vertex simulator (its mutual-TLS listener and X.509 federation),
// args for the gateway; each a function of the state (its temporary directory) when given.
function adcStack(envFor, opts = () => ({})) {
  const state = { tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-gcp-adc-')) };
  state.start = async () => {
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { tls = null, x509 = null, args = [] } = opts(state);
    state.stack = await startProviderStack({
      sims: {
        vertex: () => startVertexSim({
          publicKey, clientEmail: 'unused@p.iam.gserviceaccount.com', project: 'p', region: 'us-central1',
          userLogin: USER_LOGIN, tls,
          federation: {
            audience: AUDIENCE, subjectToken: PROJECTED_TOKEN, serviceAccount: SERVICE_ACCOUNT,
            aws: { credentials: AWS_WORKLOAD, region: 'eu-west-1' }, x509,
          },
        }),
      },
      args,
      config: (s) => ({
        routes: [{ model: MODEL, backend: 'vertex' }],
        backends: [{ name: 'vertex', schema: 'GCPVertexAI', port: s.vertex.port,
                     auth: { type: 'GCPCredentials', project: 'p', region: 'us-central1' } }],
      }),
      env: (s) => ({ ...CLEAN_ENV, HOME: state.tmp, ...envFor(s, state.tmp) }),
    });
    state.client = new OpenAI({ baseURL: state.stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  };
  state.stop = async () => {
    await state.stack?.close();
    fs.rmSync(state.tmp, { recursive: true, force: true });
  };
  // One chat call, streamed or not; the model call it made, accepted with a token of `source`.
  state.call = async (source, stream = false) => {
    const sim = state.stack.sims.vertex;
    const mark = sim.requests.length;
    let text = '';
    if (stream) {
      for await (const c of await state.client.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'adc stream' }] })) {
        text += c.choices[0]?.delta?.content ?? '';
      }
    } else {
      const r = await state.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'adc please' }] });
      text = r.choices[0].message.content;
    }
    const rec = oneUpstream(sim, mark, (x) => x.kind.startsWith('google:'));
    assertAccepted(rec);
    assert.equal(rec.tokenValid, true);
    assert.equal(rec.tokenSource, source);
    assert.equal(text, rec.answer.text);
    return rec;
  };
  // No secret of the credential sources in the gateway's output.
  state.assertNothingLogged = (secrets) => {
    const logs = state.stack.gw.stdout + state.stack.gw.stderr;
    for (const s of secrets) assert.ok(!logs.includes(s), `a credential appeared in the gateway's log: ${s.slice(0, 8)}...`);
    for (const t of state.stack.sims.vertex.issuedTokens()) assert.ok(!logs.includes(t), 'an access token appeared in the log');
  };
  return state;
}

describe('GCPCredentials without a key file: Application Default Credentials', { skip }, () => {
  describe('the metadata server (GKE Workload Identity, GCE, Cloud Run)', () => {
    const s = adcStack((sims) => ({ GCE_METADATA_HOST: `127.0.0.1:${sims.vertex.port}` }));
    before(s.start);
    after(s.stop);
    test('tokens come from the metadata server, asked with Metadata-Flavor: Google', withGatewayLogs(() => s.stack.gw, async () => {
      const rec = await s.call('metadata');
      assert.equal(rec.headers['x-goog-user-project'], undefined, 'no quota project was named');
      await s.call('metadata', true);
      const md = s.stack.sims.vertex.requests.filter((r) => r.kind === 'metadata:token');
      assert.ok(md.length >= 1, 'the metadata server was not asked');
      for (const r of md) assert.deepEqual(r.problems, []);
      s.assertNothingLogged([]);
    }));
  });

  describe("gcloud's user login (authorized_user in CLOUDSDK_CONFIG)", () => {
    const s = adcStack((sims, tmp) => {
      fs.writeFileSync(path.join(tmp, 'application_default_credentials.json'), JSON.stringify({
        type: 'authorized_user', client_id: USER_LOGIN.clientId, client_secret: USER_LOGIN.clientSecret,
        refresh_token: USER_LOGIN.refreshToken, token_uri: `${sims.vertex.url}/token`, quota_project_id: 'p',
      }));
      return { CLOUDSDK_CONFIG: tmp, NO_GCE_CHECK: 'true' };
    });
    before(s.start);
    after(s.stop);
    test('the refresh token is exchanged for the access token', withGatewayLogs(() => s.stack.gw, async () => {
      await s.call('user-login');
      const grants = s.stack.sims.vertex.requests.filter((r) => r.kind === 'token:refresh_token');
      assert.ok(grants.length >= 1);
      for (const r of grants) assert.deepEqual(r.problems, []);
      // The login's quota project goes with every model call, as Google's libraries send it.
      const model = s.stack.sims.vertex.requests.filter((x) => x.kind.startsWith('google:')).at(-1);
      assert.equal(model.headers['x-goog-user-project'], 'p');
      // The user's secrets go only to the token endpoint.
      for (const r of s.stack.sims.vertex.requests.filter((x) => x.kind.startsWith('google:'))) {
        const text = `${r.rawHeaders.join('\n')}\n${r.body}`;
        assert.ok(!text.includes(USER_LOGIN.refreshToken) && !text.includes(USER_LOGIN.clientSecret));
      }
      s.assertNothingLogged([USER_LOGIN.refreshToken, USER_LOGIN.clientSecret]);
    }));
  });

  describe('workload identity federation (external_account in GOOGLE_APPLICATION_CREDENTIALS)', () => {
    const s = adcStack((sims, tmp) => {
      const tokenFile = path.join(tmp, 'projected-token');
      fs.writeFileSync(tokenFile, `${PROJECTED_TOKEN}\n`);
      const file = path.join(tmp, 'wif.json');
      fs.writeFileSync(file, JSON.stringify({
        type: 'external_account', audience: AUDIENCE, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${sims.vertex.url}/v1/token`,
        service_account_impersonation_url: `${sims.vertex.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
        credential_source: { file: tokenFile, format: { type: 'text' } },
      }));
      return { GOOGLE_APPLICATION_CREDENTIALS: file, NO_GCE_CHECK: 'true' };
    });
    before(s.start);
    after(s.stop);
    test('the projected token is exchanged at STS, then for the service account token', withGatewayLogs(() => s.stack.gw, async () => {
      await s.call('impersonated');
      const reqs = s.stack.sims.vertex.requests;
      const sts = reqs.filter((r) => r.kind === 'sts:token-exchange');
      const iam = reqs.filter((r) => r.kind === 'iam:generateAccessToken');
      assert.ok(sts.length >= 1 && iam.length >= 1, `STS ${sts.length}, generateAccessToken ${iam.length}`);
      for (const r of [...sts, ...iam]) assert.deepEqual(r.problems, []);
      s.assertNothingLogged([PROJECTED_TOKEN]);
    }));
  });

  describe('workload identity federation with X.509 certificates (external_account, credential_source.certificate)', () => {
    // A test PKI: a root, an intermediate that issues the workload's certificate, and the
    // simulator's HTTPS certificate for 127.0.0.1 (trusted by the gateway through --ca-file).
    const pki = (dir) => {
      const run = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
      const ext = (name, text) => { fs.writeFileSync(path.join(dir, name), text); return name; };
      const key = (name) => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name);
      key('ca.key');
      run('req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=sluice test root');
      const issue = (name, issuer, subject, extText) => {
        key(`${name}.key`);
        run('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
        run('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-set_serial',
          String(Math.floor(Math.random() * 1e9)), '-days', '2', '-out', `${name}.pem`, '-extfile', ext(`${name}.ext`, extText));
      };
      issue('intermediate', 'ca', '/CN=sluice test intermediate', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
      issue('workload', 'intermediate', '/CN=vertex-caller workload', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
      issue('server', 'ca', '/CN=127.0.0.1', 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
      const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
      return {
        tls: { key: read('server.key'), cert: read('server.pem'), ca: [read('ca.pem'), read('intermediate.pem')] },
        chain: [new crypto.X509Certificate(read('intermediate.pem')).raw.toString('base64')],
        workloadKey: read('workload.key'),
      };
    };
    let made = null;
    const s = adcStack((sims, tmp) => {
      const config = path.join(tmp, 'certificate_config.json');
      fs.writeFileSync(config, JSON.stringify({
        version: 1, cert_configs: { workload: { cert_path: path.join(tmp, 'workload.pem'), key_path: path.join(tmp, 'workload.key') } },
      }));
      const file = path.join(tmp, 'x509.json');
      fs.writeFileSync(file, JSON.stringify({
        type: 'external_account', audience: AUDIENCE, subject_token_type: 'urn:ietf:params:oauth:token-type:mtls',
        token_url: `${sims.vertex.tlsUrl}/v1/token`,
        service_account_impersonation_url: `${sims.vertex.tlsUrl}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
        credential_source: { certificate: { certificate_config_location: config, trust_chain_path: path.join(tmp, 'intermediate.pem') } },
      }));
      return { GOOGLE_APPLICATION_CREDENTIALS: file, NO_GCE_CHECK: 'true' };
    }, (state) => {
      made = pki(state.tmp);
      return { tls: made.tls, x509: { chain: made.chain }, args: ['--ca-file', path.join(state.tmp, 'ca.pem')] };
    });
    before(s.start);
    after(s.stop);
    test('the certificate chain is exchanged at STS over mutual TLS, then for the service account token', withGatewayLogs(() => s.stack.gw, async () => {
      await s.call('impersonated');
      await s.call('impersonated', true);
      const reqs = s.stack.sims.vertex.requests;
      const sts = reqs.filter((r) => r.kind === 'sts:token-exchange');
      const iam = reqs.filter((r) => r.kind === 'iam:generateAccessToken');
      assert.ok(sts.length >= 1 && iam.length >= 1, `STS ${sts.length}, generateAccessToken ${iam.length}`);
      const workload = new crypto.X509Certificate(fs.readFileSync(path.join(s.tmp, 'workload.pem'))).raw.toString('base64');
      for (const r of [...sts, ...iam]) {
        assert.deepEqual(r.problems, []);
        assert.equal(r.clientCert, workload, `${r.kind} came without the workload's client certificate`);
      }
      assert.deepEqual(sts[0].subjectChain, [workload, ...made.chain]);
      // Every base64 line of the key (its first line is mostly the header all such keys share).
      s.assertNothingLogged(made.workloadKey.split('\n').filter((l) => l && !l.startsWith('-----')));
    }));
  });

  describe('workload identity federation from AWS (external_account with environment_id aws1)', () => {
    // What `gcloud iam workload-identity-pools create-cred-config ... --aws` writes; the AWS
    // credentials and region come from the environment (an EKS pod, ECS task, or keys).
    const s = adcStack((sims, tmp) => {
      const file = path.join(tmp, 'wif-aws.json');
      fs.writeFileSync(file, JSON.stringify({
        type: 'external_account', audience: AUDIENCE, subject_token_type: 'urn:ietf:params:aws:token-type:aws4_request',
        token_url: `${sims.vertex.url}/v1/token`,
        service_account_impersonation_url: `${sims.vertex.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
        credential_source: {
          environment_id: 'aws1',
          region_url: 'http://169.254.169.254/latest/meta-data/placement/availability-zone',
          url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials',
          regional_cred_verification_url: 'https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15',
        },
      }));
      return {
        GOOGLE_APPLICATION_CREDENTIALS: file, NO_GCE_CHECK: 'true', AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: AWS_WORKLOAD.accessKeyId, AWS_SECRET_ACCESS_KEY: AWS_WORKLOAD.secretAccessKey,
        AWS_SESSION_TOKEN: AWS_WORKLOAD.sessionToken,
      };
    });
    before(s.start);
    after(s.stop);
    test('a signed GetCallerIdentity is the subject token; STS and impersonation follow', withGatewayLogs(() => s.stack.gw, async () => {
      await s.call('impersonated');
      const reqs = s.stack.sims.vertex.requests;
      const sts = reqs.filter((r) => r.kind === 'sts:token-exchange');
      assert.ok(sts.length >= 1, 'no token exchange');
      for (const r of sts) {
        assert.deepEqual(r.problems, []);
        assert.equal(r.awsProblem, '', 'the AWS signature was not checked');
      }
      s.assertNothingLogged([AWS_WORKLOAD.secretAccessKey, AWS_WORKLOAD.sessionToken]);
    }));
  });

  describe('workload identity federation through an executable (pluggable auth)', () => {
    const s = adcStack((sims, tmp) => {
      const helper = path.join(tmp, 'idp-helper.mjs');
      // A helper as an IdP's CLI would be: it checks what Google's libraries tell it and prints
      // the token in the documented format.
      fs.writeFileSync(helper, `const e = process.env;
const ok = e.GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE === ${JSON.stringify(AUDIENCE)} && e.GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE === '0'
  && e.GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE === 'urn:ietf:params:oauth:token-type:jwt' && process.argv[2] === '--realm=ai';
console.log(JSON.stringify(ok
  ? { version: 1, success: true, token_type: 'urn:ietf:params:oauth:token-type:jwt', id_token: ${JSON.stringify(PROJECTED_TOKEN)},
      expiration_time: Math.floor(Date.now() / 1000) + 3600 }
  : { version: 1, success: false, code: '400', message: 'unexpected environment' }));
`);
      const file = path.join(tmp, 'wif-exe.json');
      fs.writeFileSync(file, JSON.stringify({
        type: 'external_account', audience: AUDIENCE, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${sims.vertex.url}/v1/token`,
        service_account_impersonation_url: `${sims.vertex.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
        credential_source: { executable: { command: `${process.execPath} ${helper} --realm=ai`, timeout_millis: 10000 } },
      }));
      return { GOOGLE_APPLICATION_CREDENTIALS: file, NO_GCE_CHECK: 'true', GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES: '1' };
    });
    before(s.start);
    after(s.stop);
    test("the helper's token is exchanged at STS, then for the service account token", withGatewayLogs(() => s.stack.gw, async () => {
      await s.call('impersonated');
      const sts = s.stack.sims.vertex.requests.filter((r) => r.kind === 'sts:token-exchange');
      assert.ok(sts.length >= 1);
      for (const r of sts) assert.deepEqual(r.problems, []);
      s.assertNothingLogged([PROJECTED_TOKEN]);
    }));
  });

  describe('a user login impersonating a service account (impersonated_service_account)', () => {
    // What `gcloud auth application-default login --impersonate-service-account SA` writes.
    const s = adcStack((sims, tmp) => {
      fs.writeFileSync(path.join(tmp, 'application_default_credentials.json'), JSON.stringify({
        type: 'impersonated_service_account',
        service_account_impersonation_url: `${sims.vertex.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
        delegates: ['projects/-/serviceAccounts/hop@p.iam.gserviceaccount.com'],
        source_credentials: {
          type: 'authorized_user', client_id: USER_LOGIN.clientId, client_secret: USER_LOGIN.clientSecret,
          refresh_token: USER_LOGIN.refreshToken, token_uri: `${sims.vertex.url}/token`,
        },
      }));
      return { CLOUDSDK_CONFIG: tmp, NO_GCE_CHECK: 'true' };
    });
    before(s.start);
    after(s.stop);
    test("the login's token buys the service account's, which the model call carries", withGatewayLogs(() => s.stack.gw, async () => {
      await s.call('impersonated');
      const reqs = s.stack.sims.vertex.requests;
      const grants = reqs.filter((r) => r.kind === 'token:refresh_token');
      const iam = reqs.filter((r) => r.kind === 'iam:generateAccessToken');
      assert.ok(grants.length >= 1 && iam.length >= 1, `refresh grants ${grants.length}, generateAccessToken ${iam.length}`);
      for (const r of [...grants, ...iam]) assert.deepEqual(r.problems, []);
      assert.deepEqual(iam.at(-1).delegates, ['projects/-/serviceAccounts/hop@p.iam.gserviceaccount.com']);
      s.assertNothingLogged([USER_LOGIN.refreshToken, USER_LOGIN.clientSecret]);
    }));
  });

  describe('no credentials anywhere', () => {
    const s = adcStack(() => ({ NO_GCE_CHECK: 'true' }));
    before(s.start);
    after(s.stop);
    test('requests get a 503 in OpenAI shape; the log says where the gateway looked', withGatewayLogs(() => s.stack.gw, async () => {
      const err = await s.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })
        .then(() => null, (e) => e);
      assert.ok(err, 'the request succeeded without credentials');
      assert.equal(err.status, 503);
      assert.equal(err.error?.code, 'credentials_unavailable');
      assert.equal(s.stack.sims.vertex.requests.filter((r) => r.kind.startsWith('google:')).length, 0);
      assert.match(s.stack.gw.stderr + s.stack.gw.stdout, /no Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS is not set/);
    }));
  });
});
