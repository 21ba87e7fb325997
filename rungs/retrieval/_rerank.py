"""The cross-encoder reranker: reads a question and one chunk together and scores how well the chunk answers it.

A bi-encoder embeds question and chunk apart, so "What causes X?" and "What are the treatments for X?" land
close to every page about X; a cross-encoder attends across both and can tell the causes page from the
treatment page. It costs one forward pass per (question, chunk) pair at query time, so it only re-scores the
top `depth` fused chunks (`Rerank` in rungs.retrieval._fusion), and it is small: the shipped MiniLM's first
`layers` transformer layers read jointly over the pair, scored by rungs.retrieval._segment_head (the
cosine of the two sides' mean states: a fresh linear head never learned here), trained by the retriever
stage on the corpus' question-answer pairs (no cross-encoder ships offline). `passage` is the one text
both training and scoring see for a chunk: its document title, then its text, so a chunk deep in a long
page still names its condition.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

_models: dict[str, object] = {}
_lock = threading.Lock()  # a server answers on several threads; each reranker loads once


def passage(title: str, text: str) -> str:
    """What the reranker reads for a chunk."""
    return f"{title}\n{text}" if title else text


def new_reranker(base_dir: Path, layers: int, max_length: int):
    """A cross-encoder from the bi-encoder weights in `base_dir`: its first `layers` layers, the segment head."""
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from transformers.utils import logging

    from ._segment_head import SegmentCosine

    # the layers left out are meant to be: transformers would print every one of their weights as "unexpected"
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        encoder = Transformer(str(base_dir), max_seq_length=max_length,
                              config_kwargs={"num_hidden_layers": layers, "num_labels": 1},
                              model_kwargs={"local_files_only": True}, processor_kwargs={"local_files_only": True})
    finally:
        logging.set_verbosity(verbosity)
    return CrossEncoder(modules=[encoder, SegmentCosine()], device="cpu")


def _load(directory: Path):
    """The reranker saved in `directory`, its modules built here: loading them by the class names in
    modules.json would need trust_remote_code, which would also run any code a model folder carries."""
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer

    from ._segment_head import SegmentCosine

    modules = json.loads((directory / "modules.json").read_text())
    if modules[-1]["type"] != f"{SegmentCosine.__module__}.{SegmentCosine.__name__}":
        raise ValueError(f"{directory}: not a rungs reranker (its last module is {modules[-1]['type']}); "
                         "rebuild the retriever artifact")
    encoder = Transformer.load(str(directory), subfolder=modules[0]["path"], local_files_only=True)
    head = SegmentCosine.load(str(directory), subfolder=modules[-1]["path"])
    return CrossEncoder(modules=[encoder, head], device="cpu")


def load_reranker(directory: str | Path):
    """A trained reranker, loaded once per process."""
    key = str(Path(directory).resolve())
    with _lock:
        model = _models.get(key)
        if model is None:
            model = _load(Path(key))
            model.eval()
            _models[key] = model
        return model


def rerank_logits(model, question: str, passages: Sequence[str], batch_size: int = 32) -> list[float]:
    """The reranker's raw score (a logit: higher = more relevant) of each passage for `question`."""
    if not passages:
        return []
    import torch

    # the identity, not the default sigmoid: Rerank.combine applies the sigmoid itself, and the dev-set
    # choice of its weight is made on the same logits
    scores = model.predict([(question, p) for p in passages], batch_size=batch_size, activation_fn=torch.nn.Identity(),
                           show_progress_bar=False, convert_to_numpy=True)
    return [float(s) for s in scores]
