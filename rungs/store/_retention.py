"""Retention (`rungs gc`): what no alias needs, found (dry run) or removed, every removal an event.

A mixin of ``Store``. Kept: every alias target and everything upstream of it, and everything newer than
the cutoff with its inputs. Also removed: staging directories in ``_tmp/`` that no live process holds
(builds that were killed) and ``_scratch/`` checkpoints of fingerprints already published.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from rungs.kernel import StoreError

from ._artifact import Artifact, fsync_dir, parse_time, tree_bytes
from ._locks import exclusive, is_held

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> _dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``0s`` -> timedelta."""
    m = _AGE_RE.match(str(text))
    if not m:
        raise StoreError(f"--older-than {text!r}: expected a number and a unit s, m, h, d or w (e.g. 30d, 12h)")
    return _dt.timedelta(**{_UNITS[m[2]]: float(m[1])})


class Retention:
    """``garbage`` (what would go) and ``collect`` (remove it)."""

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
                fsync_dir(self.root)
                removed_staging = [p for p in plan.staging if self._remove_dead_staging(p, plan.sizes.get(str(p), 0))]
                removed_scratch = [p for p in plan.scratch if self._remove_published_scratch(p, plan.sizes.get(str(p), 0))]
        finally:
            for holder, stack in trash:
                shutil.rmtree(holder, ignore_errors=True)
                stack.close()
        return replace(plan, staging=removed_staging, scratch=removed_scratch, deleted=True)

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
            created = parse_time(art.created_at)
            if art.id not in kept and (created is None or created > cutoff):
                keep_upstream(art, "newer than the cutoff" if created else "no valid created_at")
        doomed = [a for a in arts if a.id not in kept]
        sizes = {str(a.path): tree_bytes(a.path) for a in doomed}

        staging, other = [], []
        tmp = self.root / "_tmp"
        for d in sorted(p for p in tmp.iterdir() if p.is_dir()) if tmp.is_dir() else []:
            state = self._staging_state(d, cutoff)
            if state == "dead":
                staging.append(d)
                sizes[str(d)] = tree_bytes(d)
            else:
                other.append((d, state))

        scratch = []
        published = {a.fingerprint for a in arts if a.fingerprint}
        sdir = self.root / "_scratch"
        for d in sorted(p for p in sdir.iterdir() if p.is_dir()) if sdir.is_dir() else []:
            if d.name in published:
                scratch.append(d)
                sizes[str(d)] = tree_bytes(d)
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
        held = is_held(self.root / "_locks" / f"tmp-{path.name}.lock")
        if held is None:
            # no lock file: made by code older than staging locks, or in the instant before mkdir
            try:
                mtime = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.UTC)
            except FileNotFoundError:
                return "gone"
            return "dead" if mtime <= cutoff else "unlocked but newer than the cutoff"
        return "a build in progress holds it" if held else "dead"

    def _remove_dead_staging(self, path: Path, size: int) -> bool:
        lock = self.root / "_locks" / f"tmp-{path.name}.lock"
        try:
            with contextlib.ExitStack() as holding:
                with contextlib.suppress(FileNotFoundError):  # no lock file: made before staging locks
                    holding.enter_context(exclusive(lock, wait=False, create=False))
                if not path.exists():
                    return False
                shutil.rmtree(path, ignore_errors=True)
                with contextlib.suppress(OSError):
                    lock.unlink()
        except StoreError:
            return False  # its owner is alive after all
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
