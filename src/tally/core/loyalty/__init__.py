"""Loyalty rules: programs, earning, clawback, lots (pure; the store posts them on the ledger)."""
