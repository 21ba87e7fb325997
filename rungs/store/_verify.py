"""Verification: re-hash an artifact's files and check its manifest against what was published.

A mixin of ``Store``. A changed byte, a missing or unexpected file, an edited manifest (its content no
longer hashes to its id) or an input missing from the store is reported as one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

from rungs.kernel import StoreError, hash_file

from ._artifact import MANIFEST, SCHEMA, manifest_id, read_manifest, version_key, walk_files


class Verification:
    """``verify`` one artifact or ``verify_all``."""

    def verify(self, ref: str) -> list[str]:
        """Problems with one artifact ([] if intact): re-hashes every file, recomputes the id, checks inputs."""
        art = self.resolve(ref)
        return self._verify_dir(art.kind, art.path)

    def verify_all(self) -> list[tuple[str, list[str]]]:
        """(label, problems) for every artifact directory, including ones whose manifest is unreadable."""
        found = []
        for kind, d in self._artifact_dirs():
            try:
                art = self._load(kind, d)
                label, order = f"{art.ref} ({d.name})", version_key(art)
            except StoreError:
                label, order = f"{kind}/{d.name}", 1 << 62
            found.append(((kind, order, d.name), label, kind, d))
        return [(label, self._verify_dir(kind, d)) for _, label, kind, d in sorted(found, key=lambda f: f[0])]

    def _verify_dir(self, kind: str, path: Path) -> list[str]:
        problems: list[str] = []
        try:
            manifest = read_manifest(path / MANIFEST)
        except StoreError as exc:
            return [f"{MANIFEST}: {exc}"]
        if manifest.get("schema") != SCHEMA:
            problems.append(f"{MANIFEST}: schema {manifest.get('schema')!r}, expected {SCHEMA!r}")
        if manifest.get("kind") != kind:
            problems.append(f"{MANIFEST}: kind {manifest.get('kind')!r} but stored under {kind}/")
        claimed = manifest.get("id")
        if claimed != path.name:
            problems.append(f"{MANIFEST}: id {claimed!r} but stored as {path.name}")
        try:
            actual = manifest_id(manifest)
        except (TypeError, ValueError) as exc:
            actual = None
            problems.append(f"{MANIFEST}: cannot recompute the id ({exc})")
        if actual is not None and actual != claimed:
            problems.append(f"{MANIFEST}: edited after publish (its content hashes to id {actual}, not {claimed})")

        recorded = manifest.get("files")
        if not isinstance(recorded, dict):
            problems.append(f"{MANIFEST}: no files table")
            recorded = {}
        try:
            on_disk = {rel: p for rel, p in walk_files(path) if rel != MANIFEST}
        except StoreError as exc:
            problems.append(str(exc))
            on_disk = {}
        for rel, entry in sorted(recorded.items()):
            p = on_disk.get(rel)
            if p is None:
                problems.append(f"{rel}: missing (recorded in the manifest)")
                continue
            try:
                sha, size = hash_file(p)
            except OSError as exc:
                problems.append(f"{rel}: unreadable ({exc})")
                continue
            want_sha = entry.get("sha256") if isinstance(entry, dict) else None
            want_size = entry.get("bytes") if isinstance(entry, dict) else None
            if sha != want_sha or size != want_size:
                detail = f"{size} bytes, expected {want_size}" if size != want_size else (
                    f"sha256 {sha[:12]}, expected {str(want_sha)[:12]}"
                )
                problems.append(f"{rel}: content changed ({detail})")
        for rel in sorted(set(on_disk) - set(recorded)):
            problems.append(f"{rel}: unexpected file (not in the manifest)")

        inputs = manifest.get("inputs") or {}
        if not isinstance(inputs, dict):
            problems.append(f"{MANIFEST}: inputs is not a table")
            inputs = {}
        for name, iid in sorted(inputs.items()):
            try:
                self.get(iid)
            except StoreError:
                problems.append(f"input {name}={iid}: not in the store")
        return problems
