"""The staff chat page at `/`, in headless Debian Chromium: type a question, watch the streamed answer and its sources."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.chat_store import ON_TOPIC, chat_store, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright drives it, it never downloads a browser
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    from rungs.assistant import Assistant, resolve_refs
    from rungs.kernel import compose
    from rungs.serve import create_app
    from rungs.store import Store

    root, _ = chat_store(tmp_path_factory)
    assistant = Assistant(resolve_refs(Store(root)), compose(["model=tiny", "prompt.max_new_tokens=24"]).prompt)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(assistant), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}/", assistant
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_chat_page_streams_an_answer_with_citations(served, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs the Debian chromium package")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    url, assistant = served
    planned = assistant.reply([{"role": "user", "content": ON_TOPIC}])  # sources chosen, nothing generated yet
    expected = [c.title for c in planned.citations]
    planned.close()
    profile = tmp_path / "profile"
    profile.mkdir()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport={"width": 1000, "height": 760},
        )
        try:
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("document.getElementById('refs').textContent.includes('index:v1')", timeout=30_000)
            assert "sft:v1 on base:v1" in page.inner_text("#refs")
            page.fill("#question", ON_TOPIC)
            page.press("#question", "Enter")
            answer = page.locator(".msg.assistant").last
            # the answer arrives in pieces: text shows before the stream ends
            page.wait_for_function(
                "() => { const m = [...document.querySelectorAll('.msg.assistant')].pop();"
                " return m && m.querySelector('.text').textContent.length > 0; }", timeout=60_000)
            page.wait_for_selector(".msg.assistant[data-done='true']", timeout=120_000)
            assert page.locator(".msg.user").last.inner_text().endswith(ON_TOPIC)
            assert answer.locator(".error").count() == 0
            assert "answer" in answer.get_attribute("class")
            titles = answer.locator("ol.citations li .title").all_inner_texts()
            assert titles == expected and "Inhaler" in titles[0]
            numbers = answer.locator("ol.citations li .num").all_inner_texts()
            assert [n.strip() for n in numbers] == [f"[{i}]" for i in range(1, len(expected) + 1)]
            assert "not a diagnosis" in answer.locator(".text").inner_text()
            shot = tmp_path / "chat-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            context.close()
