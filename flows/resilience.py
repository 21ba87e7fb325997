"""Per-stage retries, backoff and timeouts (conf/ops/) as Prefect task options, and failure notification hooks.

Only transient errors are retried: the exception classes and OSError errno names of `ops.retry_on`
(a timed-out attempt, a dropped connection, a stale NFS handle, a busy device). Bad input and bad
configuration (rungs' InputError, ConfigError) fail at once: retrying them would only waste the night.
A retried stage starts again from its checkpoint in the store's scratch area (cpt and sft), and a
stage that fails for good publishes nothing, so a failed night never reaches the promotion gate and
`production` stays where it was.

Timeouts are Prefect's `timeout_seconds`. A task called in the flow's main thread (the `stage` flow) is
interrupted by SIGALRM, even inside a blocking call; a task submitted to the thread pool (the stages of
`specialize`, which run side by side) is interrupted between Python instructions, which is why the
store's lock waits poll instead of blocking (rungs.store); a hung read there ends the attempt only when
it returns. Either way a stuck attempt ends and the next one can start.
"""

from __future__ import annotations

import builtins
import errno
import importlib
import logging
from typing import Any

from rungs.kernel import ConfigError, InputError, OpsConfig, StageOps


def _resolve(names: list[str]) -> tuple[tuple[type[BaseException], ...], frozenset[int]]:
    classes, errnos = [], set()
    for name in names:
        if name.isupper() and isinstance(getattr(errno, name, None), int):
            errnos.add(getattr(errno, name))
            continue
        module, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr) if module else getattr(builtins, name)
        except (ImportError, AttributeError):
            cls = None
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise ConfigError(
                f"ops.retry_on: {name!r} is neither an exception class (builtin, or module.Class) nor an errno name such as ESTALE"
            )
        classes.append(cls)
    return tuple(classes), frozenset(errnos)


def is_transient(exc: BaseException, retry_on: list[str]) -> bool:
    """True when ``exc`` is one of the configured transient errors (never for bad input or bad config)."""
    if isinstance(exc, (InputError, ConfigError)):
        return False
    classes, errnos = _resolve(retry_on)
    if classes and isinstance(exc, classes):
        return True
    return isinstance(exc, OSError) and exc.errno in errnos


def retry_delays(ops: OpsConfig, retries: int) -> list[float]:
    """Exponential backoff: retry_delay_s, then × backoff for each further retry."""
    return [round(ops.retry_delay_s * ops.backoff**i, 3) for i in range(retries)]


def task_options(kind: str, ops: OpsConfig) -> dict[str, Any]:
    """Prefect task options for one stage: retries, their delays and jitter, the retry condition, the timeout."""
    stage = ops.stages.get(kind) or StageOps()
    _resolve(ops.retry_on)  # a typo fails before the night starts, not at its first error
    retry_on = list(ops.retry_on)

    # Prefect calls this only when it is a plain function (inspect.isfunction), hence the closure.
    def transient(task, task_run, state) -> bool:
        exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
        return isinstance(exc, BaseException) and is_transient(exc, retry_on)

    return {
        "retries": stage.retries,
        "retry_delay_seconds": retry_delays(ops, stage.retries) or 0,
        "retry_jitter_factor": ops.jitter or None,
        "retry_condition_fn": transient,
        "timeout_seconds": stage.timeout_s,
    }


class _ThreadTimeoutNotice(logging.Filter):
    """Drops Prefect's notice that a timeout in a worker thread cannot interrupt a blocking call: it is said
    once per stage of every night, and the waits that matter here (the store's locks) poll, so the timeout
    does reach them (a hung read still ends the attempt only when it returns, as the module docstring says)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "running in a worker thread" not in str(record.msg)


logging.getLogger("prefect.task_runs").addFilter(_ThreadTimeoutNotice())
