"""The API never answers a client's input with a 500: property-based requests (hypothesis) and a schemathesis
run against the app's own OpenAPI schema, every error in OpenAI's shape; the access log drops query strings.

The model is stubbed here (these are input paths: validation happens before any generation); the real tiny
model answers the same hostile inputs in tests/test_server.py.
"""

from __future__ import annotations

import json
import logging
import threading
import types

import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rungs.assistant import Reply, conversation, fixed_reply  # noqa: E402
from rungs.serve import create_app  # noqa: E402

ERROR_KEYS = {"message", "type", "param", "code"}


class StubAssistant:
    """What create_app uses of an Assistant, with the real conversation checks and no model."""

    def __init__(self):
        model = types.SimpleNamespace(ref="sft:v1", id="0123456789ab")
        self.refs = types.SimpleNamespace(model=model, adapter=None, describe=lambda: {"model": "sft:v1"},
                                          summary=lambda: "sft:v1")
        self.prompt = types.SimpleNamespace(max_new_tokens=16)
        self.lock = threading.Lock()

    def describe(self) -> dict:
        return {"id": "rungs"}

    def reply(self, messages, *, max_new_tokens=None, temperature=None, sources_footer=None) -> Reply:
        _, question = conversation(messages, 4)  # ValueError on a malformed conversation, as the real one
        if "dont-know" in question:
            return fixed_reply("dont_know", "I don't know.")
        reply = Reply("answer", iter(["An ", "answer."]), [])
        reply.completion_tokens = 2
        return reply


@pytest.fixture(scope="module")
def app():
    return create_app(StubAssistant())


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


def assert_openai_answer(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def post(client, body=None, raw: bytes | str | None = None):
    data = raw if raw is not None else json.dumps(body, allow_nan=True)
    return client.post("/v1/chat/completions", content=data, headers={"content-type": "application/json"})


# ---------------------------------------------------------------------------------------------- found cases


@pytest.mark.parametrize("raw", [
    '{"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}',  # a part whose text is a number
    '{"messages":[{"role":"user","content":"asthma \\ud800 inhaler"}]}',  # a lone surrogate
    "[" * 20_000 + "]" * 20_000,  # JSON nested 20k deep
    '{"messages":' + "[" * 20_000 + "]" * 20_000 + "}",
    '{"messages":[{"role":"user","content":"hi"}],"temperature":NaN}',
    '{"messages":[{"role":"user","content":"hi"}],"temperature":1e999}',
    '{"messages":[{"role":"tool","content":"x"}]}',
    '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}',
    '{"messages":[{"role":"user","content":"hi"}],"max_tokens":1000000}',
    '{"messages":[{"role":"user","content":"hi"}],"n":3}',
    '{"messages":"hi"}', "[]", "null", "\xff", "",
])
def test_hostile_bodies_get_400_in_openai_shape(client, raw):
    response = post(client, raw=raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    assert response.status_code == 400, response.text
    assert_openai_answer(response)


def test_unknown_paths_and_methods_answer_in_openai_shape(client):
    for response, status in ((client.get("/nope"), 404), (client.delete("/v1/chat/completions"), 405),
                             (client.get("/v1/chat/completions"), 405), (client.get("/v1/models/gpt-4o"), 404)):
        assert response.status_code == status
        assert_openai_answer(response)


def test_a_tiny_temperature_is_an_answer(client):
    response = post(client, {"messages": [{"role": "user", "content": "hi"}], "temperature": 1e-300})
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "An answer."


def test_the_openapi_schema_has_the_request_model(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    request = schema["components"]["schemas"]["ChatCompletionRequest"]
    assert request["required"] == ["messages"] and "temperature" in request["properties"]


def test_the_access_log_drops_query_strings():
    from rungs.serve._app import DropQuery  # noqa: PLC2701  (the filter itself, on a record as uvicorn makes it)

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/health?api_key=SECRET", "1.1", 200), None)
    assert DropQuery().filter(record) and "SECRET" not in record.getMessage() and "/health" in record.getMessage()


# ---------------------------------------------------------------------------------------------- hypothesis

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
any_text = st.text(max_size=12)
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2)
contents = (any_text | st.builds(lambda a, b: a + b, any_text, surrogates) | json_values
            | st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", 3]),
                                              "text": any_text | json_values}), max_size=3))
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "", 7]),
                           "content": contents}) | json_values,
    max_size=4,
)
requests = st.fixed_dictionaries(
    {"messages": messages | json_values},
    optional={
        "model": st.sampled_from(["rungs", "gpt-4o", "", None, 1]),
        "stream": st.booleans() | json_values,
        "max_tokens": st.integers(-5, 100) | json_values,
        "temperature": st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e-300, 0, 2, 2.5]) | json_values,
        "n": st.integers(-1, 3) | json_values,
        "stream_options": json_values,
        "sources_footer": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=requests | json_values)
def test_no_request_body_gets_a_500(client, body):
    response = post(client, body)
    assert_openai_answer(response)
    if response.status_code == 200 and not (isinstance(body, dict) and body.get("stream") is True):
        assert response.json()["object"] == "chat.completion"


# ---------------------------------------------------------------------------------------------- schemathesis

schemathesis = pytest.importorskip("schemathesis")
_schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(StubAssistant()))
# valid requests and invalid ones (wrong types, values out of range, missing fields), every operation
_schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=40)


@_schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_500_and_no_foreign_error_body(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
