// The Vercel AI SDK (`ai` with its Anthropic and OpenAI providers, pinned in package.json)
// through ccproxy, with no change but the base URL. Its providers check every response and
// stream event against strict schemas (a `citations: null` on a text block, a missing `usage`
// field or an unknown `type` fails the call), so this is the strict client of the suite.
//
// Usage: node vercel_ai_sdk.mjs BASE_URL API_KEY MODE
//   MODE "sdk": BASE_URL like http://127.0.0.1:PORT/sdk (Claude Code mode, the real CLI answering)
//   MODE "api": BASE_URL like http://127.0.0.1:PORT/api (API mode, the mock upstream answering)
// Exits non-zero with a message on the first failed expectation; prints "ok" at the end.

import assert from "node:assert/strict";
import { generateText, streamText, stepCountIs, tool, jsonSchema } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";

const [base, apiKey, mode] = process.argv.slice(2);
assert.ok(["sdk", "api"].includes(mode) && base && apiKey, "usage: BASE_URL API_KEY MODE");

const anthropic = createAnthropic({ baseURL: `${base}/v1`, apiKey });
const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey });

const tools = {
  get_weather: tool({
    description: "Get the current weather for a location.",
    inputSchema: jsonSchema({
      type: "object",
      properties: { location: { type: "string" } },
      required: ["location"],
      additionalProperties: false,
    }),
    execute: async ({ location }) => `Sunny, 21 C in ${location}`,
  }),
};

/** An agent's tool loop as the SDK's docs write it: the SDK runs the tool and sends its result. */
async function toolLoop(model, stream) {
  const args = {
    model,
    tools,
    stopWhen: stepCountIs(5),
    maxRetries: 0,
    prompt: "What is the weather in Paris?",
  };
  let result;
  if (stream) {
    result = streamText({ ...args, onError: ({ error }) => { throw error; } });
    await result.consumeStream();
  } else {
    result = await generateText(args);
  }
  const steps = await result.steps;
  const calls = steps.flatMap((s) => s.toolCalls);
  assert.equal(calls.length, 1, JSON.stringify(steps.map((s) => s.content)));
  assert.equal(calls[0].toolName, "get_weather");
  assert.deepEqual(calls[0].input, { location: "Paris" });
  assert.equal(steps.length, 2, "one step with the call, one with the answer");
  const text = await result.text;
  assert.match(text, /Sunny, 21 C in Paris/, text);
  assert.equal(await result.finishReason, "stop");
}

const models = [
  ["anthropic messages", anthropic("claude-sonnet-4-5")],
  ["openai chat", openai.chat("claude-sonnet-4-5")],
  ["openai responses", openai.responses("claude-sonnet-4-5")],
];

for (const [name, model] of models) {
  try {
    // Plain text, whole and streamed.
    const plain = await generateText({ model, prompt: "say hello", maxRetries: 0 });
    assert.ok(plain.text.length > 0, "no text");
    assert.equal(plain.finishReason, "stop");
    assert.ok(plain.usage.inputTokens > 0 && plain.usage.outputTokens > 0, JSON.stringify(plain.usage));

    const streamed = streamText({
      model,
      prompt: "say hello",
      maxRetries: 0,
      onError: ({ error }) => { throw error; },
    });
    let deltas = 0;
    for await (const part of streamed.textStream) {
      if (part) deltas += 1;
    }
    assert.ok(deltas > 0, "no text deltas");
    assert.equal(await streamed.text, plain.text, "the same answer, streamed");
    assert.ok((await streamed.usage).outputTokens > 0);

    // A follow-up turn on the first turn's messages, as a chat UI sends it.
    const followUp = await generateText({
      model,
      maxRetries: 0,
      messages: [
        { role: "user", content: "say hello" },
        ...plain.response.messages,
        { role: "user", content: "say hello again" },
      ],
    });
    assert.ok(followUp.text.length > 0, "no text in the follow-up");
    if (name === "openai responses" && mode === "api") {
      // The SDK stores responses by default, so it names the earlier answer by its id
      // (`item_reference`); the proxy's response store resolves it.
      const body = followUp.request.body;
      const input = JSON.stringify((typeof body === "string" ? JSON.parse(body) : body).input);
      assert.match(input, /"item_reference"/, `no item_reference was sent: ${input}`);
    }

    // The tool loop, whole and streamed.
    for (const stream of [false, true]) {
      await toolLoop(model, stream);
    }
  } catch (error) {
    console.error(`${name}: ${error.stack ?? error}`);
    if (error.responseBody) console.error(`response body: ${error.responseBody}`);
    process.exit(1);
  }
}

console.log("ok");
