// Raw HTTP helpers and OpenAI error-shape assertions.
import assert from 'node:assert/strict';

/** POSTs a raw body; returns {status, headers (Headers), body (Buffer), text}. */
export async function rawPost(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body: buf, text: buf.toString('utf8') };
}

/** Asserts `obj` is an OpenAI error body {"error":{"message","type","param","code"}}. */
export function assertOpenAIErrorShape(obj, context = '') {
  const where = context ? ` (${context})` : '';
  assert.equal(typeof obj, 'object', `error body is not an object${where}`);
  assert.ok(obj && typeof obj.error === 'object' && obj.error !== null, `no "error" object${where}: ${JSON.stringify(obj)}`);
  const e = obj.error;
  assert.equal(typeof e.message, 'string', `error.message is not a string${where}: ${JSON.stringify(obj)}`);
  assert.ok(e.message.length > 0, `error.message is empty${where}`);
  assert.equal(typeof e.type, 'string', `error.type is not a string${where}: ${JSON.stringify(obj)}`);
  assert.ok('param' in e, `error.param missing${where}: ${JSON.stringify(obj)}`);
  assert.ok('code' in e, `error.code missing${where}: ${JSON.stringify(obj)}`);
}

/** Parses a raw response body as JSON with a helpful failure. */
export function parseJsonBody(text, context = '') {
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`response body is not JSON${context ? ` (${context})` : ''}: ${text.slice(0, 500)}`);
  }
}

/** Parses an SSE body into the list of `data:` payloads (strings). */
export function sseData(text) {
  return text
    .split(/\r?\n\r?\n/)
    .map((ev) => ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n'))
    .filter((d) => d.length > 0);
}
