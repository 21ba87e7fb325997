"""Where the project is: its root, its conf/ directory, and how a path the user wrote is found."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def resolve_path(path: str | Path) -> Path:
    """A path as the user wrote it: absolute, relative to the working directory, else to the project."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    candidate = PROJECT_ROOT / p
    return candidate.resolve() if candidate.exists() else p.resolve()


def display_path(path: Path) -> str:
    """A stable name for a file: relative to the project when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.as_posix()
