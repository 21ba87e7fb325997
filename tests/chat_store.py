"""One small store for the assistant, server and chat-page tests, built once per test session.

model=tiny, the sample corpus, the index, a triage classifier, a few SFT steps on the base model (pipeline=sft, no cpt),
built through `rungs.pipeline.build` like any pipeline; `production` points at the sft adapter and the index.
The cache is module-level so that every test module of a pytest run shares one build.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.tiny import TRIAGE

# triage.epochs=0: the shipped embedder as is (seconds); the tuned detector is measured in tests/test_triage.py
CHAT_OVERRIDES = ["model=tiny", "pipeline=sft", "sft.max_steps=4", "sft.checkpoint_every=10", "sft.eval_every=100",
                  "triage.epochs=0", *TRIAGE]
STAGES = ("corpus", "base", "index", "triage", "sft")
# answered from corpora/documents (asthma.md); every test module asks it
ON_TOPIC = "How should I use my asthma inhaler?"
OFF_TOPIC = "Which chord progression suits a slow jazz ballad on the guitar?"

_cache: dict[str, object] = {}


def chat_store(tmp_path_factory) -> tuple[Path, dict]:
    """(store root, {kind: artifact}) with sft@production and index@production set."""
    if "root" not in _cache:
        from rungs.kernel import compose, progress_factory
        from rungs.pipeline import build, resolve_inputs
        from rungs.store import Store

        root = tmp_path_factory.mktemp("chatstore")
        store = Store(root)
        cfg = compose(CHAT_OVERRIDES)
        built: dict = {}
        for kind in STAGES:
            inputs = resolve_inputs(kind, store, built=built, cfg=cfg)
            built[kind] = build(kind, cfg, inputs, store, progress=progress_factory(False)).artifact
        store.set_alias("production", built["sft"].id, reason="chat tests")
        store.set_alias("production", built["index"].id, reason="chat tests")
        _cache["root"], _cache["built"] = root, built
    return _cache["root"], _cache["built"]  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 180.0, proc=None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")
