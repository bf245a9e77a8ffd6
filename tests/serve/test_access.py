"""Who may call the service: loopback by default, a token beyond it, and a request size limit."""

from __future__ import annotations

import httpx
import pytest

from scale_pl.__main__ import main
from scale_pl.errors import ScaleError
from scale_pl.serve.app import create_app
from scale_pl.serve.server import TOKEN_ENV, BackgroundServer, build_service, check_host

TOKEN = "s3cret-token"
FLOW = {"id": "w0", "arrival": 0.0, "tasks": [{"id": "t0", "type": "llm_plan", "work": 1.0}]}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_a_non_loopback_host_without_a_token_is_refused(host, setup16, capsys, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    rc = main(["serve", "--cluster", str(setup16[1]), "--policy", "rank_eft", "--host", host])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith(f"error: refusing to listen on {host} without a token")
    assert "Traceback" not in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host):
    check_host(host, None)


def test_a_token_from_the_environment_or_the_option_allows_any_host():
    check_host("0.0.0.0", TOKEN)
    with pytest.raises(ScaleError):
        check_host("0.0.0.0", "")


@pytest.fixture(scope="module")
def guarded(setup16):
    service = build_service(setup16[1], "rank_eft")
    with BackgroundServer(create_app(service, TOKEN, max_body=4096)) as server:
        yield server.url


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/info"), ("GET", "/v1/metrics"), ("GET", "/v1/workflows/w0"), ("POST", "/v1/workflows"),
     ("POST", "/v1/events"), ("GET", "/docs"), ("GET", "/openapi.json")],
)  # fmt: skip
def test_every_endpoint_but_health_needs_the_token(guarded, method, path):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = httpx.request(method, guarded + path, headers=headers, json=FLOW)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_health_is_open_and_the_token_opens_the_rest(guarded):
    assert httpx.get(guarded + "/v1/health").json() == {"status": "ok"}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(guarded + "/v1/info", headers=auth).json()["policy"] == "rank_eft"
    placed = httpx.post(guarded + "/v1/workflows", headers=auth, json=FLOW).json()["placements"]
    assert [(p["workflow"], p["task"]) for p in placed] == [("w0", "t0")]


def test_a_body_over_the_limit_is_a_413(guarded):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = {**FLOW, "id": "big", "pattern": "x" * 5000}
    response = httpx.post(guarded + "/v1/workflows", headers=auth, json=big)
    assert response.status_code == 413 and "4096 bytes" in response.json()["message"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"id": "big", "pattern": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = httpx.post(guarded + "/v1/workflows", headers=auth, content=chunks())
    assert response.status_code == 413
    metrics = httpx.get(guarded + "/v1/metrics", headers=auth).json()
    assert metrics["workflows"]["submitted"] <= 1  # nothing of the big ones got in


def test_the_client_sends_the_token(guarded):
    from scale_pl.client import PlacementClient, ServiceError

    with PlacementClient(guarded, token=TOKEN) as client:
        assert client.info()["information"] == "expected"
    with PlacementClient(guarded) as client, pytest.raises(ServiceError, match="HTTP 401"):
        client.metrics()
