"""Verification: re-hash an artifact's files, check its manifest against what was published, and check the
store's history (the hash-chained journal, the aliases, what lies where it should not).

A mixin of ``Store``. Every finding is one line naming the file: a changed byte, a missing or unexpected
file, a symbolic link, an edited or malformed manifest (its content no longer hashes to its id, a field
missing or of the wrong type), a `metrics.json` that disagrees with the manifest's metrics, an input
missing from the store, an artifact or alias target the journal never saw published, an alias moved
outside rungs, a broken chain, a stray directory. Nothing here raises on malformed content.
"""

from __future__ import annotations

import json
from pathlib import Path

from rungs.kernel import StoreError, hash_file

from ._artifact import (
    ALIAS_NAME_RE,
    ID_RE,
    KIND_RE,
    MANIFEST,
    jsonable,
    manifest_id,
    manifest_problems,
    read_manifest,
    read_text_nofollow,
    scan_files,
    short,
    shown_name,
    version_key,
)
from ._core import unusable
from ._journal import EVENTS, JournalReport

_STORE_DIRS = {"_aliases", "_log", "_locks", "_tmp", "_scratch"}


class History:
    """What the journal says happened: publishes, removals and the last move of every alias."""

    def __init__(self, report: JournalReport):
        self.report = report
        self.published: dict[str, dict] = {}
        self.removed: set[str] = set()
        self.moves: dict[tuple[str, str], dict] = {}
        for e in report.entries_by_log.get(EVENTS, []):
            kind = e.get("event")
            if kind == "publish" and isinstance(e.get("id"), str):
                self.published.setdefault(e["id"], e)
            elif kind == "gc" and e.get("what") == "artifact":
                self.removed.add(str(e.get("id")))
            elif kind == "alias":
                self.moves[(str(e.get("kind")), str(e.get("name")))] = e

    def publish_problems(self, kind: str, art_id: str, fingerprint: object) -> list[str]:
        entry = self.published.get(art_id)
        if entry is None:
            return ["no publish entry in the journal: not published by rungs (or the journal was cut)"]
        problems = []
        if entry.get("kind") != kind:
            problems.append(f"the journal published {art_id} as a {short(entry.get('kind'))} artifact, not {kind}")
        if "fingerprint" in entry and entry.get("fingerprint") != fingerprint:
            problems.append(f"{MANIFEST}: fingerprint differs from the one the journal recorded at publish")
        return problems


class Verification:
    """``verify`` one artifact, ``verify_all``, and ``verify_history`` of the store as a whole."""

    def verify(self, ref: str) -> list[str]:
        """Problems with one artifact ([] if intact): re-hashes every file, recomputes the id, checks inputs,
        `metrics.json` against the manifest and that the journal recorded its publish."""
        art = self.resolve_for_verify(ref)
        return self._verify_dir(art[0], art[1], self._history())

    def resolve_for_verify(self, ref: str) -> tuple[str, Path]:
        """(kind, directory) of REF, also when a file in it was replaced by a symbolic link."""
        try:
            art = self.resolve(ref)
        except StoreError:
            art = self._resolve(str(ref).strip())  # resolve refuses links inside; verify reports them
        return art.kind, art.path

    def verify_all(self, history: History | None = None) -> list[tuple[str, list[str]]]:
        """(label, problems) for every artifact directory, including ones whose manifest is unreadable."""
        history = history or self._history()
        found = []
        for kind, d in self._artifact_dirs():
            try:
                art = self._load(kind, d)
                label, order = f"{art.ref} ({d.name})", version_key(art)
            except StoreError:
                label, order = f"{kind}/{d.name}", 1 << 62
            found.append(((kind, order, d.name), label, kind, d))
        return [(label, self._verify_dir(kind, d, history)) for _, label, kind, d in sorted(found, key=lambda f: f[0])]

    def _history(self, public_keys: list[bytes] | None = None) -> History:
        return History(self.journal.check(public_keys))

    def verify_history(self, public_keys: list[bytes] | None = None) -> tuple[JournalReport, list[tuple[str, list[str]]]]:
        """(the journal's report, [(section, problems)] for the store's layout and its aliases)."""
        history = self._history(public_keys)
        return history.report, [("store layout", self._layout_problems()), ("aliases", self._alias_problems(history))]

    def verify_store(self, public_keys: list[bytes] | None = None) -> dict:
        """Everything `rungs verify --all` checks: {"ok", "artifacts", "journal", "sections"}."""
        history = self._history(public_keys)
        artifacts = self.verify_all(history)
        sections = [("store layout", self._layout_problems()), ("aliases", self._alias_problems(history))]
        ok = history.report.ok and all(not p for _, p in artifacts) and all(not p for _, p in sections)
        return {"ok": ok, "artifacts": artifacts, "journal": history.report, "sections": sections}

    # -- one artifact ------------------------------------------------------------------------------

    def _verify_dir(self, kind: str, path: Path, history: History | None = None) -> list[str]:
        if path.is_symlink():
            return [f"{path.name}: a symbolic link in place of an artifact directory (refused)"]
        try:
            manifest = read_manifest(path / MANIFEST)
        except StoreError as exc:
            return [f"{MANIFEST}: {str(exc).replace(str(path) + '/', '')}"]
        problems = manifest_problems(manifest, kind, path.name)
        claimed = manifest.get("id")
        actual = None
        if isinstance(claimed, str) and ID_RE.match(claimed):
            try:
                actual = manifest_id(manifest)
            except (TypeError, ValueError) as exc:
                problems.append(f"{MANIFEST}: cannot recompute the id ({type(exc).__name__})")
        if actual is not None and actual != claimed:
            problems.append(f"{MANIFEST}: edited after publish (its content hashes to id {actual}, not {short(claimed)})")

        recorded = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
        on_disk, refused = scan_files(path)
        on_disk.pop(MANIFEST, None)
        problems += [p for p in refused if not p.startswith(f"{MANIFEST}:")]
        linked = {p.partition(":")[0] for p in refused}
        for rel, entry in sorted(recorded.items()):
            p = on_disk.get(rel)
            if p is None:
                if rel not in linked and not any(rel.startswith(d + "/") for d in linked):
                    problems.append(f"{rel}: missing (recorded in the manifest)")
                continue
            try:
                sha, size = hash_file(p)
            except OSError as exc:
                problems.append(f"{rel}: unreadable ({type(exc).__name__})")
                continue
            want_sha = entry.get("sha256") if isinstance(entry, dict) else None
            want_size = entry.get("bytes") if isinstance(entry, dict) else None
            if sha != want_sha or size != want_size:
                detail = f"{size} bytes, expected {short(want_size)}" if size != want_size else (
                    f"sha256 {sha[:12]}, expected {str(want_sha)[:12]}"
                )
                problems.append(f"{rel}: content changed ({detail})")
        for rel in sorted(set(on_disk) - set(recorded)):
            problems.append(f"{rel}: unexpected file (not in the manifest)")
        problems += _metrics_problems(path, manifest, on_disk)

        inputs = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
        for name, iid in sorted(inputs.items()):
            try:
                self.get(iid)
            except StoreError as exc:
                problems.append(f"input {name}={shown_name(str(iid))}: {unusable(exc).removeprefix('which is ').removeprefix('whose ')}")
        if history is not None and isinstance(claimed, str):
            problems += history.publish_problems(kind, path.name, manifest.get("fingerprint"))
        return problems

    # -- the store as a whole ----------------------------------------------------------------------

    def _layout_problems(self) -> list[str]:
        """Symbolic links and things that are not artifacts where artifacts live (one line each)."""
        problems: list[str] = []
        if not self.root.is_dir():
            return problems
        if self.root.is_symlink():
            problems.append(f"{self.root}: the store root is a symbolic link")
        for p in sorted(self.root.iterdir()):
            name = p.name
            if p.is_symlink():
                problems.append(f"{name}: a symbolic link in the store (refused)")
            elif name in _STORE_DIRS or name.startswith("."):
                if name in ("_aliases", "_log"):
                    problems += _links_under(p, name)
            elif not p.is_dir():
                problems.append(f"{shown_name(name)}: a stray file in the store root")
            elif not KIND_RE.match(name):
                problems.append(f"{shown_name(name)}/: a stray directory (not an artifact kind)")
            else:
                for d in sorted(p.iterdir()):
                    where = f"{name}/{shown_name(d.name)}"
                    if d.name.startswith("."):
                        continue
                    if d.is_symlink():
                        problems.append(f"{where}: a symbolic link in place of an artifact directory (refused)")
                    elif not d.is_dir():
                        problems.append(f"{where}: a stray file (not an artifact directory)")
                    elif not ID_RE.match(d.name):
                        problems.append(f"{where}/: a stray directory (its name is not an artifact id)")
        return problems

    def _alias_problems(self, history: History) -> list[str]:
        """Every alias: a valid name, a regular file holding an id, the target published, the journal's
        last move of it agreeing with the file."""
        problems: list[str] = []
        base = self.root / "_aliases"
        if not base.is_dir() or base.is_symlink():
            return problems
        seen = set()
        for kdir in sorted(base.iterdir()):
            if kdir.is_symlink() or not kdir.is_dir():
                continue  # reported by the layout check
            if not KIND_RE.match(kdir.name):
                problems.append(f"_aliases/{shown_name(kdir.name)}: not an artifact kind")
                continue
            for f in sorted(kdir.iterdir()):
                if f.name.startswith("."):
                    continue
                if not ALIAS_NAME_RE.match(f.name):
                    problems.append(f"_aliases/{kdir.name}/{shown_name(f.name)}: not a valid alias name")
                    continue
                label = f"{kdir.name}@{f.name}"
                if f.is_symlink() or not f.is_file():
                    continue  # reported by the layout check
                try:
                    target = read_text_nofollow(f).strip()
                except (OSError, UnicodeDecodeError, StoreError):
                    problems.append(f"{label}: unreadable")
                    continue
                if not ID_RE.match(target):
                    problems.append(f"{label}: the file holds no artifact id ({short(target, 30)})")
                    continue
                seen.add((kdir.name, f.name))
                try:
                    art = self.get(target)
                    if art.kind != kdir.name:
                        problems.append(f"{label}: points at {target}, a {art.kind} artifact")
                except StoreError as exc:
                    problems.append(f"{label}: points at {target}, {unusable(exc).removesuffix('; run `rungs verify`')}")
                if target not in history.published:
                    problems.append(f"{label}: points at {target}, which the journal never saw published")
                move = history.moves.get((kdir.name, f.name))
                if move is None:
                    problems.append(f"{label}: no move of this alias in the journal (set outside rungs)")
                elif move.get("to") != target:
                    problems.append(f"{label}: points at {target}, but the journal's last move put it at "
                                    f"{shown_name(str(move.get('to')))} (moved outside rungs)")
        for (kind, name), move in sorted(history.moves.items()):
            if (kind, name) not in seen and move.get("to") and KIND_RE.match(kind) and ALIAS_NAME_RE.match(name):
                if not (self.root / "_aliases" / kind / name).exists():
                    problems.append(f"{kind}@{name}: the journal moved it to {shown_name(str(move.get('to')))}, but its file is gone")
        return problems


def _metrics_problems(path: Path, manifest: dict, on_disk: dict) -> list[str]:
    """`metrics.json` (evaluate, triage) must say what the manifest's metrics say."""
    if "metrics.json" not in on_disk or not isinstance(manifest.get("metrics"), dict):
        return []
    try:
        data = jsonable(json.loads(on_disk["metrics.json"].read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, StoreError) as exc:
        return [f"metrics.json: unreadable ({type(exc).__name__})"]
    if not isinstance(data, dict):
        return ["metrics.json: not a JSON object"]
    want = manifest["metrics"]
    differ = sorted(k for k in set(data) | set(want) if data.get(k, ...) != want.get(k, ...))
    if not differ:
        return []
    shown = ", ".join(shown_name(k) for k in differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
    return [f"metrics.json: disagrees with the manifest's metrics ({shown})"]


def _links_under(path: Path, label: str) -> list[str]:
    problems = []
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            problems.append(f"{label}/{p.relative_to(path).as_posix()}: a symbolic link (refused)")
    return problems
