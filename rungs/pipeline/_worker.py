"""One worker process of a stage built outside the pipeline's process (`python -m rungs.pipeline._worker SPEC`).

Started by `launch` (rungs.pipeline._launch): by torchrun once per process of a distributed training
stage, or alone for a stage that wants a process of its own. Reads the spec the launcher wrote, joins the
process group and pins its GPU (distributed only), runs the stage's ordinary `run`; rank 0 writes the
metrics back. A worker whose launcher died ends itself, so a killed build leaves no orphan writing to its
scratch.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import threading
import time
from pathlib import Path

from rungs.kernel import RungsConfig, progress_factory
from rungs.store import MANIFEST, Artifact

from ._launch import RAISED
from ._stages import stage_module


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



def _load_inputs(spec: dict) -> dict:
    return {
        name: Artifact(kind=a["kind"], id=a["id"], path=Path(a["path"]), manifest=json.loads((Path(a["path"]) / MANIFEST).read_text()))
        for name, a in spec["inputs"].items()
    }


def _config(spec: dict):
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RungsConfig), spec["config"]))


def worker(spec_path: str | Path) -> None:
    """One worker: join the process group (under torchrun), run the stage, rank 0 writes the metrics."""
    import torch
    import torch.distributed as dist

    spec = json.loads(Path(spec_path).read_text())
    _exit_with(spec["parent"])  # a killed build leaves no orphan training on and writing to its scratch
    work = Path(spec["work"])
    distributed = "RANK" in os.environ  # torchrun sets it; a process of its own is rank 0 of one
    me = int(os.environ.get("RANK", 0))
    try:
        cfg = _config(spec)
        device = None
        if distributed and cfg.hardware.device.startswith("cuda"):
            local = int(os.environ["LOCAL_RANK"])
            torch.cuda.set_device(local)
            cfg.hardware.device = f"cuda:{local}"  # every .to(device) and device_map lands on this rank's GPU
            device = torch.device(cfg.hardware.device)
        if distributed:
            dist.init_process_group(backend=cfg.hardware.backend, device_id=device)
        elif cfg.hardware.threads:
            torch.set_num_threads(cfg.hardware.threads)  # torchrun's workers take OMP_NUM_THREADS from the launcher
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
        if not distributed:
            _pickle_error(exc, work / RAISED)
        if dist.is_initialized():
            dist.destroy_process_group()
        raise
    # every rank leaves the group together: one that tears down its sockets while another still talks to it
    # can abort that other rank in gloo's C++ ("terminate called without an active exception", seen once in CI)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def _pickle_error(exc: BaseException, path: Path) -> None:
    try:
        path.write_bytes(pickle.dumps(exc))
    except Exception:  # noqa: S110  (an exception that cannot be pickled: the launcher falls back to rank0.error's text)
        pass


if __name__ == "__main__":
    worker(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the work is done and written: skip interpreter teardown, whose C++ destructors can abort too
