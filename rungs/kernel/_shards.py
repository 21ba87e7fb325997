"""Where a stage's independent pieces of work run: in this process, or wherever the caller decides.

Stages import neither Prefect nor Dask, yet embedding a million chunks should spread over workers. A
stage cuts its work into shards and calls `shard_mapper()(fn, shards)`; by default that is a plain in-order
map in this process. The flow layer (flows/embedding.py) installs a mapper that runs each shard as a
Prefect task on a Dask cluster, with `with use_shard_mapper(mapper): ...` around the build. A mapper must return
the results in the order of the shards (lazily is fine: the stage checkpoints each as it arrives), and
`fn` must be a module-level function so that it pickles to another process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]


def local_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
    """In this process, one shard after another."""
    for item in items:
        yield fn(item)


_current: ContextVar[Mapper] = ContextVar("rungs_shard_mapper", default=local_map)


def shard_mapper() -> Mapper:
    """The mapper in force here (local_map unless a caller installed another)."""
    return _current.get()


@contextmanager
def use_shard_mapper(mapper: Mapper) -> Iterator[Mapper]:
    """Run shard maps inside this block with `mapper`."""
    token = _current.set(mapper)
    try:
        yield mapper
    finally:
        _current.reset(token)
