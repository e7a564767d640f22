"""Errors raised by virtual cards and card-linked offers (each names a fact, with a stable code)."""

from __future__ import annotations

from tally.core.errors import Conflict, NotFound, Unavailable, ValidationFailed


class CardFieldInvalid(ValidationFailed):
    """A field of a card, offer, person or card transaction request breaks its rule."""

    code = "CARD_VALIDATION_ERROR"


class VirtualCardNotFound(NotFound):
    """No virtual card has this id."""

    code = "VCARD_NOT_FOUND"


class AuthorizationNotFound(NotFound):
    """No authorization with this id belongs to the card."""

    code = "AUTH_NOT_FOUND"


class CardStateConflict(Conflict):
    """The card's state does not allow the requested change (a closed card stays closed)."""

    code = "VCARD_INVALID_STATE"


class AuthorizationNotPending(Conflict):
    """A capture or reverse targeted an authorization that is no longer pending."""

    code = "AUTH_NOT_PENDING"


class CaptureExceedsAuthorization(ValidationFailed):
    """A capture asked for more than the authorization holds (over-capture is not supported)."""

    code = "AUTH_CAPTURE_EXCEEDS_AMOUNT"


class CardKeyNotConfigured(Unavailable):
    """A card operation needs a secret key from configuration that is not set."""

    code = "CARD_KEY_NOT_CONFIGURED"


class CardDetailsUndecryptable(Unavailable):
    """Stored card details cannot be decrypted with the configured key (wrong or rotated key)."""

    code = "CARD_DETAILS_UNDECRYPTABLE"
