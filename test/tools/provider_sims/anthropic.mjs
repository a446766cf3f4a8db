#!/usr/bin/env node
// anthropic.mjs: TEST TOOL. A fake Anthropic Messages API for sluice's end-to-end tests (loopback
// only, never a real provider). Also exports the Anthropic body checks and answer encoders that
// the Bedrock (AWSAnthropic) and Vertex (GCPAnthropic) simulators reuse.
//
//   import { startAnthropicSim } from '../tools/provider_sims/anthropic.mjs';
//   const sim = await startAnthropicSim({ apiKey: 'sk-ant-sim' });
//   // sim.url, sim.requests (see common.mjs), sim.last(kind), await sim.close()
//
// POST /v1/messages (also under a prefix, e.g. /anthropic/v1/messages is NOT served: the sim
// is the provider). Checks: x-api-key equals the configured key (401 authentication_error),
// anthropic-version header present and known (400), a well-formed Messages body: model,
// max_tokens, messages with user/assistant roles, tool_use answered by tool_result blocks
// first in the next user turn with matching ids, no unknown top-level fields (Anthropic
// rejects them). Answers per common.mjs, non-streamed or as the full SSE sequence
// (message_start, ping, content_block_start/delta/stop for thinking, text and tool_use with
// input_json_delta, message_delta with cumulative usage, message_stop). The user text
// "[[stream-error]]" streams a little text and then an `error` event (overloaded_error).
// Image blocks are checked as Anthropic does: source base64 with a media type among
// jpeg/png/gif/webp whose bytes really are that image type, or (Anthropic API only: Claude on
// Vertex AI and on Bedrock take base64 only) source url with an http(s) URL; in user turns
// only. The answer names the images of the last user turn (see common.mjs). "[[cache]]" in
// the user text reports cache_read_input_tokens / cache_creation_input_tokens (in
// message_start and, as the API restates cumulative usage, message_delta).
//
// POST /v1/messages/count_tokens: the same checks on a count body (no max_tokens needed);
// answers {"input_tokens": anthropicTokenCount(body)}.
//
// CLI: node test/tools/provider_sims/anthropic.mjs [--port N] [--api-key K]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  blocksText, checkInlineImage, errorTrigger, isObject, makeAnswer, sendJson, shortHash, splitN, splitWords,
  startRecordingServer, wordCount, writeSse,
} from './common.mjs';

// Versions the real API documents; a newer SDK may send a newer dated version (the 1.x
// TypeScript SDK sends 2026-10-21), so any YYYY-MM-DD from 2023-01-01 on is taken as known.
export const ANTHROPIC_VERSIONS = new Set(['2023-06-01', '2023-01-01']);
const isKnownVersion = (v) => ANTHROPIC_VERSIONS.has(v) || (/^\d{4}-\d{2}-\d{2}$/.test(String(v)) && v >= '2023-01-01');
const TOP_LEVEL_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'metadata', 'stop_sequences', 'stream', 'temperature',
  'top_k', 'top_p', 'tools', 'tool_choice', 'thinking', 'service_tier', 'container', 'mcp_servers',
  'context_management',
]);
const BLOCK_TYPES = new Set(['text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking']);
const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/**
 * Checks an image block; returns {bytes, mediaType} or {url} (for the answer), or null.
 * Claude on Vertex AI and on Bedrock (flavor vertex / bedrock) accept base64 sources only.
 */
function checkImageBlock(b, where, flavor, problems) {
  for (const k of Object.keys(b)) if (!['type', 'source', 'cache_control'].includes(k)) problems.push(`${where}.${k}: Extra inputs are not permitted`);
  const src = b.source;
  if (!isObject(src)) {
    problems.push(`${where}.source: Field required`);
    return null;
  }
  if (src.type === 'base64') {
    for (const k of Object.keys(src)) if (!['type', 'media_type', 'data'].includes(k)) problems.push(`${where}.source.base64.${k}: Extra inputs are not permitted`);
    if (!IMAGE_MEDIA_TYPES.has(src.media_type)) {
      problems.push(`${where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
      return null;
    }
    const bytes = checkInlineImage(src.data, src.media_type, `${where}.source.base64.data`, problems);
    return bytes ? { bytes, mediaType: src.media_type } : null;
  }
  if (src.type === 'url') {
    if (flavor !== 'anthropic') {
      problems.push(`${where}.source.type: Input should be 'base64' (URL image sources are not supported on ${flavor})`);
      return null;
    }
    for (const k of Object.keys(src)) if (!['type', 'url'].includes(k)) problems.push(`${where}.source.url.${k}: Extra inputs are not permitted`);
    if (typeof src.url !== 'string' || !/^https?:\/\/[^/\s]+/.test(src.url)) {
      problems.push(`${where}.source.url.url: an http(s) URL is required`);
      return null;
    }
    return { url: src.url };
  }
  problems.push(`${where}.source.type: unknown source type ${JSON.stringify(src.type)}`);
  return null;
}

/**
 * Checks an Anthropic Messages body; pushes what is wrong onto `problems`; returns the
 * normalised conversation for makeAnswer() plus {system, toolChoice}.
 * @param {object} body
 * @param {string[]} problems
 * @param {object} o
 * @param {'anthropic'|'bedrock'|'vertex'} [o.flavor='anthropic']
 * @param {string} [o.anthropicVersion]  required body anthropic_version (bedrock / vertex)
 * @param {boolean} [o.streamEndpoint]   vertex streamRawPredict: stream must be true
 */
export function checkAnthropicBody(body, problems, { flavor = 'anthropic', anthropicVersion, streamEndpoint } = {}) {
  const conv = { lastUserText: '', toolResults: [], toolNames: [], inputTokens: 0, thinking: false, system: '' };
  if (!isObject(body)) {
    problems.push('body is not a JSON object');
    return conv;
  }
  const allowed = new Set(TOP_LEVEL_FIELDS);
  if (flavor !== 'anthropic') {
    allowed.add('anthropic_version');
    allowed.delete('model');
    if (flavor === 'bedrock') {
      allowed.add('anthropic_beta');
      allowed.delete('stream');
    }
  }
  for (const k of Object.keys(body)) if (!allowed.has(k)) problems.push(`${k}: Extra inputs are not permitted`);
  if (flavor === 'anthropic') {
    if (typeof body.model !== 'string' || body.model === '') problems.push('model: field required');
  } else {
    if (body.anthropic_version !== anthropicVersion) {
      problems.push(`anthropic_version: expected ${JSON.stringify(anthropicVersion)}, got ${JSON.stringify(body.anthropic_version)}`);
    }
  }
  if (flavor === 'vertex' && streamEndpoint !== undefined) {
    if (streamEndpoint && body.stream !== true) problems.push('streamRawPredict needs "stream": true in the body');
    if (!streamEndpoint && body.stream === true) problems.push('rawPredict with "stream": true');
  }
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) problems.push('max_tokens: a positive integer is required');
  if (body.system !== undefined) {
    if (typeof body.system === 'string') conv.system = body.system;
    else if (Array.isArray(body.system) && body.system.every((b) => b?.type === 'text' && typeof b.text === 'string')) {
      conv.system = body.system.map((b) => b.text).join('\n');
    } else problems.push('system: must be a string or a list of text blocks');
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') problems.push('stream: must be a boolean');
  if (body.thinking !== undefined) {
    if (body.thinking?.type === 'enabled') {
      if (!Number.isInteger(body.thinking.budget_tokens) || body.thinking.budget_tokens < 1024) {
        problems.push('thinking.budget_tokens: must be an integer >= 1024');
      } else if (Number.isInteger(body.max_tokens) && body.thinking.budget_tokens >= body.max_tokens) {
        problems.push('thinking.budget_tokens: must be less than max_tokens');
      }
      conv.thinking = true;
    } else if (body.thinking?.type !== 'disabled') problems.push(`thinking.type: unknown ${JSON.stringify(body.thinking?.type)}`);
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) problems.push('tools: must be a list');
    else {
      body.tools.forEach((t, i) => {
        if (!isObject(t) || typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) {
          problems.push(`tools.${i}.name: invalid`);
          return;
        }
        if (t.type !== undefined && t.type !== 'custom') problems.push(`tools.${i}.type: unexpected ${t.type}`);
        if (!isObject(t.input_schema) || t.input_schema.type !== 'object') problems.push(`tools.${i}.input_schema: an object schema is required`);
        for (const k of Object.keys(t)) {
          if (!['name', 'description', 'input_schema', 'type', 'cache_control'].includes(k)) problems.push(`tools.${i}.${k}: Extra inputs are not permitted`);
        }
        conv.toolNames.push(t.name);
      });
    }
  }
  if (body.tool_choice !== undefined) {
    const tc = body.tool_choice;
    if (!isObject(tc) || !['auto', 'any', 'tool', 'none'].includes(tc.type)) problems.push('tool_choice: invalid');
    else if (tc.type === 'tool' && !conv.toolNames.includes(tc.name)) problems.push('tool_choice.name: not one of the tools');
    if (tc?.type === 'none') conv.noToolCall = true;
    if (tc?.type === 'tool') conv.toolNames = [tc.name, ...conv.toolNames.filter((n) => n !== tc.name)];
    if (body.tools === undefined) problems.push('tool_choice may only be specified while providing tools');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    problems.push('messages: at least one message is required');
    return conv;
  }
  let pendingToolUses = null; // ids the previous assistant turn asked for
  let words = wordCount(conv.system);
  body.messages.forEach((m, i) => {
    const where = `messages.${i}`;
    if (!isObject(m) || !['user', 'assistant'].includes(m.role)) {
      problems.push(`${where}.role: must be user or assistant`);
      return;
    }
    for (const k of Object.keys(m)) if (!['role', 'content'].includes(k)) problems.push(`${where}.${k}: Extra inputs are not permitted`);
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    if (!Array.isArray(blocks) || (typeof m.content !== 'string' && blocks.length === 0 && i !== body.messages.length - 1)) {
      problems.push(`${where}.content: must be a string or a non-empty list of blocks`);
      return;
    }
    const toolUses = [];
    const toolResults = [];
    const images = [];
    let seenNonResult = false;
    blocks.forEach((b, j) => {
      const bw = `${where}.content.${j}`;
      if (!isObject(b) || !BLOCK_TYPES.has(b.type)) {
        problems.push(`${bw}.type: unknown block ${JSON.stringify(b?.type)}`);
        return;
      }
      if (b.type === 'text') {
        if (typeof b.text !== 'string') problems.push(`${bw}.text: required`);
        else if (b.text.length === 0) problems.push(`${bw}.text: text content blocks must be non-empty`);
        words += wordCount(b.text);
      } else if (b.type === 'tool_use') {
        if (m.role !== 'assistant') problems.push(`${bw}: tool_use blocks belong to assistant turns`);
        if (typeof b.id !== 'string' || !/^[a-zA-Z0-9_-]+$/.test(b.id)) problems.push(`${bw}.id: invalid ${JSON.stringify(b.id)}`);
        if (typeof b.name !== 'string') problems.push(`${bw}.name: required`);
        if (!isObject(b.input)) problems.push(`${bw}.input: must be an object, got ${JSON.stringify(b.input)}`);
        toolUses.push(b.id);
      } else if (b.type === 'image') {
        if (m.role !== 'user') problems.push(`${bw}: image blocks belong to user turns`);
        const im = checkImageBlock(b, bw, flavor, problems);
        if (im) images.push(im);
      } else if (b.type === 'tool_result') {
        if (m.role !== 'user') problems.push(`${bw}: tool_result blocks belong to user turns`);
        if (seenNonResult) problems.push(`${bw}: tool_result blocks must come first in the user turn`);
        if (typeof b.tool_use_id !== 'string') problems.push(`${bw}.tool_use_id: required`);
        const text = typeof b.content === 'string' ? b.content : blocksText(b.content);
        if (b.content !== undefined && typeof b.content !== 'string' && !Array.isArray(b.content)) problems.push(`${bw}.content: must be a string or blocks`);
        toolResults.push({ id: b.tool_use_id, text });
        words += wordCount(text);
      } else if (b.type === 'thinking') {
        if (m.role !== 'assistant') problems.push(`${bw}: thinking blocks belong to assistant turns`);
        if (typeof b.thinking !== 'string' || typeof b.signature !== 'string') problems.push(`${bw}: thinking and signature are required`);
      }
      if (b.type !== 'tool_result') seenNonResult = true;
    });
    if (pendingToolUses) {
      const answered = toolResults.map((r) => r.id);
      const missing = pendingToolUses.filter((id) => !answered.includes(id));
      if (m.role !== 'user' || missing.length > 0) {
        problems.push(`${where}: tool_use ids were found without tool_result blocks immediately after: ${missing.join(', ')}`);
      }
    }
    for (const r of toolResults) {
      if (!pendingToolUses || !pendingToolUses.includes(r.id)) {
        problems.push(`${where}: unexpected tool_use_id found in tool_result blocks: ${r.id}`);
      }
    }
    pendingToolUses = toolUses.length > 0 ? toolUses : null;
    if (i === body.messages.length - 1) {
      if (m.role === 'user') {
        conv.lastUserText = blocks.filter((b) => b?.type === 'text').map((b) => b.text).join(' ');
        conv.toolResults = toolResults.map((r) => r.text);
        conv.toolResultIds = toolResults.map((r) => r.id);
        conv.images = images;
      } else problems.push('the last message must be a user message (prefill is not simulated)');
    }
  });
  if (conv.toolNames.length === 0 && body.messages.some((m) => Array.isArray(m?.content) && m.content.some((b) => b?.type === 'tool_use'))) {
    // Anthropic accepts tool history without tools; nothing to check.
  }
  conv.inputTokens = words;
  return conv;
}

function contentBlocks(answer) {
  const out = [];
  if (answer.thinking) out.push({ type: 'thinking', thinking: answer.thinking, signature: `sig-sim-${shortHash(answer.thinking)}` });
  if (answer.text) out.push({ type: 'text', text: answer.text });
  for (const c of answer.toolCalls) out.push({ type: 'tool_use', id: c.id, name: c.name, input: c.input });
  return out;
}

/** A non-streamed Messages response for `answer`. */
export function anthropicMessage(answer, { id, model }) {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: contentBlocks(answer),
    stop_reason: answer.stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: answer.usage.input,
      cache_creation_input_tokens: answer.usage.cacheWrite ?? 0,
      cache_read_input_tokens: answer.usage.cacheRead ?? 0,
      output_tokens: answer.usage.output,
    },
  };
}

/**
 * The SSE events ({event, data}) of a streamed Messages response for `answer`.
 * @param {object} [o.streamError]  stop after a few text deltas with this error event
 */
export function anthropicStreamEvents(answer, { id, model, streamError = null }) {
  const ev = (type, data) => ({ event: type, data: { type, ...data } });
  const events = [
    ev('message_start', {
      message: {
        id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
        usage: {
          input_tokens: answer.usage.input, cache_creation_input_tokens: answer.usage.cacheWrite ?? 0,
          cache_read_input_tokens: answer.usage.cacheRead ?? 0, output_tokens: 1,
        },
      },
    }),
    ev('ping', {}),
  ];
  let index = 0;
  if (answer.thinking) {
    events.push(ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
    for (const piece of splitWords(answer.thinking)) events.push(ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: piece } }));
    events.push(ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: `sig-sim-${shortHash(answer.thinking)}` } }));
    events.push(ev('content_block_stop', { index }));
    index++;
  }
  if (answer.text) {
    events.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
    const pieces = splitWords(answer.text);
    for (let i = 0; i < pieces.length; i++) {
      if (streamError && i === 2) {
        events.push({ event: 'error', data: { type: 'error', error: streamError } });
        return events;
      }
      events.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: pieces[i] } }));
    }
    events.push(ev('content_block_stop', { index }));
    index++;
  }
  for (const c of answer.toolCalls) {
    events.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: c.id, name: c.name, input: {} } }));
    events.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } }));
    for (const piece of splitN(JSON.stringify(c.input), 4)) {
      events.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }));
    }
    events.push(ev('content_block_stop', { index }));
    index++;
  }
  // The API restates the cumulative usage in message_delta (output_tokens, and the input
  // counts too in current versions); the input counts are sent here when caching is in play.
  const cached = (answer.usage.cacheRead ?? 0) + (answer.usage.cacheWrite ?? 0) > 0;
  const deltaUsage = cached
    ? { input_tokens: answer.usage.input, cache_creation_input_tokens: answer.usage.cacheWrite, cache_read_input_tokens: answer.usage.cacheRead, output_tokens: answer.usage.output }
    : { output_tokens: answer.usage.output };
  events.push(ev('message_delta', { delta: { stop_reason: answer.stopReason, stop_sequence: null }, usage: deltaUsage }));
  events.push(ev('message_stop', {}));
  return events;
}

const ERROR_TYPES = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error',
};

/** {status, body, headers} of an Anthropic error answer. */
/**
 * The sim's token count for an Anthropic-shaped body: the words of the system prompt and of
 * every text and tool_result block (what each count-tokens endpoint of the sims answers).
 */
export function anthropicTokenCount(body) {
  const text = (content) => {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) return '';
    return content.map((b) => (b?.type === 'tool_result' ? text(b.content) : b?.type === 'text' ? b.text : '')).join(' ');
  };
  let n = wordCount(text(body?.system));
  for (const m of body?.messages ?? []) n += wordCount(text(m?.content));
  // Tool definitions count too (a counter that drops them under-counts every agent's prompt).
  for (const t of body?.tools ?? []) n += wordCount(`${t?.name ?? ''} ${t?.description ?? ''}`);
  return n;
}

/**
 * Checks a count_tokens body (Anthropic's, Vertex's count-tokens:rawPredict, or the decoded
 * body of Bedrock's CountTokens invokeModel) and returns the count, or null after pushing
 * what is wrong onto `problems`.
 * @param {'anthropic'|'vertex'|'bedrock'} flavor
 */
export function checkCountTokensBody(body, problems, { flavor = 'anthropic', anthropicVersion } = {}) {
  if (!isObject(body)) {
    problems.push('body is not a JSON object');
    return null;
  }
  const allowed = new Set([...TOP_LEVEL_FIELDS].filter((k) => !['stream', 'stop_sequences', 'temperature', 'top_k', 'top_p'].includes(k)));
  if (flavor !== 'anthropic') allowed.add('anthropic_version');
  if (flavor === 'bedrock') {
    allowed.add('anthropic_beta');
    allowed.delete('model');
  } else {
    allowed.delete('max_tokens');  // count_tokens takes none
  }
  for (const k of Object.keys(body)) if (!allowed.has(k)) problems.push(`${k}: Extra inputs are not permitted`);
  if (flavor !== 'bedrock' && (typeof body.model !== 'string' || body.model === '')) problems.push('model: field required');
  if (flavor !== 'anthropic' && body.anthropic_version !== anthropicVersion) {
    problems.push(`anthropic_version: expected ${JSON.stringify(anthropicVersion)}, got ${JSON.stringify(body.anthropic_version)}`);
  }
  if (flavor === 'bedrock' && (!Number.isInteger(body.max_tokens) || body.max_tokens < 1)) {
    problems.push('max_tokens: InvokeModel needs a positive integer');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) problems.push('messages: at least one message is required');
  for (const [i, m] of (body.messages ?? []).entries()) {
    if (!['user', 'assistant'].includes(m?.role)) problems.push(`messages.${i}.role: must be user or assistant`);
  }
  return problems.length > 0 ? null : anthropicTokenCount(body);
}

export function anthropicError(status, message, requestId = 'req_sim_error') {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  const headers = { 'request-id': requestId };
  if (status === 429) headers['retry-after'] = '7';
  const msg = message ?? (status === 429 ? 'Number of request tokens has exceeded your per-minute rate limit (anthropic-sim)'
    : status === 529 ? 'Overloaded' : `anthropic-sim injected status ${status}`);
  return { status, headers, body: { type: 'error', error: { type, message: msg }, request_id: requestId } };
}

export function sendAnthropicError(res, status, message, requestId) {
  const e = anthropicError(status, message, requestId);
  sendJson(res, e.status, e.body, e.headers);
}

/**
 * Answers one Messages-shaped request (shared with the Vertex and Bedrock sims).
 * Returns false (after answering an error) when the body is not acceptable.
 */
export async function answerAnthropic(rec, res, {
  flavor, anthropicVersion, stream, streamEndpoint, model, chunkDelayMs = 2, writeStream, sendError,
}) {
  const conv = checkAnthropicBody(rec.json, rec.problems, { flavor, anthropicVersion, streamEndpoint });
  rec.conv = conv;
  const requestId = `req_sim_${shortHash(rec.body)}`;
  const fail = sendError ?? ((status, message) => sendAnthropicError(res, status, message, requestId));
  if (rec.json === undefined) rec.problems.push('body is not JSON');
  if (rec.problems.length > 0) {
    rec.answer = { error: 400 };
    fail(400, rec.problems.join('; '));
    return false;
  }
  const status = errorTrigger(conv.lastUserText);
  if (status) {
    rec.answer = { error: status };
    fail(status, undefined);
    return false;
  }
  const answer = makeAnswer(conv, 'toolu_', rec.body, { usageDetail: { cacheWrite: true } });
  rec.answer = answer;
  const id = `msg_sim_${shortHash(rec.body)}`;
  const streamError = /\[\[stream-error\]\]/.test(conv.lastUserText) ? { type: 'overloaded_error', message: 'Overloaded' } : null;
  if (streamError) rec.answer.streamError = streamError;
  if (!stream) {
    sendJson(res, 200, anthropicMessage(answer, { id, model }), { 'request-id': requestId });
    return true;
  }
  const events = anthropicStreamEvents(answer, { id, model, streamError });
  if (writeStream) await writeStream(events);
  else await writeSse(res, events, { delayMs: chunkDelayMs, headers: { 'request-id': requestId } });
  return true;
}

/**
 * Starts the simulator.
 * @param {object} [o]
 * @param {string} [o.apiKey='sk-ant-sim']  the x-api-key it requires
 * @param {number} [o.chunkDelayMs=2]
 */
export async function startAnthropicSim({ apiKey = 'sk-ant-sim', chunkDelayMs = 2, port = 0 } = {}) {
  return startRecordingServer('anthropic-sim', async (rec, req, res) => {
    const p = rec.url.pathname;
    if (p === '/v1/messages/count_tokens' && rec.method === 'POST') {
      rec.kind = 'count_tokens';
      if (rec.headers['x-api-key'] !== apiKey) {
        rec.problems.push('wrong or no x-api-key');
        sendAnthropicError(res, 401, 'invalid x-api-key');
        return;
      }
      if (!isKnownVersion(rec.headers['anthropic-version'])) rec.problems.push('no or unknown anthropic-version header');
      const n = checkCountTokensBody(rec.json, rec.problems, { flavor: 'anthropic' });
      if (n === null || rec.problems.length > 0) {
        sendAnthropicError(res, 400, rec.problems.join('; '));
        return;
      }
      rec.answer = { usage: { input: n } };
      sendJson(res, 200, { input_tokens: n });
      return;
    }
    if (p !== '/v1/messages' || rec.method !== 'POST') {
      rec.kind = 'unknown';
      sendAnthropicError(res, 404, `anthropic-sim: unknown URL ${rec.method} ${p}`);
      return;
    }
    rec.kind = rec.json?.stream === true ? 'messages-stream' : 'messages';
    if (rec.headers['x-api-key'] !== apiKey) {
      rec.problems.push(rec.headers['x-api-key'] ? 'wrong x-api-key' : 'no x-api-key header');
      rec.answer = { error: 401 };
      sendAnthropicError(res, 401, 'invalid x-api-key');
      return;
    }
    const version = rec.headers['anthropic-version'];
    if (!isKnownVersion(version)) {
      rec.problems.push(version ? `unknown anthropic-version ${version}` : 'no anthropic-version header');
      rec.answer = { error: 400 };
      sendAnthropicError(res, 400, version ? `anthropic-version: unknown version ${version}` : 'anthropic-version: header is required');
      return;
    }
    if (!String(rec.headers['content-type'] ?? '').startsWith('application/json')) {
      rec.problems.push(`content-type ${rec.headers['content-type']}`);
    }
    await answerAnthropic(rec, res, {
      flavor: 'anthropic', stream: rec.json?.stream === true, model: rec.json?.model, chunkDelayMs,
    });
  }, { port });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const sim = await startAnthropicSim({ apiKey: opt('--api-key', 'sk-ant-sim'), port: Number(opt('--port', 0)) });
  console.log(`anthropic-sim listening on 127.0.0.1:${sim.port}`);
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
