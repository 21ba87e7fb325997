"""Benchmark: an unchanged `rungs run` against a running Prefect server, its wall time and where it goes.

Starts `prefect server start` on a free loopback port (its own PREFECT_HOME under a temp directory)
unless --api-url names a running server; builds the ladder into --store once when `rungs status` says
anything would build; then times --repeats unchanged runs of `rungs run --no-progress OVERRIDES`, each a
fresh process as a user types it. The breakdown comes from one more fresh process that does what
`rungs run` does, phase by phase (importing the CLI, the one Hydra composition, the memory plan,
importing Prefect, the flow run: six stage tasks, each fingerprinting and reusing its artifact, and the
gate), and from another that only fingerprints the six stages (what every task does before it reuses its
artifact: load the stage module, hash the raw files, look the fingerprint up in the store).

  .venv/bin/python bench/rerun_latency.py                      # model=tiny, 5 reruns, writes bench/RESULTS.md
  .venv/bin/python bench/rerun_latency.py --api-url http://127.0.0.1:4200/api --store /data/rungs-store model=gemma3-270m
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Unchanged rerun against a running Prefect server"
BIN = Path(sys.executable).parent
GOAL_S = 5.0


# ---------------------------------------------------------------------------------------------- phases


def phases(store: str, overrides: list[str]) -> dict:
    """In this fresh process: the steps of `rungs run`, timed one by one (seconds)."""
    clock = time.perf_counter
    out: dict = {}
    t = clock()
    import rungs.cli  # noqa: F401

    out["import rungs.cli"] = clock() - t
    from rungs.kernel import _compose, compose
    from rungs.pipeline import estimate, fits

    composed = []
    real = _compose._compose
    _compose._compose = lambda words: composed.append(words) or real(words)
    t = clock()
    cfg = compose(overrides)
    out["the config: composed by Hydra, or remembered from an earlier run"] = clock() - t
    t = clock()
    fits(estimate(cfg), cfg)
    out["memory plan check"] = clock() - t
    t = clock()
    from flows.specialize import specialize

    out["import Prefect (flows.specialize)"] = clock() - t
    t = clock()
    rows = specialize(overrides=overrides, store_root=store, show_progress=False)
    out["flow run: 6 stage tasks + gate on the server"] = clock() - t
    out["_cached"] = sum(r["cached"] for r in rows)
    out["_stages"] = len(rows)
    out["_compositions"] = len(composed)
    out["_torch_loaded"] = "torch" in sys.modules
    return out


def fingerprints(store: str, overrides: list[str]) -> dict:
    """In this fresh process: fingerprint every stage of the run as each task does (no Prefect)."""
    from rungs.kernel import compose
    from rungs.pipeline import run_status
    from rungs.store import Store

    cfg = compose(overrides)
    t = time.perf_counter()
    stages = run_status(cfg, Store(store))
    return {"seconds": time.perf_counter() - t, "cached": sum(s.cached for s in stages), "torch_loaded": "torch" in sys.modules}


def _child(mode: str, store: str, overrides: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, f"--{mode}", "--store", store, *overrides], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115  (the child keeps writing to it)
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return server, api
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.5)
    raise SystemExit(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", default=None, help="overrides of the run (default: model=tiny)")
    parser.add_argument("--store", default=None, help="artifact store (default: a directory under the temp dir, kept between runs)")
    parser.add_argument("--api-url", default=None, help="a running Prefect server's API (default: start one here)")
    parser.add_argument("--repeats", type=int, default=5, help="unchanged reruns timed (default 5)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--phases", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fingerprints", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    overrides = args.overrides or ["model=tiny"]
    store = args.store or str(Path(tempfile.gettempdir()) / "rungs-bench-rerun-store")
    if args.phases or args.fingerprints:
        print(json.dumps(phases(store, overrides) if args.phases else fingerprints(store, overrides)))
        return 0

    home = Path(tempfile.mkdtemp(prefix="rungs-bench-prefect-"))
    server, api = (None, args.api_url) if args.api_url else start_server(home)
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(home)}
    command = [str(BIN / "rungs"), "--store", store, "run", "--no-progress", *overrides]
    try:
        status = subprocess.run([str(BIN / "rungs"), "--store", store, "-q", "status", *overrides], capture_output=True,
                                text=True, env=env, cwd=ROOT, check=True).stdout
        if "build" in status.split():
            print(f"building the ladder once into {store} …", flush=True)
            subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        walls = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls.append(time.perf_counter() - began)
            print(f"rerun: {walls[-1]:.2f} s", flush=True)
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter = time.perf_counter() - began
        steps = _child("phases", store, overrides, env)
        prints = _child("fingerprints", store, overrides, env)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)

    shown = {k: v for k, v in steps.items() if not k.startswith("_")}
    rows = [("Python interpreter start", interpreter), *shown.items()]
    rest = statistics.median(walls) - sum(seconds for _, seconds in rows)
    rows.append(("the rest (median wall minus the above): Prefect draining its log and event workers, interpreter exit", rest))
    lines = [
        f"| median wall time of `rungs run` ({args.repeats} unchanged reruns, fresh processes) | **{statistics.median(walls):.2f} s** "
        f"(min {min(walls):.2f}, max {max(walls):.2f}; goal <= {GOAL_S:g} s) |",
        "|---|---:|",
        *(f"| {name} | {seconds:.2f} s |" for name, seconds in rows),
        f"| (within the flow run) fingerprinting all {steps['_stages']} stages: stage modules, raw file hashes, store lookups | "
        f"{prints['seconds']:.2f} s |",
    ]
    notes = (f"{steps['_cached']} of {steps['_stages']} stages reused; {steps['_compositions']} Hydra composition(s) in the "
             f"run; torch imported: {'yes' if steps['_torch_loaded'] or prints['torch_loaded'] else 'no'}.")
    print("\n".join(lines) + "\n" + notes)
    if not args.no_write:
        from rungs.kernel import replace_section

        shown_cmd = "python bench/rerun_latency.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        text = "\n".join([
            HEADING, "",
            f"`{shown_cmd.strip()}` on {_dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; overrides `{' '.join(overrides)}`, a `prefect server start` on loopback.",
            "The phases come from one more fresh process doing what `rungs run` does step by step; the fingerprint",
            "line is part of the flow run (each stage task fingerprints its stage, then finds the artifact).",
            "", *lines, "", notes, "",
        ])
        replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
