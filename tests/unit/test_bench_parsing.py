"""The benchmark harness reads wrk's summary correctly (its figures go into the README)."""

from __future__ import annotations

from bench.common import parse_wrk_summary

SUMMARY = """Running 10s test @ http://127.0.0.1:5001
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    20.12ms   10.10ms  70.00ms   70.50%
    Req/Sec     1.40k   200.00     2.00k    68.99%
  Latency Distribution
     50%   19.79ms
     75%   25.00ms
     90%   30.00ms
     99%   41.15ms
  28000 requests in 10.00s, 5.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2800.00
"""


def test_percentiles_come_from_the_distribution_block_not_the_stdev_column() -> None:
    found = parse_wrk_summary(SUMMARY)
    assert found["latency_p50"] == "19.79ms"  # not "Req/Sec" after "70.50%"
    assert found["latency_p99"] == "41.15ms"  # not the "68.99%" column
    assert found["wrk_requests"] == 28000 and found["non_2xx"] == 3
    assert found["wrk_requests_per_second"] == 2800.0
