"""Smoke test of bench/corpus_throughput.py on a small MedQuAD-shaped file: it runs both scales and reports
MB/s and peak RSS (neither speed nor memory is asserted here; bench/RESULTS.md holds the measurement)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from rungs.kernel import PROJECT_ROOT
from tests.test_corpus import sentence

SCRIPT = PROJECT_ROOT / "bench" / "corpus_throughput.py"


def test_corpus_benchmark_reports_throughput_and_memory_per_scale(tmp_path):
    rng = random.Random(0)
    source = tmp_path / "medquad-small.jsonl"
    rows = [{"id": f"q{i}", "focus": f"Topic {i}", "url": f"https://example.org/{i}", "question": "What is it?",
             "answer": f"{sentence(rng, 50)} {sentence(rng, 50)}"} for i in range(120)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\n\nkept as is\n")
    cmd = [sys.executable, str(SCRIPT), "--input", str(source), "--scales", "1,2", "--model", "tiny",
           "--work", str(tmp_path / "work"), "--results", str(results),
           "corpus.block_size=64", "model.vocab_size=400", "corpus.replay_paths=[corpora/general]",
           "corpus.heldout_conditions=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = results.read_text()
    assert "kept as is" in text and "## Corpus stage throughput and memory" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "MB/s" not in line]
    assert len(table) == 2
    for line, read in zip(table, (120, 240)):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert int(cells[2].replace(",", "")) == read  # the copies are distinct documents, all read
        assert int(cells[3].replace(",", "")) == read  # and none is taken for a duplicate
        assert float(cells[-2]) > 0 and float(cells[-1].replace(",", "")) > 0
    assert "peak RSS grew" in text
