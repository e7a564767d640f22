"""Virtual cards on the ledger: a card is a balance, an authorization is an inflight hold.

Pure rules only: card states and their transitions, spending limits and merchant locks, the
approve-or-decline decision, and the shape of the hold posted on the ledger.
"""
