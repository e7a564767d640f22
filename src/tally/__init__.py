"""Tally: a ledger-backed loyalty and card-rewards platform with a Blnk-compatible ledger API."""

__version__ = "0.1.0"
