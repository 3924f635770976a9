"""Drives the official Anthropic Python SDK through ccproxy's API mode.

Usage: python anthropic_sdk.py BASE_URL API_KEY
Exits non-zero with a message on the first failed expectation; prints "ok" at the end.
"""

import sys

import anthropic

base_url, api_key = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)

# Non-streaming.
message = client.messages.create(
    model="claude-sonnet-4-20250514",
    max_tokens=64,
    system="Answer briefly.",
    messages=[{"role": "user", "content": "hello"}],
)
assert message.type == "message", message
assert message.content[0].type == "text", message
assert message.content[0].text.startswith("x"), message
assert message.usage.input_tokens == 12, message.usage

# Streaming, through the SDK's event parser.
with client.messages.stream(
    model="claude-sonnet-4-20250514",
    max_tokens=64,
    messages=[{"role": "user", "content": "stream please"}],
) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
assert len(text) > 0 and set(text) == {"x"}, text
assert final.stop_reason == "end_turn", final

# count_tokens and models.
count = client.messages.count_tokens(
    model="claude-sonnet-4-20250514", messages=[{"role": "user", "content": "hi"}]
)
assert count.input_tokens == 42, count
models = [m.id for m in client.models.list()]
assert "claude-sonnet-4-20250514" in models, models

# Upstream errors keep their type and headers.
try:
    client.messages.create(
        model="claude-sonnet-4-20250514",
        max_tokens=8,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-mock": "error-429"},
    )
    raise AssertionError("expected a RateLimitError")
except anthropic.RateLimitError as e:
    assert e.response.headers["retry-after"] == "7", e.response.headers
    assert e.body["error"]["type"] == "rate_limit_error", e.body

# A wrong local API token is an AuthenticationError in Anthropic's shape.
bad = anthropic.Anthropic(base_url=base_url, api_key="wrong-token", max_retries=0)
try:
    bad.messages.create(
        model="claude-sonnet-4-20250514", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    raise AssertionError("expected an AuthenticationError")
except anthropic.AuthenticationError as e:
    assert e.body["error"]["type"] == "authentication_error", e.body

print("ok")
