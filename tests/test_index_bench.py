"""Smoke test of bench/index_latency.py: every index type on a small set, its RESULTS.md section replaced in place."""

from __future__ import annotations

import json
import subprocess
import sys

from rungs.kernel import PROJECT_ROOT
from tests.conftest import shared_data

SCRIPT = PROJECT_ROOT / "bench" / "index_latency.py"


def test_index_benchmark_measures_every_type_and_writes_its_section(tmp_path):
    shared_data("pubmedqa.jsonl")  # skips where the shared data is absent
    results = tmp_path / "RESULTS.md"
    from bench.index_latency import SECTION

    results.write_text(f"# Benchmark results\n\n{SECTION}\n\nstale numbers\n\n## Someone else's section\n\nkept as is\n")
    cmd = [sys.executable, str(SCRIPT), "--sizes", "3000", "--queries", "50", "--centers", "100", "--sweep-at", "3000",
           "--cache", str(tmp_path / "emb.npz"), "--results", str(results), "--json", str(tmp_path / "out.json")]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]

    data = json.loads((tmp_path / "out.json").read_text())
    rows = {r["type"]: r for r in data["rows"]}
    assert set(rows) == {"flat", "hnsw", "ivf", "ivfpq"}
    assert rows["flat"]["recall@10"] == 1.0  # exact search is its own ground truth
    assert rows["hnsw"]["recall@10"] >= 0.9 and rows["ivf"]["recall@10"] >= 0.9
    assert all(r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] and r["build_s"] >= 0 for r in rows.values())
    # PQ codes + 8-bit re-scoring vectors: 48 + 384 bytes a vector instead of 1,536
    assert rows["ivfpq"]["bytes"] < rows["flat"]["bytes"] / 3 and rows["ivfpq"]["params"]["refine_k_factor"] == 32
    assert {s["param"] for s in data["sweep"]} == {"ef_search", "nprobe", "refine_k_factor"}

    text = results.read_text()
    assert "kept as is" in text and text.count("## Index latency") == 1 and "stale numbers" not in text
    assert "| 3,000 | hnsw |" in text and "--sizes 3000" in text
