"""hardware.processes=N: cpt/sft run under torchrun (DDP over gloo on this CPU) and publish one artifact."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rungs.train import _training as training  # its rank hooks are patched below
from rungs.kernel import ConfigError, PROJECT_ROOT, TrainConfig, compose
from rungs.pipeline import WorkerError, build
from rungs.store import Store

# model=tiny always (the default model becomes a real one); 4 blocks per step, 2 per process
FAST = ["model=tiny", "cpt.max_steps=20", "cpt.batch_size=4", "cpt.checkpoint_every=10", "sft.batch_size=4"]
FSDP = ["hardware.processes=2", "hardware.strategy=fsdp"]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    from rungs.kernel import progress_factory

    store = Store(tmp_path_factory.mktemp("distributed"))
    cfg, quiet = compose(FAST), progress_factory(False)
    corpus = build("corpus", cfg, {}, store, progress=quiet).artifact
    base = build("base", cfg, {"corpus": corpus}, store, progress=quiet).artifact
    return store, {"base": base, "corpus": corpus}


@pytest.fixture(scope="module")
def two_processes(upstream):
    from rungs.kernel import progress_factory

    store, inputs = upstream
    return build("cpt", compose([*FAST, "hardware.processes=2"]), inputs, store, progress=progress_factory(False))


@pytest.fixture(scope="module")
def two_fsdp_processes(upstream):
    from rungs.kernel import progress_factory

    store, inputs = upstream
    return build("cpt", compose([*FAST, *FSDP]), inputs, store, progress=progress_factory(False))


def weights(artifact) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(artifact.path / "model" / "model.safetensors")


def max_abs_difference(a, b) -> float:
    left, right = weights(a), weights(b)
    assert left.keys() == right.keys()
    return max(float((left[k] - right[k]).abs().max()) for k in left)


def test_two_gloo_processes_publish_one_cpt_artifact_that_matches_one_process(upstream, two_processes, progress):
    store, inputs = upstream
    result = two_processes
    art = result.artifact
    assert not result.cached and store.artifacts("cpt") == [art]
    assert art.config["hardware"]["processes"] == 2 and art.config["hardware"]["backend"] == "gloo"
    assert art.metrics["train_loss_final"] < art.metrics["train_loss_first"] - 0.5
    assert store.verify(art.id) == []
    assert not any((store.root / "_tmp").iterdir())
    assert not (store.root / "_scratch" / art.fingerprint).exists()

    # the same global batches, split across ranks: full-length blocks make it the one-process computation
    single = build("cpt", compose(FAST), inputs, store, progress=progress).artifact
    assert single.fingerprint != art.fingerprint  # hardware.processes is part of the fingerprint
    assert single.metrics["train_tokens"] == art.metrics["train_tokens"]
    assert single.metrics["train_loss_final"] == pytest.approx(art.metrics["train_loss_final"], abs=1e-3)
    assert max_abs_difference(art, single) < 1e-3


def test_fsdp_on_two_gloo_processes_trains_what_ddp_trains(upstream, two_processes, two_fsdp_processes, progress):
    """FSDP2 shards the weights, gradients and optimizer state; the arithmetic is the same global batch."""
    store, inputs = upstream
    art = two_fsdp_processes.artifact
    assert art.config["hardware"]["strategy"] == "fsdp" and store.verify(art.id) == []
    assert art.fingerprint != two_processes.artifact.fingerprint
    assert art.metrics["train_loss_final"] == pytest.approx(two_processes.artifact.metrics["train_loss_final"], abs=1e-3)
    assert max_abs_difference(art, two_processes.artifact) < 1e-3

    # LoRA under FSDP: rank 0 saves the gathered adapter, which loads with plain PeftModel.from_pretrained
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from safetensors.torch import load_file

    short = [*FAST, "hardware.processes=2", "sft.max_steps=6"]
    sft = build("sft", compose([*short, "hardware.strategy=fsdp"]), {"model": art}, store, progress=progress).artifact
    ddp = build("sft", compose(short), {"model": art}, store, progress=progress).artifact
    assert sft.metrics["train_loss_final"] == pytest.approx(ddp.metrics["train_loss_final"], abs=1e-3)
    ours, theirs = (load_file(a.path / "adapter" / "adapter_model.safetensors") for a in (sft, ddp))
    assert ours.keys() == theirs.keys() and max(float((ours[k] - theirs[k]).abs().max()) for k in ours) < 1e-3
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(art.path / "model"), sft.path / "adapter")
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and all(float(p.abs().max()) > 0 for p in lora_b)  # B starts at zero: these were trained


def test_fsdp_with_nf4_or_8bit_optimizer_is_refused():
    with pytest.raises(ConfigError, match="strategy=fsdp"):
        compose([*FAST, *FSDP, "hardware.quant=nf4", "cpt.method=lora"])
    with pytest.raises(ConfigError, match="optimizer=adamw"):
        compose([*FAST, *FSDP, "hardware.optimizer=adamw_8bit"])


KILLED = """
import sys
from rungs.kernel import compose, progress_factory
from rungs.pipeline import build
from rungs.store import Store
store = Store(sys.argv[1])
build("cpt", compose(sys.argv[4:]), {"base": store.get(sys.argv[2]), "corpus": store.get(sys.argv[3])}, store, progress=progress_factory(False))
"""


def workers_of(store: Store) -> list[str]:
    """Command lines of live processes launched for a build in `store` (their spec is in its scratch)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(store.root / "_scratch") in text:
            found.append(text)
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find worker processes")
# FSDP only: DDP saves the one-process checkpoint that tests/test_resume.py resumes; FSDP's sharded state is the
# path of its own (the ddp case cost 40 s of the suite's 20 minutes)
@pytest.mark.parametrize("strategy", ["fsdp"])
def test_sigkilled_two_process_build_leaves_no_worker_and_resumes_exactly(upstream, strategy, request, tmp_path, progress):
    uninterrupted = request.getfixturevalue("two_processes" if strategy == "ddp" else "two_fsdp_processes")
    root, inputs = upstream[0].root, upstream[1]
    store = Store(tmp_path / "store")
    for kind in ("corpus", "base"):
        shutil.copytree(root / kind, store.root / kind)
    overrides = [*FAST, "hardware.processes=2", f"hardware.strategy={strategy}"]
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(store.root), inputs["base"].id, inputs["corpus"].id, *overrides], cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 120
        while not list((store.root / "_scratch").glob("*/checkpoint.pt")):  # step 10 of 20
            assert proc.poll() is None and time.monotonic() < deadline, "the build ended before its first checkpoint"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert store.artifacts("cpt") == []
    deadline = time.monotonic() + 30
    while workers_of(store):  # the workers notice their build is gone and exit
        assert time.monotonic() < deadline, workers_of(store)
        time.sleep(0.2)

    resumed = build("cpt", compose(overrides), {k: store.get(a.id) for k, a in inputs.items()}, store, progress=progress).artifact
    assert resumed.metrics["resumed_from_step"] == 10
    assert resumed.fingerprint == uninterrupted.artifact.fingerprint
    difference = max_abs_difference(resumed, uninterrupted.artifact)
    print(f"2-process cpt ({strategy}): resumed from step 10, max abs weight difference {difference:.3g}")
    assert difference <= 1e-5


def test_a_failing_worker_raises_its_error_and_publishes_nothing(upstream, tmp_path, progress):
    store, inputs = upstream
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"question": "q1", "answer": "a1"}\n{"question": "q2", "answer": \n')
    before = store.artifacts()
    with pytest.raises(WorkerError, match=rf"rank \d: \w*Error: {bad}:2:"):
        build("sft", compose([*FAST, "hardware.processes=2", f"sft.data=[{bad}]"]), {"model": inputs["base"]}, store, progress=progress)
    assert store.artifacts() == before
    assert not any((store.root / "_tmp").iterdir())


def test_batch_size_must_split_evenly_across_processes(upstream, progress):
    store, inputs = upstream
    with pytest.raises(ConfigError, match="cpt.batch_size=3 must be a multiple of hardware.processes=2"):
        build("cpt", compose([*FAST, "hardware.processes=2", "cpt.batch_size=3"]), inputs, store, progress=progress)
    assert store.artifacts("cpt") == [] or all(a.config["cpt"]["batch_size"] != 3 for a in store.artifacts("cpt"))


class Recorder(torch.nn.Module):
    """Stands in for a causal LM: records the rows it trains on, returns differentiable logits.

    Like a transformers model, it projects only the positions `logits_to_keep` selects (a boolean mask).
    """

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.embed = torch.nn.Embedding(16, 1).requires_grad_(False)
        self.seen: list[list[int]] = []

    def get_input_embeddings(self):
        return self.embed

    def forward(self, input_ids, attention_mask, logits_to_keep):
        self.seen.extend(row[0] for row in input_ids.tolist())
        return type("Out", (), {"logits": self.w.expand(int(logits_to_keep.sum()), 16)})()


def test_each_rank_trains_on_its_own_slice_of_the_one_process_batch(monkeypatch, tmp_path, progress):
    examples = [{"input_ids": [i, i]} for i in range(10)]
    cfg = TrainConfig(max_steps=3, batch_size=4, grad_accum=2, checkpoint_every=1, eval_every=0)

    def run(world: int, rank: int) -> list[int]:
        monkeypatch.setattr(training.ranks, "world_size", lambda: world)
        monkeypatch.setattr(training.ranks, "rank", lambda: rank)
        monkeypatch.setattr(training, "_data_parallel", lambda model: model)
        monkeypatch.setattr(training, "_sum_over_ranks", lambda value: value)
        model, scratch = Recorder(), tmp_path / f"{world}-{rank}"
        scratch.mkdir()
        result = training.train(model, examples, cfg, seed=3, pad_id=0, scratch=scratch, progress=progress, desc="t")
        assert result.tokens == 3 * 2 * 4 * 2  # every rank counts the global batch
        assert (scratch / training.CHECKPOINT).exists() == (rank == 0)  # rank 0 alone checkpoints
        return model.seen

    whole = run(1, 0)
    first, second = run(2, 0), run(2, 1)
    assert len(first) == len(second) == len(whole) // 2
    halves = [whole[i : i + 4] for i in range(0, len(whole), 4)]  # one micro-batch of 4: rank 0 the first 2
    assert first == [x for h in halves for x in h[:2]] and second == [x for h in halves for x in h[2:]]
