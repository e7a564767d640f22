"""The double-entry ledger: pure rules for amounts, splits, balances, holds and refunds."""
