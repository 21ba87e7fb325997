"""Smoke test of bench/train_throughput.py: it runs end to end on tiny and reports numbers (speed is not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

from rungs.kernel import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "train_throughput.py"


def test_benchmark_runs_rungs_and_trl_side_by_side_and_reports_ratios(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\n\nkept as is\n")
    cmd = [sys.executable, str(SCRIPT), "--models", "tiny", "--stages", "sft", "--steps", "2", "--threads", "1", "--store", str(tmp_path / "store"), "--results", str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # sft only: cpt runs the same trainer on plain blocks, and each stage costs ~35 s of subprocess start-up
    ratios = dict(re.findall(r"^ratio tiny (cpt|sft) threads=\d+: ([0-9.]+)x", proc.stdout, re.M))
    assert set(ratios) == {"sft"}, proc.stdout
    assert all(float(r) > 0 for r in ratios.values())
    # both implementations trained on the same batches from the same weights: the same losses
    for stage, ours, trl in re.findall(r"^ratio tiny (\w+) threads=\d+: [0-9.]+x \(loss ([0-9.]+) vs ([0-9.]+)\)", proc.stdout, re.M):
        assert abs(float(ours) - float(trl)) < 0.05 * float(trl), stage

    text = results.read_text()
    assert "kept as is" in text  # other sections survive
    assert "## Training throughput: rungs vs TRL SFTTrainer" in text and "--steps 2" in text
    rows = [line for line in text.splitlines() if line.startswith("|  tiny |")]
    assert len(rows) == 1
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        tok_s = [float(c.replace(",", "")) for c in cells[6:8]]  # rungs tok/s, TRL tok/s
        rss = [float(c.replace(",", "")) for c in cells[-2:]]  # peak RSS of each run
        assert all(v > 0 for v in tok_s + rss), row
