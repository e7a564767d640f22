"""Structured JSON logs: one JSON object per line, for every logger of the process."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# uvicorn passes a terminal-coloured copy of some messages; in a JSON line it is only noise.
_SKIPPED = _STANDARD | {"color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _SKIPPED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Libraries that log every request they make at INFO: a webhook delivery would be a line each.
# Tally logs what matters about them itself (a failed delivery, with its decision).
_CHATTY = ("httpx", "httpcore")


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict (also given to uvicorn).

    The root logger writes JSON too, at the same level, so that what libraries log comes out in
    the same lines; the app must not configure logging again (``create_app`` tells Litestar not
    to, which would otherwise turn the root logger to plain text at INFO)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers: dict[str, Any] = {
        name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
        for name in ("tally", "uvicorn", "uvicorn.error", "alembic")
    }
    loggers["uvicorn.access"] = {"handlers": ["json"], "level": "WARNING", "propagate": False}
    quiet = max(logging.WARNING, logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    for name in _CHATTY:
        loggers[name] = {"level": logging.getLevelName(quiet)}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": loggers,
        "root": {"handlers": ["json"], "level": level.upper()},
    }
