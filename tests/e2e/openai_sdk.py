"""Drives the official OpenAI Python SDK through ccproxy's OpenAI surface (API mode).

Usage: python openai_sdk.py BASE_URL API_KEY
The mock upstream picks its answer from the `x-mock` header (see tests/mock-upstream).
Exits non-zero with a message on the first failed expectation; prints "ok" at the end.
"""

import json
import sys

import openai

base_url, api_key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)

# Chat, not streamed; the reply reports the model name asked for.
r = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    max_completion_tokens=50,
    temperature=0.2,
    stop=["END"],
    user="sdk-user",
)
assert r.model == "gpt-4o", r
assert r.id.startswith("chatcmpl-") and len(r.id) > 15, r.id
assert r.created > 1_700_000_000, r.created
assert r.choices[0].message.role == "assistant"
assert r.choices[0].message.content.startswith("x"), r
assert r.choices[0].finish_reason == "stop"
assert r.usage.prompt_tokens == 12 and r.usage.completion_tokens == 6, r.usage

# Chat, streamed, with usage.
chunks = list(
    client.chat.completions.create(
        model="claude-sonnet-4-20250514",
        messages=[{"role": "user", "content": "stream"}],
        stream=True,
        stream_options={"include_usage": True},
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert len(text) > 0 and set(text) == {"x"}, text
assert chunks[0].choices[0].delta.role == "assistant"
assert len({c.id for c in chunks}) == 1, "one id per stream"
assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
assert chunks[-1].usage.prompt_tokens == 12, chunks[-1]

# Tool calls: text, then two parallel calls, streamed; then the round trip with the results.
tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
stream = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "Weather in Paris and Oslo?"}],
    tools=tools,
    stream=True,
    extra_headers={"x-mock": "tools"},
)
text, calls, finish = "", {}, None
for chunk in stream:
    delta = chunk.choices[0].delta
    text += delta.content or ""
    for call in delta.tool_calls or []:
        entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
        if call.id:
            entry["id"], entry["name"] = call.id, call.function.name
        entry["arguments"] += call.function.arguments or ""
    finish = chunk.choices[0].finish_reason or finish
assert text == "I'll check both cities.", text
assert finish == "tool_calls", finish
assert sorted(calls) == [0, 1], calls
assert calls[0]["id"] == "toolu_01" and json.loads(calls[0]["arguments"]) == {"city": "Paris"}, calls
assert json.loads(calls[1]["arguments"]) == {"city": "Oslo", "units": "celsius"}, calls

r = client.chat.completions.create(
    model="gpt-4o",
    messages=[
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": text, "tool_calls": [
            {"id": calls[i]["id"], "type": "function", "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]}} for i in (0, 1)
        ]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C sunny"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "2C snow"},
    ],
    tools=tools,
)
assert r.choices[0].message.content == "The tool returned: 18C sunny; 2C snow", r

# Non-streamed tool calls.
r = client.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "w?"}], tools=tools, extra_headers={"x-mock": "tools"}
)
msg = r.choices[0].message
assert r.choices[0].finish_reason == "tool_calls"
assert [c.function.name for c in msg.tool_calls] == ["weather", "weather"]
assert json.loads(msg.tool_calls[1].function.arguments)["city"] == "Oslo"

# Images: a data: URL and an https URL.
r = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]}],
)
assert r.choices[0].message.content

# Errors keep their type: 429 before the stream, and a stream that breaks midway.
try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock": "error-429"})
    raise AssertionError("expected RateLimitError")
except openai.RateLimitError as e:
    assert e.response.headers["retry-after"] == "7"
    assert e.body["message"] == "slow down", e.body
try:
    for _ in client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True, extra_headers={"x-mock": "stream-break"}):
        pass
    raise AssertionError("expected APIError")
except openai.APIError as e:
    assert "ended unexpectedly" in str(e), e

# A request Claude cannot honour is a BadRequestError naming the field.
try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], n=3)
    raise AssertionError("expected BadRequestError")
except openai.BadRequestError as e:
    assert e.body["param"] == "n", e.body

# Responses API: plain text.
r = client.responses.create(model="gpt-4o", instructions="Be brief.", input="hi", max_output_tokens=50)
assert r.status == "completed", r
assert r.model == "gpt-4o"
assert r.output_text.startswith("x"), r.output_text
assert r.usage.input_tokens == 12, r.usage

# Responses API: a function-call round trip, the first turn streamed.
rtools = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
events = list(client.responses.create(
    model="gpt-4o", input="Weather in Paris and Oslo?", tools=rtools, stream=True, extra_headers={"x-mock": "tools"}
))
types = [e.type for e in events]
assert types[0] == "response.created" and types[-1] == "response.completed", types
assert "response.output_text.delta" in types and "response.function_call_arguments.delta" in types, types
assert [e.sequence_number for e in events] == list(range(len(events)))
final = events[-1].response
calls = [item for item in final.output if item.type == "function_call"]
assert [json.loads(c.arguments)["city"] for c in calls] == ["Paris", "Oslo"], calls
follow_up = [{"role": "user", "content": "Weather in Paris and Oslo?"}]
follow_up += [{"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments} for c in calls]
follow_up += [{"type": "function_call_output", "call_id": c.call_id, "output": "fine"} for c in calls]
r = client.responses.create(model="gpt-4o", input=follow_up, tools=rtools)
assert r.output_text == "The tool returned: fine; fine", r

# Responses API errors.
try:
    client.responses.create(model="gpt-4o", input="x", extra_headers={"x-mock": "error-429"})
    raise AssertionError("expected RateLimitError")
except openai.RateLimitError:
    pass
# Kept responses: one can be continued; an unknown id is a 404 naming it.
kept = client.responses.create(model="gpt-4o", input="x")
assert client.responses.retrieve(kept.id).id == kept.id
assert client.responses.create(model="gpt-4o", input="y", previous_response_id=kept.id).previous_response_id == kept.id
try:
    client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_123")
    raise AssertionError("expected NotFoundError")
except openai.NotFoundError as e:
    assert "resp_123" in e.body["message"], e.body

# Models.
ids = [m.id for m in client.models.list()]
assert "claude-sonnet-4-20250514" in ids, ids
assert client.models.retrieve("gpt-4o").id == "gpt-4o"

print("ok")
