"""corpus: raw domain text -> cleaned documents, a train/held-out split, a tokenizer and packed blocks.

Output (see ARCHITECTURE.md): `documents.parquet` (id, source, title, url, text, split),
`tokenizer/`, `blocks/train.parquet` and `blocks/heldout.parquet` (input_ids: list<int32>, each row
exactly `corpus.block_size` tokens). Everything is streamed: memory holds one batch of documents, one
block buffer, and a 32-byte hash and a split score per kept document.
"""

from __future__ import annotations

import hashlib
from array import array
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from rungs.data import expand_paths, iter_documents, normalize_text
from rungs.errors import ConfigError, InputError

VERSION = 2  # 2: general-domain replay and held-out general blocks
INPUTS: dict[str, tuple[str, ...]] = {}  # reads raw files only
OPTIONAL = frozenset()
CONFIG = ("seed", "model", "corpus")

SPLITS = ("train", "heldout")
BATCH_ROWS = 1024  # documents or blocks per parquet row group
DOCUMENTS_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("source", pa.string()),
    ("title", pa.string()),
    ("url", pa.string()),
    ("text", pa.string()),
    ("split", pa.string()),
])
BLOCKS_SCHEMA = pa.schema([("input_ids", pa.list_(pa.int32()))])
# Written explicitly so the same rows give the same bytes (pyarrow writes no timestamps).
PARQUET_OPTIONS = dict(
    version="2.6",
    compression="zstd",
    compression_level=3,
    use_dictionary=True,
    write_statistics=True,
    data_page_version="1.0",
)


def sources(cfg) -> list[Path]:
    """The concrete files the stage reads: corpus.paths with folders expanded, and a model's tokenizer."""
    from rungs.weights import source_files

    tokenizer_files = source_files(cfg.model) if cfg.model.tokenizer == "model" else []
    replay_files = expand_paths(cfg.corpus.replay_paths) if _replaying(cfg) else []
    return expand_paths(cfg.corpus.paths) + replay_files + tokenizer_files


def _replaying(cfg) -> bool:
    return bool(cfg.corpus.replay_paths) and cfg.corpus.replay_ratio > 0


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    c = cfg.corpus
    _check_config(cfg)
    out = Path(out)
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    files = expand_paths(c.paths)

    # 1. Read, normalise, filter and de-duplicate into a scratch file; remember each doc's split score.
    kept_path = scratch / "kept.parquet"
    scores = array("d")
    seen: set[bytes] = set()
    read = short = duplicate = 0
    docs = iter_documents(files, text_field=c.text_field, id_field=c.id_field,
                          title_field=c.title_field, url_field=c.url_field)
    with _Writer(kept_path, DOCUMENTS_SCHEMA.remove(DOCUMENTS_SCHEMA.get_field_index("split"))) as kept:
        for doc in progress(docs, desc="corpus: reading", unit="doc"):
            read += 1
            text = normalize_text(doc.text)
            if len(text) < c.min_chars:
                short += 1
                continue
            digest = hashlib.sha256(text.encode("utf-8")).digest()
            if digest in seen:
                duplicate += 1
                continue
            seen.add(digest)
            title = normalize_text(doc.title) if doc.title else None
            kept.add({"id": doc.id, "source": doc.source, "title": title or None, "url": doc.url, "text": text})
            scores.append(split_score(cfg.seed, doc.id))
    del seen
    where = ", ".join(str(p) for p in c.paths)
    if len(scores) < 2:
        raise InputError(where, f"{len(scores)} usable document(s) after dropping {short} shorter than "
                                f"corpus.min_chars={c.min_chars} and {duplicate} duplicate(s) of {read} read; "
                                "need at least 2 (one for training, one held out)")

    # 2. Split: a document is held out when its score falls below heldout_fraction; each split gets one.
    splits = assign_splits(scores, c.heldout_fraction)
    del scores
    documents_path = out / "documents.parquet"
    counts = dict.fromkeys(SPLITS, 0)
    with _Writer(documents_path, DOCUMENTS_SCHEMA) as writer:
        offset = 0
        for batch in pq.ParquetFile(kept_path).iter_batches(batch_size=BATCH_ROWS):
            rows = batch.to_pylist()
            for row, split in zip(rows, splits[offset:offset + len(rows)]):
                name = SPLITS[split]
                counts[name] += 1
                writer.add({**row, "split": name})
            offset += len(rows)
    kept_path.unlink()

    # 3. Tokenizer, trained on the training split only.
    tokenizer = _tokenizer(cfg, documents_path)
    tokenizer.save_pretrained(str(out / "tokenizer"))

    # 4. Pack: [bos] + ids + [eos] per document, concatenated per split, cut into block_size blocks.
    packed = _pack(documents_path, tokenizer, c.block_size, out / "blocks", progress, counts)
    for name in SPLITS:
        if packed[name] == 0:
            raise InputError(where, f"corpus too small for corpus.block_size={c.block_size}: the {name} split "
                                    f"({counts[name]} document(s)) does not fill one block; add documents, "
                                    "lower corpus.block_size or change corpus.heldout_fraction")

    # 5. Replay: general text mixed into training at replay_ratio; its held-out part measures forgetting.
    replay = _replay(cfg, tokenizer, out / "blocks", packed["train"]) if _replaying(cfg) else {}

    return {
        "files": len(files),
        "documents_read": read,
        "documents_kept": sum(counts.values()),
        "dropped_short": short,
        "dropped_duplicate": duplicate,
        "train_documents": counts["train"],
        "heldout_documents": counts["heldout"],
        "train_blocks": packed["train"],
        "heldout_blocks": packed["heldout"],
        "train_tokens": packed["train"] * c.block_size,
        "vocab_size": len(tokenizer),
        **replay,
    }


def _replay(cfg, tokenizer, folder: Path, domain_blocks: int) -> dict:
    """blocks/replay.parquet (train share) and blocks/general.parquet (held out), split like the corpus.

    Replay text is small by design (a few percent of training), so it is read in memory.
    """
    from rungs.packing import pack

    c = cfg.corpus
    docs = [(d.id, normalize_text(d.text)) for d in iter_documents(expand_paths(c.replay_paths), text_field=c.replay_text_field)]
    docs = [(i, t) for i, t in docs if len(t) >= c.min_chars]
    where = ", ".join(c.replay_paths)
    if len(docs) < 2:
        raise InputError(where, f"{len(docs)} usable replay document(s); need at least 2 (one to replay, one held out)")
    splits = assign_splits([split_score(cfg.seed, i) for i, _ in docs], c.heldout_fraction)
    train = list(pack((t for (_, t), s in zip(docs, splits) if not s), tokenizer, c.block_size))
    general = list(pack((t for (_, t), s in zip(docs, splits) if s), tokenizer, c.block_size))
    if not train or not general:
        raise InputError(where, f"too little replay text for corpus.block_size={c.block_size}: add general documents")
    wanted = round(domain_blocks * c.replay_ratio / (1 - c.replay_ratio))
    replay = [train[i % len(train)] for i in range(wanted)]  # cycle when the replay text is short
    for name, rows in (("replay", replay), ("general", general)):
        with _Writer(folder / f"{name}.parquet", BLOCKS_SCHEMA) as writer:
            for block in rows:
                writer.add({"input_ids": block})
    return {"replay_blocks": len(replay), "replay_unique_blocks": min(len(train), wanted), "general_heldout_blocks": len(general)}

def _check_config(cfg) -> None:
    c = cfg.corpus
    if c.block_size < 2:
        raise ConfigError(f"corpus.block_size={c.block_size}: expected at least 2 tokens")
    if c.block_size > cfg.model.max_seq_len:
        raise ConfigError(f"corpus.block_size={c.block_size} exceeds model.max_seq_len={cfg.model.max_seq_len}")
    if not c.paths:
        raise ConfigError("corpus.paths is empty: name at least one file or folder")


def split_score(seed: int, doc_id: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, document id)."""
    digest = hashlib.sha256(f"{seed}\x00{doc_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(scores, heldout_fraction: float) -> bytearray:
    """0 (train) or 1 (heldout) per document; with >= 2 documents each split gets at least one."""
    splits = bytearray(1 if s < heldout_fraction else 0 for s in scores)
    if len(splits) >= 2:
        if not any(splits):  # nobody held out: hold out the document closest to the threshold
            splits[min(range(len(scores)), key=scores.__getitem__)] = 1
        elif all(splits):  # nobody left to train on
            splits[max(range(len(scores)), key=scores.__getitem__)] = 0
    return splits


def _iter_split_texts(documents_path: Path, split: str) -> Iterator[tuple[str, str]]:
    for batch in pq.ParquetFile(documents_path).iter_batches(batch_size=BATCH_ROWS, columns=["text", "split"]):
        for text, name in zip(batch.column("text").to_pylist(), batch.column("split").to_pylist()):
            if name == split:
                yield name, text


def _tokenizer(cfg, documents_path: Path):
    """The model's own tokenizer, or (tiny) one trained on the train split."""
    from rungs.tokenizer import train_tokenizer

    if cfg.model.tokenizer == "model":
        from rungs.weights import source_tokenizer

        return source_tokenizer(cfg.model)
    texts = (text for _, text in _iter_split_texts(documents_path, "train"))
    return train_tokenizer(texts, cfg.model.vocab_size)


def _pack(documents_path: Path, tokenizer, block_size: int, folder: Path, progress, counts: dict) -> dict:
    """Each split's documents packed by `rungs.packing.pack` (shared with evaluate) into its blocks file."""
    from rungs.packing import pack

    folder.mkdir(parents=True, exist_ok=True)
    blocks = {}
    for name in SPLITS:
        texts = (text for _, text in _iter_split_texts(documents_path, name))
        bar = progress(texts, total=counts[name], desc=f"corpus: packing {name}", unit="doc")
        n = 0
        try:
            with _Writer(folder / f"{name}.parquet", BLOCKS_SCHEMA) as writer:
                for block in pack(bar, tokenizer, block_size):
                    writer.add({"input_ids": block})
                    n += 1
        finally:
            bar.close()
        blocks[name] = n
    return blocks


class _Writer:
    """Rows into a parquet file, one row group per BATCH_ROWS rows, with fixed options."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        self.rows: list[dict] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(str(self.path), schema, **PARQUET_OPTIONS)
        self.closed = False

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            table = pa.Table.from_pylist(self.rows, schema=self.schema)
            self.writer.write_table(table, row_group_size=BATCH_ROWS)
            self.rows = []

    def close(self) -> None:
        if not self.closed:
            self._flush()
            self.writer.close()
            self.closed = True

    def abort(self) -> None:
        """Close without flushing buffered rows (after an error); a no-op once closed."""
        if not self.closed:
            self.rows = []
            self.writer.close()
            self.closed = True

    def __enter__(self) -> "_Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
