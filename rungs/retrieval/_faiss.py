"""FAISS index types for unit vectors (inner product = cosine): which one, with what parameters, built how.

`plan(cfg.index, n, dim)` turns the config into a concrete spec — `{"type", "params", "chosen_by"}` —
resolving `type=auto` by corpus size and every `0 = auto` parameter from `n`. The spec is written into
the artifact (`index.json`) and its metrics, so the manifest says exactly what was built, and
`load(path, spec)` re-applies the search-time parameters (nprobe, efSearch, refine factor) when an index
is opened.

Sizes (bench/RESULTS.md, 2 cores): exact search scans every vector, ~15 ms per query at 100k and
~120 ms at 1M, so from ~50k vectors an inverted file (IVF) answers in under a millisecond at recall@10
>= 0.99; from about a million vectors float32 storage alone is 1.5 GiB, and IVF-PQ keeps 48-byte PQ
codes plus 8-bit vectors that re-score its shortlist (432 bytes a vector).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rungs.kernel import ConfigError, InputError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivfpq")
BUILT_TYPES = INDEX_TYPES[1:]
# k-means wants >= 39 training points per centroid (FAISS warns below); more adds time, not quality
TRAIN_PER_CENTROID = 64
MAX_TRAIN = 262_144
# FAISS' default is 25; lists barely move after 10 on embeddings, and training is most of an IVF build
KMEANS_ITERATIONS = 10


def _pow2(x: float) -> int:
    return 1 << max(0, round(math.log2(max(x, 1.0))))


def auto_nlist(n: int) -> int:
    """Inverted lists: ~sqrt(n) rounded to a power of two, at most one per 39 vectors.

    FAISS suggests 4-16 sqrt(n) for the fastest queries, but k-means training and assigning every vector
    cost O(n * nlist): at 1M vectors 4 sqrt(n) lists take ~10 minutes to build on 2 cores, sqrt(n) about one,
    and nprobe scaled with nlist keeps recall@10 >= 0.98 either way (bench/RESULTS.md).
    """
    return max(1, min(_pow2(math.sqrt(n)), n // 39 if n >= 39 else 1))


def auto_nprobe(nlist: int) -> int:
    """Lists visited per query: 16, or 1/64 of them on very large indexes (bench/RESULTS.md: recall@10
    0.995 at 100k and 0.999 at 1M with 16; 8 gave 0.983 at 100k; 64 at 1M cost 4x the time for 0.0004)."""
    return max(1, min(nlist, max(16, nlist // 64)))


def choose_type(idx, n: int) -> str:
    """`auto`: exact below `exact_below` vectors, IVF-PQ from `ivfpq_from`, IVF between.

    IVF rather than HNSW in the middle because, measured on the same vectors (bench/RESULTS.md), IVF with
    nprobe scaled to its lists keeps recall@10 >= 0.995 from 100k to 1M and builds 10x faster, while HNSW
    with fixed parameters falls from 0.986 at 100k to 0.87 at 1M; HNSW stays available as `index=hnsw`
    for the lowest latency at a few hundred thousand vectors.
    """
    if idx.type != "auto":
        return idx.type
    if n < idx.exact_below:
        return "flat"
    if n >= idx.ivfpq_from:
        return "ivfpq"
    return "ivf"


def check_config(idx) -> None:
    if idx.type not in INDEX_TYPES:
        raise ConfigError(f"index.type={idx.type!r}: unknown index type; available: {list(INDEX_TYPES)}")
    positive = {"hnsw_m": idx.hnsw_m, "hnsw_ef_construction": idx.hnsw_ef_construction,
                "hnsw_ef_search": idx.hnsw_ef_search, "pq_m": idx.pq_m}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"index.{key}={value}: expected >= 1")
    for key in ("ivf_nlist", "ivf_nprobe", "pq_refine"):
        if getattr(idx, key) < 0:
            raise ConfigError(f"index.{key}={getattr(idx, key)}: expected >= 1, or 0 for automatic")
    if not 1 <= idx.pq_nbits <= 16:
        raise ConfigError(f"index.pq_nbits={idx.pq_nbits}: expected 1..16 bits per sub-quantizer code")
    if idx.exact_below < 0 or idx.ivfpq_from < idx.exact_below:
        raise ConfigError(
            f"index.exact_below={idx.exact_below}, index.ivfpq_from={idx.ivfpq_from}: expected 0 <= exact_below <= ivfpq_from"
        )


def plan(idx, n: int, dim: int) -> dict:
    """The concrete index for `n` vectors of `dim`: type, every parameter resolved, and why that type."""
    check_config(idx)
    kind = choose_type(idx, n)
    params: dict = {}
    if kind == "hnsw":
        params = {"m": idx.hnsw_m, "ef_construction": idx.hnsw_ef_construction, "ef_search": idx.hnsw_ef_search}
    elif kind in ("ivf", "ivfpq"):
        nlist = idx.ivf_nlist or auto_nlist(n)
        if nlist > n:
            raise ConfigError(f"index.ivf_nlist={nlist}: more inverted lists than the {n} vectors to index")
        params = {"nlist": nlist, "nprobe": min(nlist, idx.ivf_nprobe or auto_nprobe(nlist))}
        if kind == "ivfpq":
            if dim % idx.pq_m:
                raise ConfigError(f"index.pq_m={idx.pq_m}: must divide the embedding dimension {dim}")
            # a sub-quantizer of 2**nbits centroids wants >= 39 training vectors each: fewer bits on small corpora
            nbits = min(idx.pq_nbits, max(1, int(math.log2(max(n // 39, 2)))))
            params.update({"pq_m": idx.pq_m, "pq_nbits": nbits})
            if idx.pq_refine > 0:
                params["refine_k_factor"] = idx.pq_refine
        params["train_size"] = min(n, MAX_TRAIN, max(TRAIN_PER_CENTROID * params["nlist"],
                                                     TRAIN_PER_CENTROID * (1 << params.get("pq_nbits", 0))))
    return {"type": kind, "params": params, "chosen_by": "size" if idx.type == "auto" else "config",
            "metric": "inner_product", "dim": int(dim), "vectors": int(n)}


def build(vectors: np.ndarray, spec: dict, seed: int = 0):
    """A FAISS index over `vectors` (unit rows, float32) as `spec` says; deterministic for a seed,
    except HNSW, whose multi-threaded insertion order may vary (recall does not)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    kind, p = spec["type"], spec["params"]
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, p["m"], ip)
        index.hnsw.efConstruction = p["ef_construction"]
    elif kind in ("ivf", "ivfpq"):
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, p["nlist"], ip)
        else:
            index = faiss.IndexIVFPQ(quantizer, dim, p["nlist"], p["pq_m"], p["pq_nbits"], ip)
        quantizer.this.disown()  # the index frees its quantizer; Python must not free it a second time
        index.own_fields = True
        index.cp.seed = seed
        index.cp.niter = KMEANS_ITERATIONS
        if kind == "ivfpq":
            index.pq.cp.niter = KMEANS_ITERATIONS  # 48 sub-quantizer k-means: most of an IVF-PQ build
        if p.get("refine_k_factor"):
            # PQ codes shortlist refine_k_factor * k candidates, re-scored with 8-bit scalar-quantized vectors:
            # 432 instead of 1,536 bytes a vector, and recall close to IVF's instead of PQ's
            index.this.disown()
            refine = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, ip)
            refine.this.disown()
            index = faiss.IndexRefine(index, refine)
            index.own_fields = True
            index.own_refine_index = True
        rows = np.random.default_rng(seed).choice(n, size=p["train_size"], replace=False) if p["train_size"] < n else None
        index.train(x if rows is None else x[np.sort(rows)])
    else:
        raise ConfigError(f"index type {kind!r}: expected one of {list(BUILT_TYPES)}")
    index.add(x)
    apply_search_params(index, spec)
    return index


def apply_search_params(index, spec: dict) -> None:
    """Set the query-time knobs the spec records (they are what trades recall for speed)."""
    import faiss

    p = spec.get("params", {})
    if spec["type"] == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = int(p["ef_search"])
    elif spec["type"] in ("ivf", "ivfpq"):
        faiss.extract_index_ivf(index).nprobe = int(p["nprobe"])
        if p.get("refine_k_factor"):
            faiss.downcast_index(index).k_factor = float(p["refine_k_factor"])


def load(path: str | Path, spec: dict | None = None):
    """Read an index file and apply the spec's search parameters."""
    import faiss

    path = Path(path)
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise InputError(path, f"unreadable FAISS index: {exc}") from exc
    if spec is not None:
        if index.ntotal != spec.get("vectors", index.ntotal) or index.d != spec.get("dim", index.d):
            raise InputError(path, f"holds {index.ntotal} x {index.d} vectors; its spec says {spec.get('vectors')} x {spec.get('dim')}")
        apply_search_params(index, spec)
    return index


def memory_bytes(index) -> int:
    """Bytes the index occupies once written (what the query process keeps in memory)."""
    import faiss

    return int(faiss.serialize_index(index).nbytes)
