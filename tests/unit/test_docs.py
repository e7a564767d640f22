"""The docs stay true to the code: every error code the API can answer with is documented."""

from __future__ import annotations

from pathlib import Path

from tally.api.errors import error_catalog

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_error_code_is_in_the_api_docs_with_its_status() -> None:
    text = DOCS.read_text()
    missing = [
        f"{code} ({status})"
        for code, status, _ in error_catalog()
        if f"| `{code}` | {status} |" not in text
    ]
    assert not missing, (
        "docs/api.md lacks these codes; regenerate the table with "
        f"`python -m tally.api.errors`: {missing}"
    )
