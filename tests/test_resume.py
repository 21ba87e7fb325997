"""SIGKILL a training stage mid-run, build it again: it resumes from the last checkpoint and ends with the
weights of an uninterrupted run (tiny model, same seed, max abs difference <= 1e-5).

The interrupted build runs in a child process whose progress bar parks it at a chosen step (after the
checkpoint before it, before the next), so the test kills a process that is really mid-training,
without depending on timing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rungs.kernel import PROJECT_ROOT, compose
from rungs.pipeline import build
from rungs.store import Store

# model=tiny always (the default model becomes a real one); small batches keep each test well under 40 s
RESUME = ["model=tiny", "cpt.batch_size=4", "sft.batch_size=4", "cpt.checkpoint_every=10", "sft.checkpoint_every=10"]
STEPS = 30  # checkpoints at steps 10 and 20
KILL_AT = 15  # the child is killed here: 5 steps past the step-10 checkpoint
WEIGHTS = {"cpt": "model/model.safetensors", "sft": "adapter/adapter_model.safetensors"}


def child() -> None:
    """`python -c 'from tests.test_resume import child; child()' STORE KIND INPUTS_JSON PARK_AT READY OVERRIDES...`

    Builds KIND into STORE and parks (sleeps) once training has done PARK_AT steps, after writing READY.
    """
    from tqdm import tqdm

    store_root, kind, inputs, park_at, ready, *overrides = sys.argv[1:]
    park_at, ready = int(park_at), Path(ready)

    class ParkingBar(tqdm):
        def update(self, n=1):
            shown = super().update(n)
            if self.n >= park_at:
                ready.write_text(str(self.n))
                time.sleep(600)  # the parent SIGKILLs us here
            return shown

    def progress(iterable=None, **kwargs):
        return ParkingBar(iterable, file=open(os.devnull, "w"), **kwargs)

    store = Store(store_root)
    build(kind, compose(overrides), {name: store.get(i) for name, i in json.loads(inputs).items()}, store, progress=progress)
    raise SystemExit("the build finished before it was parked")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A store holding corpus, base and a short cpt (the sft input), to copy per test."""
    from rungs.kernel import progress_factory

    store = Store(tmp_path_factory.mktemp("upstream"))
    cfg = compose([*RESUME, "cpt.max_steps=10"])
    quiet = progress_factory(False)
    corpus = build("corpus", cfg, {}, store, progress=quiet).artifact
    base = build("base", cfg, {"corpus": corpus}, store, progress=quiet).artifact
    cpt = build("cpt", cfg, {"base": base, "corpus": corpus}, store, progress=quiet).artifact
    return store.root, {"cpt": {"base": base.id, "corpus": corpus.id}, "sft": {"model": cpt.id}}


def copy_store(root: Path, target: Path) -> Store:
    shutil.copytree(root, target)
    return Store(target)


def kill_mid_run(store: Store, kind: str, inputs: dict[str, str], overrides: list[str], tmp_path: Path) -> int:
    """Run the build in a child, SIGKILL it KILL_AT steps in; return the step of the checkpoint it left."""
    ready = tmp_path / "ready"
    before = store.artifacts(kind)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tests.test_resume import child; child()", str(store.root), kind, json.dumps(inputs), str(KILL_AT), str(ready), *overrides],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None:
                pytest.fail(f"the {kind} child exited ({proc.returncode}) before step {KILL_AT}:\n{proc.stdout.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the {kind} child did not reach step {KILL_AT} in 120 s")
            time.sleep(0.05)
        checkpoints = list((store.root / "_scratch").glob("*/checkpoint.pt"))
        assert len(checkpoints) == 1, checkpoints
        step = torch.load(checkpoints[0], weights_only=False)["step"]
        assert 0 < step < KILL_AT  # training has moved past the last checkpoint
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert store.artifacts(kind) == before  # a killed build publishes nothing
    return step


def max_abs_difference(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    left, right = load_file(a), load_file(b)
    assert left.keys() == right.keys() and left
    return max(float((left[k] - right[k]).abs().max()) for k in left)


@pytest.mark.parametrize("kind", ["cpt", "sft"])
def test_sigkilled_stage_resumes_and_matches_an_uninterrupted_run(kind, upstream, tmp_path, progress):
    root, ids = upstream
    overrides = [*RESUME, "cpt.max_steps=10", f"{kind}.max_steps={STEPS}"]
    cfg = compose(overrides)

    interrupted = copy_store(root, tmp_path / "interrupted")
    checkpoint_step = kill_mid_run(interrupted, kind, ids[kind], overrides, tmp_path)
    assert checkpoint_step == 10

    inputs = {name: interrupted.get(i) for name, i in ids[kind].items()}
    resumed = build(kind, cfg, inputs, interrupted, progress=progress)
    assert not resumed.cached
    assert resumed.artifact.metrics["resumed_from_step"] == checkpoint_step
    assert json.loads((resumed.artifact.path / "history.json").read_text())[-1]["step"] == STEPS
    assert not (interrupted.root / "_scratch" / resumed.artifact.fingerprint).exists()  # checkpoints go once published

    clean = copy_store(root, tmp_path / "clean")
    straight = build(kind, cfg, {name: clean.get(i) for name, i in ids[kind].items()}, clean, progress=progress)
    assert straight.artifact.metrics["resumed_from_step"] == 0
    assert straight.artifact.fingerprint == resumed.artifact.fingerprint

    difference = max_abs_difference(resumed.artifact.path / WEIGHTS[kind], straight.artifact.path / WEIGHTS[kind])
    print(f"{kind}: resumed from step {checkpoint_step}, max abs weight difference {difference:.3g}")
    assert difference <= 1e-5
    assert resumed.artifact.metrics["train_loss_final"] == pytest.approx(straight.artifact.metrics["train_loss_final"], abs=1e-4)
