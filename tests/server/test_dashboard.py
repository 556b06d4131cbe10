"""The read-only dashboard (issue 14 item 6) against a real server with token auth: its JSON
API (auth fails closed, namespaces, bounds, read-only) and the page in headless Chromium
(Debian's `chromium`) while a search runs; a screenshot is saved."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from archsampler.testing import ServerThread
from archsampler.testing.fuzz_http import run_http_fuzz
from archsampler.testing.optional import skip_or_fail
from archsampler_client import Client

ADMIN, READER, OTHER = "dash-admin-tok", "dash-reader-tok", "dash-other-tok"
SPACE = {
    "params": [
        {"name": "a", "type": "int", "low": 0, "high": 15},
        {"name": "b", "type": "int", "low": 0, "high": 15},
        {"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    ]
}


def _objective(params: dict) -> float:
    return (
        1.0
        - ((params["a"] - 11) ** 2 + (params["b"] - 4) ** 2) / 450
        - (0.05 if params["act"] == "tanh" else 0.0)
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _auth_file(path: Path) -> str:
    entries = [("admin", "admin", "default", ADMIN), ("reader", "read", "default", READER),
               ("other", "write", "elsewhere", OTHER)]  # fmt: skip
    principals = [
        {"name": n, "role": r, "namespace": ns, "token_sha256": _sha256(t)}
        for n, r, ns, t in entries
    ]
    path.write_text(json.dumps({"principals": principals}))
    return str(path)


def _search(client: Client, name: str, trials: int, batch: int = 4) -> None:
    study = client.study(name)
    for _ in range(trials // batch):
        for t in study.propose(batch):
            study.report(t.id, _objective(t.params))


def _get(url: str, token: str | None = None, method: str = "GET", context=None):
    req = urllib.request.Request(url, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture()
def dash(tmp_path: Path):
    auth = _auth_file(tmp_path / "auth.json")
    with ServerThread(tmp_path / "d.db", auth_file=auth, dashboard_port=0) as srv:
        with Client(srv.target, token=ADMIN) as admin:
            admin.create_study("search", SPACE, "lanas", seed=1)
            _search(admin, "search", 40)
        yield srv, f"http://127.0.0.1:{srv.running.dashboard.port}"


def test_api_fails_closed_and_shows_the_study(dash) -> None:
    srv, base = dash
    status, headers, body = _get(base + "/")
    assert status == 200 and b"archsampler" in body  # the page itself holds no data
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    for token in (None, "wrong-token"):
        status, _, body = _get(base + "/api/studies", token)
        assert status == 401 and b"bearer token" in body
    assert _get(base + "/api/studies", ADMIN, method="POST")[0] == 405

    status, _, body = _get(base + "/api/study?name=search", READER)
    assert status == 200
    data = json.loads(body)
    with Client(srv.target, token=ADMIN) as client:
        best = client.study("search").best()
        trials = list(client.study("search").trials())
    assert data["best"]["id"] == best.id and data["best"]["value"] == pytest.approx(best.value)
    assert data["trial_count"] == len(trials) == 40 and data["counts"]["COMPLETED"] == 40
    curve = data["curve"]
    assert [p[0] for p in curve] == list(range(1, 41))
    assert all(b >= a for (_, a), (_, b) in zip(curve, curve[1:], strict=False))
    assert curve[-1][1] == pytest.approx(best.value)
    assert [t["id"] for t in data["trials"]] == sorted((t.id for t in trials), reverse=True)
    tree = data["tree"]  # lanas: the tree a restart rebuilds from these 40 trials
    leaves = [n for n in tree if n["leaf"]]
    assert tree[0]["path"] == "" and tree[0]["count"] == 40 and tree[0]["ucb"] is None
    assert len(leaves) >= 2 and sum(n["count"] for n in leaves) == 40
    assert all(n["ucb"] is not None for n in tree[1:] if n["count"])
    means = {n["path"]: n["mean"] for n in tree}
    assert means[""] == pytest.approx(sum(t.value for t in trials) / 40)
    regions = {t.region for t in trials if t.region}
    assert regions <= set(means)  # every proposal's region is a node of the tree

    assert _get(base + "/api/study?name=search", OTHER)[0] == 403  # another namespace
    status, _, body = _get(base + "/api/studies", OTHER)
    assert status == 200 and json.loads(body)["studies"] == []
    assert _get(base + "/api/study?name=nope", ADMIN)[0] == 404
    assert _get(base + "/api/study?name=a%0Ab", ADMIN)[0] == 400
    assert _get(base + "/api/study", ADMIN)[0] == 400
    assert _get(base + "/api/study?name=" + "x" * 2000, ADMIN)[0] == 400
    assert _get(base + "/api/nothing", ADMIN)[0] == 404


def test_dashboard_over_tls(tmp_path: Path, certs: Path) -> None:
    tls = {"tls_cert_file": str(certs / "server.pem"), "tls_key_file": str(certs / "server.key")}
    with ServerThread(tmp_path / "t.db", dashboard_port=0, **tls) as srv:
        port = srv.running.dashboard.port
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        status, _, body = _get(f"https://127.0.0.1:{port}/api/studies", context=context)
        assert status == 200 and json.loads(body) == {"studies": []}
        plain_http_fails = (urllib.error.URLError, ConnectionError, http.client.HTTPException)
        with pytest.raises(plain_http_fails):  # plain HTTP is not served
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=10)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        skip_or_fail("Debian's chromium is needed for the browser test (.ci/run installs it)")
    return found


def test_page_in_headless_chromium_while_a_search_runs(dash, tmp_path: Path) -> None:
    srv, base = dash
    browser = _chromium()
    stop = threading.Event()

    def search() -> None:  # the search keeps running while the browser loads and refreshes
        with Client(srv.target, token=ADMIN) as client:
            while not stop.is_set():
                _search(client, "search", 4)

    runner = threading.Thread(target=search, daemon=True)
    runner.start()
    url = f"{base}/?study=search&refresh=1#token={ADMIN}"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--virtual-time-budget=6000", "--window-size=1280,2000",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    try:
        dom = subprocess.run(
            [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180
        ).stdout
        shot = tmp_path / "dashboard.png"
        subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=180)
    finally:
        stop.set()
        runner.join(60)
    assert 'data-state="ok"' in dom, dom[-2000:]
    refreshes = int(re.search(r'data-refreshes="(\d+)"', dom).group(1))
    assert refreshes >= 2  # the page refreshed itself (every second here)
    assert "Study search" in dom and "lanas on user space" in dom
    points = int(re.search(r'data-points="(\d+)"', dom).group(1))
    assert points >= 40  # the best-so-far curve, with the trials added while loading
    tree_rows = re.search(r'<table id="tree">(.*?)</table>', dom, re.S).group(1)
    assert tree_rows.count("<tr>") >= 4 and "leaf" in tree_rows
    trial_rows = re.search(r'<table id="trials">(.*?)</table>', dom, re.S).group(1)
    assert trial_rows.count("COMPLETED") >= 40
    assert "single objective" in dom
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
    keep = os.environ.get("ARCHSAMPLER_SCREENSHOT")
    if keep:  # README's screenshot: ARCHSAMPLER_SCREENSHOT=docs/dashboard.png pytest ...
        shutil.copy(shot, keep)


def test_hostile_http_requests_are_refused(dash) -> None:
    """`bench fuzz`'s dashboard cases (seeded): no 5xx, no hang, the page still served."""
    _, base = dash
    port = int(base.rsplit(":", 1)[1])
    result = run_http_fuzz("127.0.0.1", port, 400, seed=7, token=READER)
    assert result.ok, result.incidents[:5]
    assert result.cases == 400
    assert {"200", "400", "401", "404", "405"} <= set(result.by_status)


def test_several_objectives_show_their_pareto_front(dash) -> None:
    srv, base = dash
    objectives = {"acc": "maximize", "size": "minimize"}
    with Client(srv.target, token=ADMIN) as client:
        study = client.create_study("mo", SPACE, "random", objectives=objectives)
        for t in study.propose(12):
            acc = _objective(t.params)
            study.report(t.id, values={"acc": acc, "size": float(t.params["a"] + t.params["b"])})
        front = {t.id for t in study.pareto_front()}
        done = list(study.trials())
    data = json.loads(_get(base + "/api/study?name=mo", ADMIN)[2])
    assert data["objectives"] == [{"name": "acc", "goal": "maximize"},
                                  {"name": "size", "goal": "minimize"}]  # fmt: skip
    assert {t["id"] for t in data["pareto_front"]} == front and front
    for t in done:  # brute force: on the front exactly when nothing dominates it
        v = t.values
        dominated = any(
            u.values["acc"] >= v["acc"] and u.values["size"] <= v["size"] and u.values != v
            for u in done
        )
        assert (t.id in front) == (not dominated)
    assert len(data["scatter"]) == 12


def _expected(trials: list, maximize: bool = True) -> dict:
    """The study view computed from scratch from every trial (the oracle)."""
    done = sorted(
        (t for t in trials if t.state.name == "COMPLETED" and t.value is not None),
        key=lambda t: t.number,
    )
    curve, best = [], None
    for i, t in enumerate(done, start=1):
        best = t.value if best is None else (max if maximize else min)(best, t.value)
        curve.append([i, pytest.approx(best)])
    top = max(done, key=lambda t: (t.value if maximize else -t.value, -t.id), default=None)
    counts: dict = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return {
        "curve": curve,
        "best": None if top is None else top.id,
        "counts": counts,
        "trial_count": len(trials),
        "newest": sorted((t.id for t in trials), reverse=True)[:500],
    }


def _check_view(base: str, name: str, trials: list) -> None:
    data = json.loads(_get(base + f"/api/study?name={name}")[2])
    want = _expected(trials)
    assert data["curve"] == want["curve"]
    assert (data["best"] or {}).get("id") == want["best"]
    assert {k: v for k, v in data["counts"].items() if v} == want["counts"]
    assert data["trial_count"] == want["trial_count"]
    assert [t["id"] for t in data["trials"]] == want["newest"]


def test_a_study_view_follows_the_study_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view is kept up to date from what finished since the last one, read in pages
    (7 here, so one commit's reports span pages): after more reports (out of number order,
    failures, a new best) and after the study is deleted and created again under its name,
    it equals the view computed from scratch from every trial."""
    from archsampler.dashboard import views

    monkeypatch.setattr(views, "PAGE", 7)
    with ServerThread(tmp_path / "v.db", dashboard_port=0) as srv:
        base = f"http://127.0.0.1:{srv.running.dashboard.port}"
        with Client(srv.target) as client:
            study = client.create_study("grow", SPACE, "lanas", seed=3)
            first = study.propose(30)
            with study.session() as ops:  # one trainer: its reports group into commits
                for t in first[10:]:
                    ops.report(t.id, value=_objective(t.params))
            _check_view(base, "grow", list(study.trials()))
            for t in reversed(first[:8]):  # lower numbers finish later
                study.report(t.id, value=_objective(t.params) - 0.5)
            study.report(first[8].id, failed="out of memory")
            study.report(first[9].id, value=5.0)  # the new best
            more = study.propose(12)
            for t in more[:6]:
                study.report(t.id, value=_objective(t.params))
            _check_view(base, "grow", list(study.trials()))
            tree = json.loads(_get(base + "/api/study?name=grow")[2])["tree"]
            finished = [t for t in study.trials() if t.state.name in ("COMPLETED", "FAILED")]
            assert tree[0]["count"] == len([t for t in finished if t.value is not None])

            study.delete()
            again = client.create_study("grow", SPACE, "random", seed=4)
            for t in again.propose(5):
                again.report(t.id, value=-1.0)
            _check_view(base, "grow", list(again.trials()))
            assert json.loads(_get(base + "/api/study?name=grow")[2])["tree"] == []


def _curve_by_hand(numbers: list, values: list, maximize: bool, limit: int) -> list:
    """The best-so-far curve written out plainly: every point, then every improvement
    kept first, the last point, and evenly spaced others."""
    points, improved, best = [], [], None
    for i, (_, value) in enumerate(sorted(zip(numbers, values, strict=True)), start=1):
        if best is None or (value > best if maximize else value < best):
            best = value
            improved.append(len(points))
        points.append([i, best])
    if len(points) <= limit:
        return points
    keep = set(improved[: limit // 2]) | {len(points) - 1}
    step = len(points) / (limit - len(keep))
    keep.update(int(k * step) for k in range(limit - len(keep)))
    return [points[i] for i in sorted(keep)][:limit]


@pytest.mark.parametrize("n", [0, 1, 7, 2_000, 2_001, 9_000])
@pytest.mark.parametrize("maximize", [True, False])
def test_the_curve_is_thinned_as_written_out_by_hand(n: int, maximize: bool) -> None:
    import random

    from archsampler.dashboard import views

    rng = random.Random(n)
    numbers = rng.sample(range(3 * n + 1), n)  # completion order is not number order
    values = [rng.random() for _ in range(n)]
    curve = views.best_curve(numbers, values, maximize)
    assert curve == _curve_by_hand(numbers, values, maximize, views.MAX_CURVE)
    assert len(curve) <= views.MAX_CURVE
