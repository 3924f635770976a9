"""Drives the official Anthropic and OpenAI Python SDKs through ccproxy's Claude Code mode
(/sdk), where the real `claude` CLI answers (against the mock upstream).

Usage: python sdk_mode_clients.py BASE_URL API_KEY     (BASE_URL like http://127.0.0.1:PORT/sdk)
Exits non-zero with a message on the first failed expectation; prints "ok" at the end.
"""

import sys

import anthropic
import openai

base_url, api_key = sys.argv[1], sys.argv[2]

claude = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)

message = claude.messages.create(
    model="sonnet",
    max_tokens=64,
    system="Answer briefly.",
    messages=[{"role": "user", "content": "hello"}],
)
assert message.type == "message", message
assert message.content[0].text.startswith("x"), message
assert message.usage.output_tokens > 0, message.usage

chunks = []
with claude.messages.stream(
    model="sonnet",
    max_tokens=64,
    messages=[{"role": "user", "content": "stream please"}],
) as stream:
    for piece in stream.text_stream:
        chunks.append(piece)
    final = stream.get_final_message()
assert len(chunks) >= 4, chunks
assert set("".join(chunks)) == {"x"}, chunks
assert final.stop_reason == "end_turn", final

tool = claude.messages.create(
    model="sonnet",
    max_tokens=64,
    messages=[{"role": "user", "content": "MOCK_TOOL_USE please"}],
)
text = "".join(b.text for b in tool.content if b.type == "text")
assert "Bash(" in text and "The tool returned: hi" in text, text

try:
    claude.messages.create(
        model="sonnet", max_tokens=8, messages=[{"role": "user", "content": "MOCK_ERROR_429"}]
    )
    raise SystemExit("expected a 429")
except anthropic.RateLimitError as e:
    assert e.status_code == 429, e

# Upstream refuses the CLI's Claude Code version for this model: the client is told which
# version is needed and how to update the CLI, and /sdk/status remembers it.
try:
    claude.messages.create(
        model="sonnet", max_tokens=8, messages=[{"role": "user", "content": "MOCK_VERSION_FLOOR"}]
    )
    raise SystemExit("expected a version-floor error")
except anthropic.APIStatusError as e:
    assert e.status_code == 400, e
    assert "9.9.9" in str(e.message), e.message
    assert "npm" in str(e.message), e.message
status = claude.get("/status", cast_to=object)
assert status["version_floor"]["need"] == "9.9.9", status

gpt = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)
completion = gpt.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
)
assert completion.choices[0].message.content.startswith("x"), completion
deltas = [
    c.choices[0].delta.content
    for c in gpt.chat.completions.create(
        model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hello"}]
    )
    if c.choices and c.choices[0].delta.content
]
assert len(deltas) >= 4, deltas
response = gpt.responses.create(model="gpt-4o", input="hello")
assert response.output_text.startswith("x"), response

print("ok")
