"""The `specialize` flow (the whole ladder) and the `stage` flow (one rung against chosen inputs)."""

from __future__ import annotations

import rungs  # noqa: F401  (offline, no-telemetry environment before Prefect reads its settings)
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run

from rungs.config import compose
from rungs.progress import progress_factory
from rungs.report import metrics_markdown
from rungs.runner import build, resolve_inputs
from rungs.store import Store


def _run_ids() -> dict:
    return {"prefect_flow_run_id": str(flow_run.id), "prefect_task_run_id": str(task_run.id), "prefect_flow_run_name": flow_run.name}


# The store is the cache: Prefect's cache would key on parameter values, not on the data behind them.
@task(cache_policy=NO_CACHE)
def build_stage(kind: str, overrides: list[str], input_ids: dict[str, str], store_root: str, show_progress: bool | None) -> dict:
    store = Store(store_root)
    cfg = compose(overrides)
    inputs = {name: store.get(i) for name, i in input_ids.items()}
    row = build(kind, cfg, inputs, store, progress=progress_factory(show_progress), run=_run_ids()).row()
    create_markdown_artifact(key=f"{kind}-metrics", markdown=metrics_markdown(row), description=f"{kind} {row['ref']}")
    return row


def _task(kind: str):
    return build_stage.with_options(name=kind, task_run_name=kind)


def _run_name() -> str:
    params = flow_run.parameters
    return "specialize " + " ".join(params.get("overrides") or []) if params.get("overrides") else "specialize (defaults)"


@flow(name="specialize", flow_run_name=_run_name, log_prints=True)
def specialize(overrides: list[str] | None = None, store_root: str | None = None, show_progress: bool | None = None) -> list[dict]:
    """Build every rung of the configured pipeline; each stage reuses a stored artifact when its fingerprint exists."""
    overrides = list(overrides or [])
    store = Store(store_root)
    cfg = compose(overrides)
    built, rows = {}, []
    for kind in cfg.pipeline.stages:
        inputs = resolve_inputs(kind, store, built=built, cfg=cfg)
        row = _task(kind)(kind, overrides, {n: a.id for n, a in inputs.items()}, str(store.root), show_progress)
        built[kind] = store.get(row["id"])
        rows.append(row)
    return rows


@flow(name="stage", flow_run_name=lambda: f"stage {flow_run.parameters['kind']}", log_prints=True)
def stage(kind: str, overrides: list[str] | None = None, input_refs: dict[str, str] | None = None, store_root: str | None = None, show_progress: bool | None = None) -> dict:
    """One rung against chosen upstream artifacts (refs), the latest of each kind otherwise."""
    store = Store(store_root)
    inputs = resolve_inputs(kind, store, refs=input_refs or {}, cfg=compose(list(overrides or [])))
    return _task(kind)(kind, list(overrides or []), {n: a.id for n, a in inputs.items()}, str(store.root), show_progress)
