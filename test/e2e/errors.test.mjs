// End-to-end: sluice's own errors and upstream error pass-through, in OpenAI error shape.
// Needs the sluice binary ($SLUICE_BIN or build/sluice); skips without it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { startStack } from './lib/harness.mjs';
import { assertOpenAIErrorShape, parseJsonBody, rawPost } from './lib/http.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';

const MAX_BODY = 4096;

describe('sluice errors (OpenAI error shape)', { skip: sluiceSkipReason() }, () => {
  let stack;
  before(async () => {
    stack = await startStack({ args: ['--max-request-body-bytes', String(MAX_BODY)] });
  });
  after(async () => {
    await stack?.close();
  });
  const t = (name, fn) => test(name, withGatewayLogs(() => stack?.gw, fn));

  const chat = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

  /** Asserts the SDK call rejects with `cls` and `status`, an OpenAI-shaped error; returns the error. */
  async function expectSdkError(promise, cls, status) {
    let caught;
    await assert.rejects(promise, (err) => {
      caught = err;
      return true;
    });
    assert.ok(caught instanceof OpenAI.APIError, `expected OpenAI.APIError, got ${caught}`);
    assert.equal(caught.status, status, `status: ${caught.message}`);
    assert.ok(caught instanceof cls, `expected ${cls.name}, got ${caught.constructor.name}`);
    assertOpenAIErrorShape({ error: caught.error }, `status ${status}`);
    return caught;
  }

  async function noUpstreamDuring(fn) {
    const from = stack.sim.requests.length;
    const out = await fn();
    assert.equal(stack.sim.requests.length, from, 'the request should not have reached the backend');
    return out;
  }

  t('malformed JSON → 400', async () => {
    const r = await noUpstreamDuring(() => rawPost(`${stack.gw.baseURL}/chat/completions`, '{"model": "gpt-sim", "messages": ['));
    assert.equal(r.status, 400, r.text);
    assertOpenAIErrorShape(parseJsonBody(r.text, 'malformed JSON'));
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  });

  t('missing model → 400', async () => {
    await noUpstreamDuring(() => expectSdkError(
      stack.client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }),
      OpenAI.BadRequestError, 400));
  });

  t('unknown model → 404', async () => {
    await noUpstreamDuring(() => expectSdkError(
      stack.client.chat.completions.create(chat('no-such-model')), OpenAI.NotFoundError, 404));
    await noUpstreamDuring(() => expectSdkError(
      stack.client.embeddings.create({ model: 'no-such-model', input: 'x' }), OpenAI.NotFoundError, 404));
  });

  t(`body larger than --max-request-body-bytes (${MAX_BODY}) → 413`, async () => {
    const big = JSON.stringify(chat('gpt-sim', { messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY * 2) }] }));
    const r = await noUpstreamDuring(() => rawPost(`${stack.gw.baseURL}/chat/completions`, big));
    assert.equal(r.status, 413, r.text);
    assertOpenAIErrorShape(parseJsonBody(r.text, 'oversize body'));
  });

  t('body just under --max-request-body-bytes is accepted', async () => {
    const base = JSON.stringify(chat('gpt-sim', { messages: [{ role: 'user', content: '' }] }));
    const fits = JSON.stringify(chat('gpt-sim', { messages: [{ role: 'user', content: 'y'.repeat(MAX_BODY - base.length - 16) }] }));
    assert.ok(fits.length < MAX_BODY);
    const r = await rawPost(`${stack.gw.baseURL}/chat/completions`, fits);
    assert.equal(r.status, 200, r.text);
  });

  t('upstream unreachable → 502', async () => {
    await expectSdkError(stack.client.chat.completions.create(chat('gpt-dead')), OpenAI.InternalServerError, 502);
  });

  t('upstream slower than the route timeout (1s) → 504', async () => {
    const t0 = Date.now();
    await expectSdkError(
      stack.client.chat.completions.create(chat('gpt-slow'), { headers: { 'x-sim-delay-ms': '4000' } }),
      OpenAI.InternalServerError, 504);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 3500, `504 came after ${elapsed} ms; expected about 1000 ms`);
  });

  t('gpt-slow within its timeout still succeeds', async () => {
    const r = await stack.client.chat.completions.create(chat('gpt-slow'), { headers: { 'x-sim-delay-ms': '100' } });
    assert.equal(r.choices[0].message.content, 'You said: hi');
  });

  t('upstream 429 passes through with retry-after and the error body', async () => {
    const err = await expectSdkError(
      stack.client.chat.completions.create(chat('gpt-sim'), { headers: { 'x-sim-status': '429' } }),
      OpenAI.RateLimitError, 429);
    assert.equal(err.headers.get('retry-after'), '7', 'retry-after lost');
    assert.equal(err.error.code, 'rate_limit_exceeded');
    assert.equal(err.error.message, 'Rate limit reached for requests (provider-sim).');

    const body = '{"error":{"message":"slow down, custom","type":"requests","param":null,"code":"rate_limit_exceeded"}}';
    const r = await rawPost(`${stack.gw.baseURL}/chat/completions`, JSON.stringify(chat('gpt-sim')),
      { 'x-sim-status': '429', 'x-sim-body': body });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.equal(r.text, body, 'upstream error body changed');
  });

  t('upstream 400 and 503 pass through with status and body unchanged', async () => {
    for (const [status, body] of [
      [400, '{"error":{"message":"Unsupported parameter: \'max_tokens\'","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}'],
      [503, '{"error":{"message":"The engine is currently overloaded","type":"server_error","param":null,"code":null}}'],
    ]) {
      const r = await rawPost(`${stack.gw.baseURL}/chat/completions`, JSON.stringify(chat('gpt-sim')),
        { 'x-sim-status': String(status), 'x-sim-body': body });
      assert.equal(r.status, status, r.text);
      assert.equal(r.text, body, `upstream ${status} body changed`);
    }
    const err = await expectSdkError(
      stack.client.embeddings.create({ model: 'gpt-sim', input: 'x' }, { headers: { 'x-sim-status': '500' } }),
      OpenAI.InternalServerError, 500);
    assert.equal(err.error.type, 'server_error');
  });

  t('the gateway still serves normally after the errors', async () => {
    const r = await stack.client.chat.completions.create(chat('gpt-sim'));
    assert.equal(r.choices[0].message.content, 'You said: hi');
  });
});
