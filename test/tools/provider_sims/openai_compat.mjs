#!/usr/bin/env node
// openai_compat.mjs: TEST TOOL. A fake OpenAI-dialect provider with tool calling, in two
// flavours, for sluice's end-to-end tests (loopback only, never a real provider):
//   - 'openai': POST /v1/chat/completions, /v1/embeddings, `Authorization: Bearer <key>`;
//   - 'azure':  POST /openai/deployments/{deployment}/chat/completions?api-version=V (and
//               /embeddings), `api-key: <key>` and no Authorization header; a streamed answer
//               starts with Azure's `choices: []` chunk carrying prompt_filter_results.
// (test/tools/provider_sim.mjs is the richer OpenAI simulator for text, completions and
// cassettes; this one adds tools and the Azure URL shape.)
//
//   import { startOpenAICompatSim, startAzureSim } from '../tools/provider_sims/openai_compat.mjs';
//
// Chat body checks: no unknown top-level fields (OpenAI answers 400 "Unrecognized request
// argument"), roles system/developer/user/assistant/tool, every assistant tool call answered by
// tool messages with its id right after it, tool messages answer a preceding call. Answers
// per common.mjs (ids "call_..."). "[[error:429]]" gives 429 with retry-after: 7. In the
// 'openai' flavour, "[[stream-error]]" in a streamed request sends two text chunks and then
// OpenAI's mid-stream error event (`data: {"error":{...,"type":"server_error"}}`), no [DONE].
//
// CLI: node test/tools/provider_sims/openai_compat.mjs [--azure] [--port N] [--api-key K]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  blocksText, embeddingFor, errorTrigger, isObject, makeAnswer, sendJson, shortHash, splitN, splitWords,
  startRecordingServer, wordCount, writeSse,
} from './common.mjs';

const CHAT_FIELDS = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_completion_tokens', 'max_tokens', 'temperature', 'top_p',
  'n', 'seed', 'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'tools',
  'tool_choice', 'parallel_tool_calls', 'response_format', 'reasoning_effort', 'verbosity', 'modalities', 'audio',
  'web_search_options', 'prediction', 'store', 'metadata', 'service_tier', 'user', 'safety_identifier',
  'prompt_cache_key', 'prompt_cache_retention', 'functions', 'function_call',
]);
const SIM_CREATED = 1700000000;

function openaiError(res, status, message, type = 'invalid_request_error', code = null, extra = {}) {
  sendJson(res, status, { error: { message, type, param: null, code } }, extra);
}

/** Checks an OpenAI chat body; returns the normalised conversation. */
export function checkChatBody(body, problems, { requireModel = true } = {}) {
  const conv = { lastUserText: '', toolResults: [], toolNames: [], inputTokens: 0, system: '' };
  if (!isObject(body)) {
    problems.push('body is not a JSON object');
    return conv;
  }
  for (const k of Object.keys(body)) if (!CHAT_FIELDS.has(k)) problems.push(`Unrecognized request argument supplied: ${k}`);
  if (requireModel && typeof body.model !== 'string') problems.push('you must provide a model parameter');
  if (body.stream_options !== undefined && body.stream !== true) problems.push('stream_options is only allowed when stream is true');
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) problems.push('tools: must be an array');
    else body.tools.forEach((t, i) => {
      if (t?.type !== 'function' || typeof t.function?.name !== 'string') problems.push(`tools[${i}]: {type:"function", function:{name}} is required`);
      else conv.toolNames.push(t.function.name);
    });
  }
  if (body.tool_choice === 'none') conv.noToolCall = true;
  if (isObject(body.tool_choice) && body.tool_choice.function?.name) {
    const n = body.tool_choice.function.name;
    conv.toolNames = [n, ...conv.toolNames.filter((x) => x !== n)];
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    problems.push("[] is too short - 'messages'");
    return conv;
  }
  let pending = null; // call ids still to be answered
  let words = 0;
  const trailingResults = [];
  body.messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m) || !['system', 'developer', 'user', 'assistant', 'tool'].includes(m.role)) {
      problems.push(`${where}.role: invalid ${JSON.stringify(m?.role)}`);
      return;
    }
    if (pending && pending.length > 0 && m.role !== 'tool') {
      problems.push(`An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. Missing: ${pending.join(', ')}`);
      pending = null;
    }
    if (m.role !== 'tool') trailingResults.length = 0;
    const text = blocksText(m.content);
    words += wordCount(text);
    if (m.role === 'system' || m.role === 'developer') conv.system += (conv.system ? '\n' : '') + text;
    if (m.role === 'assistant' && m.tool_calls !== undefined) {
      if (!Array.isArray(m.tool_calls) || m.tool_calls.length === 0) problems.push(`${where}.tool_calls: must be a non-empty array`);
      else {
        pending = [];
        m.tool_calls.forEach((c, j) => {
          if (typeof c?.id !== 'string' || c.type !== 'function' || typeof c.function?.name !== 'string' || typeof c.function?.arguments !== 'string') {
            problems.push(`${where}.tool_calls[${j}]: {id, type:"function", function:{name, arguments (string)}} is required`);
          }
          pending.push(c?.id);
        });
      }
    }
    if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string') problems.push(`${where}.tool_call_id: required`);
      else if (!pending || !pending.includes(m.tool_call_id)) {
        problems.push(`Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (${m.tool_call_id}).`);
      } else pending = pending.filter((x) => x !== m.tool_call_id);
      trailingResults.push(text);
    }
    if (m.role === 'user') conv.lastUserText = text;
  });
  if (pending && pending.length > 0) problems.push(`tool calls not answered: ${pending.join(', ')}`);
  const last = body.messages[body.messages.length - 1];
  if (last?.role === 'tool') conv.toolResults = [...trailingResults];
  else if (last?.role !== 'user') problems.push('the last message must be a user or tool message');
  else conv.lastUserText = blocksText(last.content);
  conv.inputTokens = words;
  return conv;
}

function usageOf(answer) {
  return { prompt_tokens: answer.usage.input, completion_tokens: answer.usage.output, total_tokens: answer.usage.input + answer.usage.output };
}

const AZURE_FILTER = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};

async function chat(rec, res, { flavor, model, chunkDelayMs }) {
  const body = rec.json;
  const conv = checkChatBody(body, rec.problems, { requireModel: flavor === 'openai' });
  rec.conv = conv;
  if (rec.problems.length > 0) {
    rec.answer = { error: 400 };
    openaiError(res, 400, rec.problems.join('; '));
    return;
  }
  const status = errorTrigger(conv.lastUserText);
  if (status) {
    rec.answer = { error: status };
    const extra = status === 429 ? { 'retry-after': '7', 'x-ratelimit-remaining-requests': '0' } : {};
    openaiError(res, status, status === 429 ? 'Rate limit reached for requests (sim).' : `sim injected status ${status}`,
      status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error',
      status === 429 ? 'rate_limit_exceeded' : null, extra);
    return;
  }
  const answer = makeAnswer(conv, 'call_', rec.body);
  answer.stopReason = answer.toolCalls.length > 0 ? 'tool_calls' : 'stop';
  rec.answer = answer;
  const id = `chatcmpl-sim-${shortHash(rec.body)}`;
  const azure = flavor === 'azure';
  const toolCalls = answer.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.input) } }));
  if (body.stream !== true) {
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created: SIM_CREATED,
      model,
      choices: [{
        index: 0,
        message: {
          role: 'assistant',
          content: answer.text || null,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: answer.stopReason,
        ...(azure ? { content_filter_results: AZURE_FILTER } : {}),
      }],
      usage: usageOf(answer),
      system_fingerprint: null,
      ...(azure ? { prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }] } : {}),
    });
    return;
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (delta, finish) => ({
    id,
    object: 'chat.completion.chunk',
    created: SIM_CREATED,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...(azure && finish === null ? { content_filter_results: AZURE_FILTER } : {}) }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events = [];
  if (azure) {
    events.push({ data: { choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }] } });
  }
  events.push({ data: chunk({ role: 'assistant', content: answer.text ? '' : null, refusal: null }, null) });
  if (!azure && /\[\[stream-error\]\]/.test(conv.lastUserText)) {
    // OpenAI's mid-stream failure: a data event holding an error object, then the body ends
    // (no finish_reason, no [DONE]).
    const streamError = { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null };
    answer.streamError = streamError;
    for (const piece of splitWords(answer.text).slice(0, 2)) events.push({ data: chunk({ content: piece }, null) });
    events.push({ data: { error: streamError } });
    await writeSse(res, events, { delayMs: chunkDelayMs });
    return;
  }
  if (answer.text) for (const piece of splitWords(answer.text)) events.push({ data: chunk({ content: piece }, null) });
  toolCalls.forEach((c, index) => {
    events.push({ data: chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] }, null) });
    for (const piece of splitN(c.function.arguments, 3)) {
      events.push({ data: chunk({ tool_calls: [{ index, function: { arguments: piece } }] }, null) });
    }
  });
  events.push({ data: chunk({}, answer.stopReason) });
  if (includeUsage) events.push({ data: { id, object: 'chat.completion.chunk', created: SIM_CREATED, model, system_fingerprint: null, choices: [], usage: usageOf(answer) } });
  events.push({ data: '[DONE]' });
  await writeSse(res, events, { delayMs: chunkDelayMs });
}

function embeddings(rec, res, { model }) {
  const b = rec.json;
  if (!isObject(b) || b.input === undefined) rec.problems.push("'input' is a required property");
  if (rec.problems.length > 0) {
    openaiError(res, 400, rec.problems.join('; '));
    return;
  }
  const inputs = Array.isArray(b.input) && !b.input.every((x) => typeof x === 'number') ? b.input : [b.input];
  const status = errorTrigger(inputs.join(' '));
  if (status) {
    rec.answer = { error: status };
    openaiError(res, status, `sim injected status ${status}`, 'requests', null, status === 429 ? { 'retry-after': '7' } : {});
    return;
  }
  const dims = Number.isInteger(b.dimensions) ? b.dimensions : 8;
  const vectors = inputs.map((input) => embeddingFor(input, dims));
  if (b.encoding_format !== undefined && !['float', 'base64'].includes(b.encoding_format)) {
    openaiError(res, 400, `invalid encoding_format ${b.encoding_format}`);
    return;
  }
  const data = vectors.map((v, index) => ({
    object: 'embedding',
    index,
    embedding: b.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
  }));
  const tokens = inputs.reduce((n, x) => n + (typeof x === 'string' ? wordCount(x) : x.length), 0) || 1;
  rec.answer = { embeddings: vectors, encoding: b.encoding_format ?? 'float', usage: { input: tokens } };
  sendJson(res, 200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

/**
 * Starts the simulator.
 * @param {object} [o]
 * @param {'openai'|'azure'} [o.flavor='openai']
 * @param {string} [o.apiKey]         required credential (Bearer for openai, api-key for azure)
 * @param {string} [o.apiVersion]     azure: the api-version query value it requires
 * @param {string} [o.reportedModel]  azure: the model name answers report (Azure reports the
 *                                    underlying model, not the deployment)
 * @param {{tenantId, clientId, clientSecret?, federatedToken?}} [o.entra]  azure: also play Microsoft Entra ID
 *   (federatedToken: workload identity, the client assertion it expects instead of a secret, or a
 *   predicate over the assertion, e.g. an OIDC provider simulator's isIssued).
 *   POST /{tenantId}/oauth2/v2.0/token (client credentials grant) issues access tokens, and
 *   model calls then need `Authorization: Bearer <a token it issued>` and no api-key. The
 *   token request must carry grant_type=client_credentials, the client id and secret, and
 *   scope=https://cognitiveservices.azure.com/.default (else 400/401 as Entra answers).
 *   With entra.managedIdentity {clientId, identityHeader} it also plays the managed identity
 *   endpoints: GET /metadata/identity/oauth2/token (the instance metadata service: `Metadata:
 *   true`, api-version 2018-02-01) and GET /msi/token (App Service: `X-IDENTITY-HEADER`,
 *   api-version 2019-08-01), both with resource=https://cognitiveservices.azure.com and the
 *   identity's client_id; the tokens they issue are good for model calls.
 */
export async function startOpenAICompatSim({
  flavor = 'openai', apiKey = 'sk-openai-sim', apiVersion = '2024-10-21', reportedModel = 'gpt-4o-2024-11-20',
  chunkDelayMs = 2, port = 0, entra = null,
} = {}) {
  const issued = new Set();
  return startRecordingServer(`${flavor}-sim`, async (rec, req, res) => {
    const p = rec.url.pathname;
    const mi = entra?.managedIdentity;
    if (mi && (p === '/metadata/identity/oauth2/token' || p === '/msi/token')) {
      const imds = p.startsWith('/metadata/');
      rec.kind = imds ? 'imds-token' : 'app-service-token';
      const q = rec.url.searchParams;
      if (rec.method !== 'GET') rec.problems.push(`method ${rec.method}`);
      if (imds && rec.headers.metadata !== 'true') rec.problems.push('no Metadata: true header');
      if (!imds && rec.headers['x-identity-header'] !== mi.identityHeader) rec.problems.push('X-IDENTITY-HEADER missing or wrong');
      const version = imds ? '2018-02-01' : '2019-08-01';
      if (q.get('api-version') !== version) rec.problems.push(`api-version ${q.get('api-version')}, expected ${version}`);
      if (q.get('resource') !== 'https://cognitiveservices.azure.com') rec.problems.push(`resource ${q.get('resource')}`);
      if (q.get('client_id') !== mi.clientId) rec.problems.push(`client_id ${q.get('client_id')}`);
      if (rec.problems.length > 0) {
        sendJson(res, 400, { error: 'invalid_request', error_description: rec.problems.join('; ') });
        return;
      }
      const token = `mi-access-token-${issued.size + 1}-${Math.random().toString(36).slice(2)}`;
      issued.add(token);
      rec.answer = { token };
      const expiresOn = String(Math.floor(Date.now() / 1000) + 86399);
      sendJson(res, 200, imds
        ? { access_token: token, client_id: mi.clientId, expires_in: '86399', expires_on: expiresOn, resource: q.get('resource'), token_type: 'Bearer' }
        : { access_token: token, expires_on: expiresOn, resource: q.get('resource'), token_type: 'Bearer', client_id: mi.clientId });
      return;
    }
    if (entra && p === `/${entra.tenantId}/oauth2/v2.0/token`) {
      rec.kind = 'entra-token';
      const form = new URLSearchParams(rec.body);
      rec.form = Object.fromEntries(form);
      const refuse = (status, error, description) => {
        rec.problems.push(`${error}: ${description}`);
        sendJson(res, status, { error, error_description: description });
      };
      if (rec.method !== 'POST' || !/^application\/x-www-form-urlencoded/.test(rec.headers['content-type'] ?? '')) {
        return refuse(400, 'invalid_request', 'AADSTS900144: the token request must be a form POST');
      }
      if (form.get('grant_type') !== 'client_credentials') return refuse(400, 'unsupported_grant_type', 'AADSTS70003: grant_type');
      if (form.get('scope') !== 'https://cognitiveservices.azure.com/.default') {
        return refuse(400, 'invalid_scope', `AADSTS70011: the scope ${form.get('scope')} is not valid`);
      }
      if (entra.federatedToken !== undefined) {
        // Workload identity: the pod's federated token as a JWT-bearer client assertion, no secret.
        if (form.get('client_id') !== entra.clientId) return refuse(400, 'unauthorized_client', 'AADSTS700016: unknown client');
        if (form.has('client_secret')) return refuse(401, 'invalid_client', 'AADSTS7000215: a client secret was sent with a federated credential');
        if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
          return refuse(400, 'invalid_request', `AADSTS700023: client_assertion_type ${form.get('client_assertion_type')}`);
        }
        const assertion = form.get('client_assertion');
        rec.clientAssertion = assertion;
        if (typeof entra.federatedToken === 'function' ? !entra.federatedToken(assertion) : assertion !== entra.federatedToken) {
          return refuse(401, 'invalid_client', 'AADSTS700213: no matching federated identity record for the assertion');
        }
      } else if (form.get('client_id') !== entra.clientId || form.get('client_secret') !== entra.clientSecret) {
        return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
      }
      const token = `entra-access-token-${issued.size + 1}-${Math.random().toString(36).slice(2)}`;
      issued.add(token);
      rec.answer = { token };
      sendJson(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
      return;
    }
    let op = null;
    let model = null;
    if (flavor === 'azure') {
      const m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(p);
      if (m) {
        op = m[2] === 'embeddings' ? 'embeddings' : 'chat';
        rec.deployment = decodeURIComponent(m[1]);
        model = reportedModel;
      }
      const v = rec.url.searchParams.get('api-version');
      if (v !== apiVersion) rec.problems.push(v ? `api-version ${v}, expected ${apiVersion}` : 'no api-version query parameter');
      if (entra) {
        const bearer = /^Bearer (.+)$/.exec(rec.headers.authorization ?? '');
        if (!bearer || !issued.has(bearer[1])) {
          rec.problems.push(bearer ? 'a bearer token Entra did not issue' : 'no Entra bearer token');
        }
        if (rec.headers['api-key'] !== undefined) rec.problems.push('an api-key header reached Azure next to the Entra token');
      } else {
        if (rec.headers['api-key'] !== apiKey) rec.problems.push(rec.headers['api-key'] ? 'wrong api-key' : 'no api-key header');
        if (rec.headers.authorization !== undefined) rec.problems.push('an Authorization header reached Azure next to api-key');
      }
      if (rec.problems.length > 0) {
        rec.kind = op ?? 'unknown';
        rec.answer = { error: 401 };
        const missingVersion = rec.problems.some((x) => x.includes('api-version'));
        if (missingVersion) openaiError(res, 404, 'Resource not found', 'invalid_request_error', '404');
        else openaiError(res, 401, 'Access denied due to invalid subscription key or wrong API endpoint.', 'invalid_request_error', '401');
        return;
      }
    } else {
      if (p === '/v1/chat/completions') op = 'chat';
      if (p === '/v1/embeddings') op = 'embeddings';
      model = rec.json?.model;
      if (rec.headers.authorization !== `Bearer ${apiKey}`) {
        rec.kind = op ?? 'unknown';
        rec.problems.push(rec.headers.authorization ? 'wrong bearer key' : 'no Authorization header');
        openaiError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
        return;
      }
    }
    rec.kind = op === 'chat' && rec.json?.stream === true ? 'chat-stream' : op ?? 'unknown';
    if (!op || rec.method !== 'POST') {
      openaiError(res, 404, `${flavor}-sim: unknown URL ${rec.method} ${p}`, 'invalid_request_error', 'unknown_url');
      return;
    }
    if (rec.json === undefined) {
      rec.problems.push('body is not JSON');
      openaiError(res, 400, 'We could not parse the JSON body of your request.');
      return;
    }
    if (op === 'chat') await chat(rec, res, { flavor, model, chunkDelayMs });
    else embeddings(rec, res, { model: model ?? rec.json?.model });
  }, { port });
}

export function startAzureSim(opts = {}) {
  return startOpenAICompatSim({ apiKey: 'azure-sim-key', ...opts, flavor: 'azure' });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const flavor = args.includes('--azure') ? 'azure' : 'openai';
  const sim = await startOpenAICompatSim({ flavor, apiKey: opt('--api-key', flavor === 'azure' ? 'azure-sim-key' : 'sk-openai-sim'), port: Number(opt('--port', 0)) });
  console.log(`${flavor}-sim listening on 127.0.0.1:${sim.port}`);
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
