// End-to-end: an OpenAI-client request that the target backend's dialect cannot express is
// refused by sluice with a 400 in OpenAI's error shape naming the offending field (error.param
// and the message), and nothing reaches the upstream. Backends: Anthropic (schema Anthropic,
// the anthropic sim) and AWS Bedrock Converse (schema AWSBedrock, the bedrock sim); the client
// is the official openai SDK. (The Anthropic-client counterpart is in
// providers_anthropic_ingress.test.mjs.)
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { startAnthropicSim } from '../tools/provider_sims/anthropic.mjs';
import { awsCredentialsIni, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import { CLIENT_SECRETS, assertAccepted, oneUpstream, startProviderStack } from '../tools/provider_sims/e2e_support.mjs';

const skip = sluiceSkipReason();
const ANTHROPIC_KEY = 'sk-ant-untranslatable-backend-key';
const CREDS = {
  accessKeyId: 'AKIAUNTRANSLATABLE01',
  secretAccessKey: 'untranslatableSecretKey/K7MDENG/bPxRfiCYEXAMPLE',
  sessionToken: 'FwoGZXIvYXdzEuntranslatableSessionTokenEXAMPLE//',
};
const M = { anthropic: 'claude-sonnet-4-5', bedrock: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0' };

// A tiny WAV header, base64: the content of an OpenAI input_audio part.
const AUDIO = Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1').toString('base64');
const audioPart = { type: 'input_audio', input_audio: { data: AUDIO, format: 'wav' } };

describe('openai SDK -> sluice -> a backend that cannot express the request: 400 naming the field, nothing upstream', { skip }, () => {
  let stack;
  let client;
  before(async () => {
    stack = await startProviderStack({
      sims: {
        anthropic: () => startAnthropicSim({ apiKey: ANTHROPIC_KEY }),
        bedrock: () => startBedrockSim({ credentials: CREDS }),
      },
      config: (s) => ({
        routes: [{ model: M.anthropic, backend: 'anthropic' }, { model: M.bedrock, backend: 'bedrock' }],
        backends: [
          { name: 'anthropic', schema: 'Anthropic', port: s.anthropic.port, auth: { type: 'AnthropicAPIKey', key: ANTHROPIC_KEY } },
          { name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth: { type: 'AWSCredentials', region: 'us-east-1', ini: awsCredentialsIni(CREDS) } },
        ],
      }),
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  /**
   * Sends params (with the SDK; `stream` as given) and asserts a BadRequestError in OpenAI's
   * shape whose param is `field` and whose message names the field and `mention`; asserts
   * that no request at all reached any simulator meanwhile.
   */
  async function expectRefused(params, field, mention) {
    const marks = Object.fromEntries(Object.entries(stack.sims).map(([n, s]) => [n, s.requests.length]));
    const err = await client.chat.completions.create(params).then(
      async (r) => {
        // A stream that opened: drain it so the failure message shows what came instead.
        if (params.stream) for await (const _ of r) { /* drain */ }
        return null;
      },
      (e) => e,
    );
    assert.ok(err, `the gateway accepted a request its backend cannot express (${field})`);
    assert.ok(err instanceof OpenAI.BadRequestError, `expected BadRequestError (400), got ${err?.constructor?.name} ${err?.status}: ${err?.message}`);
    assert.equal(err.status, 400);
    assert.match(err.headers?.get('content-type') ?? '', /^application\/json/);
    assert.ok(err.error && typeof err.error === 'object', `no OpenAI error object: ${JSON.stringify(err.error)}`);
    assert.equal(err.error.type, 'invalid_request_error', JSON.stringify(err.error));
    assert.equal(err.error.param, field, `error.param: ${JSON.stringify(err.error)}`);
    assert.ok(err.error.message.includes(field), `the message does not name ${field}: ${err.error.message}`);
    if (mention) assert.match(err.error.message, mention);
    for (const [name, sim] of Object.entries(stack.sims)) {
      const seen = sim.requests.slice(marks[name]);
      assert.deepEqual(seen.map((r) => `${r.method} ${r.path}`), [], `a refused request reached the ${name} simulator`);
    }
    return err;
  }

  for (const [backend, model, isChat] of [
    ['Anthropic', M.anthropic, (r) => r.kind === 'messages' || r.kind === 'messages-stream'],
    ['AWSBedrock (Converse)', M.bedrock, (r) => r.kind === 'converse' || r.kind === 'converse-stream'],
  ]) {
    const simName = backend === 'Anthropic' ? 'anthropic' : 'bedrock';
    describe(`-> ${backend}`, () => {
      test('control: the same conversation with text parts only is translated and answered', withGatewayLogs(() => stack.gw, async () => {
        const sim = stack.sims[simName];
        const mark = sim.requests.length;
        const r = await client.chat.completions.create({
          model, messages: [{ role: 'user', content: [{ type: 'text', text: 'listen to this' }, { type: 'text', text: 'and answer' }] }],
        });
        const rec = oneUpstream(sim, mark, isChat);
        assertAccepted(rec);
        assert.equal(r.choices[0].message.content, rec.answer.text);
      }));

      test('an input_audio part: 400 with param messages[0].content[1]', withGatewayLogs(() => stack.gw, async () => {
        await expectRefused({
          model, messages: [{ role: 'user', content: [{ type: 'text', text: 'listen to this' }, audioPart] }],
        }, 'messages[0].content[1]', /input_audio/);
      }));

      test('streamed: the same refusal as a JSON 400 before any stream starts', withGatewayLogs(() => stack.gw, async () => {
        await expectRefused({
          model, stream: true, stream_options: { include_usage: true },
          messages: [{ role: 'user', content: [{ type: 'text', text: 'listen to this' }, audioPart] }],
        }, 'messages[0].content[1]', /input_audio/);
      }));

      test('the field path points at the right message and part of a longer conversation', withGatewayLogs(() => stack.gw, async () => {
        await expectRefused({
          model,
          messages: [
            { role: 'system', content: 'Answer briefly.' },
            { role: 'user', content: 'first question' },
            { role: 'assistant', content: 'first answer' },
            { role: 'user', content: [audioPart, { type: 'text', text: 'what is this sound?' }] },
          ],
        }, 'messages[3].content[0]', /input_audio/);
      }));

      test('a file part holding an OpenAI file id (no inline data): 400 naming the part\'s file', withGatewayLogs(() => stack.gw, async () => {
        const field = backend === 'Anthropic' ? 'messages[0].content[1].file' : 'messages[0].content[1].file.file_id';
        await expectRefused({
          model, messages: [{ role: 'user', content: [{ type: 'text', text: 'summarise' }, { type: 'file', file: { file_id: 'file-abc123' } }] }],
        }, field);
      }));
    });
  }

  test('-> AWSBedrock: an image by http(s) URL (Bedrock takes inline bytes only): 400 naming image_url.url', withGatewayLogs(() => stack.gw, async () => {
    await expectRefused({
      model: M.bedrock,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is in this picture?' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
    }, 'messages[0].content[1].image_url.url', /base64 data: URL/);
  }));

  test('-> Anthropic: a user part of a type the translator does not know: 400 naming it', withGatewayLogs(() => stack.gw, async () => {
    await expectRefused({
      model: M.anthropic,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'video_url', video_url: { url: 'https://example.com/v.mp4' } }] }],
    }, 'messages[0].content[1]', /video_url/);
  }));
});
