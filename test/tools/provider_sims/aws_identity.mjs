// AWS identity simulator (test tool): where the AWS SDKs' default credential chain gets
// temporary credentials on Kubernetes and ECS, so the gateway can be tested without AWS.
//
//   POST /   STS AssumeRoleWithWebIdentity (IRSA): form body with Action, Version 2011-06-15,
//            RoleArn, RoleSessionName and WebIdentityToken, each checked; answers STS's XML
//            (or its XML error: InvalidIdentityToken, AccessDenied, ValidationError).
//   GET /v1/credentials   the container credentials endpoint (EKS Pod Identity agent, ECS):
//            the Authorization header must carry the agent token; answers the JSON document.
//   GET /federation/credentials   IAM Identity Center's GetRoleCredentials (the SSO portal):
//            x-amz-sso_bearer_token must be the current SSO access token, account_id and
//            role_name the configured ones; answers {"roleCredentials": {...}}, or 401
//            UnauthorizedException.
//   POST /token   SSO OIDC CreateToken, grant refresh_token: JSON body with the registered
//            clientId / clientSecret and the current refresh token; issues a new access token
//            and rotates the refresh token (the old ones stop working).
//
// Every issue mints fresh credentials (new key id, secret and session token) with the
// configured lifetime and makes them the only ones valid: `current` is the object the Bedrock
// simulator verifies signatures with, so a gateway still signing with expired credentials is
// refused there.
//
//   import { startAwsIdentitySim } from '../tools/provider_sims/aws_identity.mjs';
//   const creds = { ...DEFAULT_AWS_CREDENTIALS };            // shared with startBedrockSim
//   const ids = await startAwsIdentitySim({ current: creds, roleArn, webIdentityToken, agentToken });
import crypto from 'node:crypto';
import { startRecordingServer } from './common.mjs';

function stsError(res, status, code, message) {
  const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
    `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const xmlEscape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * @param {object} o
 * @param {{accessKeyId, secretAccessKey, sessionToken}} o.current  rewritten in place at every issue
 * @param {string} o.roleArn            the role web identities may assume
 * @param {string|function} o.webIdentityToken   the token the pod's projected file holds (or a
 *        predicate: which tokens count, e.g. an OIDC provider simulator's isIssued)
 * @param {string} [o.agentToken]       the Pod Identity agent's authorization token
 * @param {number} [o.lifetimeSeconds=3600]
 * @param {{accessToken, refreshToken, clientId, clientSecret, accountId, roleName}} [o.sso]
 *        IAM Identity Center state, rewritten in place when a token is refreshed
 */
export async function startAwsIdentitySim({ current, roleArn, webIdentityToken, agentToken = 'agent-token', lifetimeSeconds = 3600, sso }) {
  const issued = [];
  const ssoRefreshes = [];
  const issue = (source) => {
    const n = issued.length + 1;
    current.accessKeyId = `ASIA${source.toUpperCase()}${String(n).padStart(4, '0')}`;
    current.secretAccessKey = crypto.randomBytes(30).toString('base64');
    current.sessionToken = `IQoJb3Jp/${crypto.randomBytes(48).toString('base64')}==`;  // '+', '/', '=' as real ones
    const expiration = new Date(Date.now() + lifetimeSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    issued.push({ ...current, expiration, source });
    return expiration;
  };
  const sim = await startRecordingServer('aws-identity-sim', async (rec, req, res) => {
    if (rec.method === 'POST' && rec.url.pathname === '/') {
      rec.kind = 'sts';
      const form = new URLSearchParams(rec.body);
      if (!String(rec.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        rec.problems.push(`content-type ${rec.headers['content-type']}`);
      }
      if (rec.headers.authorization) rec.problems.push('AssumeRoleWithWebIdentity is not a signed call: no authorization header');
      if (form.get('Action') !== 'AssumeRoleWithWebIdentity') rec.problems.push(`Action ${form.get('Action')}`);
      if (form.get('Version') !== '2011-06-15') rec.problems.push(`Version ${form.get('Version')}`);
      if (!/^[\w+=,.@-]{2,64}$/.test(form.get('RoleSessionName') ?? '')) rec.problems.push(`RoleSessionName ${form.get('RoleSessionName')}`);
      if (rec.problems.length > 0) return stsError(res, 400, 'ValidationError', rec.problems.join('; '));
      rec.webIdentityToken = form.get('WebIdentityToken');
      rec.roleSessionName = form.get('RoleSessionName');
      const tokenOk = typeof webIdentityToken === 'function'
        ? webIdentityToken(form.get('WebIdentityToken')) : form.get('WebIdentityToken') === webIdentityToken;
      if (!tokenOk) {
        rec.problems.push('WebIdentityToken is not the projected token');
        return stsError(res, 400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS.');
      }
      if (form.get('RoleArn') !== roleArn) {
        rec.problems.push(`RoleArn ${form.get('RoleArn')}`);
        return stsError(res, 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
      }
      const expiration = issue('sts');
      rec.answer = { accessKeyId: current.accessKeyId };
      const body = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:sluice</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>${xmlEscape(roleArn)}/${xmlEscape(form.get('RoleSessionName'))}</Arn><AssumedRoleId>AROASIM:${xmlEscape(form.get('RoleSessionName'))}</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${current.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(current.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(current.sessionToken)}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`;
      res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (rec.method === 'GET' && rec.url.pathname === '/v1/credentials') {
      rec.kind = 'container';
      if (rec.headers.authorization !== agentToken) {
        rec.problems.push('authorization is not the agent token');
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ Message: 'invalid authorization token' }));
        return;
      }
      const expiration = issue('pod');
      rec.answer = { accessKeyId: current.accessKeyId };
      const body = JSON.stringify({
        AccessKeyId: current.accessKeyId, SecretAccessKey: current.secretAccessKey, Token: current.sessionToken,
        AccountId: '123456789012', Expiration: expiration,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (sso && rec.method === 'GET' && rec.url.pathname === '/federation/credentials') {
      rec.kind = 'sso-role-credentials';
      const unauthorized = (message) => {
        res.writeHead(401, { 'content-type': 'application/json', 'x-amzn-errortype': 'UnauthorizedException' });
        res.end(JSON.stringify({ message }));
      };
      if (rec.headers['x-amz-sso_bearer_token'] !== sso.accessToken) {
        rec.problems.push('x-amz-sso_bearer_token is not the current SSO access token');
        return unauthorized('Session token not found or invalid');
      }
      if (rec.url.searchParams.get('account_id') !== sso.accountId || rec.url.searchParams.get('role_name') !== sso.roleName) {
        rec.problems.push(`account_id ${rec.url.searchParams.get('account_id')} role_name ${rec.url.searchParams.get('role_name')}`);
        res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'ForbiddenException' });
        res.end(JSON.stringify({ message: 'No access' }));
        return;
      }
      const expiration = issue('sso');
      rec.answer = { accessKeyId: current.accessKeyId };
      const body = JSON.stringify({ roleCredentials: {
        accessKeyId: current.accessKeyId, secretAccessKey: current.secretAccessKey, sessionToken: current.sessionToken,
        expiration: Date.parse(expiration),
      } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (sso && rec.method === 'POST' && rec.url.pathname === '/token') {
      rec.kind = 'sso-oidc-token';
      let form = {};
      try { form = JSON.parse(rec.body); } catch { rec.problems.push('body is not JSON'); }
      if (!String(rec.headers['content-type'] ?? '').startsWith('application/json')) rec.problems.push(`content-type ${rec.headers['content-type']}`);
      if (form.grantType !== 'refresh_token') rec.problems.push(`grantType ${form.grantType}`);
      if (form.clientId !== sso.clientId || form.clientSecret !== sso.clientSecret) rec.problems.push('client is not the registered one');
      if (form.refreshToken !== sso.refreshToken) rec.problems.push('refreshToken is not the current one');
      if (rec.problems.length > 0) {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidGrantException' });
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: rec.problems.join('; ') }));
        return;
      }
      const n = ssoRefreshes.length + 1;
      sso.accessToken = `sso-access-${n}-${crypto.randomBytes(12).toString('hex')}`;
      sso.refreshToken = `sso-refresh-${n}-${crypto.randomBytes(12).toString('hex')}`;
      ssoRefreshes.push({ accessToken: sso.accessToken });
      const body = JSON.stringify({ accessToken: sso.accessToken, tokenType: 'Bearer', expiresIn: 28800, refreshToken: sso.refreshToken });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    rec.problems.push(`unknown ${rec.method} ${rec.path}`);
    res.writeHead(404);
    res.end();
  });
  sim.issued = issued;
  sim.ssoRefreshes = ssoRefreshes;
  return sim;
}
