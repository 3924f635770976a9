"""Agent programs with their own tools on ccproxy's Claude Code mode (/sdk), where the real
`claude` CLI answers (against the mock upstream): the official Anthropic and OpenAI Python SDKs
run tool loops exactly as they would against the APIs, with no change but the base URL.

Usage: python sdk_client_tools.py BASE_URL API_KEY     (BASE_URL like http://127.0.0.1:PORT/sdk)
Exits non-zero with a message on the first failed expectation; prints "ok" at the end.
"""

import json
import sys

import anthropic
import openai

base_url, api_key = sys.argv[1], sys.argv[2]

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a location.",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def weather(location):
    return f"Sunny, 21 C in {location}"


claude = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)


def anthropic_loop(question, stream=False, run=weather, is_error=False, base=claude):
    """The agent loop of the Anthropic docs: call, run the tools asked for, send the results,
    until the model stops asking. Returns (the calls made, the final message)."""
    messages = [{"role": "user", "content": question}]
    calls = []
    for _ in range(5):
        kwargs = dict(model="sonnet", max_tokens=1024, tools=[WEATHER], messages=messages)
        if stream:
            with base.messages.stream(**kwargs) as s:
                for _ in s:
                    pass
                message = s.get_final_message()
        else:
            message = base.messages.create(**kwargs)
        if message.stop_reason != "tool_use":
            return calls, message
        uses = [b for b in message.content if b.type == "tool_use"]
        assert uses, message
        calls.append(uses)
        messages.append({"role": "assistant", "content": message.content})
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": u.id,
                        "content": run(**u.input),
                        **({"is_error": True} if is_error else {}),
                    }
                    for u in uses
                ],
            }
        )
    raise AssertionError("the loop did not end")


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


# One call and its result, not streamed and streamed.
for stream in (False, True):
    calls, final = anthropic_loop("What is the weather in Paris?", stream=stream)
    assert len(calls) == 1 and len(calls[0]) == 1, calls
    use = calls[0][0]
    assert use.name == "get_weather" and use.input == {"location": "Paris"}, use
    assert use.id.startswith("toolu_"), use
    assert "The tool returned: Sunny, 21 C in Paris" in text_of(final), final
    assert final.stop_reason == "end_turn", final

# Two calls in one message (the CLI asks for them one after the other; both results go at once).
calls, final = anthropic_loop("What is the weather in Paris and Tokyo?")
assert [u.input["location"] for u in calls[0]] == ["Paris", "Tokyo"], calls
text = text_of(final)
assert "Sunny, 21 C in Paris" in text and "Sunny, 21 C in Tokyo" in text, text

# A failed tool: the model hears it as an error.
calls, final = anthropic_loop(
    "What is the weather in Oslo?", run=lambda location: "no data", is_error=True
)
assert "The tool returned: (error) no data" in text_of(final), final

# A follow-up with an id no turn waits for: a fresh turn, still a correct answer.
stray = claude.messages.create(
    model="sonnet",
    max_tokens=1024,
    tools=[WEATHER],
    messages=[
        {"role": "user", "content": "What is the weather in Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_never_seen", "name": "get_weather", "input": {"location": "Rome"}}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_never_seen", "content": "Hot"}]},
    ],
)
assert stray.stop_reason == "end_turn" and text_of(stray), stray

# In a session: the same loop, the session's process kept for the next message.
session = anthropic.Anthropic(base_url=base_url + "/agent-1", api_key=api_key, max_retries=0)
calls, final = anthropic_loop("What is the weather in Paris?", base=session)
assert len(calls) == 1 and "Sunny, 21 C in Paris" in text_of(final), final

# OpenAI Chat Completions: tools → tool_calls, `tool` messages.
gpt = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)
FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
    },
}
for stream in (False, True):
    chat = [{"role": "user", "content": "What is the weather in Paris?"}]
    for step in range(5):
        if stream:
            calls, content, finish = {}, "", None
            for chunk in gpt.chat.completions.create(
                model="sonnet", messages=chat, tools=[FUNCTION], stream=True
            ):
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                content += choice.delta.content or ""
                for tc in choice.delta.tool_calls or []:
                    entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                    entry["id"] = tc.id or entry["id"]
                    if tc.function:
                        entry["name"] += tc.function.name or ""
                        entry["arguments"] += tc.function.arguments or ""
            tool_calls = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for _, c in sorted(calls.items())
            ]
        else:
            r = gpt.chat.completions.create(model="sonnet", messages=chat, tools=[FUNCTION])
            finish = r.choices[0].finish_reason
            content = r.choices[0].message.content or ""
            tool_calls = [tc.model_dump() for tc in r.choices[0].message.tool_calls or []]
        if finish != "tool_calls":
            break
        assert tool_calls and tool_calls[0]["function"]["name"] == "get_weather", tool_calls
        chat.append({"role": "assistant", "content": content or None, "tool_calls": tool_calls})
        for tc in tool_calls:
            args = json.loads(tc["function"]["arguments"])
            chat.append({"role": "tool", "tool_call_id": tc["id"], "content": weather(**args)})
    assert step == 1, (step, chat)
    assert "The tool returned: Sunny, 21 C in Paris" in content, content

# OpenAI Responses: function tools → function_call items, function_call_output.
items = [{"role": "user", "content": "What is the weather in Paris?"}]
tool = {
    "type": "function",
    "name": "get_weather",
    "description": WEATHER["description"],
    "parameters": WEATHER["input_schema"],
}
for step in range(5):
    r = gpt.responses.create(model="sonnet", input=items, tools=[tool], store=False)
    fc = [o for o in r.output if o.type == "function_call"]
    if not fc:
        break
    for call in fc:
        items.append(call.model_dump(exclude_none=True))
        items.append(
            {"type": "function_call_output", "call_id": call.call_id, "output": weather(**json.loads(call.arguments))}
        )
assert step == 1, items
assert "The tool returned: Sunny, 21 C in Paris" in r.output_text, r

print("ok")
