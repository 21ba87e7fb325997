"""The raw files behind configured paths: folders expanded in a fixed order, and their content hashes.

`expand_paths` is how every raw input is found; `sources_digest` is what a stage's fingerprint and
manifest record of them (sha256 and size per file, keyed by a project-relative name).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rungs.kernel import PROJECT_ROOT, InputError, display_path, file_sha256, resolve_path

from ._formats import SUFFIXES as DOCUMENT_SUFFIXES  # jsonl parquet csv txt md xml xml.gz


def expand_paths(paths: Iterable[str | Path], suffixes: tuple[str, ...] | None = DOCUMENT_SUFFIXES) -> list[Path]:
    """The concrete files behind `paths`, in a deterministic order, each once.

    A folder is searched recursively (sorted by relative path) for files with one of `suffixes`
    (any file when None), skipping hidden files and folders and, for document suffixes, README.md.
    A named file must have one of `suffixes` (any when None). A missing path, or a folder without any
    usable file, raises InputError. A symbolic link, named or inside a folder, is refused (InputError):
    a link could publish a file from anywhere on the machine (/etc/shadow) into the store.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = resolve_path(raw)
        if _as_written(raw).is_symlink():
            raise InputError(_as_written(raw), "a symbolic link (refused: name the file or folder it points at)")
        if not path.exists():
            raise InputError(raw, f"no such file or folder (looked for {path})")
        if path.is_dir():
            found = sorted(
                (p for p in _walk(path) if _usable_in_folder(p, path, suffixes)),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not found:
                kinds = "/".join(suffixes) + " files (README.md is skipped)" if suffixes else "files"
                raise InputError(path, f"folder holds no {kinds}")
        elif suffixes is None or path.name.lower().endswith(suffixes):
            found = [path]
        else:
            raise InputError(path, f"unsupported file type {path.suffix or '(none)'!r}; expected {', '.join(suffixes)}")
        for p in found:
            if p not in seen:
                seen.add(p)
                files.append(p)
    return files


def _as_written(raw: str | Path) -> Path:
    """The path the user wrote, found as `resolve_path` finds it but with its last part unresolved."""
    p = Path(raw).expanduser()
    if p.is_absolute() or p.exists() or p.is_symlink():
        return p.absolute()
    candidate = PROJECT_ROOT / p
    return candidate if candidate.exists() or candidate.is_symlink() else p.absolute()


def _walk(root: Path):
    """Every file and folder under `root` (not following links); a symbolic link raises InputError."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames + filenames:
            p = base / name
            if any(part.startswith(".") for part in p.relative_to(root).parts):
                continue  # hidden: skipped, links included
            if p.is_symlink():
                raise InputError(p, "a symbolic link inside an input folder (refused: it could point anywhere)")
            yield p


def _usable_in_folder(p: Path, root: Path, suffixes: tuple[str, ...] | None) -> bool:
    if any(part.startswith(".") for part in p.relative_to(root).parts) or not p.is_file():
        return False
    if suffixes is None:
        return True
    return p.name.lower().endswith(suffixes) and p.name.lower() != "readme.md"


def sources_digest(paths: Iterable[str | Path], suffixes: tuple[str, ...] | None = None) -> dict[str, dict]:
    """{file: {"sha256", "bytes"}} for every concrete file behind `paths`, keyed by `display_path`.

    Named files are taken whatever their type; folders are expanded (all non-hidden files unless
    `suffixes` narrows them). Stages pass `sources(cfg)`, already concrete files.
    """
    return {
        display_path(p): {"sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in expand_paths(paths, suffixes)
    }
