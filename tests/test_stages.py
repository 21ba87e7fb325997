"""Each stage on the tiny model, built through the runner into a fresh store: real training, real files."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from rungs.kernel import InputError, compose
from rungs.pipeline import build, resolve_inputs
from rungs.store import Store
from tests.tiny import TRIAGE

FAST = ["model=tiny", "cpt.max_steps=60", "sft.max_steps=30", "cpt.checkpoint_every=10", "sft.checkpoint_every=10", *TRIAGE]


def build_pipeline(store: Store, overrides: list[str], progress) -> dict:
    cfg = compose(overrides)
    built, results = {}, {}
    for kind in cfg.pipeline.stages:
        result = build(kind, cfg, resolve_inputs(kind, store, built=built, cfg=cfg), store, progress=progress)
        built[kind] = result.artifact
        results[kind] = result
    return results


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    from rungs.kernel import progress_factory

    store = Store(tmp_path_factory.mktemp("store"))
    return store, build_pipeline(store, FAST, progress_factory(False))


def test_every_stage_publishes_a_verified_artifact(ladder):
    store, results = ladder
    assert [r.artifact.kind for r in results.values()] == ["corpus", "base", "cpt", "index", "triage", "sft", "evaluate"]
    for result in results.values():
        assert not result.cached
        assert store.verify(result.artifact.id) == []
        assert result.artifact.ref == f"{result.artifact.kind}:v1"


def test_cpt_loss_goes_down(ladder):
    _, results = ladder
    m = results["cpt"].artifact.metrics
    assert m["train_loss_final"] < m["train_loss_first"] - 1.0
    path = results["cpt"].artifact.path
    assert (path / "model" / "model.safetensors").exists() and (path / "loss.png").stat().st_size > 1000
    history = json.loads((path / "history.json").read_text())
    assert history[-1]["step"] == 60


def test_sft_learns_answers_only_and_adapter_loads_with_plain_peft(ladder):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, results = ladder
    m = results["sft"].artifact.metrics
    assert m["train_loss_final"] < m["train_loss_first"]
    assert results["sft"].artifact.inputs["model"] == results["cpt"].artifact.id
    base = AutoModelForCausalLM.from_pretrained(results["cpt"].artifact.path / "model")
    model = PeftModel.from_pretrained(base, results["sft"].artifact.path / "adapter")
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_sft_masks_prompt_tokens(ladder):
    from rungs.train import model_tokenizer, tokenize_conversation

    _, results = ladder
    tok = model_tokenizer(results["base"].artifact)
    messages = [{"role": "user", "content": "Is a fever dangerous?"}, {"role": "assistant", "content": "Usually not."}]
    sample = tokenize_conversation(tok, messages, 256)
    learned = tok.decode([t for t, lab in zip(sample["input_ids"], sample["labels"]) if lab != -100])
    assert learned.startswith("Usually not.") and "<end_of_turn>" in learned
    assert "fever" not in learned


def test_evaluate_shows_each_rung(ladder):
    _, results = ladder
    art = results["evaluate"].artifact
    m = json.loads((art.path / "metrics.json").read_text())
    assert m == art.metrics
    assert m["domain_ppl_cpt"] < m["domain_ppl_base"] / 2  # continued pretraining helps a random model a lot
    assert m["general_ppl_cpt"] < m["general_ppl_base"]  # and, from random, general English too
    assert m["domain_ppl_cpt_lo"] <= m["domain_ppl_cpt"] <= m["domain_ppl_cpt_hi"]
    assert m["answer_nll_sft"] < m["answer_nll_cpt"]  # LoRA on the answers lowers held-out answer NLL
    assert "domain_ppl_sft" not in m  # perplexity is what cpt did to text; the adapter is judged by its answers
    assert {"seconds_perplexity", "seconds_answers", "retrieval_recall@1", "retrieval_recall@10", "retrieval_mrr"} <= set(m)
    assert (art.path / "rungs.png").stat().st_size > 1000
    assert m["retrieval_recall@10"] >= 0.8  # the sample questions name their documents
    # end to end: both assistants answered the same questions; every emergency has an outcome
    answers = [json.loads(line) for line in (art.path / "answers.jsonl").read_text().splitlines()]
    assert {a["rung"] for a in answers} == {"base", "sft"}
    assert sum(a["expect"] == "answer" for a in answers) == 2 * 12
    assert all("escalated" in a for a in answers if a["expect"] == "escalate")
    assert 0 <= m["answers_sft_citation_accuracy"] <= 1 and m["answers_sft_citation_accuracy_n"] <= 12
    report = (art.path / "report.md").read_text()
    assert "Sample answers: sft" in report and "| domain | " in report


def test_sft_heldout_source_documents_are_never_trained_on(ladder):
    _, results = ladder
    heldout = [json.loads(line)["messages"] for line in (results["sft"].artifact.path / "heldout.jsonl").read_text().splitlines()]
    assert results["sft"].artifact.metrics["heldout_sources"] >= 3 and len(heldout) >= 3
    docs = {d["id"]: d["split"] for d in pq.read_table(results["corpus"].artifact.path / "documents.parquet").to_pylist()}
    from rungs.curation import read_records, split_records
    from rungs.kernel import compose, resolve_path

    cfg = compose(FAST)
    _, _, sources = split_records(read_records([resolve_path(p) for p in cfg.sft.data], cfg.sft), cfg.seed, cfg.sft.heldout_fraction)
    assert sources and all(docs[s] == "excluded" for s in sources)  # cpt never trains on them either


def test_corpus_blocks_feed_training(ladder):
    _, results = ladder
    table = pq.read_table(results["corpus"].artifact.path / "blocks" / "train.parquet")
    assert table.num_rows == results["corpus"].artifact.metrics["train_blocks"]
    assert {len(ids) for ids in table.column("input_ids").to_pylist()} == {128}


def test_second_run_is_all_cache_hits_and_sft_lr_rebuilds_only_sft_and_evaluate(ladder, progress):
    store, first = ladder
    again = build_pipeline(store, FAST, progress)
    assert all(r.cached for r in again.values())
    assert {k: r.artifact.id for k, r in again.items()} == {k: r.artifact.id for k, r in first.items()}
    changed = build_pipeline(store, [*FAST, "sft.lr=1e-3"], progress)
    assert [k for k, r in changed.items() if not r.cached] == ["sft", "evaluate"]
    assert changed["sft"].artifact.ref == "sft:v2"


def test_malformed_instruction_line_names_file_and_line_and_publishes_nothing(ladder, tmp_path, progress):
    store, results = ladder
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"question": "q1", "answer": "a1"}\n{"question": "q2", "answer": \n')
    cfg = compose([*FAST, f"sft.data=[{bad}]"])
    before = {a.id for a in store.artifacts()}
    with pytest.raises(InputError) as err:
        build("sft", cfg, {"model": results["cpt"].artifact}, store, progress=progress)
    assert f"{bad}:2:" in str(err.value)
    assert {a.id for a in store.artifacts()} == before
    assert not any((store.root / "_tmp").iterdir())


def test_evaluate_on_your_own_independent_text(ladder, progress):
    from tests.conftest import shared_data

    store, results = ladder
    general = shared_data("general.jsonl")
    cfg = compose([*FAST, "evaluate.perplexity.sets={}", f"+evaluate.perplexity.sets.wiki={{path: '{general}', kind: general}}",
                   "evaluate.perplexity.min_tokens=2000", "evaluate.answers.paths=[]"])
    inputs = {k: results[k].artifact for k in ("corpus", "base", "cpt", "sft", "index")}
    art = build("evaluate", cfg, inputs, store, progress=progress).artifact
    m = art.metrics
    assert 2000 <= m["wiki_tokens"] < 4000 and m["wiki_documents"] >= 5
    # general English is not what the tiny model was specialised on: worse than its own domain
    assert m["wiki_ppl_cpt"] > m["domain_ppl_cpt"]
    assert any(path.endswith("general.jsonl") for path in art.manifest["sources"])
    assert not (art.path / "answers.jsonl").exists()


def test_merge_folds_the_adapter_into_its_model_and_names_both(ladder, progress):
    import torch

    from rungs.train import adapter_dir, load_model, load_with_adapter

    store, results = ladder
    cpt, sft = results["cpt"].artifact, results["sft"].artifact
    cfg = compose(FAST)
    merged = build("merge", cfg, {"model": cpt, "sft": sft}, store, progress=progress).artifact
    assert merged.inputs == {"model": cpt.id, "sft": sft.id}
    ids = torch.tensor([[2, 10, 20, 30, 40, 50]])
    with torch.no_grad():
        expected = load_with_adapter(cpt, adapter_dir(sft), cfg.hardware)(input_ids=ids).logits
        actual = load_model(merged, cfg.hardware)(input_ids=ids).logits
    assert torch.allclose(expected, actual, atol=1e-4)
    with pytest.raises(InputError, match="trained on"):
        build("merge", cfg, {"model": results["base"].artifact, "sft": sft}, store, progress=progress)
