"""Packing documents into fixed-length token blocks: one implementation for corpus and evaluation."""

from __future__ import annotations

from typing import Iterable, Iterator


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
