// End-to-end: the official openai SDK talks to sluice, which translates to AWS Bedrock
// (Converse / ConverseStream for schema AWSBedrock, InvokeModel Titan embeddings, InvokeModel /
// invoke-with-response-stream for schema AWSAnthropic) and signs with SigV4. The simulator
// (test/tools/provider_sims/bedrock.mjs) recomputes every signature independently with
// @smithy/signature-v4 and answers 403 InvalidSignatureException when it does not match.
// Needs the sluice binary ($SLUICE_BIN or build/sluice).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { sluiceSkipReason } from './lib/env.mjs';
import { withGatewayLogs } from './lib/sluice.mjs';
import { DEFAULT_AWS_CREDENTIALS, awsCredentialsIni, checkConverseBody, startBedrockSim } from '../tools/provider_sims/bedrock.mjs';
import {
  CLIENT_SECRETS, IMAGE_WIRE, PNG_RED, assertAccepted, assertNoCredentialLeaks, defineOpenAIChatCases, oneUpstream, startProviderStack,
} from '../tools/provider_sims/e2e_support.mjs';
import { embeddingFor, imageNote } from '../tools/provider_sims/common.mjs';

const skip = sluiceSkipReason();
const CREDS = DEFAULT_AWS_CREDENTIALS;
// Real-looking ids with ':' so that path encoding and SigV4's double encoding are exercised.
const CONVERSE_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const CLAUDE_INVOKE_MODEL = 'anthropic.claude-sonnet-4-20250514-v1:0';
const TITAN_MODEL = 'amazon.titan-embed-text-v2:0';
const COHERE_MODEL = 'cohere.embed-english-v3';

describe('openai SDK -> sluice -> AWS Bedrock (schemas AWSBedrock and AWSAnthropic, SigV4)', { skip }, () => {
  let stack;
  let client;
  before(async () => {
    stack = await startProviderStack({
      sims: { bedrock: () => startBedrockSim({ credentials: CREDS, region: 'us-east-1' }) },
      config: (s) => {
        const auth = { type: 'AWSCredentials', region: 'us-east-1', ini: awsCredentialsIni(CREDS) };
        return {
          routes: [
            { model: CONVERSE_MODEL, backend: 'bedrock' },
            { model: TITAN_MODEL, backend: 'bedrock' },
            { model: COHERE_MODEL, backend: 'bedrock' },
            { model: CLAUDE_INVOKE_MODEL, backend: 'awsanthropic' },
          ],
          backends: [
            { name: 'bedrock', schema: 'AWSBedrock', port: s.bedrock.port, auth },
            { name: 'awsanthropic', schema: 'AWSAnthropic', version: 'bedrock-2023-05-31', port: s.bedrock.port, auth },
          ],
        };
      },
    });
    client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: CLIENT_SECRETS.openaiKey, maxRetries: 0, timeout: 15000 });
  });
  after(async () => { await stack?.close(); });

  describe('AWSBedrock: Converse / ConverseStream', () => {
    const isChat = (r) => (r.kind === 'converse' || r.kind === 'converse-stream') && r.modelId === CONVERSE_MODEL;
    defineOpenAIChatCases({
      stack: () => stack, client: () => client, simName: 'bedrock', model: CONVERSE_MODEL, isChat,
      simToolIds: true, retryAfter: false, midStreamError: true, midStreamErrorType: 'rate_limit_error',
      images: { wire: IMAGE_WIRE.converse, url: 'refuse' },
      usageDetail: { cacheWrite: true },
    });

    // Converse reads images from S3 itself: an s3:// URL becomes an S3 location (format from the
    // key's extension), and the answer names what arrived.
    test('an s3:// image URL reaches Converse as an S3 location', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const uri = 's3://sluice-e2e-bucket/photos/Sky.JPG';
      const mark = sim.requests.length;
      const res = await client.chat.completions.create({
        model: CONVERSE_MODEL,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'what sky is this' }, { type: 'image_url', image_url: { url: uri } }] }],
      });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      const blocks = JSON.parse(rec.body).messages[0].content;
      assert.deepEqual(blocks[1], { image: { format: 'jpeg', source: { s3Location: { uri } } } });
      assert.equal(res.choices[0].message.content, rec.answer.text);
      assert.ok(rec.answer.text.includes(imageNote([{ url: uri }])), rec.answer.text);
    }));

    test('paths, stream choice and SigV4: every request was signed correctly', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      await client.chat.completions.create({ model: CONVERSE_MODEL, messages: [{ role: 'user', content: 'sign me' }] });
      const plain = oneUpstream(sim, mark, isChat);
      assertAccepted(plain);
      assert.equal(plain.kind, 'converse');
      assert.equal(plain.path.split('?')[0], `/model/${encodeURIComponent(CONVERSE_MODEL)}/converse`, 'the model id must be URL-encoded in the path');
      assert.equal(plain.signatureValid, true, plain.signatureProblem);
      assert.equal(plain.headers['x-amz-security-token'], CREDS.sessionToken);
      assert.match(plain.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIASLUICESIMEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, ?SignedHeaders=[^,]*host[^,]*, ?Signature=[0-9a-f]{64}$/);
      const mark2 = sim.requests.length;
      for await (const _ of await client.chat.completions.create({ model: CONVERSE_MODEL, messages: [{ role: 'user', content: 'sign my stream' }], stream: true })) { /* drain */ }
      const streamed = oneUpstream(sim, mark2, isChat);
      assert.equal(streamed.kind, 'converse-stream');
      assert.equal(streamed.signatureValid, true, streamed.signatureProblem);
      // Every request of the whole suite so far, whatever it was for.
      const bad = sim.requests.filter((r) => r.signatureValid !== true);
      assert.deepEqual(bad.map((r) => `${r.path}: ${r.signatureProblem}`), []);
    }));

    test('response_format json_schema becomes Converse structured output (outputConfig.textFormat)', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
      await client.chat.completions.create({
        model: CONVERSE_MODEL, messages: [{ role: 'user', content: 'structured please' }],
        response_format: { type: 'json_schema', json_schema: { name: 'place', strict: true, schema } },
      });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      const tf = rec.json.outputConfig?.textFormat;
      assert.equal(tf?.type, 'json_schema', JSON.stringify(rec.json));
      assert.equal(tf.structure.jsonSchema.name, 'place');
      assert.deepEqual(JSON.parse(tf.structure.jsonSchema.schema), schema);
      assert.equal(rec.signatureValid, true, rec.signatureProblem);
    }));

    test('Converse body: system, inferenceConfig.maxTokens, toolConfig, no OpenAI fields', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      await client.chat.completions.create({
        model: CONVERSE_MODEL,
        messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'hi' }],
        max_completion_tokens: 99,
        temperature: 0.5,
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        tool_choice: 'required',
      });
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.deepEqual(rec.json.system, [{ text: 'Be terse.' }]);
      assert.equal(rec.json.inferenceConfig?.maxTokens, 99);
      assert.equal(rec.json.inferenceConfig?.temperature, 0.5);
      assert.deepEqual(rec.json.toolConfig?.toolChoice, { any: {} });
      assert.equal(rec.json.toolConfig?.tools?.[0]?.toolSpec?.name, 'get_weather');
    }));
  });

  describe('AWSBedrock: Titan embeddings (InvokeModel)', () => {
    test('embeddings, float: one InvokeModel call, the sim\'s vector, usage', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const r = await client.embeddings.create({ model: TITAN_MODEL, input: 'embed this sentence', encoding_format: 'float' });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'titan-embed');
      assertAccepted(rec);
      assert.equal(rec.signatureValid, true, rec.signatureProblem);
      assert.equal(rec.path, `/model/${encodeURIComponent(TITAN_MODEL)}/invoke`);
      assert.equal(rec.json.inputText, 'embed this sentence');
      assert.equal(r.data.length, 1);
      assert.equal(r.data[0].embedding.length, rec.answer.embedding.length);
      r.data[0].embedding.forEach((v, i) => assert.ok(Math.abs(v - rec.answer.embedding[i]) < 1e-6, `component ${i}: ${v} vs ${rec.answer.embedding[i]}`));
      assert.equal(r.usage.prompt_tokens, rec.answer.usage.input);
    }));

    test('embeddings with the SDK default (base64) and dimensions', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const r = await client.embeddings.create({ model: TITAN_MODEL, input: 'base64 please', dimensions: 256 });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'titan-embed');
      assertAccepted(rec);
      assert.equal(rec.json.dimensions, 256);
      const want = embeddingFor('base64 please', 256);
      assert.equal(r.data[0].embedding.length, 256);
      r.data[0].embedding.forEach((v, i) => assert.equal(v, Math.fround(want[i]), `component ${i}`));
    }));

    test('embeddings upstream throttling becomes 429', withGatewayLogs(() => stack.gw, async () => {
      const err = await client.embeddings.create({ model: TITAN_MODEL, input: 'throttle [[error:429]]', encoding_format: 'float' }).then(() => null, (e) => e);
      assert.equal(err?.status, 429, String(err));
      assert.equal(typeof err.error?.message, 'string');
    }));

    test('a Titan batch: one signed InvokeModel call per text; one list, in order, usage summed', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const input = Array.from({ length: 11 }, (_, i) => `document number ${i} ${'word '.repeat(i)}`);
      const r = await client.embeddings.create({ model: TITAN_MODEL, input, encoding_format: 'float', dimensions: 256 });
      const recs = sim.requests.slice(mark).filter((x) => x.kind === 'titan-embed');
      assert.equal(recs.length, input.length, 'one InvokeModel call per text');
      for (const rec of recs) {
        assertAccepted(rec);
        assert.equal(rec.signatureValid, true, rec.signatureProblem);
        assert.equal(rec.json.dimensions, 256);
      }
      assert.deepEqual(new Set(recs.map((x) => x.json.inputText)), new Set(input));
      assert.equal(r.data.length, input.length);
      const byText = new Map(recs.map((x) => [x.json.inputText, x.answer.embedding]));
      r.data.forEach((d, i) => {
        assert.equal(d.index, i);
        assert.deepEqual(d.embedding, byText.get(input[i]), `text ${i}`);
      });
      assert.equal(r.usage.prompt_tokens, recs.reduce((n, x) => n + x.answer.usage.input, 0));
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);
      assert.equal(r.model, TITAN_MODEL);
    }));

    test('a Titan batch with one throttled text: the client gets the 429, not a partial list', withGatewayLogs(() => stack.gw, async () => {
      const err = await client.embeddings.create({ model: TITAN_MODEL, input: ['fine', 'throttle [[error:429]]', 'also fine'] })
        .then(() => null, (e) => e);
      assert.equal(err?.status, 429, String(err));
      assert.equal(typeof err.error?.message, 'string');
    }));
  });

  describe('AWSBedrock: Cohere Embed (InvokeModel, batches)', () => {
    test('more than 96 texts: calls of 96 and the rest; indexes run across them', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const input = Array.from({ length: 100 }, (_, i) => `cohere text ${i}`);
      const r = await client.embeddings.create({ model: COHERE_MODEL, input, encoding_format: 'float' });
      const recs = sim.requests.slice(mark).filter((x) => x.kind === 'cohere-embed');
      assert.deepEqual(recs.map((x) => x.json.texts.length).sort((a, b) => a - b), [4, 96]);
      recs.forEach((rec) => assertAccepted(rec));
      assert.deepEqual(r.data.map((d) => d.index), input.map((_, i) => i));
      const byText = new Map();
      for (const rec of recs) rec.json.texts.forEach((t, n) => byText.set(t, rec.answer.embeddings[n]));
      r.data.forEach((d, i) => assert.deepEqual(d.embedding, byText.get(input[i]), `text ${i}`));
      assert.equal(r.usage.prompt_tokens, recs.reduce((n, x) => n + x.answer.usage.input, 0));
    }));

    test('a batch in one signed call; vectors in order; usage from Bedrock\'s token-count header', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const input = ['the first document', 'a second one', 'and a third'];
      const r = await client.embeddings.create({ model: COHERE_MODEL, input, encoding_format: 'float' });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'cohere-embed');
      assertAccepted(rec);
      assert.equal(rec.signatureValid, true, rec.signatureProblem);
      assert.deepEqual(rec.json, { texts: input, input_type: 'search_document', embedding_types: ['float'] });
      assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
      r.data.forEach((d, n) => assert.deepEqual(d.embedding, rec.answer.embeddings[n]));
      assert.equal(r.usage.prompt_tokens, rec.answer.usage.input);
      assert.equal(r.model, COHERE_MODEL);
    }));

    test('the SDK default (base64), and Cohere\'s own input_type for queries', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      const r = await client.embeddings.create({ model: COHERE_MODEL, input: 'what is sluice?', input_type: 'search_query' });
      const rec = oneUpstream(sim, mark, (x) => x.kind === 'cohere-embed');
      assertAccepted(rec);
      assert.equal(rec.json.input_type, 'search_query');
      const want = embeddingFor('search_query:what is sluice?', 1024);
      assert.equal(r.data[0].embedding.length, 1024);
      r.data[0].embedding.forEach((v, i) => assert.equal(v, Math.fround(want[i]), `component ${i}`));
    }));
  });

  describe('AWSAnthropic: InvokeModel / invoke-with-response-stream', () => {
    const isChat = (r) => (r.kind === 'anthropic-invoke' || r.kind === 'anthropic-invoke-stream') && r.modelId === CLAUDE_INVOKE_MODEL;
    defineOpenAIChatCases({
      stack: () => stack, client: () => client, simName: 'bedrock', model: CLAUDE_INVOKE_MODEL, isChat,
      simToolIds: true, retryAfter: false, midStreamError: true,
      // Claude on Bedrock takes base64 image sources only.
      images: { wire: IMAGE_WIRE.anthropic, url: 'refuse' },
      usageDetail: { cacheWrite: true },
    });

    test('invoke body: anthropic_version bedrock-2023-05-31, no model, no stream; signed', withGatewayLogs(() => stack.gw, async () => {
      const sim = stack.sims.bedrock;
      const mark = sim.requests.length;
      for await (const _ of await client.chat.completions.create({ model: CLAUDE_INVOKE_MODEL, messages: [{ role: 'user', content: 'x' }], stream: true })) { /* drain */ }
      const rec = oneUpstream(sim, mark, isChat);
      assertAccepted(rec);
      assert.equal(rec.kind, 'anthropic-invoke-stream');
      assert.equal(rec.path, `/model/${encodeURIComponent(CLAUDE_INVOKE_MODEL)}/invoke-with-response-stream`);
      assert.equal(rec.json.anthropic_version, 'bedrock-2023-05-31');
      assert.equal(rec.json.model, undefined);
      assert.equal(rec.json.stream, undefined);
      assert.equal(rec.signatureValid, true, rec.signatureProblem);
    }));
  });

  test('no client credential reached the simulator; the secret access key was never sent', () => {
    assertNoCredentialLeaks(stack.sims, { bedrock: [CREDS.accessKeyId, CREDS.sessionToken] }, [CREDS.secretAccessKey]);
    const bad = stack.sims.bedrock.requests.filter((r) => r.signatureValid !== true);
    assert.deepEqual(bad.map((r) => `${r.path}: ${r.signatureProblem}`), [], 'every Bedrock request must carry a valid SigV4 signature');
  });
});

test('the simulator\'s Converse image checks refuse what Bedrock refuses (so the image cases can fail)', () => {
  const check = (image, role = 'user') => {
    const problems = [];
    const messages = role === 'user'
      ? [{ role, content: [{ text: 'look' }, { image }] }]
      : [{ role: 'user', content: [{ text: 'hi' }] }, { role, content: [{ image }] }, { role: 'user', content: [{ text: 'and?' }] }];
    const conv = checkConverseBody({ messages }, problems);
    return { problems, conv };
  };
  const bytes = PNG_RED.toString('base64');
  const ok = check({ format: 'png', source: { bytes } });
  assert.deepEqual(ok.problems, []);
  assert.ok(ok.conv.images[0].bytes.equals(PNG_RED));
  assert.match(check({ format: 'jpeg', source: { bytes } }).problems.join(), /does not match the provided media type image\/jpeg/);
  assert.match(check({ format: 'bmp', source: { bytes } }).problems.join(), /enum value set/);
  assert.match(check({ format: 'png', source: { bytes: `${bytes}!` } }).problems.join(), /not valid base64/);
  assert.match(check({ format: 'png', source: { url: 'https://x.example/a.png' } }).problems.join(), /exactly one of bytes, s3Location/);
  assert.match(check({ format: 'png', source: { bytes } }, 'assistant').problems.join(), /only supported in user turns/);
});
