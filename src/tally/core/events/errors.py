"""Errors raised by the events, webhooks, monitors and scheduler capabilities."""

from __future__ import annotations

from tally.core.errors import Conflict, NotFound, ValidationFailed


class EventNotFound(NotFound):
    """No event has this id."""

    code = "EVT_NOT_FOUND"


class WebhookEndpointNotFound(NotFound):
    """No webhook endpoint has this id (or it was deleted)."""

    code = "WEBHOOK_ENDPOINT_NOT_FOUND"


class DeliveryNotFound(NotFound):
    """No webhook delivery has this id."""

    code = "WEBHOOK_DELIVERY_NOT_FOUND"


class InvalidWebhookUrl(ValidationFailed):
    """A webhook URL is not an absolute HTTPS URL (or a loopback URL where those are allowed)."""

    code = "WEBHOOK_URL_INVALID"


class InvalidEventTypes(ValidationFailed):
    """An endpoint's event type filter is empty or names something that is not an event type."""

    code = "WEBHOOK_EVENT_TYPES_INVALID"


class EndpointDisabled(Conflict):
    """The operation needs an enabled endpoint and this one is disabled."""

    code = "WEBHOOK_ENDPOINT_DISABLED"


class InvalidMonitor(ValidationFailed):
    """A balance monitor's condition names an unknown field or operator, or a value that is not
    exact at its precision."""

    code = "GEN_VALIDATION_ERROR"
