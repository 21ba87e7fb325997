"""The content-addressed artifact store: immutable, versioned artifacts, aliases, lineage, verify.

Layout under the store root (``./artifacts`` or ``$RUNGS_STORE``)::

    <kind>/<id>/manifest.json + files     immutable artifacts; id = sha256(manifest body)[:12]
    _aliases/<kind>/<name>                one line: the id an alias points at
    _log/events.jsonl                     append-only: publish, alias moves
    _scratch/<fingerprint>/               checkpoints of builds in progress
    _tmp/                                 staging for atomic publish (same filesystem)
    _locks/                               file locks (store-wide, per fingerprint, per staging dir)

An artifact becomes visible only by an atomic ``rename`` of a fully written, fsynced directory whose
``manifest.json`` was written last, so readers never see half an artifact. Writers (publish, alias
moves, the event log) serialise on a store-wide ``flock``; builds of one fingerprint serialise on a
per-fingerprint ``flock``. Both work across threads and processes. Every staging directory under
``_tmp/`` is held by a ``flock`` of its own for as long as its build lives, so ``collect`` (``rungs
gc``) can tell the leftovers of a killed build from a build in progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import enum
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from . import provenance
from .errors import StoreError
from .hashing import hash_file

SCHEMA = "rungs.manifest/1"
MANIFEST = "manifest.json"
ID_LENGTH = 12
MIN_PREFIX = 6

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ID_RE = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")
_HEX_RE = re.compile(r"^[0-9a-f]+$")
_VERSION_RE = re.compile(r"^(?P<kind>[^:@]+):v(?P<version>\d+)$")
_ALIAS_RE = re.compile(r"^(?P<kind>[^:@]+)@(?P<name>.+)$")


# --------------------------------------------------------------------------------------------------
# Artifact


@dataclass(frozen=True)
class Artifact:
    """One immutable artifact: ``<store>/<kind>/<id>/`` and its parsed manifest."""

    kind: str
    id: str
    path: Path = field(compare=False)
    manifest: dict = field(compare=False, repr=False)

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def ref(self) -> str:
        """The human reference, e.g. ``cpt:v3``."""
        return f"{self.kind}:v{self.version}"

    @property
    def fingerprint(self) -> str:
        return self.manifest.get("fingerprint", "")

    @property
    def inputs(self) -> dict[str, str]:
        """Input name -> artifact id."""
        return dict(self.manifest.get("inputs") or {})

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics") or {}

    @property
    def config(self) -> dict:
        return self.manifest.get("config") or {}

    @property
    def files(self) -> dict[str, dict]:
        """Relative path -> {sha256, bytes}, as recorded at publish time."""
        return self.manifest.get("files") or {}

    @property
    def created_at(self) -> str:
        return self.manifest.get("created_at", "")

    def __str__(self) -> str:
        return f"{self.ref} ({self.id})"


# --------------------------------------------------------------------------------------------------
# Helpers


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON data (dict/list/str/int/float/bool/None) that round-trips exactly.

    numpy/torch scalars and arrays, Paths, dataclasses, enums, dates, tuples and sets are converted;
    NaN and infinities become None. Anything else is an error naming where it was found.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value, where)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), where)
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, f"{where}[]") for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (bytes, bytearray)):
        raise StoreError(f"{where}: bytes cannot be stored in a manifest")
    if isinstance(value, Sequence):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    # numpy / torch scalars and arrays (without importing either)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return jsonable(tolist(), where)
    item = getattr(value, "item", None)
    if callable(item):
        return jsonable(item(), where)
    if hasattr(value, "__float__"):
        return jsonable(float(value), where)
    raise StoreError(f"{where}: a {type(value).__name__} cannot be stored in a manifest (not JSON)")


def canonical_json(value: Any) -> str:
    """The canonical form hashed into ids: sorted keys, compact separators."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def manifest_id(manifest: Mapping) -> str:
    """The id a manifest should have: sha256 of its canonical JSON without the ``id`` key."""
    body = {k: v for k, v in manifest.items() if k != "id"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()[:ID_LENGTH]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relpath with "/", path) of every file under root, sorted; symlinks and specials refused."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for d in dirnames:
            if (base / d).is_symlink():
                raise StoreError(f"{base / d}: symbolic links cannot be stored in an artifact")
        for name in sorted(filenames):
            path = base / name
            if path.is_symlink():
                raise StoreError(f"{path}: symbolic links cannot be stored in an artifact")
            if not path.is_file():
                raise StoreError(f"{path}: not a regular file")
            yield path.relative_to(root).as_posix(), path


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise StoreError(
            f"invalid artifact kind {kind!r}: expected a plain name of letters, digits, '-' or '_' "
            "(not starting with '_')"
        )
    return kind


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise StoreError(f"invalid {what} {name!r}: expected letters, digits, '.', '-' or '_'")
    return name


def _read_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: manifest is not a JSON object")
    return data


# --------------------------------------------------------------------------------------------------
# Store


class Store:
    """The artifact store rooted at ``root``, else ``$RUNGS_STORE``, else ``./artifacts``."""

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = os.environ.get("RUNGS_STORE") or "artifacts"
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- internal paths and locks ------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def _flock(self, name: str, *, wait: bool = True, what: str = "") -> Iterator[int]:
        lock_path = self._dir("_locks") / f"{name}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = ""
                with contextlib.suppress(OSError):
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                raise StoreError(
                    f"{what or lock_path} is locked by another process"
                    + (f" ({holder})" if holder else "")
                ) from None
            with contextlib.suppress(OSError):
                info = provenance.run_info()
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {info['pid']} on {info['host']}\n".encode(), 0)
            yield fd
        finally:
            # Unlock explicitly: a child forked meanwhile (a DataLoader worker, say) shares this open
            # file description, and closing only our descriptor would leave the lock held by it.
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def _store_lock(self) -> Iterator[None]:
        with self._flock("store", what="the store"):
            yield

    # -- reading -----------------------------------------------------------------------------------

    def kinds(self) -> list[str]:
        """Kinds that have at least one artifact directory."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and _KIND_RE.match(p.name)
        )

    def _artifact_dirs(self, kind: str | None = None) -> Iterator[tuple[str, Path]]:
        kinds = [kind] if kind is not None else self.kinds()
        for k in kinds:
            kdir = self.root / k
            if not kdir.is_dir():
                continue
            for d in sorted(kdir.iterdir()):
                if d.is_dir() and not d.name.startswith("."):
                    yield k, d

    def _load(self, kind: str, path: Path) -> Artifact:
        manifest = _read_manifest(path / MANIFEST)
        return Artifact(kind=kind, id=path.name, path=path, manifest=manifest)

    def artifacts(self, kind: str | None = None) -> list[Artifact]:
        """All readable artifacts (optionally of one kind), sorted by kind then version."""
        if kind is not None:
            _check_kind(kind)
        found = []
        for k, d in self._artifact_dirs(kind):
            try:
                found.append(self._load(k, d))
            except StoreError:
                continue  # unreadable manifests are reported by verify, not listed
        return sorted(found, key=lambda a: (a.kind, _version_key(a)))

    def get(self, id: str) -> Artifact:
        """The artifact with exactly this id."""
        if not isinstance(id, str) or not _ID_RE.match(id):
            raise StoreError(f"invalid artifact id {id!r}: expected {ID_LENGTH} hex digits")
        for kind in self.kinds():
            path = self.root / kind / id
            if (path / MANIFEST).is_file():
                return self._load(kind, path)
        raise StoreError(f"no artifact with id {id} in {self.root}")

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
        try:
            return self._alias_path(kind, name).read_text(encoding="utf-8").strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def resolve(self, ref: str) -> Artifact:
        """An artifact from a REF: id, unique id prefix (>= 6), ``kind:vN``, ``kind@alias``, ``kind``."""
        if isinstance(ref, Artifact):
            return ref
        if not isinstance(ref, str) or not ref.strip():
            raise StoreError(f"empty artifact reference {ref!r}: expected id, kind:vN, kind@alias or kind")
        ref = ref.strip()

        m = _VERSION_RE.match(ref)
        if m:
            kind, version = m["kind"], int(m["version"])
            _check_kind(kind)
            arts = self.artifacts(kind)
            for a in arts:
                if a.version == version:
                    return a
            if not arts:
                raise StoreError(f"{ref}: no artifacts of kind {kind!r}; {self._describe()}")
            have = ", ".join(f"v{a.version}" for a in arts)
            raise StoreError(f"{ref}: no version {version} of {kind}; {kind} has {have}")

        m = _ALIAS_RE.match(ref)
        if m:
            return self._resolve_alias(_check_kind(m["kind"]), m["name"], ref)

        if _KIND_RE.match(ref) and (self.root / ref).is_dir():
            return self._resolve_alias(ref, "latest", ref)

        if _HEX_RE.match(ref):
            if len(ref) < MIN_PREFIX:
                raise StoreError(f"{ref}: an id prefix needs at least {MIN_PREFIX} hex digits")
            if len(ref) == ID_LENGTH:
                with contextlib.suppress(StoreError):
                    return self.get(ref)
            matches = [a for a in self.artifacts() if a.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                listed = ", ".join(f"{a.id} ({a.ref})" for a in matches)
                raise StoreError(f"{ref}: ambiguous id prefix, matches {listed}")
            raise StoreError(f"{ref}: no artifact id starts with this; {self._describe()}")

        if _KIND_RE.match(ref):
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
            art = self.get(target)
        except StoreError:
            raise StoreError(f"{ref}: alias points at {target}, which is not in the store") from None
        if art.kind != kind:
            raise StoreError(f"{ref}: alias points at {target}, a {art.kind} artifact, not {kind}")
        return art

    def find(self, kind: str, fingerprint: str) -> Artifact | None:
        """The artifact of ``kind`` built with ``fingerprint`` (the newest if several), else None."""
        matches = [a for a in self.artifacts(kind) if a.fingerprint == fingerprint]
        return matches[-1] if matches else None

    # -- building ----------------------------------------------------------------------------------

    def scratch(self, fingerprint: str) -> Path:
        """``_scratch/<fingerprint>/``, created: checkpoints of a build that survive a crash."""
        _check_name(fingerprint, "fingerprint")
        path = self._dir("_scratch") / fingerprint
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove_scratch(self, fingerprint: str) -> None:
        _check_name(fingerprint, "fingerprint")
        shutil.rmtree(self.root / "_scratch" / fingerprint, ignore_errors=True)

    @contextlib.contextmanager
    def building(self, fingerprint: str, *, wait: bool = True) -> Iterator[None]:
        """Exclusive per-fingerprint lock: two processes (or threads) never build one fingerprint at once.

        With ``wait=False`` a held lock raises StoreError instead of blocking.
        """
        _check_name(fingerprint, "fingerprint")
        if fingerprint == "store":
            raise StoreError("'store' is reserved and cannot be a fingerprint")
        with self._flock(fingerprint, wait=wait, what=f"fingerprint {fingerprint}"):
            yield

    @contextlib.contextmanager
    def staging(self, kind: str) -> Iterator[Path]:
        """A fresh directory under ``_tmp/`` (same filesystem as the store) to write an artifact into.

        Removed when the block raises, or when it ends without the directory having been published.
        """
        _check_kind(kind)
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
        _check_kind(kind)
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
        run_info = provenance.run_info()
        run_j = jsonable(dict(run or {}), "run")
        run_j.setdefault("host", run_info["host"])
        run_j.setdefault("user", run_info["user"])
        code = provenance.code_info()

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
            for rel, path in _walk_files(staged):
                sha, size = hash_file(path, fsync=True)
                files[rel] = {"sha256": sha, "bytes": size}
            for dirpath, _, _ in os.walk(staged):
                _fsync_dir(Path(dirpath))

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
                    "created_at": _now(),
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
                _fsync_dir(staged)
                os.rename(staged, final)
                _fsync_dir(kind_dir)
                _fsync_dir(staged.parent)
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
            manifest = _read_manifest(d / MANIFEST)  # unreadable -> refuse to guess a version
            try:
                highest = max(highest, int(manifest["version"]))
            except (KeyError, TypeError, ValueError):
                raise StoreError(f"{d / MANIFEST}: no valid version; run `rungs verify`") from None
        return highest + 1

    # -- aliases and the event log ------------------------------------------------------------------

    def _append_event(self, event: dict) -> None:
        """Append one event (caller holds the store lock)."""
        info = provenance.run_info()
        record = {**event, "at": _now(), "user": info["user"], "host": info["host"]}
        line = json.dumps(jsonable(record), ensure_ascii=False, sort_keys=False) + "\n"
        log = self._dir("_log") / "events.jsonl"
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

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
        _fsync_dir(adir)
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
        _check_name(name, "alias name")
        art = self.resolve(ref)
        with self._store_lock():
            self._move_alias(art, name, reason=reason)
        return art

    def aliases(self, kind: str | None = None) -> list[tuple[str, str, str]]:
        """(kind, name, id) of every alias, sorted."""
        base = self.root / "_aliases"
        if not base.is_dir():
            return []
        kinds = [_check_kind(kind)] if kind is not None else sorted(p.name for p in base.iterdir() if p.is_dir())
        out = []
        for k in kinds:
            kdir = base / k
            if not kdir.is_dir():
                continue
            for f in sorted(kdir.iterdir()):
                if f.name.startswith(".") or not f.is_file():
                    continue
                target = self._read_alias(k, f.name)
                if target:
                    out.append((k, f.name, target))
        return out

    def events(self) -> list[dict]:
        """Every event in the append-only log, oldest first."""
        log = self.root / "_log" / "events.jsonl"
        if not log.is_file():
            return []
        out = []
        with open(log, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line torn by a crash mid-write
        return out

    # -- lineage -----------------------------------------------------------------------------------

    def upstream(self, ref: str) -> dict:
        """``{"artifact": Artifact, "inputs": {name: subtree}}`` down to the raw-input stages.

        An input missing from the store appears as ``{"artifact": None, "id": id, "inputs": {}}``.
        """
        memo: dict[str, dict] = {}

        def tree(art: Artifact, seen: frozenset) -> dict:
            if art.id in memo:
                return memo[art.id]
            node: dict = {"artifact": art, "inputs": {}}
            for name, iid in sorted(art.inputs.items()):
                if iid in seen:
                    raise StoreError(f"{art.ref}: lineage cycle through {iid}")
                try:
                    child = self.get(iid)
                except StoreError:
                    node["inputs"][name] = {"artifact": None, "id": iid, "inputs": {}}
                    continue
                node["inputs"][name] = tree(child, seen | {art.id})
            memo[art.id] = node
            return node

        return tree(self.resolve(ref), frozenset())

    def downstream(self, ref: str) -> dict:
        """``{"artifact": Artifact, "children": [subtree, ...]}``: everything built from ``ref``."""
        root = self.resolve(ref)
        users: dict[str, list[Artifact]] = {}
        for a in self.artifacts():
            for iid in set(a.inputs.values()):
                users.setdefault(iid, []).append(a)
        memo: dict[str, dict] = {}

        def tree(art: Artifact, seen: frozenset) -> dict:
            if art.id in memo:
                return memo[art.id]
            if art.id in seen:
                raise StoreError(f"{art.ref}: lineage cycle")
            children = sorted(users.get(art.id, []), key=lambda a: (a.kind, _version_key(a)))
            node = {"artifact": art, "children": [tree(c, seen | {art.id}) for c in children]}
            memo[art.id] = node
            return node

        return tree(root, frozenset())

    # -- verification ------------------------------------------------------------------------------

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
                label, order = f"{art.ref} ({d.name})", _version_key(art)
            except StoreError:
                label, order = f"{kind}/{d.name}", 1 << 62
            found.append(((kind, order, d.name), label, kind, d))
        return [(label, self._verify_dir(kind, d)) for _, label, kind, d in sorted(found, key=lambda f: f[0])]

    def _verify_dir(self, kind: str, path: Path) -> list[str]:
        problems: list[str] = []
        try:
            manifest = _read_manifest(path / MANIFEST)
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
            on_disk = {rel: p for rel, p in _walk_files(path) if rel != MANIFEST}
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


    # -- retention (`rungs gc`) --------------------------------------------------------------------

    def lineage_closure(self, ids: Iterable[str]) -> set[str]:
        """``ids`` and the id of every artifact upstream of them (through manifest inputs)."""
        by_id = {a.id: a for a in self.artifacts()}
        seen: set[str] = set()
        stack = list(ids)
        while stack:
            iid = stack.pop()
            if iid in seen:
                continue
            seen.add(iid)
            if iid in by_id:
                stack.extend(by_id[iid].inputs.values())
        return seen

    def garbage(self, older_than: _dt.timedelta, *, now: _dt.datetime | None = None) -> Garbage:
        """What ``collect`` would remove now (read-only): see ``collect``."""
        return self._plan_garbage(older_than, now)

    def collect(self, older_than: _dt.timedelta, *, now: _dt.datetime | None = None) -> Garbage:
        """Remove what no alias needs; every removal is an event (``gc``) in the log.

        - artifacts created more than ``older_than`` ago that no alias reaches through lineage. Kept:
          every alias target (``latest`` included), everything newer than the cutoff, and everything
          upstream of a kept artifact, so no kept artifact ever loses an input;
        - ``_tmp/`` directories whose lock no live process holds (builds killed mid-stage);
        - ``_scratch/<fingerprint>/`` of fingerprints already published and not being built.

        The plan is recomputed under the store lock (no alias can move, nothing can publish meanwhile);
        an artifact leaves by one atomic rename into ``_tmp/`` and is deleted after the lock is released.
        """
        trash: list[tuple[Path, contextlib.ExitStack]] = []
        try:
            with self._store_lock():
                plan = self._plan_garbage(older_than, now)
                for art in plan.artifacts:
                    stack = contextlib.ExitStack()
                    holder = stack.enter_context(self._tmp_dir(f"gc-{art.kind}"))
                    holder.rmdir()
                    os.rename(art.path, holder)
                    trash.append((holder, stack))
                    self._append_event(
                        {
                            "event": "gc",
                            "what": "artifact",
                            "kind": art.kind,
                            "id": art.id,
                            "ref": art.ref,
                            "fingerprint": art.fingerprint,
                            "created_at": art.created_at,
                            "bytes": plan.sizes.get(str(art.path), 0),
                            "reason": f"no alias reaches it; created before {plan.cutoff}",
                        }
                    )
                _fsync_dir(self.root)
                removed_staging = [p for p in plan.staging if self._remove_dead_staging(p, plan.sizes.get(str(p), 0))]
                removed_scratch = [p for p in plan.scratch if self._remove_published_scratch(p, plan.sizes.get(str(p), 0))]
        finally:
            for holder, stack in trash:
                shutil.rmtree(holder, ignore_errors=True)
                stack.close()
        return dataclasses.replace(plan, staging=removed_staging, scratch=removed_scratch, deleted=True)

    def _plan_garbage(self, older_than: _dt.timedelta, now: _dt.datetime | None) -> Garbage:
        if not isinstance(older_than, _dt.timedelta) or older_than < _dt.timedelta(0):
            raise StoreError(f"older_than must be a non-negative duration, not {older_than!r}")
        now = now or _dt.datetime.now(_dt.UTC)
        cutoff = now - older_than
        arts = self.artifacts()
        by_id = {a.id: a for a in arts}
        kept: dict[str, str] = {}

        def keep_upstream(root: Artifact, why: str) -> None:
            stack = [root.id]
            while stack:
                iid = stack.pop()
                if iid in kept or iid not in by_id:
                    continue
                kept[iid] = why if iid == root.id else f"upstream of {root.ref} ({why})"
                stack.extend(by_id[iid].inputs.values())

        for kind, name, target in self.aliases():
            if target in by_id and target not in kept:
                keep_upstream(by_id[target], f"alias {kind}@{name}")
        for art in arts:
            created = _parse_time(art.created_at)
            if art.id not in kept and (created is None or created > cutoff):
                keep_upstream(art, "newer than the cutoff" if created else "no valid created_at")
        doomed = [a for a in arts if a.id not in kept]
        sizes = {str(a.path): _tree_bytes(a.path) for a in doomed}

        staging, other = [], []
        tmp = self.root / "_tmp"
        for d in sorted(p for p in tmp.iterdir() if p.is_dir()) if tmp.is_dir() else []:
            state = self._staging_state(d, cutoff)
            if state == "dead":
                staging.append(d)
                sizes[str(d)] = _tree_bytes(d)
            else:
                other.append((d, state))

        scratch = []
        published = {a.fingerprint for a in arts if a.fingerprint}
        sdir = self.root / "_scratch"
        for d in sorted(p for p in sdir.iterdir() if p.is_dir()) if sdir.is_dir() else []:
            if d.name in published:
                scratch.append(d)
                sizes[str(d)] = _tree_bytes(d)
            else:
                other.append((d, "checkpoints of an unpublished build (resume data)"))
        return Garbage(
            cutoff=cutoff.astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            artifacts=doomed,
            staging=staging,
            scratch=scratch,
            kept={a.id: kept[a.id] for a in arts if a.id in kept},
            kept_other=other,
            sizes=sizes,
        )

    def _staging_state(self, path: Path, cutoff: _dt.datetime) -> str:
        """"dead" when no live process holds the staging directory, else why it stays."""
        lock = self.root / "_locks" / f"tmp-{path.name}.lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            # no lock file: made by code older than staging locks, or in the instant before mkdir
            try:
                mtime = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.UTC)
            except FileNotFoundError:
                return "gone"
            return "dead" if mtime <= cutoff else "unlocked but newer than the cutoff"
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "a build in progress holds it"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return "dead"
        finally:
            os.close(fd)

    def _remove_dead_staging(self, path: Path, size: int) -> bool:
        lock = self.root / "_locks" / f"tmp-{path.name}.lock"
        fd = None
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(lock, os.O_RDWR)
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # its owner is alive after all
            if not path.exists():
                return False
            shutil.rmtree(path, ignore_errors=True)
            if fd is not None:
                with contextlib.suppress(OSError):
                    lock.unlink()
        finally:
            if fd is not None:
                os.close(fd)
        self._append_event(
            {"event": "gc", "what": "staging", "ref": f"_tmp/{path.name}", "id": "", "bytes": size, "reason": "left by a build that died"}
        )
        return True

    def _remove_published_scratch(self, path: Path, size: int) -> bool:
        try:
            with self.building(path.name, wait=False):
                if not path.exists():
                    return False
                shutil.rmtree(path, ignore_errors=True)
        except StoreError:
            return False  # a build of this fingerprint is running
        self._append_event(
            {
                "event": "gc",
                "what": "scratch",
                "ref": f"_scratch/{path.name[:12]}",
                "id": "",
                "fingerprint": path.name,
                "bytes": size,
                "reason": "checkpoints of a fingerprint already published",
            }
        )
        return True


@dataclass(frozen=True)
class Garbage:
    """What ``Store.garbage`` found or ``Store.collect`` removed."""

    cutoff: str  # artifacts created at or before this time (UTC) may go
    artifacts: list[Artifact]  # unreachable from every alias, older than the cutoff
    staging: list[Path]  # _tmp/ directories of builds that died
    scratch: list[Path]  # _scratch/ directories of fingerprints already published
    kept: dict[str, str]  # artifact id -> why it stays
    kept_other: list[tuple[Path, str]]  # _tmp/ and _scratch/ entries that stay, and why
    sizes: dict[str, int]  # str(path) -> bytes, for everything listed for removal
    deleted: bool = False

    @property
    def bytes(self) -> int:
        paths = [str(a.path) for a in self.artifacts] + [str(p) for p in (*self.staging, *self.scratch)]
        return sum(self.sizes.get(p, 0) for p in paths)


def _parse_time(text: str) -> _dt.datetime | None:
    try:
        value = _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total

def _version_key(art: Artifact) -> int:
    try:
        return art.version
    except (KeyError, TypeError, ValueError):
        return 0
