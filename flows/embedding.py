"""Index embedding over Dask workers: a shard mapper made of Prefect tasks on prefect-dask's DaskTaskRunner.

The index stage cuts its chunks into shards and maps rungs.retrieval's `embed_shard` over them through
the kernel's `shard_mapper()` (stages import neither Prefect nor Dask). With `index.workers > 1` the flow
wraps the build in `shard_mapping(kind, cfg)`: each shard becomes an `embed-shard` Prefect task run on a
local Dask cluster of `index.workers` processes (one thread each, the cores split between them), and
results come back in shard order so the stage checkpoints each as it arrives.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

import rungs  # noqa: F401  (offline, no-telemetry environment before Prefect reads its settings)
from rungs.kernel import Mapper, use_shard_mapper


# The store caches the index; shard results are large arrays that must not be persisted by Prefect.
@task(name="embed-shard", cache_policy=NO_CACHE, persist_result=False)
def embed_shard_task(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def dask_mapper(workers: int) -> Mapper:
    """A shard mapper that runs every shard as a Prefect task on a fresh local Dask cluster."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")

    def mapper(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        items = list(items)
        if not items:
            return
        from prefect_dask import DaskTaskRunner

        # each worker process gets its share of the cores for torch: oversubscribing makes all slower
        threads = max(1, (os.cpu_count() or 1) // workers)
        items = [_with_threads(item, threads) for item in items]
        runner = DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                            "host": "127.0.0.1", "dashboard_address": None},
        )
        with _environ_restored(), runner:
            with _shared_api():
                futures = [runner.submit(embed_shard_task, {"fn": fn, "item": item}) for item in items]
            for future in futures:
                yield future.result()

    return mapper


@contextmanager
def _environ_restored() -> Iterator[None]:
    """Dask's nanny writes its worker settings (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, ...) into this
    process' own os.environ before spawning workers; left there, every process started later (a torchrun
    training stage, a subprocess build) would run single-threaded and round differently."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _shared_api() -> Iterator[None]:
    """Workers report their task runs to the API this process uses. Without a configured server Prefect
    runs a temporary one in this process' child; name its URL so each worker does not start its own."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        temporary_settings,
    )

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # one per process: the same server this process' client uses
    server.start()
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield


def _with_threads(item: Any, threads: int) -> Any:
    if hasattr(item, "threads") and getattr(item, "threads", 1) == 0:
        import dataclasses

        return dataclasses.replace(item, threads=threads)
    return item


def shard_mapping(kind: str, cfg) -> Any:
    """The context a flow wraps a stage build in: Dask-mapped shards for an index with workers > 1."""
    workers = getattr(getattr(cfg, "index", None), "workers", 1)
    if kind != "index" or workers <= 1:
        return nullcontext()
    return use_shard_mapper(dask_mapper(workers))


@contextmanager
def dask_shards(workers: int) -> Iterator[Mapper]:
    """`with dask_shards(2): build("index", ...)` — the same mapper outside a flow (tests, scripts)."""
    with use_shard_mapper(dask_mapper(workers)) as mapper:
        yield mapper
