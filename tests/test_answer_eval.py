"""Scoring an answer: citations, correctness, groundedness and the ways small models degenerate."""

from __future__ import annotations

from pathlib import Path

import pytest

from rungs.assistant import Citation, Question, Reply, Scorer, cut_off, fixed_reply, foreign_script, load_questions, repetition, sample, summarize
from rungs.kernel import AnswersConfig, PROJECT_ROOT

SOURCE = ("A fever in children is a temperature of 38 C or higher. Most fevers are caused by viral infections "
          "and go away within three days. Give plenty of fluids and let the child rest.")


def _reply(text: str) -> Reply:
    cite = Citation(1, "Fever in children", "", "fever-in-children", 0.7, texts=[SOURCE])
    other = Citation(2, "Dehydration", "", "dehydration", 0.5, texts=["Dehydration means the body has lost too much water."])
    reply = Reply("answer", iter([text]), [cite, other])
    reply.model_text = text
    return reply


@pytest.fixture(scope="module")
def scorer():
    from rungs.retrieval import load_embedder

    return Scorer(load_embedder("minilm"), 0.6)


def test_degeneration_detectors_on_real_failure_shapes():
    assert repetition("The The The The The The The The The The") > 0.5
    assert repetition("Drink fluids and rest. See a doctor if the fever lasts more than three days.") == 0
    assert foreign_script("Give fluids 합니다 and rest.") and not foreign_script("Give fluids, café, naïve – rest.")
    assert cut_off("A fever is a temperature of 38 C or higher and it")
    from rungs.assistant import Attributor

    from rungs.retrieval import load_embedder

    attributor = Attributor(load_embedder("minilm"), [(1, SOURCE), (2, "Dehydration means the body has lost too much water.")], 0.6)
    assert attributor.cite("Most fevers are caused by viral infections and pass within three days.") == \
        "Most fevers are caused by viral infections and pass within three days [1]."
    assert attributor.cite("A cold lasts between 30 minutes and four hours [1].") == "A cold lasts between 30 minutes and four hours."
    assert attributor.cite("Dehydration means losing too much water [3].") == "Dehydration means losing too much water [2]."
    assert not cut_off("A fever is a temperature of 38 C or higher [1].") and not cut_off("Call 911 now!")


def test_a_grounded_cited_answer_scores_well_and_an_invented_one_does_not(scorer):
    q = Question("q1", [{"role": "user", "content": "When is it a fever?"}], "answer",
                 reference="A temperature of 38 C or higher is a fever in a child.", doc="fever-in-children")
    good = scorer.score(q, _reply("A fever in children is a temperature of 38 C or higher [1]. Give plenty of fluids [1]."))
    bad = scorer.score(q, _reply("If he dies, save him and put him onto life-support equipment. Call the police at once"))
    assert good["citation_correct"] and good["grounded"] == 1.0 and not good["degenerate"]
    assert not bad["citation_correct"] and bad["grounded"] == 0.0 and bad["cut"]
    assert good["rouge_l"] > bad["rouge_l"] + 0.2 and good["similarity"] > bad["similarity"] + 0.2
    wrong_source = scorer.score(q, _reply("Dehydration means the body has lost too much water [2]."))
    assert not wrong_source["citation_correct"] and wrong_source["cited"] == ["dehydration"]
    wrong_number = scorer.score(q, _reply("A fever in children is a temperature of 37.5 C or higher [1]."))
    assert wrong_number["grounded"] == 0.0  # the source says 38 C


def test_expectations_for_out_of_scope_and_emergencies(scorer):
    out = Question("o", [{"role": "user", "content": "best pizza?"}], "dont_know")
    sos = Question("e", [{"role": "user", "content": "my dad's face is drooping"}], "escalate")
    assert scorer.score(out, fixed_reply("dont_know", "I don't know."))["dont_know"]
    assert scorer.score(out, _reply("I do not know the answer to that."))["dont_know"]
    assert not scorer.score(out, _reply("Margherita is the best pizza."))["dont_know"]
    assert scorer.score(sos, fixed_reply("red_flag", "Call 112."))["escalated"]
    assert not scorer.score(sos, _reply("Rest and drink fluids."))["escalated"]
    m = summarize([{"escalated": True}, {"escalated": False}], "answers_base")
    assert m["answers_base_escalated"] == 0.5 and m["answers_base_escalated_n"] == 2
    assert m["answers_base_escalated_lo"] <= 0.5 <= m["answers_base_escalated_hi"]


def test_question_sets_of_every_shape_load_and_sample(tmp_path):
    fields = AnswersConfig()
    qs = load_questions([PROJECT_ROOT / "corpora" / "gate" / "dev.jsonl", PROJECT_ROOT / "corpora" / "triage" / "dev.jsonl"], fields)
    kinds = {e: sum(q.expect == e for q in qs) for e in ("answer", "dont_know", "escalate")}
    assert kinds == {"answer": 130, "dont_know": 130, "escalate": 1575}  # triage negatives have no expectation here
    picked = sample(qs, 5, 3, seed=0)
    assert [q.expect for q in picked] == ["answer"] * 5 + ["dont_know"] * 3 + ["escalate"] * 3
    assert picked == sample(list(reversed(qs)), 5, 3, seed=0)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "What is asthma?"}\n')
    with pytest.raises(Exception, match="reference"):
        load_questions([Path(bad)], fields)
