"""Per-document perplexity: every document scored from its own `<bos>`, token-weighted, with an interval.

This is how a pretrained model's perplexity is meaningful: Gemma expects `<bos>` at position 0, so a
document (or each window of a long one) starts with it, and no document is conditioned on another. A
document longer than `window` tokens is scored in windows that each start with `<bos>` and advance by
`stride` tokens: every token is scored once, with at least `window - 1 - stride` tokens of context
after the first window (the Hugging Face perplexity recipe, plus the `<bos>`).

The set's perplexity is exp(sum of token NLLs / number of scored tokens); its 95 % interval resamples
documents (rungs.kernel.interval).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rungs.kernel import interval

from ._training import IGNORE_INDEX, collate, next_token_loss


@dataclass
class DocumentScore:
    doc_id: str
    nll: float  # summed over the document's scored tokens
    tokens: int


def windows(ids: Sequence[int], bos: int, window: int, stride: int) -> list[dict]:
    """{input_ids, labels} windows of `<bos> + tokens`; the labels mark each token once, in its first window."""
    room = window - 1
    if room < 1 or not 0 < stride <= room:
        raise ValueError(f"perplexity window={window}, stride={stride}: need 0 < stride < window")
    out, scored_to, begin = [], 0, 0
    while True:
        end = min(begin + room, len(ids))
        new = end - scored_to
        chunk = list(ids[begin:end])
        labels = [IGNORE_INDEX] * (1 + len(chunk) - new) + chunk[len(chunk) - new :]
        out.append({"input_ids": [bos, *chunk], "labels": labels})
        scored_to = end
        if end >= len(ids):
            return out
        begin += stride


def select(docs: Sequence[tuple[str, list[int]]], min_tokens: int, seed: int = 0) -> list[tuple[str, list[int]]]:
    """A seeded, order-independent choice of whole documents until at least `min_tokens` tokens are in."""
    order = sorted(docs, key=lambda d: hashlib.sha256(f"{seed}\x00{d[0]}".encode()).digest())
    chosen, total = [], 0
    for doc in order:
        if min_tokens and total >= min_tokens:
            break
        if doc[1]:
            chosen.append(doc)
            total += len(doc[1])
    return chosen


@torch.no_grad()
def score_documents(model, docs: Sequence[tuple[str, list[int]]], *, bos_id: int, pad_id: int, window: int = 512,
                    stride: int = 256, batch_tokens: int = 2048, progress=None) -> list[DocumentScore]:
    """Summed NLL and scored-token count per document (see the module docstring)."""
    model.eval()
    items = [(k, w) for k, (_, ids) in enumerate(docs) for w in windows(ids, bos_id, window, stride)]
    items.sort(key=lambda item: len(item[1]["input_ids"]))  # similar lengths together: little padding
    nll = [0.0] * len(docs)
    count = [0] * len(docs)
    bar = progress(total=len(items), desc="perplexity", unit="window") if progress else None
    start = 0
    while start < len(items):
        stop = start + 1
        while stop < len(items) and (stop - start + 1) * len(items[stop][1]["input_ids"]) <= batch_tokens:
            stop += 1
        group = items[start:stop]
        batch = collate([w for _, w in group], pad_id, bos_id)
        losses = next_token_loss(model, batch, reduction="none").double()
        rows = (batch["labels"][:, 1:] != IGNORE_INDEX).nonzero()[:, 0]
        sums = torch.zeros(len(group), dtype=torch.float64).index_add_(0, rows, losses.cpu())
        counts = torch.bincount(rows, minlength=len(group))
        for (k, _), s, c in zip(group, sums.tolist(), counts.tolist()):
            nll[k] += s
            count[k] += c
        if bar is not None:
            bar.update(len(group))
        start = stop
    if bar is not None:
        bar.close()
    return [DocumentScore(doc_id, nll[k], count[k]) for k, (doc_id, _) in enumerate(docs)]


def perplexity(scores: Sequence[DocumentScore], seed: int = 0) -> tuple[float, float, float]:
    """(perplexity, low, high): token-weighted over the documents, 95 % bootstrap over documents."""
    return interval([s.nll for s in scores], [s.tokens for s in scores], exp=True, seed=seed)
