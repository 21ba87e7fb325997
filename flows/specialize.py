"""The `specialize` flow (the whole ladder as a DAG, then the promotion gate) and the `stage` flow (one rung
against chosen inputs).

Each stage is a Prefect task with its own retries, backoff and timeout (conf/ops/, flows/resilience.py)
that publishes a markdown card (its metrics and artifact ref). `specialize` submits each stage as soon as
the stages it takes inputs from are done (rungs.pipeline's `wiring`, from the ladder's declared
inputs), so independent stages run at once: `index` beside `base` and `cpt`. After `evaluate` the
release is compared with `production` (rungs.ops) and promoted only when it is not worse. Every flow run
is recorded in the store (`rungs runs`), and its name ends up saying what it built and what the gate
decided. A failed stage stops new submissions; the run raises before the gate once the running stages
are done, so `production` stays where it was; people hear of it through `ops.notify` (apprise URLs).
"""

from __future__ import annotations

import sys

import rungs  # noqa: F401  (offline, no-telemetry environment before Prefect reads its settings)

# isort: split
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.logging import get_run_logger
from prefect.runtime import deployment, flow_run, task_run

from flows.embedding import shard_mapping
from flows.resilience import task_options
from rungs.kernel import KINDS, RungsConfig, RungsError, compose, progress_factory
from rungs.ops import RunRecorder, decision_markdown, gate_and_promote, notify
from rungs.pipeline import build, metrics_markdown, resolve_inputs, upstream, wiring
from rungs.store import Store


def _run_ids() -> dict:
    return {"prefect_flow_run_id": str(flow_run.id), "prefect_task_run_id": str(task_run.id), "prefect_flow_run_name": flow_run.name}


# The store is the cache: Prefect's cache would key on parameter values, not on the data behind them.
@task(cache_policy=NO_CACHE)
def build_stage(kind: str, overrides: list[str], input_ids: dict[str, str], store_root: str, show_progress: bool | None) -> dict:
    store = Store(store_root)
    cfg = compose(overrides)
    inputs = {name: store.get(i) for name, i in input_ids.items()}
    with shard_mapping(kind, cfg):  # index.workers > 1: embedding shards spread over a local Dask cluster
        row = build(kind, cfg, inputs, store, progress=progress_factory(show_progress), run=_run_ids()).row()
    create_markdown_artifact(key=f"{kind}-metrics", markdown=metrics_markdown(row), description=f"{kind} {row['ref']}")
    return row


@task(name="promote", task_run_name="promote", cache_policy=NO_CACHE)
def promote_release(evaluate_id: str, overrides: list[str], store_root: str) -> dict:
    """The gate: compare the release behind this evaluate artifact with production; promote if not worse."""
    cfg = compose(overrides)
    ids = {"prefect_flow_run_id": str(flow_run.id), "prefect_flow_run_name": flow_run.name}
    decision = gate_and_promote(Store(store_root), evaluate_id, cfg.promote, source="flow", run=ids)
    create_markdown_artifact(
        key="promotion", markdown=decision_markdown(decision), description=f"{decision['outcome']} {decision['candidate']['ref']}"
    )
    get_run_logger().info(f"promotion: {decision['outcome']} {decision['candidate']['ref']}: " + "; ".join(decision["reasons"]))
    return decision


def _prefect_ids() -> dict:
    return {"flow_run_id": str(flow_run.id), "deployment": deployment.name or None}


def _task(kind: str, cfg: RungsConfig):
    return build_stage.with_options(name=kind, task_run_name=kind, **task_options(kind, cfg.ops))


def _label(cfg: RungsConfig | None) -> str:
    if cfg is None:
        return "(bad config)"
    words = [f"model={cfg.model.name}"]
    if cfg.pipeline.name != "full":
        words.append(f"pipeline={cfg.pipeline.name}")
    return " ".join(words)


def _compose_or_none(overrides) -> RungsConfig | None:
    try:
        return compose(list(overrides or []))
    except RungsError:
        return None


def _run_name() -> str:
    return f"specialize {_label(_compose_or_none(flow_run.parameters.get('overrides')))}"


def _rename(name: str) -> None:
    """Give the flow run a name that says what it did; a server that refuses must not fail the night."""
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.set_flow_run_name(flow_run.id, name)
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning(f"could not rename the flow run: {exc}")


def _built_summary(rows: list[dict]) -> str:
    built = [r["stage"] for r in rows if not r["cached"]]
    cached = len(rows) - len(built)
    return f"built {','.join(built) if built else 'nothing'}" + (f"; cached {cached}" if cached else "")


def _production_line(store: Store, alias: str = "production") -> str:
    try:
        target = next((t for _, n, t in store.aliases("evaluate") if n == alias), None)
        return f"production untouched: evaluate@{alias} = {store.get(target).ref} ({target})" if target else f"no evaluate@{alias} yet"
    except RungsError as exc:
        return f"production: unreadable ({exc})"


def _notify(cfg: RungsConfig | None, event: str, title: str, body: str) -> None:
    cfg = cfg or _compose_or_none([])
    if cfg is not None and event in cfg.ops.notify.events:
        notify(cfg.ops.notify.urls, event, title, body)


def _failed(rec: RunRecorder, cfg: RungsConfig | None, store: Store, stage: str | None, exc: BaseException, rows: list[dict]) -> None:
    """Record, rename and notify a run that ends in an exception (the caller re-raises it, not ours)."""
    try:
        _report_failure(rec, cfg, store, stage, exc, rows)
    except Exception as report_error:  # noqa: BLE001  the night's own error is what people need to see
        print(f"could not record or report the failure: {type(report_error).__name__}: {report_error}", file=sys.stderr)


def _report_failure(rec: RunRecorder, cfg: RungsConfig | None, store: Store, stage: str | None, exc: BaseException, rows: list[dict]) -> None:
    event = "failed" if isinstance(exc, Exception) else "crashed"  # KeyboardInterrupt, a termination signal
    error = f"{type(exc).__name__}: {exc}"
    where = f" at {stage}" if stage else ""
    name = f"{rec.name}: {event}{where} ({type(exc).__name__})"
    rec.finish(event, name=name, rows=rows, error=error[:2000], failed_stage=stage)
    _rename(name)
    body = f"{name}\n\n{error[:4000]}\n\nstore: {store.root}\n{_production_line(store)}\nflow run: {flow_run.id}"
    _notify(cfg, event, f"rungs: {name}", body)


class StageFailed(Exception):
    """The ladder stopped: `stage` failed with `error` (re-raised by the flow after `rows` were recorded)."""

    def __init__(self, stage: str, error: BaseException, rows: list[dict]):
        super().__init__(stage)
        self.stage, self.error, self.rows = stage, error, rows


def _ladder(cfg: RungsConfig, overrides: list[str], store: Store, show_progress: bool | None, built: dict) -> list[dict]:
    """Submit each stage once its inputs are built; returns the rows in build order. A failure stops new
    submissions, waits for the stages already running, and raises StageFailed."""
    wires = wiring(cfg)
    futures: dict = {}  # kind -> its future, for the edges Prefect draws (wait_for)
    running: dict = {}  # future -> kind
    rows: dict[str, dict] = {}
    failure: tuple[str, BaseException] | None = None
    while True:
        if failure is None:
            for kind in wires:
                if kind not in futures and all(up in built for up in upstream(wires, kind)):
                    input_ids = {name: built[up].id for name, up in wires[kind].items()}
                    future = _task(kind, cfg).submit(kind, overrides, input_ids, str(store.root), show_progress,
                                                     wait_for=[futures[k] for k in upstream(wires, kind)])
                    futures[kind] = future
                    running[future] = kind
        if not running:
            break
        done = next(as_completed(list(running)))
        kind = running.pop(done)
        try:
            row = done.result()
        except BaseException as exc:  # noqa: BLE001  (re-raised below, once the running stages are done)
            failure = failure or (kind, exc)
            continue
        built[kind] = store.get(row["id"])
        rows[kind] = row
    ordered = [rows[k] for k in KINDS if k in rows]
    if failure is not None:
        raise StageFailed(failure[0], failure[1], ordered)
    return ordered


# log_prints off: dill (under datasets' fingerprinting) disassembles functions with print() into a swapped
# stdout, and Prefect's print capture sent that bytecode into the run's log instead
@flow(name="specialize", flow_run_name=_run_name, log_prints=False)
def specialize(overrides: list[str] | None = None, store_root: str | None = None, show_progress: bool | None = None) -> list[dict]:
    """Build every rung of the configured pipeline, then gate the release; a stored fingerprint is reused, not rebuilt."""
    overrides = list(overrides or [])
    store = Store(store_root)
    cfg = _compose_or_none(overrides)
    rec = RunRecorder(store, "specialize", f"specialize {_label(cfg)}", run_id=str(flow_run.id), overrides=overrides,
                      prefect=_prefect_ids())
    rec.start()
    built, rows, kind = {}, [], None
    try:
        cfg = compose(overrides)  # raises the ConfigError _compose_or_none swallowed, now recorded as the failure
        rows = _ladder(cfg, overrides, store, show_progress, built)
        kind = "promote"
        decision = None
        if "evaluate" in built and cfg.promote.enabled:
            gate = promote_release.with_options(**task_options("promote", cfg.ops))
            decision = gate(built["evaluate"].id, overrides, str(store.root))
    except StageFailed as failed:
        _failed(rec, cfg, store, failed.stage, failed.error, failed.rows)
        raise failed.error from None
    except BaseException as exc:
        _failed(rec, cfg, store, kind, exc, rows)
        raise
    name = f"{rec.name}: {_built_summary(rows)}"
    promotion = None
    if decision is not None:
        name += {"promoted": f"; promoted {decision['candidate']['ref']}", "refused": "; refused by the gate"}.get(decision["outcome"], "; production unchanged")
        promotion = {k: decision[k] for k in ("decision", "outcome", "candidate", "production")}
        if decision["outcome"] in ("refused", "promoted"):
            reasons = "\n".join(f"- {r}" for r in decision["reasons"])
            _notify(cfg, decision["outcome"], f"rungs: {name}", f"{name}\n\n{reasons}\n\nstore: {store.root}\nflow run: {flow_run.id}")
    rec.finish("completed", name=name, rows=rows, promotion=promotion)
    _rename(name)
    return rows


@flow(name="stage", flow_run_name=lambda: f"stage {flow_run.parameters['kind']}", log_prints=False)
def stage(kind: str, overrides: list[str] | None = None, input_refs: dict[str, str] | None = None, store_root: str | None = None, show_progress: bool | None = None) -> dict:
    """One rung against chosen upstream artifacts (refs), the latest of each kind otherwise."""
    overrides = list(overrides or [])
    store = Store(store_root)
    cfg = _compose_or_none(overrides)
    rec = RunRecorder(store, "stage", f"stage {kind}", run_id=str(flow_run.id), overrides=overrides,
                      prefect=_prefect_ids())
    rec.start()
    try:
        cfg = compose(overrides)
        inputs = resolve_inputs(kind, store, refs=input_refs or {}, cfg=cfg)
        row = _task(kind, cfg)(kind, overrides, {n: a.id for n, a in inputs.items()}, str(store.root), show_progress)
    except BaseException as exc:
        _failed(rec, cfg, store, kind, exc, [])
        raise
    rec.finish("completed", name=f"stage {kind}: {'cached' if row['cached'] else 'built'} {row['ref']}", rows=[row])
    return row
