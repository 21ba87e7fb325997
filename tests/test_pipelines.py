"""The lower rungs (`pipeline=rag`, `pipeline=sft`) run end to end from the command `rungs advise` prints.

`pipeline=full` (the default) already runs end to end in tests/test_stages.py (runner) and
tests/test_flow.py (Prefect, and `rungs run` through the CLI); the command advise prints for it is
parsed and composed in tests/test_advise.py. Here rag is built first and sft second in one store, as a
team climbing the ladder would: sft reuses the corpus, base and index that rag built.
"""

from __future__ import annotations

import pytest

from rungs.pipeline import advise
from rungs.cli import build_parser
from rungs.store import Store
from tests.test_advise import PROFILES
from tests.test_stages import build_pipeline
from tests.tiny import TRIAGE

# model=tiny and a handful of steps: the point is that every pipeline's stages connect and publish
TINY = ["model=tiny", "sft.max_steps=8", "sft.warmup_steps=2", "evaluate.perplexity.min_tokens=2000", *TRIAGE]


@pytest.fixture(scope="module")
def climbed(tmp_path_factory):
    from rungs.kernel import progress_factory

    store = Store(tmp_path_factory.mktemp("rungs"))
    results, commands = {}, {}
    for rung in ("rag", "sft"):
        advice = advise(PROFILES[rung], overrides=TINY)
        args = build_parser().parse_args(advice.argv)  # exactly what `rungs <argv>` would run
        assert args.command == "run"
        commands[rung] = advice.command
        results[rung] = build_pipeline(store, args.overrides, progress_factory(False))
    return store, results, commands


def test_each_pipeline_builds_its_stages_and_only_those(climbed):
    store, results, commands = climbed
    assert commands == {"rag": "rungs run pipeline=rag " + " ".join(TINY), "sft": "rungs run pipeline=sft " + " ".join(TINY)}
    assert list(results["rag"]) == ["corpus", "base", "index", "triage", "evaluate"]
    assert list(results["sft"]) == ["corpus", "base", "index", "triage", "sft", "evaluate"]
    assert not store.artifacts("cpt")
    assert all(problems == [] for _, problems in store.verify_all())


def test_climbing_reuses_the_lower_rung(climbed):
    _, results, _ = climbed
    for kind in ("corpus", "base", "index"):
        assert results["sft"][kind].cached and results["sft"][kind].artifact.id == results["rag"][kind].artifact.id
    assert not results["sft"]["sft"].cached and not results["sft"]["evaluate"].cached
    # with no cpt rung, the adapter trains on the base model
    assert results["sft"]["sft"].artifact.inputs["model"] == results["rag"]["base"].artifact.id


def test_evaluate_measures_the_rungs_each_pipeline_built(climbed):
    _, results, _ = climbed
    rag, sft = (results[r]["evaluate"].artifact for r in ("rag", "sft"))
    assert set(rag.inputs) == {"corpus", "base", "index", "triage"}
    assert "domain_ppl_base" in rag.metrics and rag.metrics["retrieval_recall@10"] > 0.5
    assert not any(k.endswith(("_cpt", "_sft")) for k in rag.metrics)
    assert set(sft.inputs) == {"corpus", "base", "sft", "index", "triage"}
    assert "answer_nll_sft" in sft.metrics and not any(k.endswith("_cpt") for k in sft.metrics)
    assert sft.metrics["domain_ppl_base"] == rag.metrics["domain_ppl_base"]  # same base, same held-out text
