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
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from rungs.kernel import StoreError

SCHEMA = "rungs.manifest/1"
MANIFEST = "manifest.json"
ID_LENGTH = 12
MIN_PREFIX = 6

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
ID_RE = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")
HEX_RE = re.compile(r"^[0-9a-f]+$")
VERSION_RE = re.compile(r"^(?P<kind>[^:@]+):v(?P<version>\d+)$")
ALIAS_RE = re.compile(r"^(?P<kind>[^:@]+)@(?P<name>.+)$")


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


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise StoreError(
            f"invalid artifact kind {kind!r}: expected a plain name of letters, digits, '-' or '_' "
            "(not starting with '_')"
        )
    return kind


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise StoreError(f"invalid {what} {name!r}: expected letters, digits, '.', '-' or '_'")
    return name


def read_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: manifest is not a JSON object")
    return data


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
