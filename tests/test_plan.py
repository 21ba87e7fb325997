"""Memory planner: shapes → parameters, the 27B QLoRA arithmetic, refusal in `rungs run`, and estimates
against the peak RSS measured on this CPU."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from rungs.kernel import PROJECT_ROOT, compose
from rungs.pipeline import GiB, count_params, estimate, fits, lora_params, suggest

QLORA_24GB = ["model=gemma3-27b", "hardware=gpu-24gb"]
CANNOT_FIT = ["model=gemma3-27b", "hardware=cpu", "hardware.memory_gb=24"]  # 27B in float32 on a 24 GiB CPU
TOO_SMALL = ["model=gemma3-270m", "hardware=cpu", "hardware.memory_gb=3.2"]  # base fits (2.8 GiB), training does not (3.3)


def _plan(plans, label: str):
    return next(p for p in plans if p.label == label)


# --------------------------------------------------------------------------------------------------
# arithmetic


def test_parameter_counts_match_the_models_and_peft():
    # the tiny base artifact reports 755,072 parameters, the Gemma 3 270M GGUF 268,098,176
    assert count_params(compose(["model=tiny"]).model).total == 755_072
    real = compose(["model=gemma3-270m"])
    assert count_params(real.model).total == 268_098_176
    # peft's own count of trainable parameters for all-linear adapters on the 270M at r=64 and r=16 (its cpt and sft)
    assert lora_params(real.model, 64, real.cpt.target_modules) == 15_187_968
    assert lora_params(real.model, real.cpt.lora_r, real.cpt.target_modules) == 3_796_992
    assert lora_params(real.model, real.sft.lora_r, real.sft.target_modules) == 3_796_992
    big = count_params(compose(QLORA_24GB).model)
    assert 26.5e9 < big.total < 27.5e9 and 1.40e9 < big.embedding < 1.42e9  # Gemma 3 27B text model


def test_27b_nf4_weights_agree_with_known_qlora_numbers():
    plans = estimate(compose(QLORA_24GB))
    # NF4 + double quant: 4.127 bits per linear weight; the 27B in 4 bit with its bf16 embedding ≈ 14–16 GB
    assert 14e9 <= _plan(plans, "evaluate").weights <= 16.5e9
    cpt = _plan(plans, "cpt")
    # training: k-bit preparation upcasts only the norms; the 1.41B-parameter embedding stays bf16
    assert 0 < cpt.weights - _plan(plans, "evaluate").weights < 0.01e9
    # r=32 on all 7 linears of 62 layers: 227M adapter params, float32 over 4-bit layers; AdamW8bit 2 bytes each
    n = cpt.trainable_parameters
    assert 225e6 < n < 230e6 and cpt.trainable == 4 * n and cpt.optimizer == 2 * n
    # batch 1 × 1024 tokens × vocab: bf16 logits and their float32 upcast, plus one 64 MiB logsumexp slice
    assert cpt.logits == 1 * 1024 * 262_208 * (2 + 4) + 64 * 2**20


def test_gemma3_27b_fits_a_24gb_gpu():
    cfg = compose(QLORA_24GB)
    ok, message = fits(estimate(cfg), cfg)
    assert ok, message


def test_27b_on_24gb_without_quantisation_does_not_fit_and_the_suggestions_do():
    overrides = [*QLORA_24GB, "hardware.quant=none"]
    cfg = compose(overrides)
    ok, message = fits(estimate(cfg), cfg)
    assert not ok
    # the budget is the card's usable memory (an L4 / A10 reports 22.49 GiB), not the 24 GB on the box
    assert "cpt: " in message and "GiB > 22.49 GiB" in message and "weights 50.31 GiB" in message
    found = suggest(cfg)
    assert found, message
    for suggestion in found:
        assert " ".join(suggestion.words) in message
        fixed = compose([*overrides, *suggestion.words])  # the printed words, through Hydra, re-estimated
        assert fits(estimate(fixed), fixed)[0], suggestion.words
        assert "hardware.quant=nf4" in suggestion.words


def test_suggestions_for_the_27b_profile_fit_when_applied():
    cfg = compose(QLORA_24GB)
    for suggestion in suggest(cfg):
        fixed = compose([*QLORA_24GB, *suggestion.words])
        plans = estimate(fixed)
        assert fits(plans, fixed)[0] and max(p.total for p in plans if p.memory == "device") <= 22.49 * GiB


def test_levers_move_the_estimate_the_right_way():
    base = ["model=gemma3-270m"]
    cpt = lambda *extra: _plan(estimate(compose([*base, *extra])), "cpt")  # noqa: E731
    plain = cpt()
    assert cpt("hardware.gradient_checkpointing=true").activations < plain.activations / 4
    assert cpt("hardware.optimizer=adamw_8bit").optimizer == plain.optimizer / 4
    slice_ = 64 * 2**20  # the logsumexp slice does not grow with the batch
    assert cpt("cpt.batch_size=8").logits - slice_ == 2 * (plain.logits - slice_)
    assert cpt("cpt.method=full").gradients == plain.parameters * 4 > plain.gradients
    assert cpt("hardware.quant=nf4").weights > plain.weights  # CPU: the mapped source stays resident
    assert cpt("hardware.processes=2").batch == plain.batch // 2  # each process trains on its slice


# --------------------------------------------------------------------------------------------------
# CLI


def test_run_refuses_a_plan_that_cannot_fit_before_anything_is_built(tmp_path, capsys, monkeypatch):
    import flows.specialize

    from rungs.cli import main

    def flow_must_not_run(*args, **kwargs):
        raise AssertionError("the flow started although the plan does not fit")

    monkeypatch.setattr(flows.specialize, "specialize", flow_must_not_run)
    monkeypatch.setattr(flows.specialize, "stage", flow_must_not_run)
    root = tmp_path / "store"
    assert main(["--store", str(root), "run", "--no-progress", *CANNOT_FIT]) == 2
    err = capsys.readouterr().err
    assert "plan does not fit gemma3-27b × cpu" in err and "GiB > 24.00 GiB" in err and "weights" in err
    # nothing makes a 27B fit 24 GiB of CPU memory (the float32 import alone is 100 GiB): other hardware is named
    assert "nothing fits cpu; other hardware that would" in err and "hardware=gpu-24gb" in err and "--force" in err
    assert not root.exists() or not any(root.rglob("manifest.json"))
    assert main(["--store", str(root), "stage", "--no-progress", "cpt", *CANNOT_FIT]) == 2
    assert "plan does not fit" in capsys.readouterr().err
    # a plan that overrides can rescue: the numbers and the overrides, each re-estimated to fit
    assert main(["--store", str(root), "run", "--no-progress", *TOO_SMALL]) == 2
    err = capsys.readouterr().err
    assert re.search(r"cpt: [\d.]+ GiB > 3\.20 GiB  \(weights [\d.]+ GiB, .*logits [\d.]+ GiB", err)
    assert "overrides that would fit (re-estimated):" in err and "evaluate.batch_size=1" in err
    assert not root.exists() or not any(root.rglob("manifest.json"))


def test_force_skips_the_check(tmp_path, capsys, monkeypatch):
    import flows.specialize

    from rungs.cli import main

    calls = []
    monkeypatch.setattr(flows.specialize, "specialize", lambda **kw: calls.append(kw) or [])
    assert main(["--store", str(tmp_path / "store"), "run", "--force", "--json", *CANNOT_FIT]) == 0
    assert calls and calls[0]["overrides"] == CANNOT_FIT
    assert "--force: running anyway" in capsys.readouterr().err


def test_plan_command_prints_the_table_and_json(capsys):
    from rungs.cli import main

    assert main(["plan", *QLORA_24GB, "hardware.memory_gb=80"]) == 0
    out = capsys.readouterr().out
    for word in ("weights", "trainable", "optimizer", "gradients", "activations", "logits", "runtime", "cpt (merge)", "✓", "plan fits"):
        assert word in out
    assert main(["plan", *CANNOT_FIT, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["fits"] is False and data["suggestions"]
    cpt = next(s for s in data["stages"] if s["stage"] == "cpt" and s["phase"] == "train")
    assert cpt["total_bytes"] == sum(cpt["bytes"].values()) and cpt["fits"] is False


# --------------------------------------------------------------------------------------------------
# estimate vs measured peak RSS on this CPU

PROBE = textwrap.dedent(
    """
    # as the cpt stage does: tokenizer, rungs.train.trainable_model, rungs.train.train (2 steps)
    import json, sys, tempfile
    from types import SimpleNamespace
    import torch
    import rungs
    from rungs.kernel import compose, progress_factory
    from rungs.train import model_tokenizer, setup_torch, train, trainable_model
    from rungs.pipeline import peak_rss
    artifact_dir, *overrides = sys.argv[1:]
    cfg = compose(overrides)
    setup_torch(cfg.hardware, cfg.seed)
    artifact = SimpleNamespace(path=artifact_dir, id="probe")
    tokenizer = model_tokenizer(artifact)
    model = trainable_model(artifact, cfg.hardware, cfg.cpt, lora=cfg.cpt.method == "lora")
    g = torch.Generator().manual_seed(0)
    n = 2 * cfg.cpt.batch_size * cfg.cpt.grad_accum
    blocks = [{"input_ids": torch.randint(0, len(tokenizer), (cfg.corpus.block_size,), generator=g).tolist()} for _ in range(n)]
    cfg.cpt.max_steps, cfg.cpt.checkpoint_every, cfg.cpt.eval_every = 2, 0, 0
    train(model, blocks, cfg.cpt, seed=cfg.seed, pad_id=tokenizer.pad_token_id, scratch=tempfile.mkdtemp(),
          progress=progress_factory(False), desc="probe", optimizer_kind=cfg.hardware.optimizer)
    print(json.dumps({"maxrss": peak_rss()}))
    """
)


def measured_peak(artifact_dir, overrides: list[str]) -> int:
    """Peak RSS (bytes) of a fresh process that loads and trains like the cpt stage."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(artifact_dir), *overrides],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["maxrss"]


def _compare(artifact_dir, overrides: list[str]) -> tuple[int, int]:
    estimated = _plan(estimate(compose(overrides), ["cpt"]), "cpt").total
    measured = measured_peak(artifact_dir, overrides)
    print(f"{' '.join(overrides)}: estimated {estimated / GiB:.2f} GiB, measured {measured / GiB:.2f} GiB ({estimated / measured - 1:+.0%})")
    return estimated, measured


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from rungs.kernel import progress_factory
    from rungs.pipeline import build
    from rungs.store import Store

    store = Store(tmp_path_factory.mktemp("plan-tiny"))
    cfg = compose(["model=tiny"])
    corpus = build("corpus", cfg, {}, store, progress=progress_factory(False)).artifact
    return build("base", cfg, {"corpus": corpus}, store, progress=progress_factory(False)).artifact.path


def test_estimate_within_25_percent_of_measured_rss_tiny(tiny_base):
    estimated, measured = _compare(tiny_base, ["model=tiny"])
    assert abs(estimated - measured) <= 0.25 * measured


def test_estimate_within_25_percent_of_measured_rss_gemma3_270m(gemma_base):
    estimated, measured = _compare(gemma_base, ["model=gemma3-270m"])
    assert abs(estimated - measured) <= 0.25 * measured
