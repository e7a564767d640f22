"""Operator dashboard: server-rendered pages over the ledger (read-only)."""
