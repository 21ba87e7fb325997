"""Exact and near-duplicate detection with memory that stays small as a corpus grows.

Exact: the first 8 bytes of the SHA-256 of the cleaned text (a false match needs ~4e9 documents).
Near: MinHash signatures (`datasketch.MinHash`, affine32 scheme) of word 5-gram hashes, banded as in `datasketch.MinHashLSH`,
whose (bands, rows) choice for the threshold is used as is. The band keys do not live in MinHashLSH's
dict-of-sets (about 2.5 KB per document); `KeyIndex` keeps each as a 64-bit hash beside a 32-bit row
number in sorted numpy arrays, 12 bytes per key, so 150,000 documents at 9 bands take ~16 MB.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ._ngrams import gram_hashes

_WORD = re.compile(r"\w+")
STAGING = 1 << 16  # keys held in a dict before they are merged into the sorted arrays
SCHEME = "affine32"  # datasketch 2.0: unbiased on large sets, uint32 hash values


class KeyIndex:
    """uint64 key -> the row that first added it. Sorted arrays plus a small dict of recent keys."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int32)
        self.recent: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.keys) + len(self.recent)

    def find(self, keys: list[int]) -> int:
        """The row of the first of `keys` already present, else -1 (older rows, in the arrays, first)."""
        if len(self.keys):
            probe = np.asarray(keys, dtype=np.uint64)
            at = np.searchsorted(self.keys, probe)
            at[at == len(self.keys)] = 0
            hit = np.flatnonzero(self.keys[at] == probe)
            if len(hit):
                return int(self.rows[at[hit[0]]])
        for k in keys:
            row = self.recent.get(k)
            if row is not None:
                return row
        return -1

    def add(self, keys: list[int], row: int) -> None:
        """Remember `keys` for `row`; a key already present keeps its first row."""
        for k in keys:
            self.recent.setdefault(k, row)
        if len(self.recent) >= STAGING:
            self._merge()

    def _merge(self) -> None:
        new_keys = np.fromiter(self.recent.keys(), dtype=np.uint64, count=len(self.recent))
        new_rows = np.fromiter(self.recent.values(), dtype=np.int32, count=len(self.recent))
        self.recent = {}
        keys = np.concatenate([self.keys, new_keys])
        rows = np.concatenate([self.rows, new_rows])
        order = np.argsort(keys, kind="stable")  # stable: an older row stays first among equal keys
        keys, rows = keys[order], rows[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        self.keys, self.rows = keys[first], rows[first]


def _h64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def exact_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def shingle_hashes(text: str, k: int) -> list[int]:
    """32-bit hashes of the lower-cased word k-grams (the whole text when shorter): the rolling hash of
    rungs.curation._ngrams, folded to the 32 bits MinHash takes."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return [0]
    h = gram_hashes(words, min(k, len(words)))
    return ((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).tolist()


def shingles(text: str, k: int) -> set[bytes]:
    """Lower-cased word k-grams (the whole text when it has fewer than k words)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < k:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i:i + k]).encode("utf-8") for i in range(len(words) - k + 1)}


def jaccard(a: str, b: str, k: int) -> float:
    sa, sb = shingles(a, k), shingles(b, k)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


class NearDuplicates:
    """MinHash LSH over word shingles: `find(text)` names an earlier row whose estimated Jaccard
    similarity is likely above `threshold`; `add(text, row)` remembers a kept document."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, shingle_words: int = 5, seed: int = 1):
        from datasketch import MinHash, MinHashLSH

        params = MinHashLSH(threshold=threshold, num_perm=num_perm)  # only for its optimal (bands, rows)
        self.bands, self.rows_per_band = params.b, params.r
        self.num_perm, self.seed, self.k = num_perm, seed, shingle_words
        self._minhash = MinHash
        self._permutations = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
        self.index = KeyIndex()
        self._pending: tuple[str, list[int]] | None = None

    def band_keys(self, text: str) -> list[int]:
        if self._pending is not None and self._pending[0] is text:
            return self._pending[1]
        # affine32 pre-mixes its input (MurmurHash3 finalizer), so ready-made 32-bit hashes go in as they are
        m = self._minhash(num_perm=self.num_perm, seed=self.seed, hashfunc=int, permutations=self._permutations,
                          scheme=SCHEME)
        m.update_batch(shingle_hashes(text, self.k))
        values = m.hashvalues
        r = self.rows_per_band
        keys = [_h64(i.to_bytes(2, "little") + values[i * r:(i + 1) * r].tobytes()) for i in range(self.bands)]
        self._pending = (text, keys)  # find() then add() on the same text hashes once
        return keys

    def find(self, text: str) -> int:
        return self.index.find(self.band_keys(text))

    def add(self, text: str, row: int) -> None:
        self.index.add(self.band_keys(text), row)
