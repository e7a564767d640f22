"""Tally: a ledger-backed loyalty and card-rewards platform with a Blnk-compatible ledger API.

Embedded use (no HTTP server): ``async with tally.Ledger.open(url) as ledger: ...`` (see
``tally.embedded``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Ledger", "Transfer", "__version__"]

if TYPE_CHECKING:
    from tally.embedded import Ledger, Transfer


def __getattr__(name: str) -> Any:
    # Imported on first use, so ``import tally`` stays cheap (the CLI, the settings ...).
    if name in ("Ledger", "Transfer"):
        from tally import embedded

        return getattr(embedded, name)
    raise AttributeError(f"module 'tally' has no attribute {name!r}")
