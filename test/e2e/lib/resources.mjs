// Writes Envoy AI Gateway resource files (the input of `sluice run`) to a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SIM_API_KEY = 'sk-sim-test';

const q = (s) => JSON.stringify(String(s)); // a JSON string is a valid YAML scalar

function ruleYaml(rule) {
  const type = rule.regex ? 'RegularExpression' : 'Exact';
  const lines = [
    `    - matches: [{headers: [{type: ${type}, name: x-ai-eg-model, value: ${q(rule.model)}}]}]`,
    rule.override
      ? `      backendRefs: [{name: ${rule.backend}, modelNameOverride: ${q(rule.override)}}]`
      : `      backendRefs: [{name: ${rule.backend}}]`,
  ];
  if (rule.timeout) lines.push(`      timeouts: {request: ${rule.timeout}}`);
  return lines.join('\n');
}

function backendYaml(name, port, apiKey) {
  let out = `---
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
`;
  if (apiKey) {
    out += `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: ${name}-key, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: ${name}}]
  type: APIKey
  apiKey: {secretRef: {name: ${name}-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: ${name}-key, namespace: default}
stringData: {apiKey: ${q(apiKey)}}
`;
  }
  return out;
}

/**
 * Builds the resource YAML.
 * @param {object} o
 * @param {number} o.simPort     port of the provider simulator (backend `sim`)
 * @param {number} [o.deadPort]  a closed loopback port (backend `dead`), when a rule uses it
 * @param {Array<{model:string, backend?:'sim'|'dead', override?:string, timeout?:string, regex?:boolean}>} o.rules
 */
export function gatewayResources({ simPort, deadPort, rules }) {
  const parts = [`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, protocol: HTTP, port: 1975}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: route, namespace: default}
spec:
  parentRefs: [{name: gw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
${rules.map((r) => ruleYaml({ backend: 'sim', ...r })).join('\n')}
`];
  parts.push(backendYaml('sim', simPort, SIM_API_KEY));
  if (rules.some((r) => r.backend === 'dead')) {
    if (!deadPort) throw new Error('a rule uses backend dead but no deadPort was given');
    parts.push(backendYaml('dead', deadPort, SIM_API_KEY));
  }
  return parts.join('');
}

/** The standard rules of the brief: gpt-sim, gpt-slow (1s timeout), gpt-dead, gpt-renamed. */
export function standardRules() {
  return [
    { model: 'gpt-sim' },
    { model: 'gpt-slow', timeout: '1s' },
    { model: 'gpt-dead', backend: 'dead' },
    { model: 'gpt-renamed', override: 'gpt-sim' },
  ];
}

/** Writes text to <fresh temp dir>/resources.yaml; returns {file, dir, cleanup()}. */
export function writeResourceFile(text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  const file = path.join(dir, 'resources.yaml');
  fs.writeFileSync(file, text);
  return { file, dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
