"""index stage: chunk every corpus document, embed the chunks, build a FAISS index.

Output (see ARCHITECTURE.md): `index.faiss` (unit vectors, inner product = cosine), `chunks.parquet`
(chunk_id = row in the index, doc_id, title, url, text) and `embedder.json` (the model that embedded
them, which queries must use too). The knowledge base is every document, both splits.

Chunks follow sentence boundaries: whole sentences are packed up to `index.chunk_words` words, and each
chunk repeats the last sentences (at most `index.overlap_words` words) of the one before, or the last
`overlap_words` words when its final sentence alone is longer than that. A sentence longer than a chunk
is cut into word windows. Embeddings are checkpointed in `scratch`, so a rerun after a crash resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

from rungs.errors import ConfigError, InputError

VERSION = 1
INPUTS = {"corpus": ("corpus",)}
OPTIONAL = frozenset()
CONFIG = ("index",)

INDEX_TYPES = ("flat",)
DOCUMENTS = "documents.parquet"
DOC_COLUMNS = ("id", "title", "url", "text")
SEGMENT = 512  # chunks per embedding checkpoint


def sources(cfg) -> list:
    return []


# ------------------------------------------------------------------------------------------ chunking

# End of a sentence: . ! ? (optionally closed by a quote or bracket), whitespace, then something that
# starts a sentence. Line breaks always end a sentence (headings, list items, paragraphs).
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])"
)
_LINE_BREAK = re.compile(r"\s*\n\s*")
_ABBREVIATIONS = frozenset(
    "e.g. i.e. etc. vs. dr. mr. mrs. ms. prof. fig. figs. al. approx. ca. cf. resp. jr. sr.".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, whitespace-normalised; never splits after a common abbreviation."""
    sentences: list[str] = []
    for line in _LINE_BREAK.split(text or ""):
        pending = ""
        for piece in _SENTENCE_END.split(line.strip()):
            pending = f"{pending} {piece}".strip() if pending else piece.strip()
            last = pending.rsplit(None, 1)[-1].lower() if pending else ""
            if pending and last not in _ABBREVIATIONS:
                sentences.append(" ".join(pending.split()))
                pending = ""
        if pending:
            sentences.append(" ".join(pending.split()))
    return [s for s in sentences if s]


def chunk_text(text: str, chunk_words: int, overlap_words: int) -> list[str]:
    """Sentence-aligned chunks of at most `chunk_words` words, overlapping by up to `overlap_words`."""
    if chunk_words < 1 or not 0 <= overlap_words < chunk_words:
        raise ConfigError(
            f"index.chunk_words={chunk_words}, index.overlap_words={overlap_words}: "
            "expected chunk_words >= 1 and 0 <= overlap_words < chunk_words"
        )
    # units: sentences as word lists; a sentence longer than a chunk becomes windows that leave room
    # for the overlap carried in front of them
    window = chunk_words - overlap_words
    units: list[list[str]] = []
    for sentence in split_sentences(text):
        words = sentence.split()
        if len(words) <= chunk_words:
            units.append(words)
        else:
            units.extend(words[i : i + window] for i in range(0, len(words), window))

    chunks: list[str] = []
    current: list[list[str]] = []  # units of the chunk being built
    fresh = 0  # how many of them are new (not carried over from the previous chunk)
    for unit in units:
        size = sum(map(len, current))
        if fresh and size + len(unit) > chunk_words:
            chunks.append(" ".join(w for u in current for w in u))
            current, fresh = _carry(current, overlap_words), 0
            size = sum(map(len, current))
            if size + len(unit) > chunk_words:  # trim the carried words from the front to make room
                keep = chunk_words - len(unit)
                flat = [w for u in current for w in u]
                current = [flat[len(flat) - keep :]] if keep > 0 else []
        current.append(unit)
        fresh += 1
    if fresh:
        chunks.append(" ".join(w for u in current for w in u))
    return chunks


def _carry(units: list[list[str]], overlap_words: int) -> list[list[str]]:
    """The tail of a finished chunk that starts the next: whole trailing sentences within the
    overlap budget, else the last `overlap_words` words."""
    if overlap_words <= 0 or not units:
        return []
    carried: list[list[str]] = []
    total = 0
    for unit in reversed(units):
        if total + len(unit) > overlap_words:
            break
        carried.insert(0, unit)
        total += len(unit)
    if not carried:
        carried = [units[-1][-overlap_words:]]
    return carried


# ------------------------------------------------------------------------------------------ the stage


def _check_config(cfg) -> None:
    idx = cfg.index
    if idx.type not in INDEX_TYPES:
        raise ConfigError(f"index.type={idx.type!r}: unknown index type; available: {list(INDEX_TYPES)}")
    if idx.chunk_words < 1 or not 0 <= idx.overlap_words < idx.chunk_words:
        raise ConfigError(
            f"index.chunk_words={idx.chunk_words}, index.overlap_words={idx.overlap_words}: "
            "expected chunk_words >= 1 and 0 <= overlap_words < chunk_words"
        )
    if idx.batch_size < 1:
        raise ConfigError(f"index.batch_size={idx.batch_size}: expected >= 1")
    from rungs.embed import EMBEDDERS

    if idx.embedder not in EMBEDDERS:
        raise ConfigError(f"index.embedder={idx.embedder!r}: unknown embedder; known: {sorted(EMBEDDERS)}")


def _read_documents(corpus_dir: Path) -> dict[str, list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(corpus_dir) / DOCUMENTS
    if not path.is_file():
        raise InputError(path, f"missing: the corpus artifact must hold {DOCUMENTS}")
    try:
        schema = pq.read_schema(path)
        missing = [c for c in DOC_COLUMNS if c not in schema.names]
        if missing:
            raise InputError(path, f"missing column(s) {missing}; expected {list(DOC_COLUMNS)}")
        table = pq.read_table(path, columns=list(DOC_COLUMNS))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"unreadable Parquet: {exc}") from exc
    if table.num_rows == 0:
        raise InputError(path, "no documents: the knowledge base is empty")
    return {c: table.column(c).to_pylist() for c in DOC_COLUMNS}


def _chunk_documents(docs: dict[str, list], chunk_words: int, overlap_words: int, progress) -> dict[str, list]:
    rows: dict[str, list] = {"doc_id": [], "title": [], "url": [], "text": []}
    for i in progress(range(len(docs["id"])), desc="chunk documents", unit="doc"):
        doc_id, title, url = str(docs["id"][i]), docs["title"][i] or "", docs["url"][i] or ""
        for chunk in chunk_text(docs["text"][i] or "", chunk_words, overlap_words):
            rows["doc_id"].append(doc_id)
            rows["title"].append(title)
            rows["url"].append(url)
            rows["text"].append(chunk)
    return rows


class _SharedBar:
    """Lets several embed() calls advance one progress bar."""

    def __init__(self, bar):
        self.bar = bar

    def __call__(self, *args, **kwargs):
        return self

    def update(self, n=1):
        self.bar.update(n)

    def close(self):
        pass


def _embed_with_checkpoints(model, texts: list[str], batch_size: int, info: dict, progress, scratch: Path):
    """Embed in segments saved under scratch; segments already there (same chunks, same model) are reused."""
    from rungs.embed import embed

    ckpt = Path(scratch) / "embeddings"
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode("utf-8"))
        digest.update(b"\0")
    meta = {"weights_sha256": info["weights_sha256"], "chunks": len(texts), "texts_sha256": digest.hexdigest(),
            "segment": SEGMENT}
    meta_path = ckpt / "meta.json"
    if ckpt.exists():
        try:
            stale = json.loads(meta_path.read_text()) != meta
        except (OSError, ValueError):
            stale = True
        if stale:
            shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta))

    parts, resumed, embedded, seconds = [], 0, 0, 0.0
    with progress(total=len(texts), desc="embed chunks", unit="chunk") as bar:
        shared = _SharedBar(bar)
        for seg, start in enumerate(range(0, len(texts), SEGMENT)):
            batch = texts[start : start + SEGMENT]
            part = ckpt / f"{seg:06d}.npy"
            vectors = None
            if part.is_file():
                try:
                    vectors = np.load(part)
                except (OSError, ValueError):
                    vectors = None
                if vectors is not None and vectors.shape != (len(batch), info["dimension"]):
                    vectors = None
            if vectors is not None:
                resumed += len(batch)
                bar.update(len(batch))
            else:
                t0 = time.perf_counter()
                vectors = embed(model, batch, batch_size, progress=shared)
                seconds += time.perf_counter() - t0
                embedded += len(batch)
                tmp = part.with_suffix(".tmp.npy")
                np.save(tmp, vectors)
                os.replace(tmp, part)
            parts.append(vectors.astype(np.float32, copy=False))
    return np.concatenate(parts, axis=0), seconds, embedded, resumed


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rungs.embed import embedder_info, load_embedder
    from rungs.rag import CHUNKS_FILE, EMBEDDER_FILE, INDEX_FILE

    _check_config(cfg)
    idx = cfg.index
    docs = _read_documents(Path(inputs["corpus"].path))
    rows = _chunk_documents(docs, idx.chunk_words, idx.overlap_words, progress)
    if not rows["text"]:
        raise InputError(Path(inputs["corpus"].path) / DOCUMENTS, "documents hold no text to index")

    model = load_embedder(idx.embedder)
    info = embedder_info(idx.embedder)
    vectors, seconds, embedded, resumed = _embed_with_checkpoints(
        model, rows["text"], idx.batch_size, info, progress, scratch
    )

    index = faiss.IndexFlatIP(info["dimension"])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(out / INDEX_FILE))
    table = pa.table(
        {
            "chunk_id": pa.array(range(len(rows["text"])), type=pa.int64()),
            "doc_id": pa.array(rows["doc_id"], type=pa.string()),
            "title": pa.array(rows["title"], type=pa.string()),
            "url": pa.array(rows["url"], type=pa.string()),
            "text": pa.array(rows["text"], type=pa.string()),
        }
    )
    pq.write_table(table, out / CHUNKS_FILE)
    embedder = dict(info, index_type=idx.type, metric="inner_product", chunk_words=idx.chunk_words,
                    overlap_words=idx.overlap_words)
    (out / EMBEDDER_FILE).write_text(json.dumps(embedder, indent=2, sort_keys=True) + "\n")

    return {
        "documents": len(docs["id"]),
        "chunks": int(index.ntotal),
        "dim": int(info["dimension"]),
        "embed_seconds": round(seconds, 3),
        "chunks_per_second": round(embedded / seconds, 1) if seconds > 0 else 0.0,
        "resumed_chunks": resumed,
    }
