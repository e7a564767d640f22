"""Encrypted storage of issued virtual card details (AES-256-GCM, key from configuration).

Rules (documented in docs/cards.md):
- ``TALLY_CARD_ENCRYPTION_KEY`` is 32 random bytes in base64. With it, details from the issuing
  partner (number, CVV if given, expiry) are sealed as ``version(1) | nonce(12) | ciphertext+tag``
  with the card id as associated data, so a sealed blob cannot be moved to another card.
- Without it, outside development (``TALLY_ENV`` other than ``development``) no virtual card can be
  created. In development a card without details can be created; a card *with* details is refused.
  No key is ever derived or generated silently.
- Details are never returned by the API, only their masked form.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tally.core.cards.errors import CardDetailsUndecryptable, CardKeyNotConfigured
from tally.core.cards.pan import parse_key
from tally.settings import Settings

VERSION = b"\x01"
NONCE_BYTES = 12
SETTING = "TALLY_CARD_ENCRYPTION_KEY"


class CardVault:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, card_id: str, details: dict[str, Any]) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(details, separators=(",", ":")).encode()
        return VERSION + nonce + self._aead.encrypt(nonce, plain, card_id.encode())

    def open(self, card_id: str, blob: bytes) -> dict[str, Any]:
        if blob[:1] != VERSION:
            raise CardDetailsUndecryptable(f"card {card_id}: unknown details format")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, card_id.encode())
        except InvalidTag:
            raise CardDetailsUndecryptable(
                f"card {card_id}: details cannot be decrypted with the configured {SETTING}"
            ) from None
        found: dict[str, Any] = json.loads(plain)
        return found


def vault_for_create(settings: Settings, *, has_details: bool) -> CardVault | None:
    """The vault a new card may use, or the configuration error that forbids creating it."""
    if settings.card_encryption_key:
        return CardVault(parse_key(settings.card_encryption_key, SETTING))
    if settings.environment != "development":
        raise CardKeyNotConfigured(
            f"virtual cards cannot be created: {SETTING} is not configured (required outside "
            "development). Set it to 32 random bytes in base64."
        )
    if has_details:
        raise CardKeyNotConfigured(
            f"card details cannot be stored: {SETTING} is not configured, and Tally never derives "
            "a key on its own. Set it to 32 random bytes in base64, or create the card without "
            "details."
        )
    return None
