// End-to-end: upstream TLS is verified (chain and host name, with a configurable CA), and a
// rule falls back to its next-priority backend when the first cannot be reached.
// Needs the sluice binary ($SLUICE_BIN or build/sluice) and the openssl CLI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { getClosedPort } from './lib/ports.mjs';
import { writeResourceFile } from './lib/resources.mjs';
import { startSluice, withGatewayLogs } from './lib/sluice.mjs';

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = sluiceSkipReason() || (haveOpenssl() ? false : 'openssl CLI not found; skipping TLS tests');

/** A throwaway CA and a server certificate for localhost / 127.0.0.1, made with openssl. */
function makePki(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
      '-subj', '/CN=sluice test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem',
      '-days', '2', '-extfile', 'san.ext');
  return {
    ca: path.join(dir, 'ca.pem'),
    key: fs.readFileSync(path.join(dir, 'server.key')),
    cert: fs.readFileSync(path.join(dir, 'server.pem')),
  };
}

/** An HTTPS stand-in for an OpenAI-compatible provider (test tool), recording requests. */
async function startHttpsProvider({ key, cert }) {
  const seen = [];
  const server = https.createServer({ key, cert }, (req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      seen.push({ path: req.url, headers: req.headers, body });
      const model = JSON.parse(body).model;
      const answer = {
        id: 'chatcmpl-tls', object: 'chat.completion', created: 1700000000, model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'over TLS' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, seen, close: () => new Promise((r) => server.close(r)) };
}

function resources({ tlsPort, deadPort, hostname }) {
  const backend = (name, port, tls) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: ${name}, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${name}, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
${tls ? `---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: ${name}-tls, namespace: default}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: ${name}}]
  validation: {wellKnownCACertificates: System, hostname: ${hostname}}
` : ''}`;
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: route, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: tls-model}]}]
      backendRefs: [{name: secure}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: fallback-model}]}]
      backendRefs: [{name: dead, priority: 0}, {name: secure, priority: 1}]
${backend('secure', tlsPort, true)}${backend('dead', deadPort, false)}---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: secure-key, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: secure}]
  type: APIKey
  apiKey: {secretRef: {name: secure-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: secure-key, namespace: default}
stringData: {apiKey: sk-tls-backend}
`;
}

describe('upstream TLS verification and priority fallback', { skip }, () => {
  let dir, pki, provider, deadPort;
  const gateways = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-'));
    pki = makePki(dir);
    provider = await startHttpsProvider(pki);
    deadPort = await getClosedPort();
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    await provider?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function gateway({ hostname = 'localhost', caFile = true } = {}) {
    const res = writeResourceFile(resources({ tlsPort: provider.port, deadPort, hostname }));
    const args = caFile ? ['--ca-file', pki.ca] : [];
    const gw = await startSluice({ resourceFile: res.file, args });
    gateways.push({ stop: async () => { await gw.stop(); res.cleanup(); } });
    return { gw, client: new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-client', maxRetries: 0 }) };
  }

  test('a certificate from the configured CA with the right name is accepted', async () => {
    const { gw, client } = await gateway();
    await withGatewayLogs(() => gw, async () => {
      const before = provider.seen.length;
      const r = await client.chat.completions.create({ model: 'tls-model', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.choices[0].message.content, 'over TLS');
      const req = provider.seen[before];
      assert.equal(req.headers.authorization, 'Bearer sk-tls-backend');
      assert.equal(req.headers.host, `localhost:${provider.port}`);
    })();
  });

  test('an untrusted certificate is refused with 502 (no CA configured)', async () => {
    const { gw, client } = await gateway({ caFile: false });
    await withGatewayLogs(() => gw, async () => {
      const before = provider.seen.length;
      await assert.rejects(
        client.chat.completions.create({ model: 'tls-model', messages: [{ role: 'user', content: 'hi' }] }),
        (err) => err.status === 502 && /TLS handshake/.test(err.message));
      assert.equal(provider.seen.length, before, 'no request may reach an unverified server');
    })();
  });

  test('a certificate for another host name is refused with 502', async () => {
    const { gw, client } = await gateway({ hostname: 'api.example.com' });
    await withGatewayLogs(() => gw, async () => {
      const before = provider.seen.length;
      await assert.rejects(
        client.chat.completions.create({ model: 'tls-model', messages: [{ role: 'user', content: 'hi' }] }),
        (err) => err.status === 502);
      assert.equal(provider.seen.length, before);
    })();
  });

  test('an unreachable priority-0 backend falls back to the priority-1 backend', async () => {
    const { gw, client } = await gateway();
    await withGatewayLogs(() => gw, async () => {
      const r = await client.chat.completions.create({ model: 'fallback-model', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.choices[0].message.content, 'over TLS');
      assert.equal(r.model, 'fallback-model');
    })();
  });
});
