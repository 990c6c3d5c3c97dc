"""structlog configuration, in one place: JSON lines for journald, a console format on a terminal.

structlog is imported when the first event is logged: a no-op `monop apply` logs nothing
and should not pay for the import.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

_EVENT_PAST = {
    "create": "container_created",
    "recreate": "container_recreated",
    "start": "container_started",
    "unpause": "container_unpaused",
    "restart": "container_restarted",
    "remove": "container_removed",
    "complete": "container_replacement_completed",
}
_wanted: dict[str, Any] = {"json": None, "level": "info"}
_configured = False


def configure(*, json: bool | None = None, level: str = "info") -> None:
    """Log to stderr at `level`: JSON when not on a terminal (or when asked), readable otherwise."""
    global _configured
    _wanted.update(json=json, level=level)
    _configured = False


def _ensure() -> None:
    global _configured
    if _configured:
        return
    import structlog

    as_json = not sys.stderr.isatty() if _wanted["json"] is None else _wanted["json"]
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
            _scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[_wanted["level"].upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def _scrub(_logger: Any, _method: str, event: Any) -> Any:
    """No log line carries a secret: every value the desired state holds, nor a URL's password."""
    from monop import secrets

    return secrets.scrub(event)


def action_event(kind: str, ok: bool) -> str:
    """`container_recreated` on success, `container_recreate_failed` otherwise: events as past facts."""
    return _EVENT_PAST[kind] if ok else f"container_{kind}_failed"


def get(**context: Any) -> Any:
    """A logger bound to `context` (resource=..., ...)."""
    _ensure()
    import structlog

    return structlog.get_logger("monop").bind(**context)
