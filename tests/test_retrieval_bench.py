"""bench/retrieval_quality.py's own parts, in seconds: the padded index (written by the index stage's `write`,
opened by the Retriever in every mode, at the type `auto` picks for its size, reused when unchanged), the
calibration summary and the goal line. The script as a whole trains models and is smoke-run by hand
(bench/README.md)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bench.retrieval_quality import calibration_stats, goal_line, padded_index
from tests.test_index import DOCUMENTS, run_stage, write_documents


def test_padded_index_opens_in_every_mode_at_the_type_auto_picks(tmp_path, small_index_cfg, progress):
    from rungs.retrieval import Retriever

    src = tmp_path / "index"
    run_stage(small_index_cfg, write_documents(tmp_path / "corpus", DOCUMENTS), src, tmp_path / "scratch", progress)
    real = len(Retriever(src, mode="dense"))
    idx = dataclasses.replace(small_index_cfg.index, exact_below=1000)  # IVF from 1,000 chunks, as from 50k by default
    out = padded_index(src, tmp_path / "padded", idx, 3000, spread=0.35, seed=0)
    retriever = Retriever(out, mode="hybrid")
    assert len(retriever) == 3000 and retriever.spec["faiss"]["type"] == "ivf" and retriever.bm25_index.num_docs == 3000
    assert [retriever.doc_of(i) for i in range(real)] == [Retriever(src, mode="dense").doc_of(i) for i in range(real)]
    assert retriever.doc_of(real) == "pad-0" and retriever.doc_of(2999) == f"pad-{2999 - real}"
    for mode in ("dense", "bm25", "hybrid"):
        assert len(retriever.search(["chest pain spreading to my left arm"], 10, mode=mode)[0]) == 10
    stamp = (out / "index.faiss").stat().st_mtime_ns
    assert padded_index(src, tmp_path / "padded", idx, 3000, spread=0.35, seed=0) == out
    assert (out / "index.faiss").stat().st_mtime_ns == stamp  # unchanged inputs: reused
    assert json.loads((out / "padded.json").read_text())["chunks"] == 3000


@pytest.fixture
def small_index_cfg():
    from rungs.kernel import compose

    return compose(["index.chunk_words=60", "index.overlap_words=10", "index.batch_size=16", "index.gate_questions=null"])


def test_calibration_stats_hand_computed():
    # four questions: relevance of the top hit and whether it was right
    top = [(0.95, 1), (0.9, 1), (0.3, 0), (0.25, 1)]
    c = calibration_stats(top, min_relevance=0.5)
    assert c["mean_relevance"] == pytest.approx(0.6) and c["top_right"] == pytest.approx(0.75) and c["n"] == 4
    # bins: 0.9-1.0 holds two (mean 0.925, right 1.0), 0.2-0.3 one (0.25, 1), 0.3-0.4 one (0.3, 0)
    assert c["ece"] == pytest.approx(0.5 * 0.075 + 0.25 * 0.75 + 0.25 * 0.3)
    assert c["answered"] == 0.5 and c["right_answered"] == 1.0 and c["right_refused"] == 0.5
    assert "answered" not in calibration_stats(top, None)
    assert np.isnan(calibration_stats([(0.1, 0)], 0.5)["right_answered"])


def test_goal_line_says_what_was_met():
    class Args:
        pad_to = 100_000

    ok = {"recall@5": 0.96, "mrr": 0.86}
    kbs = {"medquad": {"modes": {"dense": {"recall@5": 0.82, "mrr": 0.65}, "full": ok}}}
    lat = {"modes": {"dense": {"p50_ms": 8.0}, "full": {"p50_ms": 61.0}}}
    line = goal_line(kbs, lat, Args())
    assert "medquad: quality **met** by full" in line and "full stack p50 61.0 ms" in line and "50 ms: dense." in line
    assert "**not met**" in goal_line({"medquad": {"modes": {"dense": {"recall@5": 0.82, "mrr": 0.65}}}}, None, Args())
    assert goal_line({"pubmedqa": {"modes": {"dense": ok}}}, None, Args()) == ""
