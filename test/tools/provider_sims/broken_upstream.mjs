// broken_upstream.mjs: TEST TOOL. One loopback server that speaks every provider dialect sluice
// sends to (Bedrock Converse / ConverseStream, Anthropic Messages, OpenAI chat completions,
// Vertex Gemini generateContent / streamGenerateContent?alt=sse, and a Google OAuth2 token
// endpoint for the Vertex key file's token_uri) and breaks its answer on purpose. Nothing here
// checks signatures or bodies: the tests that use it are about what the gateway does with a
// malformed or truncated answer, and only assert the request's routing headers.
//
// The fault comes from the request: "[[broken:NAME]]" anywhere in the body (the client's user
// text is carried in every dialect) picks it; without one the answer is sound. Faults:
//   message-crc   event stream: the faulty message's message CRC is wrong (the rest follows, sound)
//   prelude-crc   event stream: the faulty message's prelude CRC is wrong (the rest follows, sound)
//   cut           stream: the connection is closed in the middle of the faulty message / event
//   bad-json      SSE: the faulty event's data is not JSON (the rest follows, sound)
//   garbage       not streamed: 200, content-type application/json, a body that is not JSON
//   short-body    not streamed: content-length promises more than is sent, then the
//                 connection is closed
// A broken stream's text comes in three pieces: BEFORE_BREAK, then AFTER_BREAK in the faulty
// message / event, then more. That is the 3rd event-stream message of ConverseStream (after
// messageStart), the 3rd SSE event of OpenAI and Gemini, the 4th of Anthropic (after
// message_start and content_block_start). BEFORE_BREAK is written, then a pause, so the
// gateway has relayed it before the fault; AFTER_BREAK must never reach a client. A sound
// answer's text is SOUND_TEXT.
//
// Each request is recorded (common.mjs startRecordingServer) with kind ('bedrock:converse',
// 'bedrock:converse-stream', 'anthropic:messages', 'openai:chat', 'gemini:generate',
// 'gemini:stream', 'token', 'unknown'), stream (boolean) and fault (the name or null).
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeEventStreamMessage } from './bedrock.mjs';
import { gone, sendJson, sleep, startRecordingServer } from './common.mjs';

export const BEFORE_BREAK = 'Delivered before the break. ';
export const AFTER_BREAK = 'NEVER-DELIVERED-AFTER-THE-BREAK';
export const SOUND_TEXT = 'Sound answer from the broken upstream.';
/** The access token the token endpoint issues (model calls are not refused without it). */
export const BROKEN_ACCESS_TOKEN = 'ya29.broken-upstream-access-token';

const FAULT_RE = /\[\[broken:([a-z-]+)\]\]/;
// The pause before a fault, so that what came before it has been relayed to the client.
const PAUSE_MS = 60;

// ---------------------------------------------------------------------------------------
// Answers, per dialect, as lists of frames / events carrying the given text pieces.

function bedrockFrame(eventType, payload) {
  return encodeEventStreamMessage(
    [[':event-type', eventType], [':content-type', 'application/json'], [':message-type', 'event']],
    JSON.stringify(payload),
  );
}

function bedrockFrames(pieces) {
  return [
    bedrockFrame('messageStart', { role: 'assistant' }),
    ...pieces.map((text) => bedrockFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } })),
    bedrockFrame('contentBlockStop', { contentBlockIndex: 0 }),
    bedrockFrame('messageStop', { stopReason: 'end_turn' }),
    bedrockFrame('metadata', { usage: { inputTokens: 5, outputTokens: 7, totalTokens: 12 }, metrics: { latencyMs: 9 } }),
  ];
}

function anthropicEvents(pieces) {
  const ev = (type, data) => ({ event: type, data: JSON.stringify({ type, ...data }) });
  return [
    ev('message_start', {
      message: {
        id: 'msg_broken', type: 'message', role: 'assistant', model: 'claude-broken', content: [],
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 },
      },
    }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...pieces.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } }),
    ev('message_stop', {}),
  ];
}

// In OpenAI's stream the 1st event is the role and the first text comes 2nd, so the role
// chunk carries no text and BEFORE_BREAK is the 2nd event, AFTER_BREAK the 3rd.
function openaiEvents(pieces) {
  const chunk = (delta, finish = null, extra = {}) => ({
    data: JSON.stringify({
      id: 'chatcmpl-broken', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-broken',
      choices: [{ index: 0, delta, finish_reason: finish }], ...extra,
    }),
  });
  return [
    chunk({ role: 'assistant', content: '' }),
    ...pieces.map((content) => chunk({ content })),
    chunk({}, 'stop'),
    { data: '[DONE]' },
  ];
}

// Gemini has no start event: a role-only first chunk keeps the fault on the 3rd event.
function geminiEvents(pieces) {
  const chunk = (parts, finishReason) => ({
    data: JSON.stringify({
      candidates: [{ content: { role: 'model', parts }, index: 0, ...(finishReason ? { finishReason } : {}) }],
      ...(finishReason ? { usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 7, totalTokenCount: 12 } } : {}),
      modelVersion: 'gemini-broken',
    }),
  });
  return [
    chunk([{ text: '' }]),
    ...pieces.map((text) => chunk([{ text }])),
    chunk([{ text: '' }], 'STOP'),
  ];
}

const sseText = (e) => `${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`;

const STREAM_PIECES = [BEFORE_BREAK, AFTER_BREAK, ' and more.'];

// Non-streamed sound bodies.
function soundJson(kind) {
  if (kind === 'bedrock:converse') {
    return {
      output: { message: { role: 'assistant', content: [{ text: SOUND_TEXT }] } },
      stopReason: 'end_turn', usage: { inputTokens: 5, outputTokens: 6, totalTokens: 11 }, metrics: { latencyMs: 9 },
    };
  }
  if (kind === 'anthropic:messages') {
    return {
      id: 'msg_sound', type: 'message', role: 'assistant', model: 'claude-broken', content: [{ type: 'text', text: SOUND_TEXT }],
      stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 6 },
    };
  }
  if (kind === 'gemini:generate') {
    return {
      candidates: [{ content: { role: 'model', parts: [{ text: SOUND_TEXT }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 6, totalTokenCount: 11 }, modelVersion: 'gemini-broken',
    };
  }
  return {
    id: 'chatcmpl-sound', object: 'chat.completion', created: 1700000000, model: 'gpt-broken',
    choices: [{ index: 0, message: { role: 'assistant', content: SOUND_TEXT }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 },
  };
}

// ---------------------------------------------------------------------------------------
// Writers

/** Closes the connection at once, mid-body (no last chunk, no clean end). */
function cut(res) {
  res.simClosed = true;
  res.socket?.destroy();
}

/** Writes a stream of byte pieces; applies `fault` to the piece that carries AFTER_BREAK. */
async function writeStream(res, contentType, pieces, fault) {
  res.writeHead(200, { 'content-type': contentType, 'x-amzn-requestid': crypto.randomUUID() });
  const faultAt = pieces.findIndex((p) => p.includes(AFTER_BREAK));
  for (const [i, piece] of pieces.entries()) {
    if (gone(res)) return;
    if (i === faultAt && fault) {
      await sleep(PAUSE_MS);
      if (fault === 'cut') {
        res.write(piece.subarray(0, Math.floor(piece.length / 2)));
        await sleep(PAUSE_MS);
        cut(res);
        return;
      }
      res.write(fault(piece));
    } else res.write(piece);
    await sleep(2);
  }
  res.end();
}

function corruptAt(buf, offset) {
  const out = Buffer.from(buf);
  out.writeUInt32BE((out.readUInt32BE(offset) ^ 0x5a5a5a5a) >>> 0, offset);
  return out;
}

const EVENT_STREAM_FAULTS = {
  'message-crc': (f) => corruptAt(f, f.length - 4),
  'prelude-crc': (f) => corruptAt(f, 8),
  cut: 'cut',
};
const SSE_FAULTS = {
  // The event keeps its framing; its data is cut short of valid JSON.
  'bad-json': (b) => Buffer.from(b.toString('utf8').replace(/(data: .{20}).*\n\n$/s, '$1 not json at all\n\n')),
  cut: 'cut',
};

async function answer(rec, res) {
  const fault = rec.fault;
  if (!rec.stream) {
    const body = JSON.stringify(soundJson(rec.kind));
    if (fault === 'garbage') {
      const junk = '<html><body>502 Bad Gateway: upstream proxy hiccup</body></html>';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(junk) });
      res.end(junk);
      return;
    }
    if (fault === 'short-body') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.write(body.slice(0, Math.floor(body.length / 2)));
      await sleep(PAUSE_MS);
      cut(res);
      return;
    }
    sendJson(res, 200, body);
    return;
  }
  const pieces = fault ? STREAM_PIECES : [SOUND_TEXT];
  if (rec.kind === 'bedrock:converse-stream') {
    const f = fault ? EVENT_STREAM_FAULTS[fault] : null;
    if (fault && !f) throw new Error(`fault ${fault} does not apply to an event stream`);
    await writeStream(res, 'application/vnd.amazon.eventstream', bedrockFrames(pieces), f);
    return;
  }
  const events = { 'anthropic:messages': anthropicEvents, 'openai:chat': openaiEvents, 'gemini:stream': geminiEvents }[rec.kind];
  if (!events) throw new Error(`no stream for kind ${rec.kind}`);
  const f = fault ? SSE_FAULTS[fault] : null;
  if (fault && !f) throw new Error(`fault ${fault} does not apply to an SSE stream`);
  await writeStream(res, 'text/event-stream', events(pieces).map((e) => Buffer.from(sseText(e))), f);
}

// ---------------------------------------------------------------------------------------
// Server

function classify(rec) {
  const p = rec.url.pathname;
  let m;
  if (p === '/token') return ['token', false];
  if ((m = /^\/model\/[^/]+\/(converse|converse-stream)$/.exec(p))) return [`bedrock:${m[1]}`, m[1] === 'converse-stream'];
  if (p === '/v1/messages') return ['anthropic:messages', rec.json?.stream === true];
  if (p === '/v1/chat/completions' || p === '/chat/completions') return ['openai:chat', rec.json?.stream === true];
  if ((m = /:(generateContent|streamGenerateContent)$/.exec(p))) {
    return m[1] === 'generateContent' ? ['gemini:generate', false] : ['gemini:stream', true];
  }
  return ['unknown', false];
}

/**
 * Starts the broken upstream on 127.0.0.1 (port 0 by default).
 * @returns {Promise<{port, url, requests, last, close}>}
 */
export async function startBrokenUpstream({ port = 0 } = {}) {
  return startRecordingServer('broken-upstream', async (rec, req, res) => {
    [rec.kind, rec.stream] = classify(rec);
    rec.fault = FAULT_RE.exec(rec.body)?.[1] ?? null;
    if (rec.kind === 'token') {
      // A Google OAuth2 token answer; the JWT assertion is not checked here (vertex.mjs does).
      sendJson(res, 200, { access_token: BROKEN_ACCESS_TOKEN, expires_in: 3600, token_type: 'Bearer' });
      return;
    }
    if (rec.kind === 'unknown') {
      rec.problems.push(`unexpected ${rec.method} ${rec.path}`);
      sendJson(res, 404, { message: `broken-upstream: no route for ${rec.path}` });
      return;
    }
    await answer(rec, res);
  }, { port });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const sim = await startBrokenUpstream({ port: i > 0 ? Number(process.argv[i + 1]) : 0 });
  console.log(`broken-upstream listening on 127.0.0.1:${sim.port}`);
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
