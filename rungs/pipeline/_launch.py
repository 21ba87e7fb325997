"""Run a stage outside the pipeline's process: a training stage on several processes (one per GPU, nccl,
or several on the CPU, gloo), or a stage that asks for a process of its own.

The runner (`build`) calls `launch` instead of the stage's `run` when `hardware.processes > 1` and the
stage trains (the ladder's `trains`: cpt, sft), or when the stage module's `own_process(cfg)` says so
(stages that tune with torch's process-wide random generator and thread count, which a stage training
beside them in the pipeline's threads would change). `launch` writes a JSON spec in the build's scratch
directory and starts `torchrun --standalone --nproc_per_node N -m rungs.pipeline._worker SPEC` (or, for
a process of its own, `python -m rungs.pipeline._worker SPEC`); each worker calls the stage's ordinary
`run`. A distributed worker first joins the process group and pins its GPU; rungs.train's `train` sees
the initialised group and trains with DistributedDataParallel: each rank takes a disjoint slice of every
batch (see `train`). Rank 0 alone writes checkpoints, the artifact files and the metrics the launcher
returns; the runner then publishes exactly one artifact, as for an in-process build. A failed worker
fails the launch with the worker's error (a process of its own re-raises it as it was: an InputError
still names the file and line), and nothing is published.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from rungs.kernel import TRAINING, ConfigError, RungsError, to_dict

from ._stages import stage_module

LAUNCH_DIR = "launch"  # under the build's scratch directory: spec, metrics, worker errors
RAISED = "rank0.pickle"  # a process of its own pickles its exception here, so the caller raises the same one


class WorkerError(RungsError):
    """A distributed stage failed in a worker process; the message carries the worker's error."""


def wanted(kind: str, cfg) -> bool:
    """Whether `kind` runs through `launch` under this config: a training stage on several processes, or a
    stage whose module asks for a process of its own."""
    return _distributed(kind, cfg) or own_process(kind, cfg)


def _distributed(kind: str, cfg) -> bool:
    return kind in TRAINING and cfg.hardware.processes > 1


def own_process(kind: str, cfg) -> bool:
    """Whether stage `kind` builds in a process of its own under this config (its module's `own_process`)."""
    ask = getattr(stage_module(kind), "own_process", None)
    return bool(ask and ask(cfg))


def launch(kind: str, cfg, inputs: dict, out: Path, scratch: Path, *, processes: int | None = None) -> dict:
    """Run stage `kind` on `processes` workers (default cfg.hardware.processes; one, without torchrun, for a
    stage that only wants a process of its own); return rank 0's metrics.

    Blocks until every worker has exited. Workers inherit stdout/stderr, so rank 0's progress bar shows.
    If this process is interrupted, the workers are stopped; if it dies, they exit within a second, so a
    rerun resumes from the last checkpoint with no orphan still writing to the scratch directory.
    """
    distributed = _distributed(kind, cfg) or (processes or 1) > 1
    processes = (processes or cfg.hardware.processes) if distributed else 1
    train = getattr(cfg, kind)
    if distributed and train.batch_size % processes:
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
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [*(torchrun if distributed else [sys.executable]), "-m", "rungs.pipeline._worker", str(work / "spec.json")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if distributed and "OMP_NUM_THREADS" not in env:  # torchrun would set 1: share the cores between the processes instead
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(cfg.hardware.threads or max(1, cores // processes))
    try:
        code = _run_group(command, env)
        metrics_file = work / "metrics.json"
        if code != 0 or not metrics_file.exists():
            if not distributed and (work / RAISED).exists():
                raise _raised(work / RAISED)
            errors = sorted(work.glob("rank*.error"), key=lambda p: p.stat().st_mtime)  # the first failure, not its echoes
            detail = errors[0].read_text().strip() if errors else "no worker reported an error; see its output above"
            how = f"on {processes} processes (torchrun exit code {code})" if distributed else f"in its own process (exit code {code})"
            raise WorkerError(f"{kind} {how} failed: {detail}")
        return json.loads(metrics_file.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _raised(path: Path) -> BaseException:
    """The error a worker of our own pickled (`RAISED`): a RungsError as it was raised, anything else as a WorkerError."""
    try:
        exc = pickle.loads(path.read_bytes())
    except Exception as unreadable:  # an error whose class cannot be rebuilt here still reaches the user as text
        return WorkerError(f"a worker failed and its error could not be read back: {unreadable}")
    return exc if isinstance(exc, RungsError) else WorkerError(f"{type(exc).__name__}: {exc}")


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
