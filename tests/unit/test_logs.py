"""JSON log lines: one object per line, with extras, without uvicorn's coloured copy."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest

from tally.api.app import create_app
from tally.logs import JsonFormatter, log_config
from tally.services import Services
from tally.settings import Settings


def _line(**extra: object) -> dict[str, object]:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %d", (7,), None)
    for key, value in extra.items():
        setattr(record, key, value)
    decoded: dict[str, object] = json.loads(JsonFormatter().format(record))
    return decoded


def test_extras_are_kept_and_the_coloured_copy_is_dropped() -> None:
    line = _line(color_message="Started \x1b[36m%d\x1b[0m", batch=12)
    assert line["message"] == "Started 7" and line["logger"] == "uvicorn.error"
    assert line["batch"] == 12
    assert "color_message" not in line


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put every logger ``log_config`` touches back as it was (the test's stderr goes away)."""
    names = ["", *log_config()["loggers"]]
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate)
        for name in names
        for logger in [logging.getLogger(name or None)]
    }
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name or None)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.mark.usefixtures("restored_logging")
def test_every_logger_writes_json_once_the_app_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Building the app leaves logging as ``log_config`` set it: Litestar used to turn the root
    logger to plain text at INFO, so libraries' lines (an httpx line per webhook delivery) came
    out unstructured and below the configured level."""
    logging.config.dictConfig(log_config("warning"))
    create_app(Services.build(Settings(database_url=f"sqlite:///{tmp_path / 'logs.db'}")))
    logging.getLogger("httpx").info('HTTP Request: POST https://example.com "HTTP/1.1 204"')
    logging.getLogger("some.library").info("below the level")
    logging.getLogger("some.library").warning("library %s", "warning")
    logging.getLogger("tally.relay").warning("relay warning")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["logger"], x["message"]) for x in lines] == [
        ("some.library", "library warning"),
        ("tally.relay", "relay warning"),
    ]


def test_httpx_request_lines_stay_quiet_even_at_debug() -> None:
    loggers = log_config("debug")["loggers"]
    assert loggers["httpx"]["level"] == loggers["httpcore"]["level"] == "WARNING"
    assert log_config("error")["loggers"]["httpx"]["level"] == "ERROR"
