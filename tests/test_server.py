"""`rungs serve` as a real process on a free loopback port, driven by the official `openai` client."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rungs.kernel import PROJECT_ROOT
from tests.chat_store import OFF_TOPIC, ON_TOPIC, chat_store, free_port, wait_for

openai = pytest.importorskip("openai")

KEY = "test-key-123"
MARKER = "Kilimanjaro"  # put in questions; must never reach the server's output or the store


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root, built = chat_store(tmp_path_factory)
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "-m", "rungs.cli", "--store", str(root), "serve", "--port", str(port), "--api-key", KEY,
           "--max-request-kb", "8", "--max-queue", "8", "prompt.max_new_tokens=16"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc=proc)
        yield {"url": f"http://127.0.0.1:{port}", "log": log, "root": root, "built": built, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server["url"] + "/v1", api_key=KEY, max_retries=0, timeout=120)


def test_health_and_models(server, client):
    health = httpx.get(server["url"] + "/health").json()
    assert health["status"] == "ok" and health["adapter"] == "sft:v1" and health["index"] == "index:v1"
    assert health["auth"] is True
    models = client.models.list()
    assert [m.id for m in models.data] == ["rungs"]
    assert models.data[0].model_extra["rungs"]["adapter_id"] == server["built"]["sft"].id


def test_completion_carries_citations(client):
    done = client.chat.completions.create(model="rungs", messages=[{"role": "user", "content": ON_TOPIC}])
    text = done.choices[0].message.content
    citations = done.model_extra["citations"]
    assert citations and citations[0]["number"] == 1 and "Inhaler" in citations[0]["title"]
    assert "Sources:\n" in text and all(f"[{c['number']}] {c['title']}" in text for c in citations)
    assert done.choices[0].finish_reason in ("stop", "length")
    assert done.usage.completion_tokens <= 16 and done.usage.prompt_tokens > 0
    assert done.model_extra["rungs"]["kind"] == "answer"


def test_streaming_in_openai_chunks(client):
    stream = client.chat.completions.create(
        model="rungs", messages=[{"role": "user", "content": ON_TOPIC}], stream=True,
        stream_options={"include_usage": True}, max_tokens=8,
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].model_extra["citations"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 8
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2  # streamed, not one blob
    assert "Sources:\n[1] " in content


def test_red_flag_and_dont_know_through_the_api(client):
    flag = client.chat.completions.create(model="rungs", messages=[{"role": "user", "content": "I think I'm having a stroke"}])
    assert flag.model_extra["rungs"]["kind"] == "red_flag" and "emergency" in flag.choices[0].message.content
    unknown = client.chat.completions.create(model="rungs", messages=[{"role": "user", "content": OFF_TOPIC}])
    assert unknown.model_extra["rungs"]["kind"] == "dont_know" and unknown.model_extra["citations"] == []


def test_api_key_is_required(server):
    bad = openai.OpenAI(base_url=server["url"] + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="rungs", messages=[{"role": "user", "content": ON_TOPIC}])
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.post(server["url"] + "/v1/chat/completions", json={"messages": []}).status_code == 401


def test_limits_give_clear_errors(server, client):
    big = {"model": "rungs", "messages": [{"role": "user", "content": "x" * 20_000}]}
    response = httpx.post(server["url"] + "/v1/chat/completions", json=big, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 413 and "limit" in response.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model="rungs", messages=[{"role": "user", "content": ON_TOPIC}], max_tokens=10_000)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": ON_TOPIC}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="rungs", messages=[{"role": "assistant", "content": "hello"}])


def test_concurrent_requests_are_queued_and_all_answered(server, client):
    def ask(i):
        done = client.chat.completions.create(model="rungs", messages=[{"role": "user", "content": ON_TOPIC}], max_tokens=6)
        return done.model_extra["rungs"]["kind"], done.choices[0].message.content

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(ask, range(5)))
    assert all(kind == "answer" and "Sources:" in text for kind, text in results)
    health = httpx.get(server["url"] + "/health").json()
    assert health["in_line"] == 0 and health["busy"] is False


def test_no_conversation_text_in_server_logs_or_store(server, client):
    client.chat.completions.create(model="rungs", messages=[{"role": "user", "content": f"{ON_TOPIC} {MARKER}"}])
    list(client.chat.completions.create(model="rungs", stream=True,
                                        messages=[{"role": "user", "content": f"{MARKER}: my chest hurts"}]))
    log = server["log"].read_text()
    assert "POST /v1/chat/completions" in log  # the access log is there, and it is bodiless
    assert MARKER not in log
    for path in server["root"].rglob("*"):
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path


def test_a_full_line_gets_503_red_flags_never_wait_and_hang_ups_stop_generating(tmp_path_factory):
    import threading
    import time

    import uvicorn

    from rungs.assistant import Assistant, resolve_refs
    from rungs.kernel import compose
    from rungs.serve import create_app
    from rungs.store import Store

    root, _ = chat_store(tmp_path_factory)
    assistant = Assistant(resolve_refs(Store(root)), compose(["model=tiny", "prompt.max_new_tokens=160"]).prompt)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(assistant, max_queue=1), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    ask = {"model": "rungs", "messages": [{"role": "user", "content": ON_TOPIC}], "max_tokens": 4}
    try:
        wait_for(url + "/health")
        results = {}
        with assistant.lock:  # someone else's answer is being generated
            waiting = threading.Thread(target=lambda: results.setdefault("first", httpx.post(url + "/v1/chat/completions", json=ask, timeout=60)))
            waiting.start()
            deadline = time.monotonic() + 30
            while httpx.get(url + "/health").json()["in_line"] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            full = httpx.post(url + "/v1/chat/completions", json=ask, timeout=30)
            assert full.status_code == 503 and full.headers["retry-after"] and full.json()["error"]["code"] == "queue_full"
            flag = httpx.post(url + "/v1/chat/completions", timeout=10,
                              json={"model": "rungs", "messages": [{"role": "user", "content": "she is not breathing"}]})
            assert flag.status_code == 200 and flag.json()["rungs"]["kind"] == "red_flag"
        waiting.join(60)
        assert results["first"].status_code == 200 and results["first"].json()["rungs"]["kind"] == "answer"
        assert httpx.get(url + "/health").json()["in_line"] == 0

        # a client that goes away mid-stream: its generation stops and the model is free again
        long = {**ask, "max_tokens": 150, "stream": True, "sources_footer": False}
        generated_before = assistant.generations
        with httpx.stream("POST", url + "/v1/chat/completions", json=long, timeout=60) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    break  # the first words arrived; hang up
        began = time.monotonic()
        while (assistant.lock.locked() or httpx.get(url + "/health").json()["in_line"]) and time.monotonic() - began < 10:
            time.sleep(0.05)
        assert not assistant.lock.locked() and assistant.generations == generated_before + 1
        assert httpx.get(url + "/health").json()["in_line"] == 0
    finally:
        server.should_exit = True


def test_access_log_drops_query_strings(server):
    httpx.get(server["url"] + "/health?api_key=Kilimanjaro-key&q=chest+pain")
    httpx.get(server["url"] + "/v1/models?api_key=Kilimanjaro-key")
    log = server["log"].read_text()
    assert "GET /health HTTP" in log and "Kilimanjaro" not in log and "chest" not in log


# ------------------------------------------------------------------------------ hostile input, real tiny model

SHORT_QUESTIONS = ["What is asthma?", "How do I use an inhaler?", "What causes diabetes?", "How is high blood pressure treated?",
                   "What is a migraine?", "Is eczema contagious?", "What helps a cough?", "How do I lower cholesterol?",
                   "What is an allergy?", "What are the signs of asthma?"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny profile's assistant at default settings (conf/prompt/default.yaml), in process, and its app."""
    from fastapi.testclient import TestClient

    from rungs.assistant import Assistant, resolve_refs
    from rungs.kernel import compose
    from rungs.serve import create_app
    from rungs.store import Store

    root, _ = chat_store(tmp_path_factory)
    assistant = Assistant(resolve_refs(Store(root)), compose(["model=tiny"]).prompt)
    return assistant, TestClient(create_app(assistant), raise_server_exceptions=False)


def test_the_tiny_profile_answers_short_questions_at_default_settings(tiny):
    assistant, client = tiny
    native = assistant.max_positions
    try:
        for context in (native, 512):  # the profile's context, and a small one where the default max_tokens cannot fit
            assistant.max_positions = context
            for question in SHORT_QUESTIONS:
                reply = assistant.reply([{"role": "user", "content": question}])  # no max_tokens: the default
                assert reply.kind in ("answer", "red_flag", "dont_know")
                assert reply.prompt_tokens < context
                reply.close()
            done = client.post("/v1/chat/completions", json={"model": "rungs", "messages": [{"role": "user", "content": SHORT_QUESTIONS[0]}]})
            assert done.status_code == 200 and done.json()["choices"][0]["message"]["content"].strip()
    finally:
        assistant.max_positions = native


@pytest.mark.parametrize("raw", [
    '{"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}',
    '{"messages":[{"role":"user","content":"How should I use my asthma inhaler? \\ud800"}]}',
    '{"messages":' + "[" * 20_000 + "]" * 20_000 + "}",
])
def test_hostile_input_to_the_real_model_is_a_400(tiny, raw):
    _, client = tiny
    response = client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_tiny_temperature_and_unknown_routes_on_the_real_model(tiny):
    _, client = tiny
    ask = {"model": "rungs", "messages": [{"role": "user", "content": ON_TOPIC}], "temperature": 1e-300, "max_tokens": 8}
    done = client.post("/v1/chat/completions", json=ask)
    assert done.status_code == 200 and done.json()["rungs"]["kind"] == "answer"
    for response, status in ((client.get("/v1/nope"), 404), (client.put("/v1/models"), 405)):
        assert response.status_code == status and "error" in response.json()


def test_schemathesis_against_the_real_tiny_model(tiny):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    from rungs.serve import create_app

    assistant, _ = tiny
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(assistant, max_tokens=4))
    operation = schema["/v1/chat/completions"]["POST"]

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case):
        response = case.call()
        assert response.status_code < 500, (case.body, response.text[:300])
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    check()
