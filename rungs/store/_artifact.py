"""An artifact and its manifest: the dataclass, the manifest's id, and the checks every store path obeys.

An artifact is `<store>/<kind>/<id>/`: its files and `manifest.json`, written last. The id is the
sha256 of the manifest's canonical JSON (without the id itself), so an edited manifest no longer
matches its directory name; `jsonable` turns whatever a stage returns into JSON that round-trips exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import enum
import errno
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from rungs.kernel import StoreError

SCHEMA = "rungs.manifest/1"
MANIFEST = "manifest.json"
ID_LENGTH = 12
MIN_PREFIX = 6

# Every pattern ends in \Z, not $: `$` also matches before a trailing newline ("prod\n").
MAX_NAME = 64  # alias names and kinds; a fingerprint may be longer (a sha256 is 64 hex digits)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
ALIAS_NAME_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}\Z")
ALIAS_NAME_RULE = f"1 to {MAX_NAME} letters, digits, '.', '-' or '_', starting with a letter or digit"
KIND_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME - 1}}}\Z")
ID_RE = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}\Z")
HEX_RE = re.compile(r"^[0-9a-f]+\Z")
VERSION_RE = re.compile(r"^(?P<kind>[^:@]+):v(?P<version>[0-9]{1,9})\Z")
ALIAS_RE = re.compile(r"^(?P<kind>[^:@]+)@(?P<name>.+)\Z", re.DOTALL)


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


def fsync_dir(path: Path) -> None:
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


def walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relpath with "/", path) of every file under root, sorted; symlinks and specials refused."""
    files, problems = scan_files(root)
    if problems:
        raise StoreError(f"{root}: {problems[0]}")
    yield from files.items()


def scan_files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """({relpath: path} of every regular file under root, sorted; [one line per refused entry]).

    A symbolic link (to a file or a folder) or a special file is refused, not followed: it is reported
    and left out, so every other file is still seen.
    """
    files: dict[str, Path] = {}
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                problems.append(f"{(base / d).relative_to(root).as_posix()}: a symbolic link (refused: an artifact holds only regular files)")
                dirnames.remove(d)
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                problems.append(f"{rel}: a symbolic link (refused: an artifact holds only regular files)")
            elif not path.is_file():
                problems.append(f"{rel}: not a regular file")
            else:
                files[rel] = path
    return dict(sorted(files.items())), problems


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        shown = kind if not isinstance(kind, str) or len(kind) <= 80 else kind[:80] + "..."
        raise StoreError(
            f"invalid artifact kind {shown!r}: expected 1 to {MAX_NAME} letters, digits, '-' or '_' "
            "(not starting with '_')"
        )
    return kind


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        shown = name if not isinstance(name, str) or len(name) <= 80 else name[:80] + "..."
        raise StoreError(f"invalid {what} {shown!r}: expected letters, digits, '.', '-' or '_'")
    return name


def check_alias_name(name: str) -> str:
    """An alias name: ALIAS_NAME_RULE (one pattern for `alias set`, REFs and the files under `_aliases/`)."""
    if not isinstance(name, str) or not ALIAS_NAME_RE.match(name):
        shown = name if not isinstance(name, str) or len(name) <= 80 else name[:80] + f"... ({len(name)} characters)"
        raise StoreError(f"invalid alias name {shown!r}: expected {ALIAS_NAME_RULE}")
    return name


def read_text_nofollow(path: Path) -> str:
    """A file's text, refusing a symbolic link (OSError/FileNotFoundError as open would raise them)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(f"{path}: a symbolic link (refused)") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise StoreError(f"{path}: not a regular file")
        return fh.read().decode("utf-8")


def read_manifest(path: Path) -> dict:
    if path.parent.is_symlink():
        raise StoreError(f"{path.parent}: a symbolic link (refused: an artifact is a real directory)")
    try:
        data = json.loads(read_text_nofollow(path))
    except FileNotFoundError:
        raise StoreError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StoreError(f"{path}: unreadable manifest ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: manifest is not a JSON object")
    return data


def manifest_problems(manifest: Mapping, kind: str | None = None, dirname: str | None = None) -> list[str]:
    """What makes a manifest unusable (one line each): a missing or wrongly typed field, a foreign kind or id.

    Checked when an artifact is loaded, so a malformed manifest (`{}`, `version: "3"`) is a finding of
    `rungs verify`, never a traceback in `ls` or `audit`.
    """
    problems = []
    required = ("schema", "kind", "id", "version", "files", "inputs", "metrics", "config", "sources", "fingerprint",
                "created_at")
    absent = [name for name in required if name not in manifest]
    if absent:
        problems.append(f"{MANIFEST}: missing {', '.join(absent)}" + (" (not a rungs manifest)" if len(absent) > 3 else ""))
    if "schema" in manifest and manifest["schema"] != SCHEMA:
        problems.append(f"{MANIFEST}: schema {short(manifest['schema'])}, expected {SCHEMA!r}")
    if "kind" in manifest and not isinstance(manifest["kind"], str):
        problems.append(f"{MANIFEST}: kind is not a string")
    elif "kind" in manifest and kind is not None and manifest["kind"] != kind:
        problems.append(f"{MANIFEST}: kind {short(manifest['kind'])} but stored under {kind}/")
    if "id" in manifest and (not isinstance(manifest["id"], str) or not ID_RE.match(manifest["id"])):
        problems.append(f"{MANIFEST}: id {short(manifest['id'])} is not {ID_LENGTH} hex digits")
    elif "id" in manifest and dirname is not None and manifest["id"] != dirname:
        problems.append(f"{MANIFEST}: id {manifest['id']!r} but stored as {short(dirname)}")
    version = manifest.get("version")
    if "version" in manifest and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        problems.append(f"{MANIFEST}: version {short(version)} is not a whole number >= 1")
    for name, types, what in (
        ("files", dict, "an object"), ("inputs", dict, "an object"), ("metrics", dict, "an object"),
        ("config", dict, "an object"), ("sources", dict, "an object"), ("fingerprint", str, "a string"),
        ("created_at", str, "a string"),
    ):
        if name in manifest and not isinstance(manifest[name], types):
            problems.append(f"{MANIFEST}: {name} is not {what}")
    files = manifest.get("files")
    if isinstance(files, dict):
        for rel, entry in files.items():
            if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                    or isinstance(entry.get("bytes"), bool) or not isinstance(entry.get("bytes"), int)):
                problems.append(f"{MANIFEST}: files[{short(rel)}] is not {{sha256, bytes}}")
                break
    inputs = manifest.get("inputs")
    if isinstance(inputs, dict) and not all(isinstance(v, str) for v in inputs.values()):
        problems.append(f"{MANIFEST}: inputs holds a value that is not an artifact id")
    return problems


def shown_name(name: str, limit: int = 40) -> str:
    """A file name as a finding shows it: plain when it is printable and short, else its cut repr."""
    if isinstance(name, str) and name.isprintable() and " " not in name and len(name) <= limit:
        return name
    return short(name, limit)


def short(value: Any, limit: int = 60) -> str:
    """repr of a value, cut to `limit` characters (a finding stays one line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_time(text: str) -> _dt.datetime | None:
    try:
        value = _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total

def version_key(art: Artifact) -> int:
    try:
        return art.version
    except (KeyError, TypeError, ValueError):
        return 0
