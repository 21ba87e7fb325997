"""Tell people about a failed or refused night: apprise URLs from `ops.notify` (conf/ops/).

apprise (a Prefect dependency) speaks e-mail, ntfy, Matrix, Teams, Slack, plain JSON webhooks and
more through one URL scheme each; on-premise targets (an internal SMTP relay, a self-hosted ntfy) keep
the notification inside the hospital. A notification that cannot be sent is reported, never raised:
it must not turn a completed night into a failed one or hide the original error.
"""

from __future__ import annotations

import logging

log = logging.getLogger("rungs.notify")

EVENT_TYPES = {"failed": "failure", "crashed": "failure", "refused": "warning", "promoted": "success"}


def notify(urls: list[str], event: str, title: str, body: str) -> list[str]:
    """Send ``title``/``body`` to every URL; returns the problems (an empty list when all were sent)."""
    if not urls:
        return []
    import apprise

    problems = []
    for url in urls:
        sender = apprise.Apprise()
        if not sender.add(url):
            problems.append(f"{_redact(url)}: not a URL apprise understands")
            continue
        try:
            ok = sender.notify(title=title, body=body, notify_type=EVENT_TYPES.get(event, "info"))
        except Exception as exc:  # noqa: BLE001  a broken plugin must not mask the night's own outcome
            ok, detail = False, f" ({type(exc).__name__}: {exc})"
        else:
            detail = ""
        if not ok:
            problems.append(f"{_redact(url)}: sending failed{detail}")
    for problem in problems:
        log.warning("notification not delivered: %s", problem)
    return problems


def _redact(url: str) -> str:
    """The scheme and host only: notification URLs often carry tokens or passwords."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}{sep}{host}/…" if sep else "(unparsable URL)"
