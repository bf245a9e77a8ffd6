"""The client's transport rules: what is retried, what is not, and kept-alive connections the
service closed (its keep-alive timeout, a restart) are replaced without a retry."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from scale_pl.client import PlacementClient, ServiceError, TransportError


def free_url() -> str:
    """A URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class OneShot(BaseHTTPRequestHandler):
    """Answers each request on its own connection, then hangs up without saying so (HTTP/1.1,
    no ``Connection: close``): the client must notice before reusing the socket. ``/busy`` is a
    503 the first two times, ``/bad`` a 422."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []
    hung_up: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer()

    def _answer(self) -> None:
        OneShot.seen.append(self.path)
        if self.path == "/v1/chunked":  # the body in chunks, with a chunk extension and a trailer
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b'5;x=1\r\n{"a":\r\n3\r\n[1]\r\n1\r\n}\r\n0\r\nX-Trailer: y\r\n\r\n')
            self.close_connection = True
            return
        if self.path == "/v1/unsized":  # no length at all: the body runs to the end of the connection
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"b": 2}')
            self.close_connection = True
            return
        status, body = 200, {"status": "ok", "placements": []}
        if self.path == "/v1/bad":
            status, body = 422, {"error": "invalid", "message": "events[0]: nope"}
        elif self.path == "/v1/health" and OneShot.seen.count("/v1/health") <= 2 and self.headers.get("X-Busy"):
            status = 503
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def finish(self) -> None:
        super().finish()
        self.connection.shutdown(socket.SHUT_RDWR)  # hang up now, so that the test knows when it has
        OneShot.hung_up.set()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def one_shot():
    OneShot.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), OneShot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_closed_kept_alive_connection_is_replaced_without_a_retry(one_shot):
    with PlacementClient(one_shot) as client:
        for _ in range(3):  # an unkeyed POST is never retried: each must go through on a fresh socket
            assert client.events([{"workflow": "w", "task": "t", "kind": "started", "time": 0.0}]) == []
            assert OneShot.hung_up.wait(10)
            OneShot.hung_up.clear()
        assert client.health() == {"status": "ok", "placements": []}
        assert client.retries == 0
    assert OneShot.seen == ["/v1/events"] * 3 + ["/v1/health"]


def test_chunked_and_unsized_bodies(one_shot):
    with PlacementClient(one_shot) as client:
        OneShot.hung_up.clear()
        assert client._call("GET", "/v1/chunked") == {"a": [1]}
        assert OneShot.hung_up.wait(10)  # the hang-up must reach the client before it reuses the socket
        assert client._call("GET", "/v1/unsized") == {"b": 2}
        assert client.connection is None  # an unsized body ends the connection
        assert client.health()["status"] == "ok"


def test_503_is_retried_and_4xx_is_an_error(one_shot):
    with PlacementClient(one_shot, retry_for=10) as client:
        client.headers["X-Busy"] = "1"
        assert client.health()["status"] == "ok"
        assert client.retries == 2
        with pytest.raises(ServiceError, match="HTTP 422: events\\[0\\]: nope") as caught:
            client._call("POST", "/v1/bad", {}, key="k")
        assert caught.value.status == 422 and caught.value.body["error"] == "invalid"


def test_no_answer_is_retried_only_when_it_is_safe():
    url = free_url()
    with PlacementClient(url, retry_for=0.3) as client:
        with pytest.raises(TransportError, match="ConnectionRefusedError"):
            client.submit({"id": "w"})  # no key: the service might have applied it, so no retry
        assert client.retries == 0
        with pytest.raises(TransportError):
            client.submit({"id": "w"}, key="submit:w")  # a key makes a repeat harmless: retried until 0.3 s
        keyed = client.retries
        assert keyed > 0
        with pytest.raises(TransportError):
            client.metrics()  # a read is always safe to repeat
        assert client.retries > keyed


def test_a_bad_url_is_refused():
    with pytest.raises(ValueError, match="not an http"):
        PlacementClient("127.0.0.1:8000")
