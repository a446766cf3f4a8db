// common.mjs: TEST TOOL. Shared pieces of the provider simulators in this folder (a recording
// loopback HTTP server, deterministic answers, small helpers). Nothing here talks to a real
// provider.
//
// Every simulator records each request it receives as
//   { method, path, url (URL), headers (lower-case names, joined values), body (utf8 string),
//     raw (Buffer), json (parsed body or undefined), kind (what the sim took it for),
//     problems: [strings the sim rejected it for], answer (what it replied, see below),
//     ...simulator-specific fields (signatureValid, token, ...) }
// and answers deterministically from the request:
//   - the reply text is "You said: <last user text>";
//   - when the last turn carries tool results, "Tool said: <result 1> | <result 2> ...";
//   - when tools are offered (and the last turn is not a tool result) a call to the first
//     tool with fixed arguments; when the user text contains "parallel", two calls;
//   - the user text "[[error:NNN]]" makes the sim answer status NNN with the provider's error
//     shape (429 adds retry-after where the provider sends one).
//   - images in the last user turn (conv.images, filled by each sim from its provider's own
//     image shape) add " [N image(s) <digest>]" to the reply text, the digest being
//     imageDigest() of what arrived: the decoded bytes of inline images, the URL of others;
//   - the user text "[[cache]]", for a sim that opts in (makeAnswer's usageDetail), adds
//     cached input tokens (CACHE_READ_TOKENS read, CACHE_WRITE_TOKENS written) and, where the
//     provider reports them, REASONING_TOKENS reasoning tokens to the usage.
// `answer` is { text, toolCalls: [{ id, name, input (object) }], thinking, stopReason,
// usage: { input, output, cacheRead, cacheWrite, reasoning }, images } or { error: status }.
// usage.input counts the uncached input only; the prompt is input + cacheRead + cacheWrite;
// usage.output counts every generated token, reasoning included.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());
/** True once the peer went away: stop writing. */
export const gone = (res) => res.destroyed || res.simClosed === true;

/** Fixed tool arguments of the first and the second parallel call. */
export const TOOL_ARGS = [
  { city: 'Paris', unit: 'celsius' },
  { city: 'Tokyo', unit: 'celsius', note: 'second call' },
];
export const THINKING_TEXT = 'The user wants an echo; I will echo.';

export function wordCount(text) {
  return String(text ?? '').trim().split(/\s+/).filter(Boolean).length;
}

/** Splits text into several pieces (words with their trailing spaces) for streaming. */
export function splitWords(text) {
  const pieces = String(text).match(/\S+\s*|\s+/g) ?? [];
  return pieces.length > 0 ? pieces : [''];
}

/** Splits a string into n roughly equal pieces (n >= 1), none empty unless s is empty. */
export function splitN(s, n) {
  if (s.length === 0) return [''];
  const size = Math.max(1, Math.ceil(s.length / n));
  const out = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** Finds "[[error:NNN]]" in text; returns the status or 0. */
export function errorTrigger(text) {
  const m = /\[\[error:(\d{3})\]\]/.exec(String(text ?? ''));
  return m ? Number(m[1]) : 0;
}

// Token counts the sims report for "[[cache]]" (distinct, so a swapped mapping shows).
export const CACHE_READ_TOKENS = 1536;
export const CACHE_WRITE_TOKENS = 384;
export const REASONING_TOKENS = 96;

/** True when the text asks the sim for cached-token usage ("[[cache]]"). */
export function cacheTrigger(text) {
  return /\[\[cache\]\]/.test(String(text ?? ''));
}

const IMAGE_MAGIC = [
  ['image/png', (b) => b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))],
  ['image/jpeg', (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ['image/gif', (b) => b.length >= 6 && /^GIF8[79]a$/.test(b.subarray(0, 6).toString('latin1'))],
  ['image/webp', (b) => b.length >= 12 && b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP'],
];

/** The media type the bytes' magic number says (image/png, image/jpeg, ...), or null. */
export function sniffImageType(bytes) {
  for (const [type, test] of IMAGE_MAGIC) if (test(bytes)) return type;
  return null;
}

/**
 * Decodes strict base64 (standard alphabet, padded, nothing else: what the providers accept);
 * returns the bytes or null.
 */
export function decodeStrictBase64(s) {
  if (typeof s !== 'string' || s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64') === s ? bytes : null;
}

/**
 * Checks inline image bytes as a provider does (base64, the bytes are an image of the stated
 * type). Pushes problems; returns the bytes or null.
 */
export function checkInlineImage(data, mediaType, where, problems) {
  const bytes = decodeStrictBase64(data);
  if (!bytes) {
    problems.push(`${where}: the image data is not valid base64`);
    return null;
  }
  const sniffed = sniffImageType(bytes);
  if (!sniffed) problems.push(`${where}: Could not process image (the bytes are no known image format)`);
  else if (sniffed !== mediaType) problems.push(`${where}: Image does not match the provided media type ${mediaType} (the bytes are ${sniffed})`);
  return bytes;
}

/**
 * The digest the sims put in their answer for the images that reached them: a short hash over
 * each image in order, "bytes:<sha256 of the decoded bytes>" or "url:<the URL>".
 * @param {Array<{bytes?: Buffer, url?: string}>} images
 */
export function imageDigest(images) {
  const h = crypto.createHash('sha256');
  for (const im of images) {
    h.update(im.bytes ? `bytes:${crypto.createHash('sha256').update(im.bytes).digest('hex')}` : `url:${im.url}`);
    h.update('\n');
  }
  return h.digest('hex').slice(0, 12);
}

/** The suffix of an answer to a turn with images (see the header). */
export function imageNote(images) {
  return `[${images.length} image${images.length === 1 ? '' : 's'} ${imageDigest(images)}]`;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as gzip) of a buffer. */
export function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A real 1x1 RGB PNG of one colour (each call with other colours gives other bytes). */
export function tinyPng(r, g, b) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);  // width
  ihdr.writeUInt32BE(1, 4);  // height
  ihdr[8] = 8;  // bit depth
  ihdr[9] = 2;  // colour type RGB
  const raw = Buffer.from([0, r, g, b]);  // filter byte, one pixel
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function shortHash(text) {
  return crypto.createHash('sha256').update(String(text)).digest('hex').slice(0, 16);
}

/** Deterministic embedding vector for one input. */
export function embeddingFor(input, dims = 8) {
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

/**
 * The answer a simulator gives, from a normalised view of the conversation.
 * @param {object} conv
 * @param {string} conv.lastUserText        text of the last user turn ('' if none)
 * @param {string[]} conv.toolResults       result texts when the last turn carries tool results
 * @param {string[]} conv.toolNames         names of the offered tools
 * @param {number} conv.inputTokens
 * @param {boolean} [conv.thinking]         the request asked for thinking
 * @param {string} idPrefix                 tool-call id prefix (toolu_, tooluse_, call_, ...)
 * @param {string} seed                     makes ids unique per request
 * @param {boolean} [conv.noToolCall]       tool choice "none": answer with text
 * @param {Array<{bytes?: Buffer, url?: string}>} [conv.images]  images of the last user turn
 * @param {object} [o]
 * @param {{cacheWrite?: boolean, reasoning?: boolean}} [o.usageDetail]  the sim reports cached
 *        tokens on "[[cache]]" (with cache writes unless cacheWrite is false, and reasoning
 *        tokens when reasoning is true); without it the trigger does nothing
 */
export function makeAnswer(conv, idPrefix, seed, { usageDetail = null } = {}) {
  const answer = { text: '', toolCalls: [], thinking: null, stopReason: 'end_turn', usage: null, images: conv.images ?? [] };
  if (conv.thinking) answer.thinking = THINKING_TEXT;
  if (conv.toolResults && conv.toolResults.length > 0) {
    answer.text = `Tool said: ${conv.toolResults.join(' | ')}`;
  } else if (conv.toolNames && conv.toolNames.length > 0 && !conv.noToolCall) {
    const n = /parallel/i.test(conv.lastUserText) ? 2 : 1;
    const h = shortHash(seed);
    for (let i = 0; i < n; i++) {
      answer.toolCalls.push({
        id: `${idPrefix}sim${h}${i + 1}`,
        name: conv.toolNames[Math.min(i, conv.toolNames.length - 1)],
        input: TOOL_ARGS[i],
      });
    }
    answer.stopReason = 'tool_use';
  } else {
    answer.text = `You said: ${conv.lastUserText || 'nothing'}`;
    if (answer.images.length > 0) answer.text += ` ${imageNote(answer.images)}`;
  }
  const outTokens = wordCount(answer.text) + answer.toolCalls.length * 5 + (answer.thinking ? wordCount(answer.thinking) : 0);
  answer.usage = { input: Math.max(1, conv.inputTokens), output: Math.max(1, outTokens), cacheRead: 0, cacheWrite: 0, reasoning: 0 };
  if (usageDetail && cacheTrigger(conv.lastUserText)) {
    answer.usage.cacheRead = CACHE_READ_TOKENS;
    if (usageDetail.cacheWrite !== false) answer.usage.cacheWrite = CACHE_WRITE_TOKENS;
    if (usageDetail.reasoning) {
      answer.usage.reasoning = REASONING_TOKENS;
      answer.usage.output += REASONING_TOKENS;
    }
  }
  return answer;
}

export function sendJson(res, status, obj, extraHeaders = {}) {
  const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

export function tryParseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
export { isObject };

/**
 * Starts a recording HTTP server on 127.0.0.1:0.
 * @param {(rec: object, req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>} handler
 * @returns {Promise<{port, url, requests, close}>}
 */
export async function startRecordingServer(name, handler, { host = '127.0.0.1', port = 0, tls = null } = {}) {
  const requests = [];
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      const body = raw.toString('utf8');
      const parsed = tryParseJson(body);
      const rec = {
        method: req.method,
        path: req.url,
        url: new URL(req.url, 'http://sim.invalid'),
        headers,
        rawHeaders: req.rawHeaders.slice(),
        body,
        raw,
        json: parsed.ok ? parsed.value : undefined,
        kind: 'unknown',
        problems: [],
        answer: null,
        at: Date.now(),
        // Over the mutual-TLS listener: the client's certificate (base64 DER), as verified.
        clientCert: req.socket.encrypted ? req.socket.getPeerCertificate()?.raw?.toString('base64') ?? null : null,
      };
      requests.push(rec);
      handler(rec, req, res).catch((err) => {
        rec.problems.push(`${name} internal error: ${err?.stack ?? err}`);
        if (!res.headersSent) sendJson(res, 500, { message: `${name} internal error: ${err?.message ?? err}` });
        else res.destroy(err);
      });
    });
    req.on('error', () => {});
    res.on('error', () => {});
    res.on('close', () => { res.simClosed = true; });
  };
  const listen = async (server, at) => {
    server.on('clientError', (err, socket) => socket.destroy());
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address().port;
  };
  const server = http.createServer(onRequest);
  const actual = await listen(server, port);
  // `tls` ({key, cert, ca}, PEM): a second listener, HTTPS with mutual TLS (a client certificate
  // issued by `ca` is required), serving the same handler and state.
  let tlsServer = null;
  let tlsPort = null;
  if (tls) {
    tlsServer = https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, onRequest);
    tlsPort = await listen(tlsServer, 0);
  }
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    tlsPort,
    tlsUrl: tlsPort ? `https://${host}:${tlsPort}` : null,
    requests,
    /** The last recorded request whose kind matches (a string or a predicate), or undefined. */
    last(kind) {
      for (let i = requests.length - 1; i >= 0; i--) {
        const r = requests[i];
        if (kind === undefined || (typeof kind === 'function' ? kind(r) : r.kind === kind)) return r;
      }
      return undefined;
    },
    close: () => Promise.all([server, tlsServer].filter(Boolean).map((srv) => new Promise((resolve) => {
      srv.close(() => resolve());
      srv.closeAllConnections();
    }))).then(() => undefined),
  };
}

/** Writes an SSE response from a list of {event?, data} (data: object or string). */
export async function writeSse(res, events, { delayMs = 2, crlf = false, headers = {} } = {}) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...headers,
  });
  const nl = crlf ? '\r\n' : '\n';
  for (const ev of events) {
    if (gone(res)) return;
    const data = typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data);
    res.write(`${ev.event ? `event: ${ev.event}${nl}` : ''}data: ${data}${nl}${nl}`);
    if (delayMs > 0) await sleep(delayMs);
  }
  res.end();
}

/** Text of Anthropic/OpenAI style content: a string or an array of {type:'text', text} blocks. */
export function blocksText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter((p) => p && (p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string')
      .map((p) => p.text)
      .join(' ');
  }
  return '';
}
