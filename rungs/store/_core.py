"""The store's core: reading artifacts, resolving refs, aliases, and building and publishing one artifact.

Layout under the store root (``./artifacts`` or ``$RUNGS_STORE``)::

    <kind>/<id>/manifest.json + files     immutable artifacts; id = sha256(manifest body)[:12]
    _aliases/<kind>/<name>                one line: the id an alias points at
    _log/events.jsonl                     append-only: publish, alias moves (the journal, rungs.store._journal)
    _scratch/<fingerprint>/               checkpoints of builds in progress
    _tmp/                                 staging for atomic publish (same filesystem)
    _locks/                               file locks (store-wide, per fingerprint, per staging dir)

An artifact becomes visible only by an atomic ``rename`` of a fully written, fsynced directory whose
``manifest.json`` was written last, so readers never see half an artifact. Writers (publish, alias
moves, the event log) serialise on a store-wide lock; builds of one fingerprint serialise on a
per-fingerprint lock. Both work across threads and processes. Every staging directory under ``_tmp/``
is held by a lock of its own for as long as its build lives, so retention (``rungs gc``) can tell the
leftovers of a killed build from a build in progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from rungs.kernel import StoreError, code_info, hash_file, run_info, utc_now

from ._artifact import (
    ALIAS_NAME_RE,
    ALIAS_RE,
    HEX_RE,
    ID_LENGTH,
    ID_RE,
    KIND_RE,
    MANIFEST,
    MAX_NAME,
    MIN_PREFIX,
    SCHEMA,
    VERSION_RE,
    Artifact,
    check_alias_name,
    check_kind,
    check_name,
    fsync_dir,
    jsonable,
    manifest_id,
    manifest_problems,
    read_manifest,
    read_text_nofollow,
    version_key,
    walk_files,
)
from ._journal import EVENTS, Journal
from ._locks import exclusive


class StoreCore:
    """The artifact store rooted at ``root``, else ``$RUNGS_STORE``, else ``./artifacts``: reading, refs,
    aliases, builds and publishing. ``Store`` (rungs.store) adds lineage, verification and retention."""

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = os.environ.get("RUNGS_STORE") or "artifacts"
        self.root = Path(root).expanduser().absolute()
        self.journal = Journal(self.root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- internal paths and locks ------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def _flock(self, name: str, *, wait: bool = True, what: str = "") -> Iterator[int]:
        with exclusive(self._dir("_locks") / f"{name}.lock", wait=wait, what=what) as fd:
            yield fd

    @contextlib.contextmanager
    def _store_lock(self) -> Iterator[None]:
        with self._flock("store", what="the store"):
            yield

    # -- reading -----------------------------------------------------------------------------------

    def kinds(self) -> list[str]:
        """Kinds that have at least one artifact directory."""
        if not self.root.is_dir():
            return []
        return sorted(  # a symbolic link in place of a kind's folder is refused (a finding of `verify`)
            p.name for p in self.root.iterdir() if KIND_RE.match(p.name) and _real_dir(p)
        )

    def _artifact_dirs(self, kind: str | None = None) -> Iterator[tuple[str, Path]]:
        kinds = [kind] if kind is not None else self.kinds()
        for k in kinds:
            kdir = self.root / k
            if not _real_dir(kdir):
                continue
            for d in sorted(kdir.iterdir()):
                if _real_dir(d) and ID_RE.match(d.name):  # anything else is a stray, reported by `verify`
                    yield k, d

    def _load(self, kind: str, path: Path) -> Artifact:
        """The artifact in `path`; StoreError (one line) when its manifest is unreadable or malformed."""
        if path.is_symlink():
            raise StoreError(f"{path}: a symbolic link (refused: an artifact is a real directory)")
        manifest = read_manifest(path / MANIFEST)
        problems = manifest_problems(manifest, kind, path.name)
        if problems:
            raise StoreError(f"{path / MANIFEST}: malformed ({problems[0].partition(': ')[2]}); run `rungs verify`")
        return Artifact(kind=kind, id=path.name, path=path, manifest=manifest)

    def artifacts(self, kind: str | None = None) -> list[Artifact]:
        """All readable artifacts (optionally of one kind), sorted by kind then version."""
        if kind is not None:
            check_kind(kind)
        found = []
        for k, d in self._artifact_dirs(kind):
            try:
                found.append(self._load(k, d))
            except StoreError:
                continue  # unreadable manifests are reported by verify, not listed
        return sorted(found, key=lambda a: (a.kind, version_key(a)))

    def get(self, id: str) -> Artifact:
        """The artifact with exactly this id (refused when a file of it was replaced by a symbolic link)."""
        return self._usable(self._get(id))

    def _get(self, id: str) -> Artifact:
        if not isinstance(id, str) or not ID_RE.match(id):
            raise StoreError(f"invalid artifact id {id!r}: expected {ID_LENGTH} hex digits")
        for kind in self.kinds():
            path = self.root / kind / id
            if path.is_symlink() or (path / MANIFEST).is_file():
                return self._load(kind, path)
        raise StoreError(f"no artifact with id {id} in {self.root}")

    def _usable(self, art: Artifact) -> Artifact:
        """`art`, unless a file it records was replaced by a symbolic link (reads never follow one out)."""
        for rel in art.files:
            path = art.path
            for part in rel.split("/"):
                path = path / part
                if path.is_symlink():
                    raise StoreError(f"{art.ref} ({art.id}): {rel} is a symbolic link (refused); run `rungs verify {art.id}`")
        return art

    def _describe(self) -> str:
        arts = self.artifacts()
        if not arts:
            return f"the store at {self.root} is empty"
        counts: dict[str, list[int]] = {}
        for a in arts:
            counts.setdefault(a.kind, []).append(a.version)
        parts = [f"{k} (v{min(v)}..v{max(v)})" if len(v) > 1 else f"{k} (v{v[0]})" for k, v in counts.items()]
        return "kinds in store: " + ", ".join(parts)

    def _alias_path(self, kind: str, name: str) -> Path:
        return self.root / "_aliases" / kind / name

    def _read_alias(self, kind: str, name: str) -> str | None:
        """The id alias `kind@name` points at (None: no such alias). Never reads outside `_aliases/`:
        the kind and name are checked first, and a symbolic link or a file that holds no id is refused."""
        check_kind(kind)
        check_alias_name(name)
        kdir = self.root / "_aliases" / kind
        if kdir.is_symlink() or (self.root / "_aliases").is_symlink():
            raise StoreError(f"{kdir}: a symbolic link (refused); run `rungs verify`")
        try:
            text = read_text_nofollow(self._alias_path(kind, name)).strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"alias {kind}@{name}: unreadable ({type(exc).__name__})") from None
        if not text:
            return None
        if not ID_RE.match(text):
            raise StoreError(f"alias {kind}@{name}: its file holds no artifact id; run `rungs verify`")
        return text

    def resolve(self, ref: str) -> Artifact:
        """An artifact from a REF: id, unique id prefix (>= 6), ``kind:vN``, ``kind@alias``, ``kind``."""
        if isinstance(ref, Artifact):
            return ref
        if not isinstance(ref, str) or not ref.strip():
            raise StoreError(f"empty artifact reference {ref!r}: expected id, kind:vN, kind@alias or kind")
        ref = ref.strip()
        if len(ref) > 2 * MAX_NAME + 1:
            raise StoreError(f"{ref[:40]!r}...: not an artifact reference ({len(ref)} characters; a REF is at most {2 * MAX_NAME + 1})")
        return self._usable(self._resolve(ref))

    def _resolve(self, ref: str) -> Artifact:
        m = VERSION_RE.match(ref)
        if m:
            kind, version = m["kind"], int(m["version"])
            check_kind(kind)
            arts = self.artifacts(kind)
            for a in arts:
                if a.version == version:
                    return a
            if not arts:
                raise StoreError(f"{ref}: no artifacts of kind {kind!r}; {self._describe()}")
            have = ", ".join(f"v{a.version}" for a in arts)
            raise StoreError(f"{ref}: no version {version} of {kind}; {kind} has {have}")

        m = ALIAS_RE.match(ref)
        if m:
            return self._resolve_alias(check_kind(m["kind"]), check_alias_name(m["name"]), ref)

        if KIND_RE.match(ref) and _real_dir(self.root / ref):
            return self._resolve_alias(ref, "latest", ref)

        if HEX_RE.match(ref):
            if len(ref) < MIN_PREFIX:
                raise StoreError(f"{ref}: an id prefix needs at least {MIN_PREFIX} hex digits")
            if len(ref) == ID_LENGTH:
                with contextlib.suppress(StoreError):
                    return self._get(ref)
            matches = [a for a in self.artifacts() if a.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                listed = ", ".join(f"{a.id} ({a.ref})" for a in matches)
                raise StoreError(f"{ref}: ambiguous id prefix, matches {listed}")
            raise StoreError(f"{ref}: no artifact id starts with this; {self._describe()}")

        if KIND_RE.match(ref):
            raise StoreError(f"{ref}: no artifacts of kind {ref!r}; {self._describe()}")
        raise StoreError(
            f"{ref}: not an artifact reference; expected an id (or a prefix of >= {MIN_PREFIX} hex "
            "digits), kind:vN, kind@alias or a bare kind"
        )

    def _resolve_alias(self, kind: str, name: str, ref: str) -> Artifact:
        target = self._read_alias(kind, name)
        if target is None:
            arts = self.artifacts(kind)
            if name == "latest" and arts:
                return arts[-1]  # the latest alias file went missing: fall back to the highest version
            if not arts:
                raise StoreError(f"{ref}: no artifacts of kind {kind!r}; {self._describe()}")
            names = [n for k, n, _ in self.aliases(kind)]
            have = ", ".join(names) if names else "none"
            raise StoreError(f"{ref}: no alias {name!r} for kind {kind}; aliases of {kind}: {have}")
        try:
            art = self._get(target)
        except StoreError as exc:
            raise StoreError(f"{ref}: alias points at {target}, {unusable(exc)}") from None
        if art.kind != kind:
            raise StoreError(f"{ref}: alias points at {target}, a {art.kind} artifact, not {kind}")
        return art

    def find(self, kind: str, fingerprint: str) -> Artifact | None:
        """The artifact of ``kind`` built with ``fingerprint`` (the newest if several), else None."""
        matches = [a for a in self.artifacts(kind) if a.fingerprint == fingerprint]
        return self._usable(matches[-1]) if matches else None

    # -- building ----------------------------------------------------------------------------------

    def scratch(self, fingerprint: str) -> Path:
        """``_scratch/<fingerprint>/``, created: checkpoints of a build that survive a crash."""
        check_name(fingerprint, "fingerprint")
        path = self._dir("_scratch") / fingerprint
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove_scratch(self, fingerprint: str) -> None:
        check_name(fingerprint, "fingerprint")
        shutil.rmtree(self.root / "_scratch" / fingerprint, ignore_errors=True)

    @contextlib.contextmanager
    def building(self, fingerprint: str, *, wait: bool = True) -> Iterator[None]:
        """Exclusive per-fingerprint lock: two processes (or threads) never build one fingerprint at once.

        With ``wait=False`` a held lock raises StoreError instead of blocking.
        """
        check_name(fingerprint, "fingerprint")
        if fingerprint == "store":
            raise StoreError("'store' is reserved and cannot be a fingerprint")
        with self._flock(fingerprint, wait=wait, what=f"fingerprint {fingerprint}"):
            yield

    @contextlib.contextmanager
    def staging(self, kind: str) -> Iterator[Path]:
        """A fresh directory under ``_tmp/`` (same filesystem as the store) to write an artifact into.

        Removed when the block raises, or when it ends without the directory having been published.
        """
        check_kind(kind)
        with self._tmp_dir(kind) as path:
            yield path

    @contextlib.contextmanager
    def _tmp_dir(self, prefix: str) -> Iterator[Path]:
        """A new ``_tmp/<prefix>-<hex>/``, locked (``_locks/tmp-<name>.lock``) for as long as the block runs.

        The lock is taken before the directory exists, so a directory under ``_tmp/`` whose lock nobody
        holds belongs to a process that died (SIGKILL, OOM, power loss): ``collect`` removes it.
        """
        name = f"{prefix}-{uuid.uuid4().hex}"
        path = self._dir("_tmp") / name
        lock = self.root / "_locks" / f"tmp-{name}.lock"
        try:
            with self._flock(f"tmp-{name}", what=f"staging directory {path}"):
                path.mkdir()
                try:
                    yield path
                finally:
                    if path.exists():
                        shutil.rmtree(path, ignore_errors=True)
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()  # the name is unique: nobody else will ever wait on this lock file

    def publish(
        self,
        kind: str,
        staged: Path,
        *,
        fingerprint: str,
        inputs: Mapping[str, Artifact],
        config: dict,
        metrics: dict,
        sources: Mapping[str, dict],
        duration_s: float,
        run: dict | None = None,
    ) -> Artifact:
        """Turn the directory ``staged`` into the next version of ``kind``; returns the new artifact.

        ``staged`` is moved into the store (a directory on another filesystem is copied first). Files
        are hashed and fsynced, ``manifest.json`` is written last and the directory appears under
        ``<kind>/`` by one atomic rename. The alias ``latest`` of the kind then points at it.
        """
        check_kind(kind)
        staged = Path(staged)
        if not staged.is_dir():
            raise StoreError(f"{staged}: cannot publish, not a directory")
        if (staged / MANIFEST).exists():
            raise StoreError(f"{staged / MANIFEST}: a staged artifact must not contain {MANIFEST}; the store writes it")
        input_ids: dict[str, str] = {}
        for name, art in (inputs or {}).items():
            if not isinstance(art, Artifact):
                art = self.resolve(str(art))
            try:
                self.get(art.id)
            except StoreError:
                raise StoreError(f"input {name}={art.id} ({art.ref}): not in the store at {self.root}") from None
            input_ids[str(name)] = art.id
        config_j = jsonable(config or {}, "config")
        metrics_j = jsonable(metrics or {}, "metrics")
        sources_j = jsonable(sources or {}, "sources")
        who = run_info()
        run_j = jsonable(dict(run or {}), "run")
        run_j.setdefault("host", who["host"])
        run_j.setdefault("user", who["user"])
        code = code_info()

        tmp_root = self._dir("_tmp")
        with contextlib.ExitStack() as stack:
            if os.stat(staged).st_dev != os.stat(tmp_root).st_dev:
                moved_in = stack.enter_context(self._tmp_dir(kind))
                moved_in.rmdir()
                shutil.copytree(staged, moved_in, symlinks=True)
                staged = moved_in
            return self._publish_staged(
                kind, staged, fingerprint, input_ids, config_j, metrics_j, sources_j, duration_s, code, run_j
            )

    def _publish_staged(
        self, kind, staged: Path, fingerprint, input_ids, config_j, metrics_j, sources_j, duration_s, code, run_j
    ) -> Artifact:
        try:
            files: dict[str, dict] = {}
            for rel, path in walk_files(staged):
                sha, size = hash_file(path, fsync=True)
                files[rel] = {"sha256": sha, "bytes": size}
            for dirpath, _, _ in os.walk(staged):
                fsync_dir(Path(dirpath))

            with self._store_lock():
                for name, iid in input_ids.items():  # again under the lock: `rungs gc` may have removed it
                    try:
                        self.get(iid)
                    except StoreError:
                        raise StoreError(f"input {name}={iid}: removed from the store at {self.root} during the build") from None
                version = self._next_version(kind)
                manifest = {
                    "schema": SCHEMA,
                    "kind": kind,
                    "id": "",
                    "version": version,
                    "fingerprint": fingerprint,
                    "inputs": input_ids,
                    "config": config_j,
                    "sources": sources_j,
                    "files": files,
                    "metrics": metrics_j,
                    "created_at": utc_now(),
                    "duration_s": jsonable(duration_s, "duration_s"),
                    "code": jsonable(code, "code"),
                    "run": run_j,
                }
                manifest["id"] = manifest_id(manifest)
                art_id = manifest["id"]
                kind_dir = self._dir(kind)
                final = kind_dir / art_id
                if final.exists():
                    raise StoreError(f"{final}: already exists (id collision)")
                mpath = staged / MANIFEST
                with open(mpath, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                fsync_dir(staged)
                os.rename(staged, final)
                fsync_dir(kind_dir)
                fsync_dir(staged.parent)
                art = Artifact(kind=kind, id=art_id, path=final, manifest=manifest)
                self._append_event(
                    {"event": "publish", "kind": kind, "id": art_id, "ref": art.ref, "fingerprint": fingerprint}
                )
                self._move_alias(art, "latest", reason="publish")
            return art
        finally:
            if staged.exists() and (staged / MANIFEST).exists():
                # failed after writing the manifest but before the rename: keep staging clean
                with contextlib.suppress(OSError):
                    (staged / MANIFEST).unlink()

    def _next_version(self, kind: str) -> int:
        highest = 0
        for k, d in self._artifact_dirs(kind):
            manifest = read_manifest(d / MANIFEST)  # unreadable -> refuse to guess a version
            try:
                highest = max(highest, int(manifest["version"]))
            except (KeyError, TypeError, ValueError):
                raise StoreError(f"{d / MANIFEST}: no valid version; run `rungs verify`") from None
        return highest + 1

    # -- aliases and the event log ----------------------------------------------------------------

    def _append_event(self, event: dict) -> None:
        """Append one event to the journal's events log (caller holds the store lock)."""
        self.journal.append(EVENTS, event, locked=True)

    def _move_alias(self, art: Artifact, name: str, reason: str = "") -> None:
        """Point alias ``name`` of the artifact's kind at it, atomically (caller holds the store lock)."""
        adir = self._dir("_aliases") / art.kind
        adir.mkdir(parents=True, exist_ok=True)
        previous = self._read_alias(art.kind, name)
        tmp = adir / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(art.id + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, adir / name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        fsync_dir(adir)
        self._append_event(
            {
                "event": "alias",
                "kind": art.kind,
                "id": art.id,
                "ref": art.ref,
                "name": name,
                "from": previous,
                "to": art.id,
                "reason": reason,
            }
        )

    def set_alias(self, name: str, ref: str, *, reason: str = "") -> Artifact:
        """Point alias ``name`` (of the referenced artifact's kind) at it; the move is logged."""
        check_alias_name(name)
        art = self.resolve(ref)
        with self._store_lock():
            self._move_alias(art, name, reason=reason)
        return art

    def aliases(self, kind: str | None = None) -> list[tuple[str, str, str]]:
        """(kind, name, id) of every alias, sorted."""
        base = self.root / "_aliases"
        if not base.is_dir():
            return []
        if base.is_symlink():
            return []
        kinds = [check_kind(kind)] if kind is not None else sorted(
            p.name for p in base.iterdir() if KIND_RE.match(p.name) and _real_dir(p))
        out = []
        for k in kinds:
            kdir = base / k
            if not _real_dir(kdir):
                continue
            for f in sorted(kdir.iterdir()):
                # a malformed alias (a bad name, a link, a file without an id) is a finding of `verify`
                if f.name.startswith(".") or not ALIAS_NAME_RE.match(f.name) or f.is_symlink() or not f.is_file():
                    continue
                try:
                    target = self._read_alias(k, f.name)
                except StoreError:
                    continue
                if target:
                    out.append((k, f.name, target))
        return out

    def aliases_by_id(self) -> dict[str, list[str]]:
        """Artifact id -> `kind@name` of every alias that points at it."""
        out: dict[str, list[str]] = {}
        for kind, name, target in self.aliases():
            out.setdefault(target, []).append(f"{kind}@{name}")
        return out

    def events(self) -> list[dict]:
        """Every event in the append-only log, oldest first."""
        return self.journal.read(EVENTS)


def _real_dir(path: Path) -> bool:
    """A directory that is not a symbolic link."""
    return path.is_dir() and not path.is_symlink()


def unusable(exc: StoreError) -> str:
    """Why `get(id)` failed, as the end of a sentence ("... points at X, which is not in the store")."""
    text = str(exc)
    if "no artifact with id" in text or "invalid artifact id" in text:
        return "which is not in the store"
    if "symbolic link" in text:
        return "which is a symbolic link (refused)"
    return "whose manifest is malformed; run `rungs verify`"
