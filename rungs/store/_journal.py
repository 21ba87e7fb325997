"""The store's one journal: append-only JSON Lines under `_log/`, every entry hash-chained to the one before.

Three files, one chain:

- `events.jsonl`: publishes, alias moves and removals, written by the store itself under the store lock;
- `runs.jsonl`: the start and end of every flow run (rungs.ops);
- `decisions.jsonl`: promotion gate decisions and rollbacks (rungs.ops).

Every record gets when (`at`, UTC), who (`user`) and where (`host`), and three chain fields: `seq` (1, 2,
... across all three files), `prev` (the hash of entry `seq - 1`; 64 zeros for the first) and `hash`,
the sha256 of the log's name, a newline and the entry's canonical JSON without `hash`. So an edited,
removed, reordered or moved entry breaks the chain (`check`), and the head (`seq`, `hash`) stands for the
whole history: signed with an Ed25519 key the hospital holds (`sign`, `_log/signatures.jsonl`), it can be
checked with the public key alone, and no history up to a signed head can be rewritten unnoticed.

An entry is written as one line and fsynced before `append` returns. Appends to one log serialise on its
lock (`_locks/<log>.lock`; the events log uses the store lock, which its writers already hold); the chain
itself on `_locks/journal.lock`, taken innermost for the few milliseconds of one append. A line torn by a
crash mid-write was never part of the chain: it is skipped on read, and `check` notes it.

Entries written before the chain existed (no `hash`) are *legacy*: read as before, noted by `check`, and
chained in place by `rechain` (`rungs journal rechain`), which refuses a journal whose chain is broken.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rungs.kernel import StoreError, run_info, utc_now

from ._artifact import canonical_json, fsync_dir, jsonable
from ._locks import exclusive

EVENTS, RUNS, DECISIONS = "events", "runs", "decisions"
LOGS = (EVENTS, RUNS, DECISIONS)
_LOCKS = {EVENTS: "store"}  # the store's own writers (publish, aliases, gc) hold the store lock already
GENESIS = "0" * 64
CHAIN_FIELDS = ("seq", "prev", "hash")
SIGNATURES = "signatures"
SIGNED = "rungs.journal/1"  # what a signature covers: f"{SIGNED}\n{seq}\n{hash}"
KEY_ENV = "RUNGS_JOURNAL_KEY"  # a private key file: every append signs the new head with it
_TAIL = 64 * 1024


def entry_hash(log: str, entry: dict) -> str:
    """The hash of a chained entry: sha256 of its log's name, a newline and its canonical JSON without `hash`."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(f"{log}\n{canonical_json(body)}".encode()).hexdigest()


def signed_message(seq: int, digest: str) -> bytes:
    return f"{SIGNED}\n{seq}\n{digest}".encode()


@dataclass
class Line:
    """One line of a log file as read back: its entry, or why it is unusable."""

    log: str
    number: int
    entry: dict | None
    torn: bool = False  # not JSON, or not an object

    @property
    def chained(self) -> bool:
        return self.entry is not None and all(k in self.entry for k in CHAIN_FIELDS)

    @property
    def where(self) -> str:
        return f"_log/{self.log}.jsonl line {self.number}"


@dataclass
class JournalReport:
    """What `Journal.check` found: `problems` break the history (verify fails); `notes` do not."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    entries: int = 0
    legacy: int = 0
    head: dict | None = None  # {"seq", "hash"} of the newest chained entry
    signed: dict | None = None  # the newest signed head, when one was checked
    entries_by_log: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "notes": self.notes, "entries": self.entries,
                "legacy": self.legacy, "head": self.head, "signed": self.signed}


class Journal:
    """The logs under `<store>/_log/`, one hash chain across them."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, log: str) -> Path:
        return self.root / "_log" / f"{log}.jsonl"

    @contextlib.contextmanager
    def locked(self, log: str) -> Iterator[None]:
        """Hold the log's lock: appends to it, and whatever the caller decides under it, serialise."""
        name = _LOCKS.get(log, log)
        locks = self.root / "_locks"
        locks.mkdir(parents=True, exist_ok=True)
        with exclusive(locks / f"{name}.lock", what=f"the {log} log"):
            yield

    @contextlib.contextmanager
    def _chain_lock(self) -> Iterator[None]:
        locks = self.root / "_locks"
        locks.mkdir(parents=True, exist_ok=True)
        with exclusive(locks / "journal.lock", what="the journal"):
            yield

    def append(self, log: str, record: dict, *, locked: bool = False) -> dict:
        """Append `record` with when, who, where and its chain fields; `locked=True` when the caller holds
        the log's lock. Returns the entry as written."""
        if log not in LOGS:
            raise StoreError(f"no journal log {log!r}; logs: {', '.join(LOGS)}")
        info = run_info()
        body = jsonable({k: v for k, v in record.items() if k not in CHAIN_FIELDS}, log)
        body.update({"at": utc_now(), "user": info["user"], "host": info["host"]})
        path = self.path(log)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.nullcontext() if locked else self.locked(log), self._chain_lock():
            head = self._head()
            entry = {**body, "seq": head["seq"] + 1, "prev": head["hash"]}
            entry["hash"] = entry_hash(log, entry)
            self._write_line(path, json.dumps(entry))  # ASCII: a lone surrogate from argv cannot fail the write
            key = os.environ.get(KEY_ENV)
            if key:
                self._sign_locked(Path(key).expanduser(), {"seq": entry["seq"], "hash": entry["hash"]})
        return entry

    def _write_line(self, path: Path, line: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size and _last_byte(path) != b"\n":
                line = "\n" + line  # a line torn by a crash stays on its own line, not glued to this one
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _head(self) -> dict:
        """{"seq", "hash"} of the newest chained entry in any log (seq 0 and GENESIS when none)."""
        best = {"seq": 0, "hash": GENESIS}
        for log in LOGS:
            entry = self._last_chained(log)
            if entry is not None and isinstance(entry.get("seq"), int) and entry["seq"] > best["seq"]:
                best = {"seq": entry["seq"], "hash": entry["hash"]}
        return best

    def _last_chained(self, log: str) -> dict | None:
        """The last chained entry of one log, read from the end of its file (growing chunks)."""
        path = self.path(log)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if path.is_symlink():
            raise StoreError(f"{path}: a symbolic link (refused); run `rungs verify`")
        chunk = _TAIL
        with open(path, "rb") as fh:
            while True:
                start = max(0, size - chunk)
                fh.seek(start)
                data = fh.read(size - start)
                lines = data.split(b"\n")
                if start > 0:
                    lines = lines[1:]  # the first piece may be the tail of a longer line
                for raw in reversed(lines):
                    entry = _parse(raw)
                    if entry is not None and all(k in entry for k in CHAIN_FIELDS):
                        return entry
                if start == 0:
                    return None
                chunk *= 4

    # -- reading -----------------------------------------------------------------------------------

    def lines(self, log: str) -> list[Line]:
        """Every non-empty line of one log, parsed (a symbolic link in place of the file is refused)."""
        path = self.path(log)
        if path.is_symlink():
            raise StoreError(f"{path}: a symbolic link (refused)")
        if not path.is_file():
            return []
        out = []
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                entry = _parse(raw)
                out.append(Line(log, number, entry, torn=entry is None))
        return out

    def read(self, log: str) -> list[dict]:
        """Every record of the log, oldest first (a line torn by a crash mid-write is skipped)."""
        try:
            return [line.entry for line in self.lines(log) if line.entry is not None]
        except StoreError:
            return []  # a log replaced by a symbolic link is not read; `rungs verify` says so

    # -- checking ----------------------------------------------------------------------------------

    def check(self, public_keys: list[bytes] | None = None) -> JournalReport:
        """Walk the chain: every hash recomputes, every `prev` names the entry before, `seq` has no gap;
        with public keys, every signed head verifies and is in the chain. One line per finding."""
        report = JournalReport()
        chained: dict[int, tuple[Line, str]] = {}
        for log in LOGS:
            try:
                lines = self.lines(log)
            except StoreError as exc:
                report.problems.append(str(exc).replace(str(self.root) + os.sep, ""))
                continue
            report.entries_by_log[log] = [line.entry for line in lines if line.entry is not None]
            began, last_seq = False, 0
            for line in lines:
                if line.torn:
                    report.notes.append(f"{line.where}: not a JSON object (a write torn by a crash, or an edit; "
                                        "the chain shows whether an entry is missing)")
                    continue
                report.entries += 1
                if not line.chained:
                    if began:
                        report.problems.append(f"{line.where}: an entry without a hash after the chain began "
                                               "(added or stripped by hand)")
                    else:
                        report.legacy += 1
                    continue
                began = True
                entry = line.entry
                seq = entry.get("seq")
                if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
                    report.problems.append(f"{line.where}: seq {seq!r} is not a whole number >= 1")
                    continue
                try:
                    actual = entry_hash(log, entry)
                except (TypeError, ValueError):
                    actual = None
                if actual != entry.get("hash"):
                    report.problems.append(f"{line.where} (seq {seq}): edited after it was written (its content no "
                                           "longer hashes to its hash)")
                if seq <= last_seq:
                    report.problems.append(f"{line.where} (seq {seq}): out of order (after seq {last_seq})")
                last_seq = max(last_seq, seq)
                if seq in chained:
                    report.problems.append(f"{line.where}: seq {seq} appears twice (also {chained[seq][0].where})")
                    continue
                chained[seq] = (line, entry.get("hash"))
        if chained:
            top = max(chained)
            missing = [s for s in range(1, top + 1) if s not in chained]
            if missing:
                shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                report.problems.append(f"journal: entries with seq {shown} are missing (removed, or cut from a file)")
            for seq in sorted(chained):
                line, _ = chained[seq]
                want = GENESIS if seq == 1 else chained.get(seq - 1, (None, None))[1]
                if want is not None and line.entry.get("prev") != want:
                    report.problems.append(f"{line.where} (seq {seq}): does not follow entry {seq - 1} (the chain is "
                                           "broken: an entry before it was changed or replaced)")
            report.head = {"seq": top, "hash": chained[top][1]}
        if report.legacy:
            report.notes.append(f"journal: {_n(report.legacy, 'entry', 'entries')} written before the journal was hash-chained are "
                                "not tamper-evident; `rungs journal rechain` chains them")
        self._check_signatures(report, chained, public_keys)
        return report

    def signatures(self) -> list[Line]:
        path = self.path(SIGNATURES)
        if path.is_symlink():
            raise StoreError(f"{path}: a symbolic link (refused)")
        return self.lines(SIGNATURES)

    def _check_signatures(self, report: JournalReport, chained: dict, public_keys: list[bytes] | None) -> None:
        try:
            sigs = self.signatures()
        except StoreError as exc:
            report.problems.append(str(exc).replace(str(self.root) + os.sep, ""))
            return
        if not public_keys:
            if sigs:
                report.notes.append(f"journal: {len(sigs)} signed head(s) not checked: give the public key "
                                    "(--public-key or $RUNGS_JOURNAL_PUBLIC_KEY)")
            return
        keys = [_public_key(k) for k in public_keys]
        newest = None
        for line in sigs:
            s = line.entry or {}
            seq, digest = s.get("seq"), s.get("hash")
            try:
                signature = base64.b64decode(str(s.get("signature", "")), validate=True)
            except ValueError:
                signature = b""
            if not isinstance(seq, int) or not isinstance(digest, str) or not any(
                _verifies(k, signature, signed_message(seq, digest)) for k in keys
            ):
                report.problems.append(f"{line.where}: the signature does not verify with the given public key")
                continue
            have = chained.get(seq)
            if have is None:
                report.problems.append(f"{line.where}: signed head seq {seq} is not in the journal (history up to a "
                                       "signed head was cut)")
            elif have[1] != digest:
                report.problems.append(f"{line.where}: signed head seq {seq} has hash {digest[:12]}, the journal's "
                                       f"entry {seq} has {str(have[1])[:12]} (history up to a signed head was rewritten)")
            elif newest is None or seq > newest["seq"]:
                newest = {"seq": seq, "hash": digest, "at": s.get("at"), "key": s.get("key")}
        if newest is None:
            if not report.problems:
                report.problems.append("journal: no head signed with the given public key (`rungs journal sign`)")
            return
        report.signed = newest
        after = (report.head or {"seq": 0})["seq"] - newest["seq"]
        if after > 0:
            report.notes.append(f"journal: {_n(after, 'entry', 'entries')} after the newest signed head (seq {newest['seq']}, "
                                f"{newest.get('at')}) are not covered by a signature yet")

    # -- signing -----------------------------------------------------------------------------------

    def sign(self, private_key: Path) -> dict:
        """Sign the current head with an Ed25519 private key (PEM); appended to `_log/signatures.jsonl`."""
        with self._chain_lock():
            head = self._head()
            if head["seq"] == 0:
                raise StoreError("the journal has no chained entry to sign yet")
            return self._sign_locked(Path(private_key), head)

    def _sign_locked(self, private_key: Path, head: dict) -> dict:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise StoreError(f"{private_key}: not an unencrypted PEM private key ({type(exc).__name__})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{private_key}: not an Ed25519 key (`rungs journal keygen` makes one)")
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        record = {
            "seq": head["seq"], "hash": head["hash"], "at": utc_now(), "key": key_id(public),
            "signature": base64.b64encode(key.sign(signed_message(head["seq"], head["hash"]))).decode(),
        }
        path = self.path(SIGNATURES)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_line(path, json.dumps(record))
        return record

    # -- migration ---------------------------------------------------------------------------------

    def rechain(self) -> dict:
        """Chain the legacy entries (written before the chain existed): every entry of every log gets `seq`,
        `prev` and `hash` again, legacy ones first (in `at` order), then the chained ones in their order.

        Refused when the chain as it stands has a problem (rechaining would launder it) or when heads were
        signed (their hashes would no longer be in the journal). The files are replaced atomically; the
        old ones are kept as `_log/pre-rechain-<time>/`. Returns {"legacy", "entries", "kept"}.
        """
        with contextlib.ExitStack() as stack:
            for log in (DECISIONS, EVENTS, RUNS):  # the order writers nest them in: a promotion holds decisions, then the store
                stack.enter_context(self.locked(log))
            stack.enter_context(self._chain_lock())
            report = self.check()
            if report.problems:
                raise StoreError(f"the journal's chain is broken, refusing to rechain it: {report.problems[0]}")
            if report.legacy == 0:
                return {"legacy": 0, "entries": report.entries, "kept": None}
            if self.signatures():
                raise StoreError("heads of this journal were signed: rechaining would orphan their signatures")
            items: list[tuple[tuple, str, dict]] = []
            for log in LOGS:
                for i, entry in enumerate(report.entries_by_log.get(log, [])):
                    if all(k in entry for k in CHAIN_FIELDS):
                        items.append(((1, entry["seq"], 0, ""), log, entry))
                    else:
                        items.append(((0, 0, 0, str(entry.get("at", ""))), log, entry))
            items.sort(key=lambda t: t[0])
            out: dict[str, list[str]] = {log: [] for log in LOGS}
            prev = GENESIS
            for seq, (_, log, entry) in enumerate(items, 1):
                new = {**{k: v for k, v in entry.items() if k not in CHAIN_FIELDS}, "seq": seq, "prev": prev}
                new["hash"] = prev = entry_hash(log, new)
                out[log].append(json.dumps(new))
            stamp = utc_now().replace(":", "").replace("-", "")
            kept = self.root / "_log" / f"pre-rechain-{stamp}"
            kept.mkdir(parents=True)
            for log in LOGS:
                path = self.path(log)
                if not path.exists():
                    continue
                tmp = path.with_name(f".{log}.rechain.tmp")
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write("".join(line + "\n" for line in out[log]))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.link(path, kept / path.name)
                os.replace(tmp, path)
            fsync_dir(self.root / "_log")
            return {"legacy": report.legacy, "entries": len(items), "kept": str(kept)}


# ---------------------------------------------------------------------------------------------- keys


def key_id(public_raw: bytes) -> str:
    """A short name of a public key: the first 16 hex digits of the sha256 of its raw bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def generate_keys(directory: Path) -> tuple[Path, Path]:
    """A new Ed25519 key pair as PEM files: `journal-key.pem` (private, mode 0600) and `journal-key.pub.pem`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "journal-key.pem", directory / "journal-key.pub.pem"
    for path in (private, public):
        if path.exists():
            raise StoreError(f"{path}: already exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def load_public_key(path: Path) -> bytes:
    """The raw 32 bytes of an Ed25519 public key in a PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise StoreError(f"{path}: not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _public_key(raw: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)


def _verifies(key, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _parse(raw: bytes) -> dict | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
