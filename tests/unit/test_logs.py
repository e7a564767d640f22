"""JSON log lines: one object per line, with extras, without uvicorn's coloured copy."""

from __future__ import annotations

import json
import logging

from tally.logs import JsonFormatter


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
