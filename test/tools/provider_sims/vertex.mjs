#!/usr/bin/env node
// vertex.mjs: TEST TOOL. A fake Google OAuth2 token endpoint plus GCP Vertex AI (Gemini and
// Anthropic-on-Vertex) for sluice's end-to-end tests (loopback only, never a real provider).
//
//   import { startVertexSim, serviceAccountJson } from '../tools/provider_sims/vertex.mjs';
//   const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {...});
//   const sim = await startVertexSim({ publicKey, clientEmail, privateKeyId, project: 'p', region: 'us-central1' });
//   const saJson = serviceAccountJson({ sim, privateKey, clientEmail, privateKeyId });
//
// POST /token  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>: the
//   RS256 JWT is verified with the service account's public key; iss = client_email, aud =
//   this sim's /token URL (the key file's token_uri), scope has cloud-platform, iat within 5
//   minutes of now, iat < exp <= iat + 3600. Issues {"access_token","expires_in","token_type"};
//   refuses with 400 {"error":"invalid_grant","error_description"}.
// POST /token  grant_type=refresh_token (gcloud's user login, `userLogin` option): client_id,
//   client_secret and refresh_token must match.
// GET /computeMetadata/v1/instance/service-accounts/default/token?scopes=...: the GCE / GKE
//   metadata server; needs `Metadata-Flavor: Google` and the cloud-platform scope (403
//   otherwise), answers with a Metadata-Flavor: Google header.
// POST /v1/token  Google STS token exchange (workload identity federation, `federation` option:
//   {audience, subjectToken, serviceAccount, aws?: {credentials, region}}): grant_type
//   token-exchange, the audience, the subject token and its type, requested_token_type
//   access_token and the cloud-platform scope. With `aws`, a subject token of type aws4_request
//   (a signed STS GetCallerIdentity, as from AWS) is verified with @smithy/signature-v4.
//   Issues a federated token that model calls refuse (403: this sim models a pool whose
//   principals were granted no Vertex role of their own, the common setup), good only for
//   With `x509` ({chain: [base64 DER]}), a subject token of type mtls (workload identity
//   federation with X.509 certificates) must come over the mutual-TLS listener (`tls` option:
//   {key, cert, ca}, PEM; sim.tlsUrl) with its first certificate as the TLS client certificate,
//   followed by `chain`.
// POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken  (IAM Credentials; Bearer a
//   federated token or a user login's token (a user granted Token Creator on the account);
//   {"scope":[cloud-platform],"lifetime":"Ns","delegates"?:["projects/-/serviceAccounts/..."]}):
//   answers {"accessToken","expireTime"} for federation.serviceAccount; the delegates seen are
//   recorded (rec.delegates).
// Every issued token is recorded with how it was minted (sim.tokenSources: token -> kind).
// Model calls need `Authorization: Bearer <a token this sim issued>` (401 UNAUTHENTICATED) and
// the configured project and region in the path (403/404 otherwise):
//   /v1/projects/{p}/locations/{r}/publishers/google/models/{m}:generateContent
//   ...:streamGenerateContent?alt=sse   (SSE data: lines, CRLF separators, no [DONE])
//   ...:predict                          (text-embedding models and gemini-embedding-001, which
//                                         takes one instance: instances[].content/task_type/title)
//   ...:embedContent                     (newer Gemini embedding models: one content, options in
//                                         embedContentConfig)
//   /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{m}:rawPredict / :streamRawPredict
//     (Anthropic Messages body with anthropic_version vertex-2023-10-16 and no model;
//     streamRawPredict needs "stream": true)
//   .../publishers/anthropic/models/count-tokens:rawPredict  (a count body with the model in
//     it and anthropic_version; answers {"input_tokens": N})
// Gemini body checks: no unknown top-level fields, contents roles user/model with non-empty
// parts of exactly one data member, functionResponse parts answer (by name, one for one) the
// functionCall parts of the previous model turn, tool parameter schemas use only the OpenAPI
// subset Vertex accepts. Answers per common.mjs; function calls carry no id (as older Gemini
// models), so the gateway must invent and remember them. "[[error:429]]" gives 429
// RESOURCE_EXHAUSTED (Google error shape). Media parts: inlineData {mimeType, data} (image
// types must hold bytes of that type) and fileData {mimeType, fileUri} (gs:// or https://);
// the answer names the images of the last user turn (see common.mjs). "[[cache]]" in the
// user text reports cachedContentTokenCount (promptTokenCount includes it, as Gemini's does)
// and thoughtsTokenCount (totalTokenCount includes it; candidatesTokenCount does not).
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { answerAnthropic, checkCountTokensBody } from './anthropic.mjs';
import { verifySigV4 } from './bedrock.mjs';
import {
  checkInlineImage, decodeStrictBase64, embeddingFor, errorTrigger, isObject, makeAnswer, sendJson, shortHash, splitWords,
  startRecordingServer, tryParseJson, wordCount, writeSse,
} from './common.mjs';

// Vertex's embedding task types; a title names the document and goes only with RETRIEVAL_DOCUMENT.
const TASK_TYPES = new Set(['RETRIEVAL_QUERY', 'RETRIEVAL_DOCUMENT', 'SEMANTIC_SIMILARITY', 'CLASSIFICATION', 'CLUSTERING',
  'QUESTION_ANSWERING', 'FACT_VERIFICATION', 'CODE_RETRIEVAL_QUERY']);
function checkTaskAndTitle(taskType, title, where, problems) {
  if (taskType !== undefined && !TASK_TYPES.has(taskType)) problems.push(`${where}: invalid task type ${JSON.stringify(taskType)}`);
  if (title !== undefined && taskType !== 'RETRIEVAL_DOCUMENT') problems.push(`${where}: title is only valid with RETRIEVAL_DOCUMENT`);
}
// The newer Gemini embedding models are served by :embedContent, the others by :predict.
function usesEmbedContent(model) {
  return /gemini/.test(model ?? '') && model !== 'gemini-embedding-001';
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const GCP_ANTHROPIC_VERSION = 'vertex-2023-10-16';

const GEMINI_FIELDS = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'cachedContent', 'labels']);
const PART_DATA = new Set(['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult']);
const PART_META = new Set(['thought', 'thoughtSignature', 'videoMetadata']);
const SCHEMA_KEYS = new Set([
  'type', 'format', 'title', 'description', 'nullable', 'default', 'items', 'minItems', 'maxItems', 'enum',
  'properties', 'propertyOrdering', 'required', 'minProperties', 'maxProperties', 'minLength', 'maxLength',
  'pattern', 'example', 'anyOf', 'minimum', 'maximum',
]);
const GEN_CONFIG_KEYS = new Set([
  'temperature', 'topP', 'topK', 'candidateCount', 'maxOutputTokens', 'stopSequences', 'presencePenalty',
  'frequencyPenalty', 'seed', 'responseMimeType', 'responseSchema', 'responseJsonSchema', 'responseLogprobs',
  'logprobs', 'thinkingConfig', 'responseModalities', 'mediaResolution', 'audioTimestamp', 'speechConfig',
]);

function googleError(res, code, status, message) {
  sendJson(res, code, { error: { code, message, status } });
}

const STATUS_NAMES = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };
function googleStatus(res, code, message) {
  const msg = message ?? (code === 429 ? 'Resource exhausted. Please try again later. (vertex-sim)' : `vertex-sim injected status ${code}`);
  googleError(res, code, STATUS_NAMES[code] ?? 'UNKNOWN', msg);
}

const b64urlJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

/** Verifies a JWT-bearer assertion; returns {ok, problem, header, claims}. */
export function verifyAssertion(jwt, { publicKey, clientEmail, privateKeyId, audience, now = Math.floor(Date.now() / 1000) }) {
  const parts = String(jwt ?? '').split('.');
  if (parts.length !== 3) return { ok: false, problem: 'assertion is not a JWT (three dot-separated parts)' };
  let header;
  let claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch {
    return { ok: false, problem: 'JWT header or claims are not base64url JSON' };
  }
  if (header.alg !== 'RS256') return { ok: false, problem: `JWT alg ${header.alg}, expected RS256` };
  if (header.typ !== undefined && header.typ !== 'JWT') return { ok: false, problem: `JWT typ ${header.typ}` };
  if (header.kid !== undefined && privateKeyId && header.kid !== privateKeyId) return { ok: false, problem: `JWT kid ${header.kid} is not the key's private_key_id` };
  const valid = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
  if (!valid) return { ok: false, problem: 'Invalid JWT Signature.' };
  if (claims.iss !== clientEmail) return { ok: false, problem: `iss ${claims.iss} is not the service account ${clientEmail}` };
  if (claims.aud !== audience) return { ok: false, problem: `aud ${claims.aud}, expected the token_uri ${audience}` };
  const scopes = String(claims.scope ?? '').split(' ');
  if (!scopes.includes(CLOUD_PLATFORM_SCOPE)) return { ok: false, problem: `scope ${claims.scope} lacks ${CLOUD_PLATFORM_SCOPE}` };
  if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp)) return { ok: false, problem: 'iat and exp must be integers (seconds)' };
  if (Math.abs(claims.iat - now) > 300) return { ok: false, problem: `iat ${claims.iat} is more than 5 minutes from now ${now}` };
  if (claims.exp <= now) return { ok: false, problem: 'the assertion has expired' };
  if (claims.exp <= claims.iat || claims.exp - claims.iat > 3600) return { ok: false, problem: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' };
  return { ok: true, problem: null, header, claims };
}

function checkSchema(s, where, problems) {
  if (!isObject(s)) {
    problems.push(`${where}: a schema object is required`);
    return;
  }
  for (const k of Object.keys(s)) {
    if (!SCHEMA_KEYS.has(k)) problems.push(`Invalid JSON payload received. Unknown name "${k}" at '${where}': Cannot find field.`);
  }
  // Vertex's own rules for its OpenAPI subset (JSON Schema goes in *JsonSchema fields instead).
  const type = String(s.type ?? '').toUpperCase();
  if (type === 'ARRAY' && s.items === undefined) problems.push(`${where}.items: missing field.`);
  if (type === 'OBJECT' && !(isObject(s.properties) && Object.keys(s.properties).length > 0)) {
    problems.push(`${where}.properties: should be non-empty for OBJECT type`);
  }
  if (isObject(s.properties)) for (const [k, v] of Object.entries(s.properties)) checkSchema(v, `${where}.properties[${k}]`, problems);
  if (s.items !== undefined) checkSchema(s.items, `${where}.items`, problems);
  if (Array.isArray(s.anyOf)) s.anyOf.forEach((v, i) => checkSchema(v, `${where}.anyOf[${i}]`, problems));
}

/** Checks a Gemini generateContent body; returns the normalised conversation. */
export function checkGeminiBody(body, problems) {
  const conv = { lastUserText: '', toolResults: [], toolNames: [], inputTokens: 0, system: '' };
  if (!isObject(body)) {
    problems.push('body is not a JSON object');
    return conv;
  }
  for (const k of Object.keys(body)) if (!GEMINI_FIELDS.has(k)) problems.push(`Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
  let words = 0;
  if (body.systemInstruction !== undefined) {
    const si = body.systemInstruction;
    if (!isObject(si) || !Array.isArray(si.parts) || !si.parts.every((p) => typeof p?.text === 'string')) problems.push('systemInstruction: parts of text are required');
    else conv.system = si.parts.map((p) => p.text).join('\n');
    words += wordCount(conv.system);
  }
  if (body.generationConfig !== undefined) {
    if (!isObject(body.generationConfig)) problems.push('generationConfig: must be an object');
    else for (const k of Object.keys(body.generationConfig)) if (!GEN_CONFIG_KEYS.has(k)) problems.push(`Unknown name "${k}" at 'generation_config': Cannot find field.`);
    const gc = body.generationConfig;
    if (isObject(gc) && gc.responseSchema !== undefined) checkSchema(gc.responseSchema, 'generation_config.response_schema', problems);
    if (isObject(gc) && gc.responseSchema !== undefined && gc.responseJsonSchema !== undefined) problems.push('generation_config: responseSchema and responseJsonSchema are exclusive');
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) problems.push('tools: must be a list');
    else body.tools.forEach((t, i) => {
      if (!isObject(t)) return problems.push(`tools[${i}]: must be an object`);
      if (t.functionDeclarations === undefined) return undefined;
      if (!Array.isArray(t.functionDeclarations)) return problems.push(`tools[${i}].functionDeclarations: must be a list`);
      t.functionDeclarations.forEach((f, j) => {
        const w = `tools[${i}].function_declarations[${j}]`;
        if (!isObject(f) || typeof f.name !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/.test(f.name)) problems.push(`${w}.name: invalid`);
        else conv.toolNames.push(f.name);
        for (const k of Object.keys(f ?? {})) if (!['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'responseJsonSchema', 'behavior'].includes(k)) problems.push(`${w}: Unknown name "${k}"`);
        if (f?.parameters !== undefined) checkSchema(f.parameters, `${w}.parameters`, problems);
        if (f?.parameters !== undefined && f?.parametersJsonSchema !== undefined) problems.push(`${w}: parameters and parametersJsonSchema are exclusive`);
      });
      return undefined;
    });
  }
  if (body.toolConfig !== undefined) {
    const fc = body.toolConfig?.functionCallingConfig;
    if (!isObject(fc) || !['AUTO', 'ANY', 'NONE', 'VALIDATED', 'MODE_UNSPECIFIED'].includes(fc.mode ?? 'MODE_UNSPECIFIED')) problems.push('toolConfig.functionCallingConfig.mode: invalid');
    if (fc?.mode === 'NONE') conv.noToolCall = true;
    if (Array.isArray(fc?.allowedFunctionNames) && fc.allowedFunctionNames.length > 0) {
      conv.toolNames = [...fc.allowedFunctionNames, ...conv.toolNames.filter((n) => !fc.allowedFunctionNames.includes(n))];
    }
  }
  if (!Array.isArray(body.contents) || body.contents.length === 0) {
    problems.push('contents: at least one content is required');
    return conv;
  }
  let pendingCalls = null;
  body.contents.forEach((c, i) => {
    const where = `contents[${i}]`;
    if (!isObject(c) || !['user', 'model'].includes(c.role)) {
      problems.push(`${where}.role: must be user or model, got ${JSON.stringify(c?.role)}`);
      return;
    }
    if (!Array.isArray(c.parts) || c.parts.length === 0) {
      problems.push(`${where}.parts: must not be empty`);
      return;
    }
    const calls = [];
    const responses = [];
    const texts = [];
    const media = [];
    c.parts.forEach((p, j) => {
      const pw = `${where}.parts[${j}]`;
      const keys = isObject(p) ? Object.keys(p) : [];
      const data = keys.filter((k) => PART_DATA.has(k));
      const unknown = keys.filter((k) => !PART_DATA.has(k) && !PART_META.has(k));
      if (unknown.length > 0) problems.push(`${pw}: Unknown name ${JSON.stringify(unknown)}`);
      if (data.length !== 1) {
        problems.push(`${pw}: exactly one data field is required, got ${JSON.stringify(keys)}`);
        return;
      }
      if (p.text !== undefined) {
        if (typeof p.text !== 'string') problems.push(`${pw}.text: must be a string`);
        else texts.push(p.text);
        words += wordCount(p.text);
      } else if (p.functionCall !== undefined) {
        if (c.role !== 'model') problems.push(`${pw}: functionCall belongs to model turns`);
        if (typeof p.functionCall?.name !== 'string') problems.push(`${pw}.functionCall.name: required`);
        if (p.functionCall?.args !== undefined && !isObject(p.functionCall.args)) problems.push(`${pw}.functionCall.args: must be an object`);
        calls.push(p.functionCall?.name);
      } else if (p.functionResponse !== undefined) {
        const r = p.functionResponse;
        if (c.role !== 'user') problems.push(`${pw}: functionResponse belongs to user turns`);
        if (typeof r?.name !== 'string') problems.push(`${pw}.functionResponse.name: required`);
        if (!isObject(r?.response)) problems.push(`${pw}.functionResponse.response: must be an object, got ${JSON.stringify(r?.response)}`);
        const vals = isObject(r?.response) ? Object.values(r.response) : [];
        const text = vals.length === 1 && typeof vals[0] === 'string' ? vals[0] : JSON.stringify(r?.response);
        responses.push({ name: r?.name, text });
        words += wordCount(text);
      } else if (p.inlineData !== undefined) {
        const d = p.inlineData;
        for (const k of Object.keys(d ?? {})) if (!['mimeType', 'data', 'displayName'].includes(k)) problems.push(`${pw}.inline_data: Unknown name "${k}"`);
        if (typeof d?.mimeType !== 'string' || !/^[a-z]+\/[a-z0-9.+-]+$/.test(d.mimeType)) {
          problems.push(`${pw}.inline_data.mime_type: required, got ${JSON.stringify(d?.mimeType)}`);
        } else if (d.mimeType.startsWith('image/')) {
          const bytes = checkInlineImage(d.data, d.mimeType, `${pw}.inline_data.data`, problems);
          if (bytes) media.push({ bytes, mediaType: d.mimeType });
        } else if (!decodeStrictBase64(d.data)) problems.push(`${pw}.inline_data.data: Invalid value (bytes): not base64`);
      } else if (p.fileData !== undefined) {
        const f = p.fileData;
        for (const k of Object.keys(f ?? {})) if (!['mimeType', 'fileUri', 'displayName'].includes(k)) problems.push(`${pw}.file_data: Unknown name "${k}"`);
        if (typeof f?.mimeType !== 'string' || f.mimeType === '') problems.push(`${pw}.file_data.mime_type: required`);
        if (typeof f?.fileUri !== 'string' || !/^(gs|https):\/\/[^/\s]+/.test(f.fileUri)) problems.push(`${pw}.file_data.file_uri: a gs:// or https:// URI is required, got ${JSON.stringify(f?.fileUri)}`);
        else media.push({ url: f.fileUri, mediaType: f.mimeType });
      }
    });
    if (pendingCalls) {
      if (c.role !== 'user' || responses.length !== pendingCalls.length) {
        problems.push(`${where}: Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn (${pendingCalls.length} calls, ${responses.length} responses).`);
      }
      const names = [...pendingCalls];
      for (const r of responses) {
        const k = names.indexOf(r.name);
        if (k < 0) problems.push(`${where}: functionResponse ${r.name} matches no functionCall of the previous turn`);
        else names.splice(k, 1);
      }
    } else if (responses.length > 0) problems.push(`${where}: functionResponse parts without a preceding functionCall turn`);
    pendingCalls = calls.length > 0 ? calls : null;
    if (i === body.contents.length - 1) {
      if (c.role !== 'user') problems.push('the last content must have role user');
      conv.lastUserText = texts.join(' ');
      conv.toolResults = responses.map((r) => r.text);
      conv.images = media;
    }
  });
  conv.inputTokens = words;
  return conv;
}

function geminiParts(answer) {
  const parts = [];
  if (answer.text) parts.push({ text: answer.text });
  for (const c of answer.toolCalls) parts.push({ functionCall: { name: c.name, args: c.input } });
  return parts;
}

// Gemini's counts: promptTokenCount includes the cached tokens (cachedContentTokenCount is
// the part of it served from cache), candidatesTokenCount excludes the thoughts
// (thoughtsTokenCount), totalTokenCount is prompt + candidates + thoughts. Zero counts are
// left out (proto3 JSON).
function geminiUsage(answer) {
  const u = answer.usage;
  const prompt = u.input + u.cacheRead;
  const candidates = u.output - u.reasoning;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + u.output,
    ...(u.cacheRead > 0 ? { cachedContentTokenCount: u.cacheRead } : {}),
    ...(u.reasoning > 0 ? { thoughtsTokenCount: u.reasoning } : {}),
    trafficType: 'ON_DEMAND',
  };
}

/**
 * Starts the simulator.
 * @param {object} o
 * @param {crypto.KeyObject|string} o.publicKey  the service account's public key
 * @param {string} o.clientEmail
 * @param {string} [o.privateKeyId]
 * @param {string} [o.project='p']
 * @param {string} [o.region='us-central1']
 * @param {number} [o.tokenLifetimeSeconds=3599]
 */
export async function startVertexSim({
  publicKey, clientEmail, privateKeyId, project = 'p', region = 'us-central1', tokenLifetimeSeconds = 3599,
  chunkDelayMs = 2, port = 0, userLogin = null, federation = null, tls = null,
}) {
  const issued = new Map(); // token -> expiry (ms)
  const federated = new Map(); // STS token -> expiry (ms): good for impersonation only
  const tokenSources = new Map(); // token -> how it was minted
  const issue = (kind, map = issued) => {
    const token = `ya29.sim-${kind}-${issued.size + federated.size + 1}-${crypto.randomBytes(12).toString('hex')}`;
    map.set(token, Date.now() + tokenLifetimeSeconds * 1000);
    tokenSources.set(token, kind);
    return token;
  };
  const checkForm = (rec) => {
    if (rec.method !== 'POST') rec.problems.push(`method ${rec.method}`);
    if (!String(rec.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      rec.problems.push(`content-type ${rec.headers['content-type']}, expected application/x-www-form-urlencoded`);
    }
    return new URLSearchParams(rec.body);
  };
  let sim = null;
  sim = await startRecordingServer('vertex-sim', async (rec, req, res) => {
    const p = rec.url.pathname;
    if (p === '/token') {
      rec.kind = 'token';
      const form = checkForm(rec);
      let kind = 'service-account';
      if (form.get('grant_type') === 'refresh_token' && userLogin) {
        kind = 'user-login';
        rec.kind = 'token:refresh_token';
        for (const [field, want] of [['client_id', userLogin.clientId], ['client_secret', userLogin.clientSecret],
          ['refresh_token', userLogin.refreshToken]]) {
          if (form.get(field) !== want) rec.problems.push(`${field} does not match the user login`);
        }
      } else {
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
          rec.problems.push(`grant_type ${form.get('grant_type')}`);
        }
        const v = verifyAssertion(form.get('assertion'), {
          publicKey, clientEmail, privateKeyId, audience: `${sim.url}/token`,
        });
        rec.jwtValid = v.ok;
        rec.jwtClaims = v.claims ?? null;
        if (!v.ok) rec.problems.push(v.problem);
      }
      if (rec.problems.length > 0) {
        sendJson(res, 400, { error: 'invalid_grant', error_description: rec.problems.join('; ') });
        return;
      }
      const token = issue(kind);
      rec.issuedToken = token;
      sendJson(res, 200, { access_token: token, expires_in: tokenLifetimeSeconds, token_type: 'Bearer' });
      return;
    }
    if (p === '/computeMetadata/v1/instance/service-accounts/default/token') {
      rec.kind = 'metadata:token';
      if (rec.method !== 'GET') rec.problems.push(`method ${rec.method}`);
      if (rec.headers['metadata-flavor'] !== 'Google') rec.problems.push('no Metadata-Flavor: Google header');
      const scopes = (rec.url.searchParams.get('scopes') ?? '').split(',');
      if (!scopes.includes(CLOUD_PLATFORM_SCOPE)) rec.problems.push(`scopes ${rec.url.searchParams.get('scopes')}`);
      if (rec.problems.length > 0) {
        res.writeHead(403, { 'content-type': 'text/plain', 'metadata-flavor': 'Google' });
        res.end(rec.problems.join('; '));
        return;
      }
      const token = issue('metadata');
      rec.issuedToken = token;
      sendJson(res, 200, { access_token: token, expires_in: tokenLifetimeSeconds, token_type: 'Bearer' },
        { 'metadata-flavor': 'Google' });
      return;
    }
    if (p === '/v1/token' && federation) {
      rec.kind = 'sts:token-exchange';
      const form = checkForm(rec);
      const aws = form.get('subject_token_type') === 'urn:ietf:params:aws:token-type:aws4_request' && federation.aws;
      const x509 = form.get('subject_token_type') === 'urn:ietf:params:oauth:token-type:mtls' && federation.x509;
      const want = {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        audience: federation.audience,
        ...(aws || x509 ? {} : { subject_token: federation.subjectToken, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }),
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      };
      if (x509) {
        // What Google's STS does with an X.509 subject token: the exchange must come over mutual
        // TLS, with the token's first certificate as the client certificate; the rest is the
        // chain up to the pool's trust store (federation.x509.chain, base64 DER).
        const list = tryParseJson(form.get('subject_token') ?? '');
        rec.subjectChain = list.ok ? list.value : null;
        if (!rec.clientCert) rec.problems.push('an X.509 exchange came without a client certificate');
        else if (!Array.isArray(rec.subjectChain) || rec.subjectChain[0] !== rec.clientCert) {
          rec.problems.push('the subject token does not start with the TLS client certificate');
        } else if (JSON.stringify(rec.subjectChain.slice(1)) !== JSON.stringify(federation.x509.chain ?? [])) {
          rec.problems.push('the subject token does not carry the expected trust chain');
        }
      }
      if (aws) {
        // What Google's STS does with an AWS subject token: replay the signed GetCallerIdentity
        // to AWS, which checks the signature; here @smithy/signature-v4 checks it.
        rec.awsProblem = await checkAwsSubjectToken(form.get('subject_token'), federation);
        if (rec.awsProblem) rec.problems.push(`aws subject token: ${rec.awsProblem}`);
      }
      for (const [field, value] of Object.entries(want)) {
        if (form.get(field) !== value) rec.problems.push(`${field} ${field === 'subject_token' ? '(withheld)' : form.get(field)}, expected ${field === 'subject_token' ? 'the projected token' : value}`);
      }
      if (!(form.get('scope') ?? '').split(' ').includes(CLOUD_PLATFORM_SCOPE)) rec.problems.push(`scope ${form.get('scope')}`);
      if (rec.problems.length > 0) {
        sendJson(res, 400, { error: 'invalid_grant', error_description: rec.problems.join('; ') });
        return;
      }
      const token = issue('federated', federated);
      rec.issuedToken = token;
      sendJson(res, 200, {
        access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer', expires_in: tokenLifetimeSeconds,
      });
      return;
    }
    const gat = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(p);
    if (gat && federation) {
      rec.kind = 'iam:generateAccessToken';
      const auth = rec.headers.authorization ?? '';
      const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      const userLoginToken = tokenSources.get(bearer) === 'user-login' && issued.get(bearer) > Date.now();
      if (!userLoginToken && (!federated.has(bearer) || federated.get(bearer) <= Date.now())) {
        rec.problems.push('bearer is not a federated or user-login token of this sim');
      }
      if (rec.json?.delegates !== undefined) {
        rec.delegates = rec.json.delegates;
        if (!Array.isArray(rec.json.delegates) || !rec.json.delegates.every((d) => /^projects\/-\/serviceAccounts\/[^/]+$/.test(d))) {
          rec.problems.push(`delegates ${JSON.stringify(rec.json.delegates)}`);
        }
      }
      if (decodeURIComponent(gat[1]) !== federation.serviceAccount) rec.problems.push(`service account ${gat[1]}`);
      if (!Array.isArray(rec.json?.scope) || !rec.json.scope.includes(CLOUD_PLATFORM_SCOPE)) rec.problems.push('scope');
      const lifetime = /^(\d+)s$/.exec(rec.json?.lifetime ?? '');
      if (!lifetime || Number(lifetime[1]) > 3600) rec.problems.push(`lifetime ${rec.json?.lifetime}`);
      if (rec.problems.length > 0) {
        sendJson(res, 403, { error: { code: 403, message: rec.problems.join('; '), status: 'PERMISSION_DENIED' } });
        return;
      }
      const token = issue('impersonated');
      rec.issuedToken = token;
      const expireTime = new Date(Date.now() + Number(lifetime[1]) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      sendJson(res, 200, { accessToken: token, expireTime });
      return;
    }
    const m = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(google|anthropic)\/models\/([^/:]+):([A-Za-z]+)$/.exec(p);
    rec.kind = m ? `${m[3]}:${m[5]}` : 'unknown';
    rec.model = m ? decodeURIComponent(m[4]) : null;
    const auth = rec.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : null;
    rec.tokenValid = token !== null && issued.has(token) && issued.get(token) > Date.now();
    rec.tokenSource = token ? tokenSources.get(token) ?? null : null;
    if (token && federated.has(token)) {
      rec.problems.push('a federated token was used without impersonation');
      googleError(res, 403, 'PERMISSION_DENIED', 'The federated identity has no access; impersonate a service account.');
      return;
    }
    if (!rec.tokenValid) {
      rec.problems.push(token ? 'bearer token was not issued by this sim (or expired)' : 'no bearer token');
      googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
      return;
    }
    if (!m || rec.method !== 'POST') {
      googleError(res, 404, 'NOT_FOUND', `vertex-sim: unknown URL ${rec.method} ${p}`);
      return;
    }
    const [, proj, loc, publisher, , method] = m;
    if (proj !== project) {
      rec.problems.push(`project ${proj}, expected ${project}`);
      googleError(res, 403, 'PERMISSION_DENIED', `Permission denied on resource project ${proj}.`);
      return;
    }
    if (loc !== region) {
      rec.problems.push(`location ${loc}, expected ${region}`);
      googleError(res, 404, 'NOT_FOUND', `location ${loc} is not served here`);
      return;
    }
    if (rec.json === undefined) {
      rec.problems.push('body is not JSON');
      googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
      return;
    }
    if (publisher === 'anthropic' && rec.model === 'count-tokens') {
      rec.kind = 'anthropic:count-tokens';
      if (method !== 'rawPredict') {
        googleError(res, 400, 'INVALID_ARGUMENT', `count-tokens does not support ${method}`);
        return;
      }
      const n = checkCountTokensBody(rec.json, rec.problems, { flavor: 'vertex', anthropicVersion: GCP_ANTHROPIC_VERSION });
      if (n === null) {
        googleError(res, 400, 'INVALID_ARGUMENT', rec.problems.join('; '));
        return;
      }
      rec.answer = { usage: { input: n } };
      sendJson(res, 200, { input_tokens: n });
      return;
    }
    if (publisher === 'anthropic') {
      if (method !== 'rawPredict' && method !== 'streamRawPredict') {
        googleError(res, 400, 'INVALID_ARGUMENT', `anthropic models do not support ${method}`);
        return;
      }
      const stream = method === 'streamRawPredict';
      await answerAnthropic(rec, res, {
        flavor: 'vertex', anthropicVersion: GCP_ANTHROPIC_VERSION, stream, streamEndpoint: stream, model: rec.model, chunkDelayMs,
      });
      return;
    }
    if (method === 'predict') {
      const b = rec.json;
      if (usesEmbedContent(rec.model)) rec.problems.push(`${rec.model} is served by :embedContent, not :predict`);
      if (!Array.isArray(b.instances) || b.instances.length === 0) rec.problems.push('instances: at least one is required');
      if (rec.model === 'gemini-embedding-001' && (b.instances ?? []).length > 1) {
        rec.problems.push('gemini-embedding-001 supports one instance per request');
      }
      for (const k of Object.keys(b)) if (!['instances', 'parameters'].includes(k)) rec.problems.push(`Unknown name "${k}"`);
      for (const k of Object.keys(b.parameters ?? {})) {
        if (!['outputDimensionality', 'autoTruncate'].includes(k)) rec.problems.push(`parameters: unknown field ${k}`);
      }
      (b.instances ?? []).forEach((inst, i) => {
        if (!isObject(inst) || typeof inst.content !== 'string') rec.problems.push(`instances[${i}].content: a string is required`);
        for (const k of Object.keys(inst ?? {})) if (!['content', 'task_type', 'title'].includes(k)) rec.problems.push(`instances[${i}]: unknown field ${k}`);
        checkTaskAndTitle(inst?.task_type, inst?.title, `instances[${i}]`, rec.problems);
      });
      if (rec.problems.length > 0) {
        googleError(res, 400, 'INVALID_ARGUMENT', rec.problems.join('; '));
        return;
      }
      const dims = b.parameters?.outputDimensionality ?? 768;
      const predictions = b.instances.map((inst) => ({
        embeddings: { values: embeddingFor(inst.content, dims), statistics: { token_count: Math.max(1, wordCount(inst.content)), truncated: false } },
      }));
      rec.answer = { embeddings: predictions.map((x) => x.embeddings.values), usage: { input: predictions.reduce((n, x) => n + x.embeddings.statistics.token_count, 0) } };
      sendJson(res, 200, { predictions, metadata: { billableCharacterCount: b.instances.reduce((n, x) => n + x.content.length, 0) } });
      return;
    }
    if (method === 'embedContent') {
      // One content per call; its options in embedContentConfig.
      const b = rec.json;
      if (!usesEmbedContent(rec.model)) rec.problems.push(`${rec.model} is served by :predict, not :embedContent`);
      for (const k of Object.keys(b)) if (!['content', 'embedContentConfig'].includes(k)) rec.problems.push(`Unknown name "${k}"`);
      const parts = b.content?.parts;
      if (!Array.isArray(parts) || parts.length === 0) rec.problems.push('content.parts: at least one is required');
      (parts ?? []).forEach((part, i) => {
        if (!isObject(part) || typeof part.text !== 'string' || Object.keys(part).length !== 1) {
          rec.problems.push(`content.parts[${i}]: a text part is required`);
        }
      });
      const cfg = b.embedContentConfig ?? {};
      for (const k of Object.keys(cfg)) {
        if (!['taskType', 'title', 'outputDimensionality', 'autoTruncate'].includes(k)) rec.problems.push(`embedContentConfig: unknown field ${k}`);
      }
      checkTaskAndTitle(cfg.taskType, cfg.title, 'embedContentConfig', rec.problems);
      if (rec.problems.length > 0) {
        googleError(res, 400, 'INVALID_ARGUMENT', rec.problems.join('; '));
        return;
      }
      const text = parts.map((x) => x.text).join('\n');
      const values = embeddingFor(text, cfg.outputDimensionality ?? 3072);
      const tokens = Math.max(1, wordCount(text));
      rec.answer = { embeddings: [values], usage: { input: tokens }, config: cfg };
      sendJson(res, 200, { embedding: { values }, usageMetadata: { promptTokenCount: tokens, totalTokenCount: tokens }, truncated: false });
      return;
    }
    if (method !== 'generateContent' && method !== 'streamGenerateContent') {
      googleError(res, 400, 'INVALID_ARGUMENT', `vertex-sim does not simulate ${method}`);
      return;
    }
    const stream = method === 'streamGenerateContent';
    if (stream && rec.url.searchParams.get('alt') !== 'sse') rec.problems.push('streamGenerateContent without alt=sse (would answer a JSON array)');
    const conv = checkGeminiBody(rec.json, rec.problems);
    rec.conv = conv;
    if (rec.problems.length > 0) {
      rec.answer = { error: 400 };
      googleError(res, 400, 'INVALID_ARGUMENT', rec.problems.join('; '));
      return;
    }
    const status = errorTrigger(conv.lastUserText);
    if (status) {
      rec.answer = { error: status };
      googleStatus(res, status);
      return;
    }
    const answer = makeAnswer(conv, '', rec.body, { usageDetail: { cacheWrite: false, reasoning: true } });
    answer.stopReason = 'STOP';
    for (const c of answer.toolCalls) c.id = null; // Gemini gives no call ids
    rec.answer = answer;
    const responseId = `sim${shortHash(rec.body)}`;
    const base = { modelVersion: rec.model, createTime: '2025-01-01T00:00:00.000000Z', responseId };
    if (!stream) {
      sendJson(res, 200, {
        candidates: [{ content: { role: 'model', parts: geminiParts(answer) }, finishReason: 'STOP', avgLogprobs: -0.1, index: 0 }],
        usageMetadata: geminiUsage(answer),
        ...base,
      });
      return;
    }
    const events = [];
    if (answer.text) {
      const pieces = splitWords(answer.text);
      pieces.forEach((piece, i) => {
        const last = i === pieces.length - 1;
        events.push({
          data: {
            candidates: [{ content: { role: 'model', parts: [{ text: piece }] }, ...(last ? { finishReason: 'STOP' } : {}), index: 0 }],
            ...(last ? { usageMetadata: geminiUsage(answer) } : { usageMetadata: { promptTokenCount: geminiUsage(answer).promptTokenCount, trafficType: 'ON_DEMAND' } }),
            ...base,
          },
        });
      });
    } else {
      events.push({
        data: {
          candidates: [{ content: { role: 'model', parts: geminiParts(answer) }, finishReason: 'STOP', index: 0 }],
          usageMetadata: geminiUsage(answer),
          ...base,
        },
      });
    }
    await writeSse(res, events, { delayMs: chunkDelayMs, crlf: true });
  }, { port, tls });
  sim.issuedTokens = () => [...issued.keys()];
  sim.tokenSources = tokenSources;
  return sim;
}

/** A service-account key file (JSON text) whose token_uri is this sim's /token. */
export function serviceAccountJson({ sim, privateKey, clientEmail, privateKeyId, project = 'p' }) {
  const pem = typeof privateKey === 'string' ? privateKey : privateKey.export({ type: 'pkcs8', format: 'pem' });
  return JSON.stringify({
    type: 'service_account',
    project_id: project,
    private_key_id: privateKeyId,
    private_key: pem,
    client_email: clientEmail,
    client_id: '100000000000000000001',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: `${sim.url}/token`,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
    universe_domain: 'googleapis.com',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'sluice-sim@p.iam.gserviceaccount.com';
  const i = process.argv.indexOf('--port');
  const sim = await startVertexSim({ publicKey, clientEmail, privateKeyId: 'sim-key-1', port: i > 0 ? Number(process.argv[i + 1]) : 0 });
  console.log(`vertex-sim listening on 127.0.0.1:${sim.port}`);
  console.log(serviceAccountJson({ sim, privateKey, clientEmail, privateKeyId: 'sim-key-1' }));
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// An AWS-sourced external_account subject token: the percent-encoded JSON of a signed STS
// GetCallerIdentity request ({url, method, headers: [{key, value}]}) for federation.aws
// ({credentials, region}); "" when it is sound, else what is wrong.
async function checkAwsSubjectToken(token, federation) {
  let req;
  try { req = JSON.parse(decodeURIComponent(token ?? '')); } catch { return 'not percent-encoded JSON'; }
  if (req.method !== 'POST') return `method ${req.method}`;
  let url;
  try { url = new URL(req.url); } catch { return `url ${req.url}`; }
  const { region, credentials } = federation.aws;
  if (url.protocol !== 'https:' || url.hostname !== `sts.${region}.amazonaws.com`) return `url ${req.url}`;
  if (url.searchParams.get('Action') !== 'GetCallerIdentity' || url.searchParams.get('Version') !== '2011-06-15') return `query ${url.search}`;
  if (!Array.isArray(req.headers)) return 'no headers list';
  const headers = {};
  for (const h of req.headers) headers[String(h.key).toLowerCase()] = h.value;
  if (headers['x-goog-cloud-target-resource'] !== federation.audience) return 'x-goog-cloud-target-resource is not the audience';
  if (!/x-goog-cloud-target-resource/.test(headers.authorization ?? '')) return 'x-goog-cloud-target-resource is not signed';
  const rec = { method: 'POST', path: `${url.pathname}${url.search}`, url, headers, raw: Buffer.alloc(0) };
  const v = await verifySigV4(rec, { credentials, region, service: 'sts' });
  return v.valid ? '' : v.problem;
}
