#!/usr/bin/env node
// bedrock.mjs: TEST TOOL. A fake AWS Bedrock Runtime for sluice's end-to-end tests (loopback
// only, never a real provider).
//
//   import { startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
//   const sim = await startBedrockSim({ credentials: { accessKeyId, secretAccessKey, sessionToken } });
//   // every record has signatureValid (bool) and signatureProblem (string|null)
//
// Every request's SigV4 signature is recomputed independently with @smithy/signature-v4
// (service bedrock, the configured region and credentials) over the request as received
// (method, raw path, query, the headers the request says it signed, the body bytes). A
// mismatch answers 403 InvalidSignatureException; a wrong key id 403
// UnrecognizedClientException; an x-amz-date more than 5 minutes off 403 (signature expired).
//
// Endpoints ({id} is URL-encoded in the path, e.g. anthropic.claude-3-5-haiku-20241022-v1%3A0):
//   POST /model/{id}/converse                 Converse JSON (strict body checks, see below)
//   POST /model/{id}/count-tokens             CountTokens: {"input":{"invokeModel":{"body":
//                                             "<base64>"}}} (anthropic.* models) or
//                                             {"input":{"converse":{messages,system}}}
//   POST /model/{id}/converse-stream          ConverseStream, AWS event-stream binary frames
//                                             ("[[pause:N]]" in the user text: N ms of
//                                             silence after the second frame;
//                                             "[[pause-first:N]]": after the head)
//   POST /model/{id}/invoke                   amazon.titan-embed-* : Titan embeddings;
//                                             cohere.embed-* : Cohere Embed (texts batch, input_type);
//                                             anthropic.*          : Anthropic Messages body
//                                             (anthropic_version bedrock-2023-05-31, no model)
//   POST /model/{id}/invoke-with-response-stream  anthropic.*: event-stream `chunk` events whose
//                                             payload {"bytes": base64(Anthropic SSE event JSON)}
// Converse checks (as Bedrock's validation does): no unknown top-level fields, messages
// alternate user/assistant starting with user, each content block has exactly one member,
// text blocks are non-blank, toolUse/toolResult need a toolConfig, every toolUse is answered by
// a toolResult with its id in the next user turn. Errors: x-amzn-errortype + {"message"};
// "[[error:429]]" in the user text gives ThrottlingException (429); "[[stream-error]]" sends a
// throttlingException event-stream exception mid-stream. Image blocks ({"image": {"format":
// png|jpeg|gif|webp, "source": {"bytes": <base64>} or {"s3Location": {"uri"}}}}, user turns
// only) must hold bytes of that format; the answer names the images of the last user turn (see
// common.mjs). "[[cache]]" in the user text reports cacheReadInputTokens /
// cacheWriteInputTokens (totalTokens counts them, as Bedrock's does); on the Anthropic
// InvokeModel path the Anthropic usage fields, plus the invocation metrics' cache counts.
//
// CLI: node test/tools/provider_sims/bedrock.mjs [--port N]   (default test credentials)
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { answerAnthropic, checkCountTokensBody } from './anthropic.mjs';
import {
  checkInlineImage, embeddingFor, errorTrigger, gone, isObject, makeAnswer, sendJson, shortHash, sleep, splitN, splitWords,
  startRecordingServer, tryParseJson, wordCount, crc32,
} from './common.mjs';

export const DEFAULT_AWS_CREDENTIALS = {
  accessKeyId: 'AKIASLUICESIMEXAMPLE',
  secretAccessKey: 'sluiceSimSecretKey/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'FwoGZXIvYXdzEsluiceSimSessionTokenEXAMPLE//////////',
};
export const AWS_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

// ---------------------------------------------------------------------------------------
// AWS event-stream framing (application/vnd.amazon.eventstream)

// crc32 lives in common.mjs (the PNG writer there needs it too); re-exported for the tests.
export { crc32 };

/**
 * Encodes one event-stream message.
 * @param {Array<[string, string]>} headers  string-valued headers (type 7), in this order
 * @param {Buffer|string} payload
 */
export function encodeEventStreamMessage(headers, payload) {
  const hparts = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(String(value), 'utf8');
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length);
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    hparts.push(h);
  }
  const hbuf = Buffer.concat(hparts);
  const pbuf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const total = 12 + hbuf.length + pbuf.length + 4;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(hbuf.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  hbuf.copy(out, 12);
  pbuf.copy(out, 12 + hbuf.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

/** Decodes a buffer of whole event-stream messages (checks both CRCs); for self-tests. */
export function decodeEventStream(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 16) throw new Error('truncated event-stream message');
    const total = buf.readUInt32BE(off);
    const hlen = buf.readUInt32BE(off + 4);
    if (crc32(buf.subarray(off, off + 8)) !== buf.readUInt32BE(off + 8)) throw new Error('bad prelude CRC');
    if (crc32(buf.subarray(off, off + total - 4)) !== buf.readUInt32BE(off + total - 4)) throw new Error('bad message CRC');
    const headers = {};
    let h = off + 12;
    while (h < off + 12 + hlen) {
      const nlen = buf.readUInt8(h);
      const name = buf.toString('utf8', h + 1, h + 1 + nlen);
      const type = buf.readUInt8(h + 1 + nlen);
      if (type !== 7) throw new Error(`header type ${type} not supported by this decoder`);
      const vlen = buf.readUInt16BE(h + 2 + nlen);
      headers[name] = buf.toString('utf8', h + 4 + nlen, h + 4 + nlen + vlen);
      h += 4 + nlen + vlen;
    }
    out.push({ headers, payload: buf.subarray(off + 12 + hlen, off + total - 4) });
    off += total;
  }
  return out;
}

const PADDING = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** Bedrock pads payloads with a "p" field of filler characters; so do we. */
const pad = (n) => PADDING.slice(0, 1 + (n % PADDING.length));

function eventFrame(eventType, payloadObj) {
  return encodeEventStreamMessage(
    [[':event-type', eventType], [':content-type', 'application/json'], [':message-type', 'event']],
    JSON.stringify(payloadObj),
  );
}

function exceptionFrame(exceptionType, message) {
  return encodeEventStreamMessage(
    [[':exception-type', exceptionType], [':content-type', 'application/json'], [':message-type', 'exception']],
    JSON.stringify({ message }),
  );
}

async function writeEventStream(res, frames, delayMs, { pauseAfter = -1, pauseMs = 0 } = {}) {
  res.writeHead(200, {
    'content-type': 'application/vnd.amazon.eventstream',
    'x-amzn-requestid': crypto.randomUUID(),
  });
  if (pauseMs > 0 && pauseAfter < 0) res.flushHeaders();  // the head goes out, then the silence
  for (const [i, f] of frames.entries()) {
    if (i === pauseAfter + 1 && pauseMs > 0) await sleep(pauseMs);  // silence, as in long thinking
    if (gone(res)) return;
    // Split some frames across writes: decoders must buffer partial frames.
    if (f.length > 40) {
      res.write(f.subarray(0, 17));
      if (delayMs > 0) await sleep(delayMs);
      if (gone(res)) return;
      res.write(f.subarray(17));
    } else res.write(f);
    if (delayMs > 0) await sleep(delayMs);
  }
  res.end();
}

// ---------------------------------------------------------------------------------------
// Errors

const ERROR_STATUS = {
  ValidationException: 400, AccessDeniedException: 403, UnrecognizedClientException: 403,
  InvalidSignatureException: 403, MissingAuthenticationTokenException: 403, IncompleteSignatureException: 400,
  ResourceNotFoundException: 404, ThrottlingException: 429,
  InternalServerException: 500, ServiceUnavailableException: 503, ModelErrorException: 424,
};
const STATUS_ERROR = { 400: 'ValidationException', 403: 'AccessDeniedException', 404: 'ResourceNotFoundException', 429: 'ThrottlingException', 500: 'InternalServerException', 503: 'ServiceUnavailableException' };

export function sendBedrockError(res, name, message) {
  const status = ERROR_STATUS[name] ?? 500;
  sendJson(res, status, { message }, {
    'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    'x-amzn-requestid': crypto.randomUUID(),
  });
}

function sendBedrockStatus(res, status, message) {
  const name = STATUS_ERROR[status] ?? 'InternalServerException';
  const msg = message ?? (status === 429 ? 'Too many requests, please wait before trying again.' : `bedrock-sim injected status ${status}`);
  sendBedrockError(res, name, msg);
}

// ---------------------------------------------------------------------------------------
// SigV4 verification

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(s ?? ''));
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/**
 * Verifies the SigV4 signature of a recorded request independently with @smithy/signature-v4.
 * Returns { valid, problem, errorType }.
 */
export async function verifySigV4(rec, { credentials, region, service = 'bedrock', maxSkewMs = 5 * 60 * 1000 }) {
  const fail = (problem, errorType = 'InvalidSignatureException') => ({ valid: false, problem, errorType });
  const auth = rec.headers.authorization;
  if (!auth) return fail('no Authorization header', 'MissingAuthenticationTokenException');
  const m = AUTH_RE.exec(auth);
  if (!m) return fail(`malformed Authorization header: ${auth.replace(/Signature=[0-9a-f]+/, 'Signature=...')}`, 'IncompleteSignatureException');
  const [, keyId, date, scopeRegion, scopeService, signedList, signature] = m;
  if (keyId !== credentials.accessKeyId) return fail(`unknown access key id ${keyId}`, 'UnrecognizedClientException');
  if (scopeRegion !== region) return fail(`credential scope region ${scopeRegion}, expected ${region}`);
  if (scopeService !== service) return fail(`credential scope service ${scopeService}, expected ${service}`);
  const amzDate = rec.headers['x-amz-date'];
  const when = parseAmzDate(amzDate);
  if (!when) return fail(`missing or malformed x-amz-date ${JSON.stringify(amzDate)}`, 'IncompleteSignatureException');
  if (amzDate.slice(0, 8) !== date) return fail(`credential scope date ${date} does not match x-amz-date ${amzDate}`);
  if (Math.abs(Date.now() - when.getTime()) > maxSkewMs) return fail(`Signature expired: ${amzDate} is more than 5 minutes from now`);
  const signed = signedList.split(';');
  const sorted = [...signed].sort();
  if (signed.join(';') !== sorted.join(';')) return fail(`SignedHeaders not sorted: ${signedList}`);
  for (const required of ['host', 'x-amz-date']) {
    if (!signed.includes(required)) return fail(`SignedHeaders lacks ${required}`);
  }
  for (const h of signed) if (rec.headers[h] === undefined) return fail(`signed header ${h} is not in the request`);
  if (credentials.sessionToken) {
    if (rec.headers['x-amz-security-token'] !== credentials.sessionToken) {
      return fail('x-amz-security-token missing or not the session token', 'UnrecognizedClientException');
    }
  }
  const contentSha = rec.headers['x-amz-content-sha256'];
  if (contentSha !== undefined && contentSha !== crypto.createHash('sha256').update(rec.raw).digest('hex')) {
    return fail('x-amz-content-sha256 is not the SHA-256 of the body');
  }
  const headers = {};
  for (const h of signed) headers[h] = rec.headers[h];
  const tokenSigned = signed.includes('x-amz-security-token');
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(tokenSigned ? { sessionToken: credentials.sessionToken } : {}),
    },
    region,
    service,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
    uriEscapePath: true,
  });
  const rawPath = rec.path.split('?')[0];
  const query = {};
  for (const [k, v] of rec.url.searchParams) {
    if (query[k] === undefined) query[k] = v;
    else query[k] = [].concat(query[k], v);
  }
  const [hostname, port] = String(rec.headers.host ?? '').split(':');
  const out = await signer.sign({
    method: rec.method,
    protocol: 'http:',
    hostname,
    port: port ? Number(port) : undefined,
    path: rawPath,
    query,
    headers,
    body: rec.raw,
  }, { signingDate: when, signableHeaders: new Set(signed) });
  const expected = AUTH_RE.exec(out.headers.authorization);
  if (!expected) return fail('internal: could not recompute the signature');
  if (expected[5] !== signedList) return fail(`internal: recomputed SignedHeaders ${expected[5]} != ${signedList}`);
  if (expected[6] !== signature) {
    return fail('The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
  }
  return { valid: true, problem: null, errorType: null };
}

// ---------------------------------------------------------------------------------------
// Converse

const CONVERSE_FIELDS = new Set([
  'messages', 'system', 'inferenceConfig', 'toolConfig', 'additionalModelRequestFields',
  'additionalModelResponseFieldPaths', 'guardrailConfig', 'promptVariables', 'requestMetadata',
  'performanceConfig', 'serviceTier', 'outputConfig',
]);
const BLOCK_MEMBERS = new Set(['text', 'image', 'document', 'video', 'toolUse', 'toolResult', 'reasoningContent', 'cachePoint', 'guardContent', 'citationsContent']);
const IMAGE_FORMATS = { png: 'image/png', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };

/** Checks a Converse ImageBlock; returns {bytes, mediaType} or {url} (S3), or null. */
function checkConverseImage(img, where, problems) {
  if (!isObject(img)) {
    problems.push(`${where}: must be an object`);
    return null;
  }
  for (const k of Object.keys(img)) if (!['format', 'source'].includes(k)) problems.push(`${where}: extraneous key [${k}] is not permitted`);
  const mediaType = IMAGE_FORMATS[img.format];
  if (!mediaType) problems.push(`${where}.format: Member must satisfy enum value set: [png, jpeg, gif, webp], got ${JSON.stringify(img.format)}`);
  const src = img.source;
  const keys = isObject(src) ? Object.keys(src) : [];
  if (keys.length !== 1 || !['bytes', 's3Location'].includes(keys[0])) {
    problems.push(`${where}.source: exactly one of bytes, s3Location is required, got ${JSON.stringify(keys)}`);
    return null;
  }
  if (keys[0] === 's3Location') {
    if (typeof src.s3Location?.uri !== 'string' || !src.s3Location.uri.startsWith('s3://')) problems.push(`${where}.source.s3Location.uri: an s3:// URI is required`);
    return { url: src.s3Location?.uri };
  }
  if (!mediaType) return null;
  const bytes = checkInlineImage(src.bytes, mediaType, `${where}.source.bytes`, problems);
  return bytes ? { bytes, mediaType } : null;
}

/** Checks a Converse body; returns the normalised conversation (see common.mjs). */
export function checkConverseBody(body, problems) {
  const conv = { lastUserText: '', toolResults: [], toolNames: [], inputTokens: 0, system: '' };
  if (!isObject(body)) {
    problems.push('body is not a JSON object');
    return conv;
  }
  for (const k of Object.keys(body)) if (!CONVERSE_FIELDS.has(k)) problems.push(`extraneous key [${k}] is not permitted`);
  if (body.outputConfig !== undefined) {
    // OutputConfig.textFormat: {type: "json_schema", structure: {jsonSchema: {schema: <JSON text>, name?, description?}}}
    const tf = body.outputConfig?.textFormat;
    const js = tf?.structure?.jsonSchema;
    if (!isObject(tf) || tf.type !== 'json_schema') problems.push('outputConfig.textFormat.type: must be json_schema');
    if (!isObject(js) || typeof js.schema !== 'string') problems.push('outputConfig.textFormat.structure.jsonSchema.schema: a string is required');
    else {
      try { if (!isObject(JSON.parse(js.schema))) problems.push('outputConfig...jsonSchema.schema: not a JSON object'); } catch { problems.push('outputConfig...jsonSchema.schema: not JSON'); }
    }
  }
  let words = 0;
  if (body.system !== undefined) {
    if (!Array.isArray(body.system)) problems.push('system: must be a list');
    else {
      conv.system = body.system.filter((b) => typeof b?.text === 'string').map((b) => b.text).join('\n');
      body.system.forEach((b, i) => {
        if (!isObject(b) || Object.keys(b).length !== 1) problems.push(`system.${i}: exactly one member is required`);
        else if (b.text !== undefined && (typeof b.text !== 'string' || b.text.trim() === '')) problems.push(`system.${i}.text: blank`);
      });
      words += wordCount(conv.system);
    }
  }
  if (body.inferenceConfig !== undefined) {
    if (!isObject(body.inferenceConfig)) problems.push('inferenceConfig: must be an object');
    else {
      for (const k of Object.keys(body.inferenceConfig)) {
        if (!['maxTokens', 'temperature', 'topP', 'stopSequences'].includes(k)) problems.push(`inferenceConfig: extraneous key [${k}]`);
      }
      if (body.inferenceConfig.maxTokens !== undefined && !(Number.isInteger(body.inferenceConfig.maxTokens) && body.inferenceConfig.maxTokens >= 1)) {
        problems.push('inferenceConfig.maxTokens: must be a positive integer');
      }
    }
  }
  const tc = body.toolConfig;
  if (tc !== undefined) {
    if (!isObject(tc) || !Array.isArray(tc.tools) || tc.tools.length === 0) problems.push('toolConfig.tools: at least one tool is required');
    else {
      for (const k of Object.keys(tc)) if (!['tools', 'toolChoice'].includes(k)) problems.push(`toolConfig: extraneous key [${k}]`);
      tc.tools.forEach((t, i) => {
        if (isObject(t?.cachePoint)) return;
        const s = t?.toolSpec;
        if (!isObject(s) || typeof s.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(s.name)) problems.push(`toolConfig.tools.${i}.toolSpec.name: invalid`);
        else conv.toolNames.push(s.name);
        if (!isObject(s?.inputSchema) || !isObject(s.inputSchema.json)) problems.push(`toolConfig.tools.${i}.toolSpec.inputSchema.json: an object is required`);
        if (s && s.description !== undefined && (typeof s.description !== 'string' || s.description === '')) problems.push(`toolConfig.tools.${i}.toolSpec.description: must be a non-empty string`);
      });
      if (tc.toolChoice !== undefined) {
        const c = tc.toolChoice;
        const keys = isObject(c) ? Object.keys(c) : [];
        if (keys.length !== 1 || !['auto', 'any', 'tool'].includes(keys[0])) problems.push(`toolConfig.toolChoice: invalid ${JSON.stringify(c)}`);
        else if (keys[0] === 'tool') {
          if (!conv.toolNames.includes(c.tool?.name)) problems.push('toolConfig.toolChoice.tool.name: not one of the tools');
          else conv.toolNames = [c.tool.name, ...conv.toolNames.filter((n) => n !== c.tool.name)];
        }
      }
    }
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    problems.push('messages: at least one message is required');
    return conv;
  }
  let pending = null;
  let anyToolBlock = false;
  body.messages.forEach((m, i) => {
    const where = `messages.${i}`;
    if (!isObject(m) || !['user', 'assistant'].includes(m.role)) {
      problems.push(`${where}.role: must be user or assistant`);
      return;
    }
    for (const k of Object.keys(m)) if (!['role', 'content'].includes(k)) problems.push(`${where}: extraneous key [${k}]`);
    const expectedRole = i % 2 === 0 ? 'user' : 'assistant';
    if (m.role !== expectedRole) problems.push(`A conversation must alternate between user and assistant roles (${where} is ${m.role})`);
    if (!Array.isArray(m.content) || m.content.length === 0) {
      problems.push(`${where}.content: a non-empty list of content blocks is required`);
      return;
    }
    const uses = [];
    const results = [];
    const texts = [];
    const images = [];
    m.content.forEach((b, j) => {
      const bw = `${where}.content.${j}`;
      const keys = isObject(b) ? Object.keys(b) : [];
      if (keys.length !== 1 || !BLOCK_MEMBERS.has(keys[0])) {
        problems.push(`${bw}: exactly one known member is required, got ${JSON.stringify(keys)}`);
        return;
      }
      if (b.text !== undefined) {
        if (typeof b.text !== 'string' || b.text.trim() === '') problems.push(`${bw}.text: The text field in the ContentBlock object is blank`);
        else texts.push(b.text);
        words += wordCount(b.text);
      } else if (b.image !== undefined) {
        if (m.role !== 'user') problems.push(`${bw}.image: images are only supported in user turns`);
        const im = checkConverseImage(b.image, `${bw}.image`, problems);
        if (im) images.push(im);
      } else if (b.toolUse !== undefined) {
        anyToolBlock = true;
        const u = b.toolUse;
        if (m.role !== 'assistant') problems.push(`${bw}: toolUse belongs to assistant turns`);
        if (!isObject(u) || typeof u.toolUseId !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(u.toolUseId)) problems.push(`${bw}.toolUse.toolUseId: invalid ${JSON.stringify(u?.toolUseId)}`);
        if (typeof u?.name !== 'string') problems.push(`${bw}.toolUse.name: required`);
        if (!isObject(u?.input)) problems.push(`${bw}.toolUse.input: must be an object, got ${JSON.stringify(u?.input)}`);
        for (const k of Object.keys(u ?? {})) if (!['toolUseId', 'name', 'input'].includes(k)) problems.push(`${bw}.toolUse: extraneous key [${k}]`);
        uses.push(u?.toolUseId);
      } else if (b.toolResult !== undefined) {
        anyToolBlock = true;
        const r = b.toolResult;
        if (m.role !== 'user') problems.push(`${bw}: toolResult belongs to user turns`);
        if (!isObject(r) || typeof r.toolUseId !== 'string') problems.push(`${bw}.toolResult.toolUseId: required`);
        // An empty list and blank text are accepted here (measured against live Bedrock:
        // NousResearch/hermes-agent#55092); message-level text blocks must not be blank.
        if (!Array.isArray(r?.content)) problems.push(`${bw}.toolResult.content: a list is required`);
        if (r?.status !== undefined && !['success', 'error'].includes(r.status)) problems.push(`${bw}.toolResult.status: invalid`);
        for (const k of Object.keys(r ?? {})) if (!['toolUseId', 'content', 'status'].includes(k)) problems.push(`${bw}.toolResult: extraneous key [${k}]`);
        const text = (Array.isArray(r?.content) ? r.content : []).map((c) => {
          if (typeof c?.text === 'string') return c.text;
          if (c?.json !== undefined) return JSON.stringify(c.json);
          problems.push(`${bw}.toolResult.content: unsupported member ${JSON.stringify(Object.keys(c ?? {}))}`);
          return '';
        }).join(' ');
        results.push({ id: r?.toolUseId, text });
        words += wordCount(text);
      }
    });
    if (pending) {
      const answered = results.map((r) => r.id);
      const missing = pending.filter((id) => !answered.includes(id));
      if (missing.length > 0) problems.push(`${where}: Expected toolResult blocks for toolUse ids ${missing.join(', ')}`);
    }
    for (const r of results) if (!pending || !pending.includes(r.id)) problems.push(`${where}: toolResult ${r.id} answers no toolUse of the previous turn`);
    pending = uses.length > 0 ? uses : null;
    if (i === body.messages.length - 1) {
      if (m.role !== 'user') problems.push('the last message must be a user message');
      conv.lastUserText = texts.join(' ');
      conv.toolResults = results.map((r) => r.text);
      conv.toolResultIds = results.map((r) => r.id);
      conv.images = images;
    }
  });
  if (anyToolBlock && tc === undefined) {
    problems.push('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  }
  conv.inputTokens = words;
  return conv;
}

function converseContent(answer) {
  const out = [];
  if (answer.text) out.push({ text: answer.text });
  for (const c of answer.toolCalls) out.push({ toolUse: { toolUseId: c.id, name: c.name, input: c.input } });
  return out;
}

function converseUsage(answer) {
  const u = answer.usage;
  const out = { inputTokens: u.input, outputTokens: u.output, totalTokens: u.input + u.output + u.cacheRead + u.cacheWrite };
  // Bedrock sends the cache counts when prompt caching is in play; inputTokens excludes them.
  if (u.cacheRead + u.cacheWrite > 0) Object.assign(out, { cacheReadInputTokens: u.cacheRead, cacheWriteInputTokens: u.cacheWrite });
  return out;
}

function converseStreamFrames(answer, streamError) {
  const frames = [eventFrame('messageStart', { role: 'assistant', p: pad(1) })];
  let index = 0;
  if (answer.text) {
    const pieces = splitWords(answer.text);
    for (let i = 0; i < pieces.length; i++) {
      if (streamError && i === 2) {
        frames.push(exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'));
        return frames;
      }
      frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: index, delta: { text: pieces[i] }, p: pad(i) }));
    }
    frames.push(eventFrame('contentBlockStop', { contentBlockIndex: index, p: pad(3) }));
    index++;
  }
  for (const c of answer.toolCalls) {
    frames.push(eventFrame('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId: c.id, name: c.name } }, p: pad(index) }));
    for (const piece of splitN(JSON.stringify(c.input), 3)) {
      frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: index, delta: { toolUse: { input: piece } }, p: pad(piece.length) }));
    }
    frames.push(eventFrame('contentBlockStop', { contentBlockIndex: index, p: pad(5) }));
    index++;
  }
  frames.push(eventFrame('messageStop', { stopReason: answer.stopReason, p: pad(7) }));
  frames.push(eventFrame('metadata', { usage: converseUsage(answer), metrics: { latencyMs: 42 }, p: pad(11) }));
  return frames;
}

// ---------------------------------------------------------------------------------------
// Server

/**
 * Starts the simulator.
 * @param {object} [o]
 * @param {{accessKeyId, secretAccessKey, sessionToken?}} [o.credentials]
 * @param {string} [o.region='us-east-1']
 * @param {number} [o.chunkDelayMs=2]
 */
export async function startBedrockSim({ credentials = DEFAULT_AWS_CREDENTIALS, region = 'us-east-1', chunkDelayMs = 2, port = 0 } = {}) {
  return startRecordingServer('bedrock-sim', async (rec, req, res) => {
    const m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$/.exec(rec.url.pathname);
    rec.kind = m ? m[2] : 'unknown';
    rec.modelId = m ? decodeURIComponent(m[1]) : null;
    const sig = await verifySigV4(rec, { credentials, region });
    rec.signatureValid = sig.valid;
    rec.signatureProblem = sig.problem;
    if (!sig.valid) {
      rec.problems.push(`signature: ${sig.problem}`);
      sendBedrockError(res, sig.errorType, sig.problem);
      return;
    }
    if (!m || rec.method !== 'POST') {
      sendBedrockError(res, 'ResourceNotFoundException', `bedrock-sim: unknown operation ${rec.method} ${rec.url.pathname}`);
      return;
    }
    if (rec.json === undefined) {
      rec.problems.push('body is not JSON');
      sendBedrockError(res, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
      return;
    }
    const op = m[2];
    const modelId = rec.modelId;
    if (op === 'count-tokens') {
      // CountTokens: {"input": {"invokeModel": {"body": "<base64 InvokeModel body>"}}} or
      // {"input": {"converse": {"messages", "system", "toolConfig", "additionalModelRequestFields"}}}
      // (ConverseTokensRequest); answers {"inputTokens": N}.
      const input = rec.json?.input;
      const keys = isObject(input) ? Object.keys(input) : [];
      if (!isObject(rec.json) || Object.keys(rec.json).join() !== 'input' || keys.length !== 1 || !['invokeModel', 'converse'].includes(keys[0])) {
        rec.problems.push('count-tokens: body must be {"input": {"invokeModel"|"converse": ...}}');
      }
      let n = null;
      if (keys[0] === 'invokeModel') {
        rec.kind = 'count-tokens-invoke';
        const b64 = input.invokeModel?.body;
        let inner;
        if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) rec.problems.push('input.invokeModel.body: base64 blob required');
        else {
          const parsed = tryParseJson(Buffer.from(b64, 'base64').toString('utf8'));
          if (parsed.ok) inner = parsed.value;
          else rec.problems.push('input.invokeModel.body: the decoded body is not JSON');
        }
        rec.countBody = inner;
        if (!modelId.includes('anthropic.')) rec.problems.push(`count-tokens: the invokeModel body of ${modelId} is not simulated`);
        else n = checkCountTokensBody(inner, rec.problems, { flavor: 'bedrock', anthropicVersion: AWS_ANTHROPIC_VERSION });
      } else if (keys[0] === 'converse') {
        rec.kind = 'count-tokens-converse';
        const c = input.converse;
        const members = ['messages', 'system', 'toolConfig', 'additionalModelRequestFields'];
        for (const k of Object.keys(c ?? {})) if (!members.includes(k)) rec.problems.push(`input.converse.${k}: not a member of ConverseTokensRequest`);
        const conv = checkConverseBody(Object.fromEntries(members.filter((k) => c?.[k] !== undefined).map((k) => [k, c[k]])), rec.problems);
        rec.conv = conv;
        n = 0;
        for (const s of c?.system ?? []) n += wordCount(s?.text ?? '');
        for (const msg of c?.messages ?? []) {
          for (const block of msg?.content ?? []) {
            if (typeof block?.text === 'string') n += wordCount(block.text);
            for (const r of block?.toolResult?.content ?? []) if (typeof r?.text === 'string') n += wordCount(r.text);
          }
        }
        for (const t of c?.toolConfig?.tools ?? []) n += wordCount(`${t?.toolSpec?.name ?? ''} ${t?.toolSpec?.description ?? ''}`);
      }
      if (rec.problems.length > 0 || n === null) {
        sendBedrockError(res, 'ValidationException', rec.problems.join('; '));
        return;
      }
      rec.answer = { usage: { input: n } };
      sendJson(res, 200, { inputTokens: n }, { 'x-amzn-requestid': crypto.randomUUID() });
      return;
    }
    if (op === 'converse' || op === 'converse-stream') {
      const conv = checkConverseBody(rec.json, rec.problems);
      rec.conv = conv;
      if (rec.problems.length > 0) {
        rec.answer = { error: 400 };
        sendBedrockError(res, 'ValidationException', rec.problems.join('; '));
        return;
      }
      const status = errorTrigger(conv.lastUserText);
      if (status) {
        rec.answer = { error: status };
        sendBedrockStatus(res, status);
        return;
      }
      const answer = makeAnswer(conv, 'tooluse_', rec.body, { usageDetail: { cacheWrite: true } });
      rec.answer = answer;
      if (op === 'converse') {
        sendJson(res, 200, {
          output: { message: { role: 'assistant', content: converseContent(answer) } },
          stopReason: answer.stopReason,
          usage: converseUsage(answer),
          metrics: { latencyMs: 42 },
        }, { 'x-amzn-requestid': crypto.randomUUID() });
        return;
      }
      const streamError = /\[\[stream-error\]\]/.test(conv.lastUserText);
      if (streamError) answer.streamError = true;
      // "[[pause:N]]" in the user text: N ms of silence after the second frame;
      // "[[pause-first:N]]": after the response head, before the first frame.
      const pause = /\[\[pause:(\d+)\]\]/.exec(conv.lastUserText);
      const pauseFirst = /\[\[pause-first:(\d+)\]\]/.exec(conv.lastUserText);
      await writeEventStream(res, converseStreamFrames(answer, streamError), chunkDelayMs,
        pause ? { pauseAfter: 1, pauseMs: Number(pause[1]) }
          : pauseFirst ? { pauseAfter: -1, pauseMs: Number(pauseFirst[1]) } : {});
      return;
    }
    if (modelId.startsWith('amazon.titan-embed')) {
      rec.kind = 'titan-embed';
      const b = rec.json;
      if (op !== 'invoke') rec.problems.push('embeddings are served by invoke only');
      if (!isObject(b) || typeof b.inputText !== 'string' || b.inputText === '') rec.problems.push('inputText: a non-empty string is required');
      for (const k of Object.keys(b ?? {})) if (!['inputText', 'dimensions', 'normalize', 'embeddingTypes'].includes(k)) rec.problems.push(`extraneous key [${k}] is not permitted`);
      if (b?.dimensions !== undefined && ![256, 512, 1024].includes(b.dimensions)) rec.problems.push('dimensions: must be 256, 512 or 1024');
      if (rec.problems.length > 0) {
        sendBedrockError(res, 'ValidationException', rec.problems.join('; '));
        return;
      }
      const status = errorTrigger(b.inputText);
      if (status) {
        rec.answer = { error: status };
        sendBedrockStatus(res, status);
        return;
      }
      const dims = b.dimensions ?? (modelId.includes('v2') ? 1024 : 1536);
      const embedding = embeddingFor(b.inputText, dims);
      rec.answer = { embedding, usage: { input: Math.max(1, wordCount(b.inputText)) } };
      sendJson(res, 200, { embedding, inputTextTokenCount: rec.answer.usage.input }, {
        'x-amzn-bedrock-input-token-count': String(rec.answer.usage.input),
        'x-amzn-requestid': crypto.randomUUID(),
      });
      return;
    }
    if (/^([a-z]{2,4}\.)?cohere\.embed/.test(modelId)) {
      // Cohere Embed (InvokeModel): up to 96 texts, input_type required; floats, or by type.
      rec.kind = 'cohere-embed';
      const b = rec.json;
      const v4 = modelId.includes('embed-v4');
      if (op !== 'invoke') rec.problems.push('embeddings are served by invoke only');
      const allowed = ['texts', 'images', 'input_type', 'truncate', 'embedding_types', ...(v4 ? ['inputs', 'output_dimension', 'max_tokens'] : [])];
      for (const k of Object.keys(b ?? {})) if (!allowed.includes(k)) rec.problems.push(`extraneous key [${k}] is not permitted`);
      if (!Array.isArray(b?.texts) || b.texts.some((t) => typeof t !== 'string')) rec.problems.push('texts: an array of strings is required');
      else if (b.texts.length > 96) rec.problems.push('texts: at most 96');
      if (!['search_document', 'search_query', 'classification', 'clustering'].includes(b?.input_type)) rec.problems.push(`input_type: invalid ${JSON.stringify(b?.input_type)}`);
      if (b?.truncate !== undefined && !(v4 ? ['NONE', 'LEFT', 'RIGHT'] : ['NONE', 'START', 'END']).includes(b.truncate)) rec.problems.push(`truncate: invalid ${b.truncate}`);
      if (b?.embedding_types !== undefined && (!Array.isArray(b.embedding_types) || b.embedding_types.some((t) => !['float', 'int8', 'uint8', 'binary', 'ubinary'].includes(t)))) rec.problems.push('embedding_types: invalid');
      if (b?.output_dimension !== undefined && ![256, 512, 1024, 1536].includes(b.output_dimension)) rec.problems.push('output_dimension: must be 256, 512, 1024 or 1536');
      if (rec.problems.length > 0) {
        sendBedrockError(res, 'ValidationException', rec.problems.join('; '));
        return;
      }
      const dims = b.output_dimension ?? (v4 ? 1536 : 1024);
      const embeddings = b.texts.map((t) => embeddingFor(`${b.input_type}:${t}`, dims));
      const tokens = b.texts.reduce((n, t) => n + Math.max(1, wordCount(t)), 0);
      rec.answer = { embeddings, usage: { input: tokens } };
      const byType = b.embedding_types !== undefined;
      sendJson(res, 200, {
        id: crypto.randomUUID(), texts: b.texts,
        ...(byType ? { response_type: 'embeddings_by_type', embeddings: { float: embeddings } } : { response_type: 'embeddings_floats', embeddings }),
      }, { 'x-amzn-bedrock-input-token-count': String(tokens), 'x-amzn-requestid': crypto.randomUUID() });
      return;
    }
    if (modelId.startsWith('anthropic.') || /^[a-z]{2,4}\.anthropic\./.test(modelId)) {
      const stream = op === 'invoke-with-response-stream';
      rec.kind = stream ? 'anthropic-invoke-stream' : 'anthropic-invoke';
      const model = modelId.replace(/^([a-z]{2,4}\.)?anthropic\./, '').replace(/-v\d+:\d+$/, '');
      await answerAnthropic(rec, res, {
        flavor: 'bedrock',
        anthropicVersion: AWS_ANTHROPIC_VERSION,
        stream,
        model,
        sendError: (status, message) => sendBedrockStatus(res, status, message),
        writeStream: async (events) => {
          const frames = events.map((ev, i) => {
            const data = { ...ev.data };
            if (data.type === 'message_stop') {
              const u = rec.answer.usage;
              data['amazon-bedrock-invocationMetrics'] = {
                inputTokenCount: u.input, outputTokenCount: u.output,
                invocationLatency: 42, firstByteLatency: 7,
                ...(u.cacheRead + u.cacheWrite > 0 ? { cacheReadInputTokenCount: u.cacheRead, cacheWriteInputTokenCount: u.cacheWrite } : {}),
              };
            }
            if (data.type === 'error') {
              return exceptionFrame('modelStreamErrorException', data.error.message);
            }
            return eventFrame('chunk', { bytes: Buffer.from(JSON.stringify(data)).toString('base64'), p: pad(i) });
          });
          await writeEventStream(res, frames, chunkDelayMs);
        },
      });
      return;
    }
    sendBedrockError(res, 'ValidationException', `bedrock-sim: model ${modelId} does not support ${op}`);
  }, { port });
}

/** The credentials-file INI for a Secret's stringData.credentials. */
export function awsCredentialsIni(c = DEFAULT_AWS_CREDENTIALS, profile = 'default') {
  return `[${profile}]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n` +
    (c.sessionToken ? `aws_session_token = ${c.sessionToken}\n` : '');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const sim = await startBedrockSim({ port: i > 0 ? Number(process.argv[i + 1]) : 0 });
  console.log(`bedrock-sim listening on 127.0.0.1:${sim.port}`);
  console.log(awsCredentialsIni());
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
