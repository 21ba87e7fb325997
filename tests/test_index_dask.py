"""Sharded embedding over a local Dask cluster of 2 workers (prefect-dask) builds the same index as one process."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from rungs.kernel import local_map, shard_mapper, use_shard_mapper
from rungs.kernel import compose
from stages import index as index_stage
from tests.test_index import DOCUMENTS, QUESTIONS, write_documents

OVERRIDES = ["index.chunk_words=60", "index.overlap_words=15", "index.batch_size=16", "index.shard_size=4"]


def _vectors(out):
    import faiss

    index = faiss.read_index(str(out / "index.faiss"))
    return index.reconstruct_n(0, index.ntotal)


def test_shard_mapper_is_local_by_default_and_scoped():
    assert shard_mapper() is local_map
    seen = []

    def mapper(fn, items):
        seen.append(len(items))
        return [fn(i) for i in items]

    with use_shard_mapper(mapper):
        assert list(shard_mapper()(abs, [-1, -2])) == [1, 2]
    assert shard_mapper() is local_map and seen == [2]


def test_two_dask_workers_build_the_same_index_as_one_process(prefect_harness, tmp_path, progress):
    from flows.embedding import dask_shards, shard_mapping

    corpus = write_documents(tmp_path / "corpus", DOCUMENTS)
    inputs = {"corpus": SimpleNamespace(path=corpus)}
    local = index_stage.run(compose(OVERRIDES), inputs, tmp_path / "local", progress, tmp_path / "s-local")

    cfg = compose([*OVERRIDES, "index.workers=2"])
    environ = dict(os.environ)
    calls = []
    with dask_shards(cfg.index.workers) as dask_map:

        def counting(fn, items):  # the Dask mapper, counting what the stage hands it
            calls.append(len(items))
            yield from dask_map(fn, items)

        with use_shard_mapper(counting):
            sharded = index_stage.run(cfg, inputs, tmp_path / "dask", progress, tmp_path / "s-dask")

    assert local["embedding_shards"] == sharded["embedding_shards"] == calls[0] >= 4  # every shard went to Dask
    assert dict(os.environ) == environ  # Dask's worker settings (OMP_NUM_THREADS=1 ...) do not leak into later processes
    assert sharded["resumed_chunks"] == 0 and sharded["chunks"] == local["chunks"]
    assert (tmp_path / "dask" / "chunks.parquet").read_bytes() == (tmp_path / "local" / "chunks.parquet").read_bytes()
    # other processes, other thread counts: equal up to float rounding, and the same rankings
    np.testing.assert_allclose(_vectors(tmp_path / "dask"), _vectors(tmp_path / "local"), atol=2e-5)
    from rungs.retrieval import Retriever

    questions = [q for q, _ in QUESTIONS]
    ranked = [[[h.chunk_id for h in hits] for hits in Retriever(tmp_path / d).search(questions, k=5)] for d in ("local", "dask")]
    assert ranked[0] == ranked[1]
    spec = {d: json.loads((tmp_path / d / "index.json").read_text()) for d in ("local", "dask")}
    assert spec["local"] == spec["dask"]

    # the flow's hook: Dask only for an index build that asks for workers
    assert isinstance(shard_mapping("index", compose(OVERRIDES)), type(shard_mapping("cpt", cfg)))
    with shard_mapping("index", cfg):
        assert shard_mapper() is not local_map
    assert pq.read_table(tmp_path / "dask" / "chunks.parquet").num_rows == sharded["chunks"]
