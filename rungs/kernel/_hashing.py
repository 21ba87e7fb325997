"""sha256 of files, streamed: the one implementation behind manifests, source digests and verify."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 4 * 1024 * 1024


def hash_file(path: str | Path, *, fsync: bool = False) -> tuple[str, int]:
    """(sha256 hex, bytes) of one file; optionally fsync it on the way (publish needs it durable)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if fsync:
            os.fsync(fh.fileno())
    return digest.hexdigest(), size


def file_sha256(path: str | Path) -> str:
    return hash_file(path)[0]
