"""Progress bars for long work: one factory so every stage looks the same and tests can silence them."""

from __future__ import annotations

import sys
from typing import Callable

from tqdm.auto import tqdm

Progress = Callable[..., tqdm]


def progress_factory(enabled: bool | None = None) -> Progress:
    """A `progress(iterable=None, total=None, desc=...)` that returns a tqdm bar.

    Enabled by default only on a terminal, so logs and CI output stay readable.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()

    def progress(iterable=None, **kwargs) -> tqdm:
        kwargs.setdefault("dynamic_ncols", True)
        kwargs.setdefault("leave", False)
        return tqdm(iterable, disable=not enabled, **kwargs)

    return progress
