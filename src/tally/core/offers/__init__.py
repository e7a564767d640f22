"""Card-linked offers (Pay with Points): offers, persons, linked cards, matching and rewards.

Pure rules only: what an offer is, how a reward is computed, which offer (if any) a card
transaction earns and why not, and how much of a reward a refund takes back.
"""
