#!/usr/bin/env node
// provider_sim.mjs: TEST TOOL. A fake, OpenAI-compatible model provider for sluice's
// end-to-end tests. It is not part of sluice and never talks to a real provider: it
// listens on loopback only and answers from the request (or from a recorded cassette).
//
// Library use:
//   import { startProviderSim } from '../tools/provider_sim.mjs';
//   const sim = await startProviderSim({ apiKey: 'sk-sim-test' });
//   // sim.port, sim.url, sim.requests[] ({method, path, headers, body}), await sim.close()
//
// CLI use:
//   node test/tools/provider_sim.mjs --port N [--api-key K] [--cassettes DIR]
//   prints "provider-sim listening on 127.0.0.1:PORT"
//
// Endpoints (all answers are deterministic functions of the request):
//   POST /v1/chat/completions  "You said: <last user message text>", streamed or not
//   POST /v1/completions       "You said: <prompt>", streamed or not
//   POST /v1/embeddings        pseudo-random floats derived from a SHA-256 of each input
//   GET  /v1/models            a small model list
//
// Behaviour knobs (request headers; sluice forwards unknown client headers upstream):
//   x-sim-status: N           answer N with an OpenAI error body (429 adds retry-after: 7)
//   x-sim-body: TEXT          ... with this body instead
//   x-sim-delay-ms: N         wait N ms before sending response headers
//   x-sim-stream-stall-ms: N  stall N ms halfway through a streamed answer
//   x-cassette-name: NAME     replay <cassettesDir>/NAME.yaml (go-vcr format version 2):
//                             409 unless method, path and JSON body match the recording;
//                             then the recorded status, headers and body, byte for byte.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '../..');
export const DEFAULT_CASSETTES_DIR = path.resolve(REPO_ROOT, '../shared/corpus/openai-cassettes');

const SIM_CREATED = 1700000000; // fixed timestamp so answers are deterministic
const DEFAULT_EMBEDDING_DIMS = 8;
// Response headers never copied from a cassette: they describe the recorded transport.
const CASSETTE_SKIPPED_HEADERS = new Set([
  'content-length', 'transfer-encoding', 'connection', 'content-encoding', 'keep-alive',
]);

// Unref'd: a pending delay never keeps a test process alive after close().
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());
// True once the peer went away (or the response was torn down): stop writing.
const gone = (res) => res.destroyed || res.simClosed === true;

function openaiError(message, type = 'invalid_request_error', code = null, param = null) {
  return { error: { message, type, param, code } };
}

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

function shortHash(text) {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 24);
}

function wordCount(text) {
  const words = String(text).trim().split(/\s+/).filter(Boolean);
  return words.length;
}

function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter((p) => p && (p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string')
      .map((p) => p.text)
      .join(' ');
  }
  return '';
}

/** The reply text the simulator gives to a chat request. Exported for tests. */
export function chatReplyText(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') return `You said: ${contentText(messages[i].content)}`;
  }
  return 'You said: nothing';
}

function promptText(prompt) {
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt)) {
    if (prompt.every((p) => typeof p === 'number')) return `tokens ${prompt.join(' ')}`;
    return prompt.map(promptText).join(' ');
  }
  return '';
}

/** The list of reply texts the simulator gives to a completions request. Exported for tests. */
export function completionReplyTexts(body) {
  const p = body?.prompt;
  // An array of strings or an array of token arrays is a batch: one choice per prompt.
  if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string' || Array.isArray(x))) {
    return p.map((x) => `You said: ${promptText(x)}`);
  }
  return [`You said: ${promptText(p)}`];
}

/** Splits text into several pieces (words with their trailing spaces) for streaming. */
export function splitForStream(text) {
  const pieces = text.match(/\S+\s*|\s+/g) ?? [];
  return pieces.length > 0 ? pieces : [''];
}

/** Deterministic embedding vector for one input. Exported for tests. */
export function embeddingFor(input, dims = DEFAULT_EMBEDDING_DIMS) {
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  const out = [];
  let block = Buffer.alloc(0);
  for (let i = 0; out.length < dims; i++) {
    if (block.length < 4) block = crypto.createHash('sha256').update(`${i}:${text}`).digest();
    const v = block.readUInt32BE(0);
    block = block.subarray(4);
    out.push(Math.round(((v / 0xffffffff) * 2 - 1) * 1e6) / 1e6);
  }
  return out;
}

function usageFor(promptTokens, completionTokens) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

function promptTokensOfChat(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  return messages.reduce((n, m) => n + wordCount(contentText(m?.content)), 0) || 1;
}

// ---------------------------------------------------------------------------------------
// Cassettes

function loadCassette(dir, name) {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.includes('..')) {
    return { error: `invalid cassette name ${JSON.stringify(name)}` };
  }
  const file = path.join(dir, `${name}.yaml`);
  if (!fs.existsSync(file)) return { error: `cassette not found: ${file}` };
  let doc;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return { error: `cannot parse cassette ${file}: ${e.message}` };
  }
  if (doc?.version !== 2) return { error: `cassette ${file}: unsupported format version ${doc?.version}` };
  const interaction = doc.interactions?.[0];
  if (!interaction?.request || !interaction?.response) {
    return { error: `cassette ${file}: no interaction` };
  }
  return { file, interaction };
}

function tryParseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Returns null when the request matches the recording, else a list of mismatch reasons. */
function cassetteMismatch(recorded, req, rawBody) {
  const reasons = [];
  const recordedUrl = new URL(recorded.url);
  const actualUrl = new URL(req.url, 'http://sim.invalid');
  if (String(recorded.method).toUpperCase() !== req.method) {
    reasons.push(`method: recorded ${recorded.method}, got ${req.method}`);
  }
  if (recordedUrl.pathname !== actualUrl.pathname) {
    reasons.push(`path: recorded ${recordedUrl.pathname}, got ${actualUrl.pathname}`);
  }
  // Query parameters were recorded in `form` (e.g. Azure's api-version) for JSON requests.
  const contentType = String(req.headers['content-type'] ?? '');
  if (!contentType.startsWith('multipart/') && !contentType.startsWith('application/x-www-form-urlencoded')) {
    for (const [key, values] of Object.entries(recorded.form ?? {})) {
      const want = Array.isArray(values) ? values : [values];
      const got = actualUrl.searchParams.getAll(key);
      if (!isDeepStrictEqual(got, want.map(String))) {
        reasons.push(`query ${key}: recorded ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
      }
    }
  }
  const recordedBody = recorded.body ?? '';
  if (recordedBody === '[multipart form data omitted]') {
    if (!contentType.startsWith('multipart/form-data')) {
      reasons.push(`body: recorded a multipart upload, got content-type ${contentType || '(none)'}`);
    }
  } else {
    const want = tryParseJson(recordedBody);
    if (want.ok) {
      const got = tryParseJson(rawBody);
      if (!got.ok) reasons.push('body: recorded JSON, got a body that is not JSON');
      else if (!isDeepStrictEqual(got.value, want.value)) {
        reasons.push('body: JSON differs from the recorded request body');
      }
    } else if (recordedBody !== rawBody) {
      reasons.push('body: differs from the recorded request body');
    }
  }
  return reasons.length > 0 ? reasons : null;
}

/** Splits an SSE body into about `maxPieces` pieces, each ending at an event boundary. */
export function splitSseAtEvents(body, maxPieces = 12) {
  const events = [];
  let start = 0;
  const re = /\r?\n\r?\n/g;
  let m;
  while ((m = re.exec(body)) !== null) {
    events.push(body.slice(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < body.length) events.push(body.slice(start));
  const perPiece = Math.max(1, Math.ceil(events.length / maxPieces));
  const pieces = [];
  for (let i = 0; i < events.length; i += perPiece) pieces.push(events.slice(i, i + perPiece).join(''));
  return pieces;
}

async function replayCassette(ctx, req, res, rawBody, name) {
  const loaded = loadCassette(ctx.cassettesDir, name);
  if (loaded.error) {
    sendJson(res, 409, { error: { message: loaded.error, type: 'cassette_error', param: null, code: 'cassette_not_loaded' } });
    return;
  }
  const { request: recorded, response } = loaded.interaction;
  const reasons = cassetteMismatch(recorded, req, rawBody);
  if (reasons) {
    sendJson(res, 409, {
      error: {
        message: `request does not match cassette ${name}: ${reasons.join('; ')}`,
        type: 'cassette_mismatch',
        param: null,
        code: 'cassette_mismatch',
      },
      cassette: name,
      mismatches: reasons,
      recorded: { method: recorded.method, url: recorded.url, body: recorded.body },
      received: { method: req.method, path: req.url, body: rawBody },
    });
    return;
  }
  const body = Buffer.from(response.body ?? '', 'utf8');
  const headers = [];
  let contentType = '';
  for (const [name, values] of Object.entries(response.headers ?? {})) {
    if (CASSETTE_SKIPPED_HEADERS.has(name.toLowerCase())) continue;
    const list = Array.isArray(values) ? values.map(String) : [String(values)];
    if (name.toLowerCase() === 'content-type') contentType = list[0] ?? '';
    headers.push([name, list]);
  }
  const status = Number(response.code);
  for (const [name, list] of headers) res.setHeader(name, list.length === 1 ? list[0] : list);
  res.setHeader('Content-Length', body.length);
  res.writeHead(status);
  if (contentType.startsWith('text/event-stream')) {
    for (const piece of splitSseAtEvents(response.body ?? '')) {
      if (gone(res)) return;
      res.write(piece);
      await sleep(ctx.chunkDelayMs);
    }
    res.end();
  } else {
    res.end(body);
  }
}

// ---------------------------------------------------------------------------------------
// Synthetic answers

async function writeSse(ctx, res, events, stallMs) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-request-id': `req_sim_${ctx.requestCount}`,
  });
  const half = Math.floor(events.length / 2);
  for (let i = 0; i < events.length; i++) {
    if (gone(res)) return;
    if (stallMs > 0 && i === half) await sleep(stallMs);
    if (gone(res)) return;
    res.write(`data: ${typeof events[i] === 'string' ? events[i] : JSON.stringify(events[i])}\n\n`);
    await sleep(ctx.chunkDelayMs);
  }
  res.end();
}

async function chatCompletions(ctx, req, res, body, stallMs) {
  const model = body.model;
  const text = chatReplyText(body);
  const id = `chatcmpl-sim-${shortHash(JSON.stringify(body))}`;
  const usage = usageFor(promptTokensOfChat(body), wordCount(text));
  if (!body.stream) {
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created: SIM_CREATED,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage,
      service_tier: 'default',
      system_fingerprint: null,
    }, { 'x-request-id': `req_sim_${ctx.requestCount}` });
    return;
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (delta, finishReason) => ({
    id,
    object: 'chat.completion.chunk',
    created: SIM_CREATED,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
  for (const piece of splitForStream(text)) events.push(chunk({ content: piece }, null));
  events.push(chunk({}, 'stop'));
  if (includeUsage) {
    events.push({ id, object: 'chat.completion.chunk', created: SIM_CREATED, model, system_fingerprint: null, choices: [], usage });
  }
  events.push('[DONE]');
  await writeSse(ctx, res, events, stallMs);
}

async function completions(ctx, req, res, body, stallMs) {
  const model = body.model;
  const texts = completionReplyTexts(body);
  const id = `cmpl-sim-${shortHash(JSON.stringify(body))}`;
  const usage = usageFor(
    wordCount(promptText(body.prompt)) || 1,
    texts.reduce((n, t) => n + wordCount(t), 0),
  );
  if (!body.stream) {
    sendJson(res, 200, {
      id,
      object: 'text_completion',
      created: SIM_CREATED,
      model,
      choices: texts.map((text, index) => ({ text, index, logprobs: null, finish_reason: 'stop' })),
      usage,
    });
    return;
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (index, text, finishReason) => ({
    id,
    object: 'text_completion',
    created: SIM_CREATED,
    model,
    choices: [{ text, index, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events = [];
  texts.forEach((text, index) => {
    for (const piece of splitForStream(text)) events.push(chunk(index, piece, null));
    events.push(chunk(index, '', 'stop'));
  });
  if (includeUsage) events.push({ id, object: 'text_completion', created: SIM_CREATED, model, choices: [], usage });
  events.push('[DONE]');
  await writeSse(ctx, res, events, stallMs);
}

function embeddings(ctx, req, res, body) {
  const inputs = Array.isArray(body.input) && !body.input.every((x) => typeof x === 'number')
    ? body.input
    : [body.input];
  const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 ? body.dimensions : DEFAULT_EMBEDDING_DIMS;
  const data = inputs.map((input, index) => {
    const vector = embeddingFor(input, dims);
    const embedding = body.encoding_format === 'base64'
      ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
      : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce((n, x) => n + (typeof x === 'string' ? wordCount(x) : x.length), 0) || 1;
  sendJson(res, 200, {
    object: 'list',
    data,
    model: body.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

const SIM_MODELS = ['gpt-sim', 'text-embedding-sim', 'babbage-sim'];

// ---------------------------------------------------------------------------------------
// Server

async function handle(ctx, req, res, rawBody) {
  const url = new URL(req.url, 'http://sim.invalid');
  const h = req.headers;

  if (ctx.apiKey !== undefined && ctx.apiKey !== null && ctx.apiKey !== '') {
    if (h.authorization !== `Bearer ${ctx.apiKey}`) {
      const got = h.authorization ? 'a wrong API key' : 'no Authorization header';
      sendJson(res, 401, openaiError(
        `Incorrect API key provided (provider-sim expected Bearer ${ctx.apiKey}, got ${got}).`,
        'invalid_request_error', 'invalid_api_key'));
      return;
    }
  }

  const delayMs = Number(h['x-sim-delay-ms'] ?? 0);
  if (delayMs > 0) {
    await sleep(delayMs);
    if (gone(res)) return;
  }

  if (h['x-sim-status']) {
    const status = Number(h['x-sim-status']);
    const extra = status === 429 ? { 'retry-after': '7' } : {};
    if (h['x-sim-body'] !== undefined) {
      const body = String(h['x-sim-body']);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...extra,
      });
      res.end(body);
    } else if (status === 429) {
      sendJson(res, 429, openaiError('Rate limit reached for requests (provider-sim).', 'requests', 'rate_limit_exceeded'), extra);
    } else if (status >= 500) {
      sendJson(res, status, openaiError(`provider-sim injected status ${status}.`, 'server_error', null), extra);
    } else {
      sendJson(res, status, openaiError(`provider-sim injected status ${status}.`, 'invalid_request_error', null), extra);
    }
    return;
  }

  if (h['x-cassette-name']) {
    await replayCassette(ctx, req, res, rawBody, String(h['x-cassette-name']));
    return;
  }

  if (req.method === 'GET' && url.pathname === '/v1/models') {
    sendJson(res, 200, {
      object: 'list',
      data: SIM_MODELS.map((id) => ({ id, object: 'model', created: SIM_CREATED, owned_by: 'provider-sim' })),
    });
    return;
  }

  const handlers = {
    '/v1/chat/completions': chatCompletions,
    '/v1/completions': completions,
    '/v1/embeddings': embeddings,
  };
  const handler = handlers[url.pathname];
  if (!handler) {
    sendJson(res, 404, openaiError(`provider-sim: unknown URL ${req.method} ${url.pathname}`, 'invalid_request_error', 'unknown_url'));
    return;
  }
  if (req.method !== 'POST') {
    sendJson(res, 405, openaiError(`provider-sim: ${url.pathname} accepts POST only`, 'invalid_request_error', 'method_not_allowed'));
    return;
  }
  const parsed = tryParseJson(rawBody);
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    sendJson(res, 400, openaiError('provider-sim: the request body is not a JSON object.', 'invalid_request_error', 'invalid_json'));
    return;
  }
  if (typeof parsed.value.model !== 'string') {
    sendJson(res, 400, openaiError('provider-sim: you must provide a model parameter.', 'invalid_request_error', null, 'model'));
    return;
  }
  const stallMs = Number(h['x-sim-stream-stall-ms'] ?? 0);
  await handler(ctx, req, res, parsed.value, stallMs);
}

/**
 * Starts the simulator on 127.0.0.1.
 * @param {object} [opts]
 * @param {string} [opts.apiKey]        when set, require `Authorization: Bearer <apiKey>`
 * @param {string} [opts.cassettesDir]  where NAME.yaml cassettes live (default: the shared corpus)
 * @param {number} [opts.port=0]        0 picks an ephemeral port
 * @param {string} [opts.host='127.0.0.1']
 * @param {number} [opts.chunkDelayMs=5] delay between streamed writes
 * @returns {Promise<{port:number, url:string, requests:Array<{method:string,path:string,headers:object,body:string}>, close:() => Promise<void>}>}
 */
export async function startProviderSim(opts = {}) {
  const ctx = {
    apiKey: opts.apiKey,
    cassettesDir: opts.cassettesDir ?? DEFAULT_CASSETTES_DIR,
    chunkDelayMs: opts.chunkDelayMs ?? 5,
    requestCount: 0,
  };
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      ctx.requestCount++;
      requests.push({ method: req.method, path: req.url, headers, body: rawBody });
      handle(ctx, req, res, rawBody).catch((err) => {
        if (!res.headersSent) {
          sendJson(res, 500, openaiError(`provider-sim internal error: ${err?.stack ?? err}`, 'server_error'));
        } else {
          res.destroy(err);
        }
      });
    });
    req.on('error', () => {});
    res.on('error', () => {});
    res.on('close', () => { res.simClosed = true; });
  });
  server.on('clientError', (err, socket) => socket.destroy());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address();
  const host = opts.host ?? '127.0.0.1';
  return {
    port,
    url: `http://${host}:${port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

// ---------------------------------------------------------------------------------------
// CLI

function parseArgs(argv) {
  const out = { port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') out.port = Number(next());
    else if (a === '--api-key') out.apiKey = next();
    else if (a === '--cassettes') out.cassettesDir = path.resolve(next());
    else if (a === '--host') out.host = next();
    else if (a === '-h' || a === '--help') out.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('--port must be 0..65535');
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`provider-sim: ${e.message}`);
    process.exit(2);
  }
  if (args.help) {
    console.log('usage: node test/tools/provider_sim.mjs --port N [--api-key K] [--cassettes DIR]');
    process.exit(0);
  }
  const sim = await startProviderSim(args);
  console.log(`provider-sim listening on ${args.host ?? '127.0.0.1'}:${sim.port}`);
  const stop = async () => {
    await sim.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
