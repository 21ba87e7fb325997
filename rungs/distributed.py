"""Run a training stage on several processes: one per GPU (nccl), or several on the CPU (gloo).

`rungs.runner.build` calls `launch` instead of the stage's `run` when `hardware.processes > 1` and the
stage trains (cpt, sft). `launch` starts `torchrun --standalone --nproc_per_node N -m rungs.distributed`
with a JSON spec in the build's scratch directory; each worker joins the process group, pins its GPU,
and calls the stage's ordinary `run`. `rungs.training.train` sees the initialised process group and
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
import threading
import time
from pathlib import Path

from .errors import ConfigError, RungsError

STAGES = ("cpt", "sft")  # the stages that train; the others always run in-process
LAUNCH_DIR = "launch"  # under the build's scratch directory: spec, metrics, worker errors


class WorkerError(RungsError):
    """A distributed stage failed in a worker process; the message carries the worker's error."""


def wanted(kind: str, cfg) -> bool:
    """Whether `kind` runs through `launch` under this config."""
    return kind in STAGES and cfg.hardware.processes > 1


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True in a one-process run and on rank 0: the process that writes checkpoints and artifact files."""
    return rank() == 0


def launch(kind: str, cfg, inputs: dict, out: Path, scratch: Path, *, processes: int | None = None) -> dict:
    """Run stage `kind` on `processes` workers (default cfg.hardware.processes); return rank 0's metrics.

    Blocks until every worker has exited. Workers inherit stdout/stderr, so rank 0's progress bar shows.
    If this process is interrupted, the workers are stopped; if it dies, they exit within a second, so a
    rerun resumes from the last checkpoint with no orphan still writing to the scratch directory.
    """
    from .config import to_dict

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
        "-m", "rungs.distributed", str(work / "spec.json"),
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


def _exit_with(pid: int) -> None:
    """In a daemon thread: end this worker once process `pid` (the build that launched it) is gone."""

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)  # torchrun sees a failed worker and stops the others
            except PermissionError:
                pass

    threading.Thread(target=watch, name="rungs-parent-watch", daemon=True).start()


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


def _load_inputs(spec: dict) -> dict:
    from .store import MANIFEST, Artifact

    return {
        name: Artifact(kind=a["kind"], id=a["id"], path=Path(a["path"]), manifest=json.loads((Path(a["path"]) / MANIFEST).read_text()))
        for name, a in spec["inputs"].items()
    }


def _config(spec: dict):
    from omegaconf import OmegaConf

    from .config import RungsConfig

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RungsConfig), spec["config"]))


def worker(spec_path: str | Path) -> None:
    """One torchrun worker: join the process group, run the stage, rank 0 writes the metrics."""
    import torch
    import torch.distributed as dist

    from .progress import progress_factory
    from .runner import stage_module

    spec = json.loads(Path(spec_path).read_text())
    _exit_with(spec["parent"])  # a killed build leaves no orphan training on and writing to its scratch
    work = Path(spec["work"])
    me = int(os.environ["RANK"])
    try:
        cfg = _config(spec)
        device = None
        if cfg.hardware.device.startswith("cuda"):
            local = int(os.environ["LOCAL_RANK"])
            torch.cuda.set_device(local)
            cfg.hardware.device = f"cuda:{local}"  # every .to(device) and device_map lands on this rank's GPU
            device = torch.device(cfg.hardware.device)
        dist.init_process_group(backend=cfg.hardware.backend, device_id=device)
        # other ranks write nothing: stages check is_main(); a stray write lands in a throwaway directory
        out = Path(spec["out"]) if me == 0 else work / f"rank{me}-out"
        out.mkdir(parents=True, exist_ok=True)
        progress = progress_factory(None if me == 0 else False)
        metrics = stage_module(spec["kind"]).run(cfg, _load_inputs(spec), out, progress, Path(spec["scratch"]))
        if me == 0:
            (work / "metrics.tmp").write_text(json.dumps(metrics))
            os.replace(work / "metrics.tmp", work / "metrics.json")
    except BaseException as exc:
        (work / f"rank{me}.error").write_text(f"rank {me}: {type(exc).__name__}: {exc}")  # the traceback goes to stderr
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    worker(sys.argv[1])
