"""Packing documents into fixed-length token blocks: one implementation for corpus and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import pyarrow.parquet as pq


def pack(texts: Iterable[str], tokenizer, block_size: int) -> Iterator[list[int]]:
    """Blocks of exactly block_size tokens from `<bos> doc <eos>` sequences laid end to end.

    EOS separators let the model learn where documents end instead of reading one run-on text;
    the incomplete last block is dropped so every block has the same length.
    """
    buffer: list[int] = []
    for text in texts:
        buffer += [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        while len(buffer) >= block_size:
            yield buffer[:block_size]
            buffer = buffer[block_size:]


def load_blocks(corpus_artifact, split: str) -> list[dict]:
    """Token blocks of a corpus artifact: train, heldout, and (with replay) replay and general.

    A split the corpus did not write (replay switched off) is simply empty.
    """
    path = Path(corpus_artifact.path) / "blocks" / f"{split}.parquet"
    if not path.exists():
        return []
    return [{"input_ids": ids} for ids in pq.read_table(path, columns=["input_ids"]).column("input_ids").to_pylist()]
