// gateway_resources.mjs: TEST TOOL. Builds Envoy AI Gateway resource YAML (the input of
// `sluice run`) that routes models to the provider simulators of this folder.
//
//   providerResources({
//     routes: [{ model: 'claude-sim', backend: 'anthropic' }, ...],
//     backends: [{ name: 'anthropic', schema: 'Anthropic', port, auth: { type: 'AnthropicAPIKey', key } }, ...],
//   })
// auth is one of
//   { type: 'APIKey' | 'AnthropicAPIKey' | 'AzureAPIKey', key }
//   { type: 'AWSCredentials', region, ini }                 ini: the credentials file text
//   { type: 'AWSCredentials', region }                      the AWS default credential chain
//   { type: 'GCPCredentials', project, region, serviceAccountJson }
//   { type: 'GCPCredentials', project, region }                      (Application Default Credentials)
//   { type: 'AzureCredentials', tenantId, clientId, clientSecret }   (Entra ID client credentials)
//   { type: 'AzureCredentials', tenantId, clientId }                 (workload identity)
//   ... any of AWSCredentials / AzureCredentials / GCPCredentials with
//   and any of them with credentialOverride: the policy's credentialOverride block, as an object
//   (e.g. { fromRequestHeaders: {} }); or with
//   oidc: { issuer, clientId, clientSecret, scopes?, tokenEndpoint?, aud?, roleArn? (AWS),
//           gcp?: {projectID, pool, provider, serviceAccountName?} }     (oidcExchangeToken)
const q = (s) => JSON.stringify(String(s)); // a JSON string is a valid YAML double-quoted scalar

function routeYaml(r) {
  const ref = r.override
    ? `{name: ${r.backend}, modelNameOverride: ${q(r.override)}}`
    : `{name: ${r.backend}}`;
  return `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${q(r.model)}}]}]
      backendRefs: [${ref}]`;
}

function policyYaml(b) {
  const a = b.auth;
  if (!a) return '';
  const head = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: ${b.name}-auth, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: ${b.name}}]
${a.credentialOverride ? `  credentialOverride: ${JSON.stringify(a.credentialOverride)}\n` : ''}`;
  const secret = (data) => `---
apiVersion: v1
kind: Secret
metadata: {name: ${b.name}-secret, namespace: default}
stringData: {${Object.entries(data).map(([k, v]) => `${k}: ${q(v)}`).join(', ')}}
`;
  if (a.oidc) {
    const o = a.oidc;
    const exchange = (indent) => [
      'oidc:',
      `  provider: {issuer: ${q(o.issuer)}${o.tokenEndpoint ? `, tokenEndpoint: ${q(o.tokenEndpoint)}` : ''}}`,
      `  clientID: ${q(o.clientId)}`,
      `  clientSecret: {name: ${b.name}-oidc-secret}`,
      ...(o.scopes ? [`  scopes: [${o.scopes.map(q).join(', ')}]`] : []),
      ...(o.aud ? [`aud: ${q(o.aud)}`] : []),
      ...(o.roleArn ? [`awsRoleArn: ${q(o.roleArn)}`] : []),
    ].map((l) => `${indent}${l}`).join('\n');
    const oidcSecret = `---
apiVersion: v1
kind: Secret
metadata: {name: ${b.name}-oidc-secret, namespace: default}
stringData: {client-secret: ${q(o.clientSecret)}}
`;
    if (a.type === 'AWSCredentials') {
      return `${head}  type: AWSCredentials
  awsCredentials:
    region: ${a.region ?? 'us-east-1'}
    oidcExchangeToken:
${exchange('      ')}
${oidcSecret}`;
    }
    if (a.type === 'AzureCredentials') {
      return `${head}  type: AzureCredentials
  azureCredentials:
    clientID: ${q(a.clientId)}
    tenantID: ${q(a.tenantId)}
    oidcExchangeToken:
${exchange('      ')}
${oidcSecret}`;
    }
    if (a.type === 'GCPCredentials') {
      const g = o.gcp;
      return `${head}  type: GCPCredentials
  gcpCredentials:
    projectName: ${q(a.project ?? 'p')}
    region: ${q(a.region ?? 'us-central1')}
    workloadIdentityFederationConfig:
      projectID: ${q(g.projectID)}
      workloadIdentityPoolName: ${q(g.pool)}
      workloadIdentityProviderName: ${q(g.provider)}
${g.serviceAccountName ? `      serviceAccountImpersonation: {serviceAccountName: ${q(g.serviceAccountName)}}\n` : ''}      oidcExchangeToken:
${exchange('        ')}
${oidcSecret}`;
    }
  }
  const field = { APIKey: 'apiKey', AnthropicAPIKey: 'anthropicAPIKey', AzureAPIKey: 'azureAPIKey' }[a.type];
  if (field) {
    return `${head}  type: ${a.type}
  ${field}: {secretRef: {name: ${b.name}-secret}}
${secret({ apiKey: a.key })}`;
  }
  if (a.type === 'AWSCredentials' && a.ini === undefined) {
    // No credentials file: the gateway uses the AWS default chain (environment, web identity,
    // shared file, container credentials, instance metadata).
    return `${head}  type: AWSCredentials
  awsCredentials:
    region: ${a.region ?? 'us-east-1'}
`;
  }
  if (a.type === 'AWSCredentials') {
    return `${head}  type: AWSCredentials
  awsCredentials:
    region: ${a.region ?? 'us-east-1'}
    credentialsFile: {secretRef: {name: ${b.name}-secret}, profile: ${a.profile ?? 'default'}}
${secret({ credentials: a.ini })}`;
  }
  if (a.type === 'GCPCredentials' && a.serviceAccountJson === undefined) {
    // No key file: Application Default Credentials from the gateway's environment.
    return `${head}  type: GCPCredentials
  gcpCredentials: {projectName: ${q(a.project ?? 'p')}, region: ${q(a.region ?? 'us-central1')}}
`;
  }
  if (a.type === 'GCPCredentials') {
    return `${head}  type: GCPCredentials
  gcpCredentials:
    projectName: ${q(a.project ?? 'p')}
    region: ${q(a.region ?? 'us-central1')}
    credentialsFile: {secretRef: {name: ${b.name}-secret}}
${secret({ 'service_account.json': a.serviceAccountJson })}`;
  }
  if (a.type === 'AzureCredentials' && a.clientSecret === undefined) {
    // No secret: Azure workload identity (AZURE_FEDERATED_TOKEN_FILE in the gateway's environment).
    return `${head}  type: AzureCredentials
  azureCredentials:
    clientID: ${q(a.clientId)}
    tenantID: ${q(a.tenantId)}
`;
  }
  if (a.type === 'AzureCredentials') {
    return `${head}  type: AzureCredentials
  azureCredentials:
    clientID: ${q(a.clientId)}
    tenantID: ${q(a.tenantId)}
    clientSecretRef: {name: ${b.name}-secret}
${secret({ 'client-secret': a.clientSecret })}`;
  }
  throw new Error(`unknown auth type ${a.type}`);
}

function backendYaml(b) {
  const schema = b.version ? `{name: ${b.schema}, version: ${q(b.version)}}` : `{name: ${b.schema}}`;
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${b.name}, namespace: default}
spec:
  schema: ${schema}
  backendRef: {name: ${b.name}, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${b.name}, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${b.port}}}]
${policyYaml(b)}`;
}

/** The resource YAML for these routes and backends. */
export function providerResources({ routes, backends }) {
  return `apiVersion: gateway.networking.k8s.io/v1
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
${routes.map(routeYaml).join('\n')}
${backends.map(backendYaml).join('')}`;
}
