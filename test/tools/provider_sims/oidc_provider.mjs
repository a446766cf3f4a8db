// OIDC provider simulator (test tool): the identity provider an Envoy AI Gateway
// BackendSecurityPolicy's oidcExchangeToken names (Okta, Entra, Keycloak, Dex, ...), for the
// OAuth2 client-credentials grant a gateway runs unattended.
//
//   GET  /.well-known/openid-configuration   discovery: issuer (this sim's URL), token_endpoint
//   POST /oauth2/token   grant_type=client_credentials; the client authenticates with HTTP
//        Basic (form-encoded id and secret, RFC 6749 2.3.1), or, unless `basicOnly`, with
//        client_id / client_secret in the form. Answers {"access_token": <a fresh JWT-shaped
//        token>, "token_type": "Bearer", "expires_in"}; a wrong client is 401 invalid_client.
//
// Every token it issues is recorded (sim.issued); sim.isIssued(t) tells whether a token is one
// of them, so the simulators downstream (AWS STS, Entra, Google STS) accept only these.
//
//   import { startOidcProviderSim } from '../tools/provider_sims/oidc_provider.mjs';
//   const idp = await startOidcProviderSim({ clientId, clientSecret });
import crypto from 'node:crypto';
import { sendJson, startRecordingServer } from './common.mjs';

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

/**
 * @param {object} o
 * @param {string} o.clientId
 * @param {string} o.clientSecret
 * @param {boolean} [o.basicOnly=false]  refuse client credentials in the form
 * @param {number} [o.lifetimeSeconds=3600]
 */
export async function startOidcProviderSim({ clientId, clientSecret, basicOnly = false, lifetimeSeconds = 3600 }) {
  const issued = [];
  let url = '';
  const sim = await startRecordingServer('oidc-provider-sim', async (rec, req, res) => {
    if (rec.method === 'GET' && rec.url.pathname === '/.well-known/openid-configuration') {
      rec.kind = 'discovery';
      sendJson(res, 200, {
        issuer: url, token_endpoint: `${url}/oauth2/token`, authorization_endpoint: `${url}/oauth2/authorize`,
        jwks_uri: `${url}/keys`, grant_types_supported: ['client_credentials'], scopes_supported: ['openid'],
      });
      return;
    }
    if (rec.method === 'POST' && rec.url.pathname === '/oauth2/token') {
      rec.kind = 'token';
      const form = new URLSearchParams(rec.body);
      rec.form = Object.fromEntries(form);
      if (!String(rec.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        rec.problems.push(`content-type ${rec.headers['content-type']}`);
      }
      if (form.get('grant_type') !== 'client_credentials') rec.problems.push(`grant_type ${form.get('grant_type')}`);
      let id = null;
      let secret = null;
      const auth = rec.headers.authorization ?? '';
      if (auth.startsWith('Basic ')) {
        const [u, p] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
        id = decodeURIComponent(u.replace(/\+/g, ' '));
        secret = decodeURIComponent((p ?? '').replace(/\+/g, ' '));
        rec.clientAuth = 'basic';
      } else if (!basicOnly && form.has('client_id')) {
        id = form.get('client_id');
        secret = form.get('client_secret');
        rec.clientAuth = 'form';
      }
      if (id !== clientId || secret !== clientSecret) {
        rec.problems.push(`client authentication failed (${rec.clientAuth ?? 'none'})`);
        sendJson(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed.' });
        return;
      }
      if (rec.problems.length > 0) {
        sendJson(res, 400, { error: 'invalid_request', error_description: rec.problems.join('; ') });
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const token = `${b64url({ alg: 'RS256', kid: 'sim' })}.${b64url({
        iss: url, sub: clientId, aud: form.get('audience') ?? clientId, iat: now, exp: now + lifetimeSeconds,
        jti: crypto.randomUUID(), scope: form.get('scope') ?? '',
      })}.${crypto.randomBytes(32).toString('base64url')}`;
      issued.push(token);
      rec.issuedToken = token;
      sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: lifetimeSeconds });
      return;
    }
    rec.problems.push(`unknown ${rec.method} ${rec.path}`);
    sendJson(res, 404, { error: 'not_found' });
  });
  url = sim.url;
  sim.issued = issued;
  sim.isIssued = (t) => issued.includes(t);
  return sim;
}
