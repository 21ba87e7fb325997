"""Run a training stage on several processes: one per GPU (nccl), or several on the CPU (gloo).

The runner (`build`) calls `launch` instead of the stage's `run` when `hardware.processes > 1` and the
stage trains (the ladder's `trains`: cpt, sft). `launch` starts `torchrun --standalone --nproc_per_node N
-m rungs.pipeline._worker` with a JSON spec in the build's scratch directory; each worker joins the
process group, pins its GPU, and calls the stage's ordinary `run`. rungs.train's `train` sees the
initialised process group and
trains with DistributedDataParallel: each rank takes a disjoint slice of every batch (see `train`).
Rank 0 alone writes checkpoints, the artifact files and the metrics the launcher returns; the runner
then publishes exactly one artifact, as for a one-process build. A failed worker fails the launch with
the worker's error, and nothing is published.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from rungs.kernel import TRAINING, ConfigError, RungsError, to_dict

LAUNCH_DIR = "launch"  # under the build's scratch directory: spec, metrics, worker errors


class WorkerError(RungsError):
    """A distributed stage failed in a worker process; the message carries the worker's error."""


def wanted(kind: str, cfg) -> bool:
    """Whether `kind` runs through `launch` under this config: a training stage on several processes."""
    return kind in TRAINING and cfg.hardware.processes > 1


def launch(kind: str, cfg, inputs: dict, out: Path, scratch: Path, *, processes: int | None = None) -> dict:
    """Run stage `kind` on `processes` workers (default cfg.hardware.processes); return rank 0's metrics.

    Blocks until every worker has exited. Workers inherit stdout/stderr, so rank 0's progress bar shows.
    If this process is interrupted, the workers are stopped; if it dies, they exit within a second, so a
    rerun resumes from the last checkpoint with no orphan still writing to the scratch directory.
    """
    processes = processes or cfg.hardware.processes
    train = getattr(cfg, kind)
    if train.batch_size % processes:
        raise ConfigError(f"{kind}.batch_size={train.batch_size} must be a multiple of hardware.processes={processes}: each process trains on an equal slice of every batch")
    work = Path(scratch) / LAUNCH_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spec = {
        "kind": kind,
        "config": to_dict(cfg),
        "inputs": {name: {"kind": a.kind, "id": a.id, "path": str(a.path)} for name, a in inputs.items()},
        "out": str(Path(out).absolute()),
        "scratch": str(Path(scratch).absolute()),
        "work": str(work.absolute()),
        "parent": os.getpid(),
    }
    (work / "spec.json").write_text(json.dumps(spec, indent=1))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
        "-m", "rungs.pipeline._worker", str(work / "spec.json"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if "OMP_NUM_THREADS" not in env:  # torchrun would set 1: share the cores between the processes instead
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(cfg.hardware.threads or max(1, cores // processes))
    try:
        code = _run_group(command, env)
        metrics_file = work / "metrics.json"
        if code != 0 or not metrics_file.exists():
            errors = sorted(work.glob("rank*.error"), key=lambda p: p.stat().st_mtime)  # the first failure, not its echoes
            detail = errors[0].read_text().strip() if errors else "no worker reported an error; see its output above"
            raise WorkerError(f"{kind} on {processes} processes failed (torchrun exit code {code}): {detail}")
        return json.loads(metrics_file.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_group(command: list[str], env: dict) -> int:
    """Run torchrun in its own process group; on any interruption stop the whole group, workers included."""
    proc = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        return proc.wait()
    except BaseException:
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        raise
