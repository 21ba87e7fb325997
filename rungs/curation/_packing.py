"""Packing documents into fixed-length token blocks where every document segment starts with `<bos>`.

Gemma (like most decoder LMs) is trained with `<bos>` at position 0 and degrades badly without it, and a
block cut at an arbitrary token of a run-on stream would teach the model to live without it. So blocks
are built from *segments*: each document becomes `<bos> doc <eos>`; one longer than a block continues in
a new segment that starts with its own `<bos>`. Segments are laid end to end in a block; the tail that
no segment fills is padding (`pad_token_id`, no loss).

Documents in one block never see each other: the training loop's `collate` (rungs.train) restarts the position ids at every
`<bos>`, and transformers then builds a block-diagonal causal mask from them (packed-sequence attention,
`masking_utils.find_packed_sequence_indices`), so each segment is computed exactly as if it were alone.
That is why the blocks need no separate segment column: `<bos>` marks every boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

# A segment shorter than this would be a fragment cut from its context: the block is padded instead.
MIN_SEGMENT = 16


def segments(ids: list[int], bos: int, eos: int, block_size: int) -> Iterator[list[int]]:
    """`<bos> ids <eos>` in pieces of at most block_size tokens, each starting with `<bos>`."""
    body = [*ids, eos]
    room = block_size - 1
    for start in range(0, len(body), room):
        yield [bos, *body[start : start + room]]


def pack(texts: Iterable[str], tokenizer, block_size: int) -> Iterator[list[int]]:
    """Blocks of exactly block_size tokens, each a run of whole `<bos>`-led segments plus padding.

    A segment that does not fit the space left is split there when at least MIN_SEGMENT tokens are
    left (its rest starts the next block with a fresh `<bos>`), else the block is padded and closed.
    The last, partly filled block is kept (padded): held-out sets are small and every document counts.
    """
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    if bos is None or eos is None or pad is None:
        raise ValueError("packing needs a tokenizer with <bos>, <eos> and <pad> tokens")
    block: list[int] = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for piece in segments(ids, bos, eos, block_size):
            while piece:
                room = block_size - len(block)
                if len(piece) <= room:
                    block += piece
                    piece = []
                elif room >= MIN_SEGMENT and len(piece) - room >= 2:
                    block += piece[:room]
                    piece = [bos, *piece[room:]]
                else:
                    yield block + [pad] * room
                    block = []
                if len(block) == block_size:
                    yield block
                    block = []
    if len(block) > 1:
        yield block + [pad] * (block_size - len(block))


def load_blocks(corpus_artifact, split: str) -> list[dict]:
    """Token blocks of a corpus artifact: train, heldout, and (with replay) replay and general.

    A split the corpus did not write (replay switched off) is simply empty.
    """
    import pyarrow.parquet as pq  # here: curation is imported by every run, blocks are read only by training

    path = Path(corpus_artifact.path) / "blocks" / f"{split}.parquet"
    if not path.exists():
        return []
    return [{"input_ids": ids} for ids in pq.read_table(path, columns=["input_ids"]).column("input_ids").to_pylist()]
