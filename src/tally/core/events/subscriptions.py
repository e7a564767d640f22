"""Which events an endpoint wants, and which URLs may receive them.

Event type filters: ``*`` (everything), ``<prefix>.*`` (``transaction.*``, ``loyalty.*``) or an
exact type (``transaction.applied``). URLs must be absolute ``https://`` URLs; plain ``http://`` is
accepted only for a loopback host (``localhost``, ``127.0.0.1``, ``::1``) and only where loopback
webhooks are allowed (local development). Private, link-local and loopback IP literals are refused
otherwise, so an endpoint cannot be pointed at the server's own network.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from ipaddress import ip_address
from urllib.parse import urlsplit

from .errors import InvalidEventTypes, InvalidWebhookUrl

TYPE_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")
MAX_URL_LENGTH = 2048
MAX_TYPES = 100
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32

LEDGER_EVENT_TYPES = (
    "ledger.created",
    "ledger.updated",
    "ledger.metadata_updated",
    "balance.created",
    "balance.updated",
    "balance.metadata_updated",
    "identity.created",
    "identity.updated",
    "identity.metadata_updated",
    "transaction.applied",
    "transaction.inflight",
    "transaction.committed",
    "transaction.voided",
    "transaction.refunded",
    "transaction.scheduled",
    "transaction.rejected",
    "transaction.metadata_updated",
    "balance.monitor",
)


def normalize_event_types(values: Iterable[str] | None) -> list[str]:
    """The cleaned filter list (default ``["*"]``); raises on an unusable entry."""
    if values is None:
        return ["*"]
    cleaned: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InvalidEventTypes("event_types: every entry must be a non-empty string")
        text = value.strip().lower()
        if text != "*" and not TYPE_PATTERN.match(text):
            raise InvalidEventTypes(
                f"event_types: {value!r} is not an event type; use '*', a prefix such as "
                "'transaction.*', or a type such as 'transaction.applied'"
            )
        if text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        raise InvalidEventTypes("event_types: give at least one type, or '*' for every event")
    if len(cleaned) > MAX_TYPES:
        raise InvalidEventTypes(f"event_types: at most {MAX_TYPES} entries")
    return ["*"] if "*" in cleaned else cleaned


def wants(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _is_internal_literal(host: str) -> bool:
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_url(url: str, *, allow_loopback: bool) -> str:
    """The URL if an endpoint may use it; raises :class:`InvalidWebhookUrl` with the reason."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidWebhookUrl("url: cannot be blank.")
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"url: longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"url: {text!r} is not a valid URL ({exc})") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidWebhookUrl(f"url: {text!r} must be an absolute https:// URL")
    if parts.username or parts.password:
        raise InvalidWebhookUrl("url: credentials in the URL are not allowed")
    loopback = _is_loopback(host)
    if loopback and allow_loopback:
        return text
    if loopback:
        raise InvalidWebhookUrl(
            f"url: loopback address {host} is only allowed in local development "
            "(TALLY_ALLOW_LOOPBACK_WEBHOOKS=true)"
        )
    if parts.scheme != "https":
        raise InvalidWebhookUrl(f"url: {text!r} must use https://")
    if _is_internal_literal(host):
        raise InvalidWebhookUrl(f"url: {host} is a private or reserved address")
    return text


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
