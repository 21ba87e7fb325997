"""The ``Store`` a caller opens: the core (refs, aliases, builds, publishing) with lineage, verification
and retention mixed in, each kept in its own module."""

from __future__ import annotations

from ._core import StoreCore
from ._lineage import Lineage
from ._retention import Retention
from ._verify import Verification


class Store(Lineage, Verification, Retention, StoreCore):
    """The artifact store rooted at ``root``, else ``$RUNGS_STORE``, else ``./artifacts``."""
