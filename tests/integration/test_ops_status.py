"""/healthz, /status (the pool's scoreboard) and /metrics (Prometheus text)."""

import math

from ecapi import parse_metrics


def requests_total(text):
    """{(route, status): count} of ec_requests_total."""
    out = {}
    for name, labels, value in parse_metrics(text):
        if name == "ec_requests_total":
            assert "route" in labels and "status" in labels, labels
            key = (labels["route"], labels["status"])
            assert key not in out, "duplicate series %s" % (key,)
            out[key] = value
    return out


def get_metrics(api):
    r = api("GET", "/metrics")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"]
    return r.text


def test_healthz_ok(api):
    r = api("GET", "/healthz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"
    assert r.headers.get("X-Request-Id")


def test_status_lists_the_pool(api, stack):
    r = api("GET", "/status")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    s = r.json()
    assert isinstance(s["respawns"], int) and s["respawns"] >= 0
    assert "listen_queue" in s
    workers = s["workers"]
    assert len(workers) == stack.workers, workers
    live = set(stack.worker_pids())
    assert {w["pid"] for w in workers} == live, (workers, live)
    for w in workers:
        assert isinstance(w["state"], str) and w["state"]
        assert isinstance(w["requests"], int) and w["requests"] >= 0
        assert "route" in w
        assert isinstance(w["audit_queued"], int) and w["audit_queued"] >= 0
    assert s["audit_orphaned"] == 0  # no worker of this stack died with records queued


def test_status_counts_requests(api):
    before = sum(w["requests"] for w in api("GET", "/status").json()["workers"])
    for _ in range(10):
        assert api("GET", "/api/v1/version").status_code == 200
    after = sum(w["requests"] for w in api("GET", "/status").json()["workers"])
    # ten version requests and the first /status itself
    assert after - before >= 11, (before, after)


def test_metrics_count_requests_by_route_and_status(api):
    before = requests_total(get_metrics(api))
    for _ in range(7):
        assert api("GET", "/api/v1/version").status_code == 200
    for _ in range(3):
        assert api("GET", "/api/v1/no-such-thing").status_code == 404
    text = get_metrics(api)
    after = requests_total(text)
    grown_200 = [k for k in after if k[1] == "200" and after[k] - before.get(k, 0) >= 7]
    assert grown_200, "no route's 200 count grew by 7: %s -> %s" % (before, after)
    grown_404 = [k for k in after if k[1] == "404" and after[k] - before.get(k, 0) >= 3]
    assert grown_404, "no 404 count grew by 3"
    assert "ec_worker_respawns_total" in {n for n, _, _ in parse_metrics(text)}


def test_metrics_histogram_is_cumulative(api):
    for _ in range(3):
        api("GET", "/api/v1/version")
    text = get_metrics(api)
    series = {}
    for name, labels, value in parse_metrics(text):
        if name == "ec_request_duration_seconds_bucket":
            le = labels.pop("le")
            key = tuple(sorted(labels.items()))
            series.setdefault(key, []).append((math.inf if le == "+Inf" else float(le), value))
    assert series, "no ec_request_duration_seconds_bucket samples"
    for key, buckets in series.items():
        buckets.sort()
        assert buckets[-1][0] == math.inf, "series %s has no +Inf bucket" % (key,)
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), "buckets of %s are not cumulative: %s" % (key, buckets)
    assert any(b[-1][1] >= 3 for b in series.values())
