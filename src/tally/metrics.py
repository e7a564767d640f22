"""Prometheus metrics (served at ``/metrics``), defined once; modules import what they record."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "tally_http_requests_total", "HTTP requests answered", ["method", "resource", "status"]
)
HTTP_LATENCY = Histogram(
    "tally_http_request_seconds",
    "Time to answer an HTTP request",
    ["resource"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ENGINE_BATCH_SIZE = Histogram(
    "tally_engine_batch_operations",
    "Operations applied per database transaction by the posting engine",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
ENGINE_OPERATIONS = Counter(
    "tally_engine_operations_total", "Posting engine operations by outcome", ["outcome"]
)
UNLOCKED_BATCHES = Counter(
    "tally_engine_unlocked_batches_total",
    "Batches tried in two trips (read, checked write), by outcome: applied, or sent the locked "
    "way because a balance moved, a reference was taken, a watched balance changed, the batch "
    "before it on the same balances did not commit (behind), or an error",
    ["outcome"],
)

_HTTP_CHILDREN: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def record_http(method: str, resource: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency; the labelled children are looked up once per
    (method, resource, status), not per request (``labels()`` takes a lock and builds a key)."""
    key = (method, resource, status)
    children = _HTTP_CHILDREN.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, resource, str(status)),
            HTTP_LATENCY.labels(resource),
        )
        _HTTP_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


PRUNED_ROWS = Counter(
    "tally_pruned_rows_total",
    "Rows removed by retention (events, deliveries, attempts, jobs, idempotency_keys)",
    ["table"],
)
WEBHOOK_ATTEMPTS = Counter(
    "tally_webhook_attempts_total",
    "Webhook delivery attempts by result: succeeded (2xx), http_status (any other answer), "
    "no_response (timeout, refused or broken connection)",
    ["result"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "tally_webhook_attempt_seconds",
    "Time from sending a webhook to its answer (or to giving up on it)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_DELIVERIES_FINISHED = Counter(
    "tally_webhook_deliveries_finished_total",
    "Webhook deliveries that reached a final state: succeeded, failed (retries used up) or "
    "cancelled (endpoint disabled or deleted)",
    ["state"],
)
RELAY_LAG = Gauge(
    "tally_relay_lag_seconds",
    "Age of the oldest event the relay handed on in its last round (0 when it found none)",
)
JOBS = Counter(
    "tally_jobs_total",
    "Scheduled jobs run, by outcome: done, retried (failed, tried again later) or failed "
    "(attempts used up)",
    ["outcome"],
)
