"""Where an artifact came from: the code (git commit, installed packages) and the run (host, user)."""

from __future__ import annotations

import copy
import functools
import getpass
import os
import platform
import socket
import subprocess
from importlib import metadata

from ._paths import PROJECT_ROOT

# Distributions whose versions shape what a stage produces (import names differ for some: faiss-cpu).
PACKAGES = (
    "rungs",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "datasets",
    "faiss-cpu",
    "pyarrow",
    "hydra-core",
    "prefect",
    "sentence-transformers",
    "bitsandbytes",
    "tokenizers",
)


def _git(*args: str) -> str | None:
    """stdout of `git -C PROJECT_ROOT ARGS`, or None when git or the repository is unavailable."""
    try:
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout


def _packages() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "rungs":  # running from a checkout that is not pip-installed
                from rungs import __version__

                versions[name] = __version__
            continue
        except Exception:  # a broken distribution must never stop a publish
            continue
    return versions


@functools.lru_cache(maxsize=1)
def _code_info() -> dict:
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if sha is not None else None
    return {
        "git_sha": sha.strip() if sha else None,
        "dirty": (bool(status.strip()) if status is not None else None),
        "packages": _packages(),
        "python": platform.python_version(),
    }


def code_info() -> dict:
    """The code that produced an artifact: git_sha, dirty, packages {name: version}, python.

    Computed once per process; never raises (fields are None when git or the repository is missing).
    """
    return copy.deepcopy(_code_info())


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers) and no LOGNAME/USER
        return os.environ.get("USER") or str(os.getuid())


def run_info() -> dict:
    """The process that produced an artifact: host, user, pid."""
    return {"host": socket.gethostname(), "user": _user(), "pid": os.getpid()}
