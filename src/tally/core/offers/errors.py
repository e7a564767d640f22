"""Errors of card-linked offers (each names a fact, with a stable code)."""

from __future__ import annotations

from tally.core.cards.errors import CardFieldInvalid
from tally.core.errors import Conflict, NotFound


class OfferNotFound(NotFound):
    """No offer has this id."""

    code = "OFFER_NOT_FOUND"


class PersonNotFound(NotFound):
    """No person has this id."""

    code = "PERSON_NOT_FOUND"


class LinkedCardNotFound(NotFound):
    """No linked card has this id (or, for the network feed, this number)."""

    code = "CARD_NOT_FOUND"


class CardOfferNotFound(NotFound):
    """No card-offer link has this id on the card."""

    code = "CARD_OFFER_NOT_FOUND"


class CardTransactionNotFound(NotFound):
    """No card transaction has this id or network id."""

    code = "CARD_TRANSACTION_NOT_FOUND"


class CvvNotAccepted(CardFieldInvalid):
    """A CVV was sent to ``POST /cards``: Tally never receives, stores or logs one."""

    code = "CARD_CVV_NOT_ACCEPTED"


class CardAlreadyEnrolled(Conflict):
    """The card number is already enrolled by another person."""

    code = "CARD_ALREADY_ENROLLED"


class OfferNotLinkable(Conflict):
    """The offer has ended (or the card has expired), so the card cannot be linked to it."""

    code = "OFFER_NOT_LINKABLE"


class OfferStateConflict(Conflict):
    """The offer's status does not allow the change (an ended offer stays ended)."""

    code = "OFFER_INVALID_STATE"


class NetworkIdReused(Conflict):
    """A card transaction with this network id was already received with different content."""

    code = "CTX_NETWORK_ID_REUSED"


class OfferLimitReached(Conflict):
    """Raised inside a reward's transaction when a per-card or total limit was just reached.

    The reward is rolled back and the card transaction is recorded as not matched.
    """

    code = "OFFER_LIMIT_REACHED"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
