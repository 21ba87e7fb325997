"""Decontamination: training text that copies evaluation questions or answers is found; unrelated
text, and text that merely shares a common phrase, is kept."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time

import pytest

from rungs.kernel import PROJECT_ROOT
from rungs.curation import DEFAULT_N, DEFAULT_THRESHOLD, Decontaminator, normalize_words

CORPORA = PROJECT_ROOT / "corpora"


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return [json.loads(line) for line in (CORPORA / "instructions" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def questions() -> list[str]:
    rows = (CORPORA / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in rows]


def test_normalisation_lowercases_and_strips_punctuation():
    assert normalize_words("Take 5 mg, twice-daily!  (With FOOD.)") == ["take", "5", "mg", "twice", "daily", "with", "food"]


def test_a_copied_answer_is_contaminated_and_unrelated_text_is_not(pairs):
    held_out, training = pairs[:20], pairs[20:]
    d = Decontaminator(p["answer"] for p in held_out)
    assert d.n == DEFAULT_N == 13 and d.threshold == DEFAULT_THRESHOLD
    # A verbatim copy, re-cased and re-punctuated, inside a longer document.
    answer = held_out[3]["answer"]
    copied = "Patient handout.\n\n" + answer.upper().replace(",", ";") + "\n\nPrinted by the clinic."
    assert d.overlap(copied) > 0.8
    assert d.contaminated(copied)
    # The other instruction pairs were written separately: none of them is contaminated.
    kept = [p["answer"] for p in training if not d.contaminated(p["answer"])]
    assert len(kept) == len(training)
    assert d.overlap(training[0]["answer"]) == 0.0


def test_overlap_is_the_share_of_the_texts_ngrams_found_in_the_evaluation_set():
    eval_text = " ".join(f"w{i}" for i in range(40))
    d = Decontaminator([eval_text], n=5)
    half = " ".join(f"w{i}" for i in range(20)) + " " + " ".join(f"x{i}" for i in range(20))
    # 36 five-grams: 16 lie fully inside w0..w19 and 20 touch the x words.
    assert d.overlap(half) == pytest.approx(16 / 36)
    assert d.contaminated(half)  # 0.44 >= 0.1
    assert not Decontaminator([eval_text], n=5, threshold=0.5).contaminated(half)


def test_one_shared_boilerplate_sentence_does_not_drop_a_long_document():
    boiler = "if your symptoms get worse or you are worried talk to your doctor or nurse straight away"
    d = Decontaminator(["Question about colds. " + boiler])
    long_doc = " ".join(f"Sentence {i} explains something specific about inhaler technique." for i in range(30))
    text = long_doc + " " + boiler.capitalize() + "."
    assert 0 < d.overlap(text) < DEFAULT_THRESHOLD
    assert not d.contaminated(text)


def test_short_evaluation_questions_are_matched_whole(questions):
    d = Decontaminator(questions)
    q = questions[5]
    assert len(normalize_words(q)) < DEFAULT_N  # too short to have a single 13-gram
    assert d.contaminated(f"Frequently asked: {q} Answer: see your GP.")
    assert d.overlap(q) == 1.0
    # Very short questions ("What is asthma?") are everywhere in medical text: ignored.
    assert not Decontaminator(["What is asthma?"]).contaminated("What is asthma? Asthma is a lung condition.")


def test_the_sample_documents_are_not_contaminated_by_the_paraphrased_eval_questions(questions):
    d = Decontaminator(questions)
    docs = sorted((CORPORA / "documents").glob("*.md"))
    docs = [p for p in docs if p.name != "README.md"]
    flagged = [p.name for p in docs if d.contaminated(p.read_text(encoding="utf-8"))]
    assert flagged == []


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        Decontaminator(["a b c"], threshold=0.0)
    with pytest.raises(ValueError, match="n must"):
        Decontaminator(["a b c"], n=0)


def test_hashes_are_stable_across_processes(tmp_path, pairs):
    # Built in a process with another string-hash seed, used here: the n-gram hashes must agree.
    out = tmp_path / "d.pkl"
    code = (
        "import json, pickle, sys; from rungs.curation import Decontaminator; "
        "rows = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]; "
        "pickle.dump(Decontaminator(r['answer'] for r in rows[:10]), open(sys.argv[2], 'wb'))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(CORPORA / "instructions" / "pairs.jsonl"), str(out)],
                   check=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    clone = pickle.loads(out.read_bytes())
    assert clone.contaminated(pairs[4]["answer"]) and not clone.contaminated(pairs[40]["answer"])
    assert len(clone) == len(Decontaminator(p["answer"] for p in pairs[:10]))


def test_is_fast(pairs):
    d = Decontaminator(p["answer"] for p in pairs)
    texts = [p["answer"] for p in pairs] * 10  # ~1,500 texts, ~130k words
    t0 = time.perf_counter()
    hits = sum(d.contaminated(t) for t in texts)
    assert hits == len(texts)
    assert time.perf_counter() - t0 < 10  # ~0.1 s here; generous for a loaded CI machine
