"""A small client of the placement service (``python -m scale_pl serve``), over the standard library.

    from scale_pl.client import PlacementClient

    with PlacementClient("http://127.0.0.1:8000") as client:
        placements = client.submit({"id": "w0", "arrival": 0.0, "tasks": [...], "edges": [...]})
        placements = client.events([{"workflow": "w0", "task": "t0", "kind": "finished", "time": 2.1}])

Every placement is a dict ``{workflow, task, server, server_index, time, transfer}``. With
``retry_for`` > 0 a request that gets no answer (the service is restarting) is sent again, with the
same ``Idempotency-Key``, until that many seconds have passed: a request the service had already
journalled is answered as the first time and applied once.

One kept-alive HTTP/1.1 connection, written out here rather than taken from httpx or
``http.client``: a runtime's requests are small and sequential, and on loopback httpx's own work
was about 0.4 ms of a ~1 ms request, ``http.client``'s (two writes per request, e-mail header
parsing) about 0.3 ms. A request here is one write and a response one buffered read.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

RETRY_STATUS = (502, 503, 504)
MAX_LINE = 65536  # bytes of a status or header line


class TransportError(Exception):
    """The request got no answer: the connection was refused, reset or timed out."""


class ServiceError(Exception):
    """The service refused a request: ``status`` and the JSON ``body`` (``error``, ``message``)."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.body = status, body


class PlacementClient:
    """Calls the ``/v1`` API of one placement service.

    Args:
        url: the service, e.g. ``http://127.0.0.1:8000`` (``https://`` works too).
        token: the bearer token, if the service was started with one.
        timeout: seconds per request.
        retry_for: seconds to keep retrying a request that got no answer (0: do not retry).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0, retry_for: float = 0.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.scheme, self.host, self.port, self.prefix = parts.scheme, parts.hostname, parts.port, parts.path
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout, self.retry_for = timeout, retry_for
        self.retries = 0
        self.connection: Connection | None = None

    def __enter__(self) -> PlacementClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def submit(self, workflow: dict[str, Any], key: str | None = None) -> list[dict[str, Any]]:
        """Submit a workflow (arrival = its timestamp); the placements of its tasks ready at arrival."""
        return self._call("POST", "/v1/workflows", workflow, key)["placements"]

    def events(self, events: list[dict[str, Any]], key: str | None = None) -> list[dict[str, Any]]:
        """Report ``{workflow, task, kind: started|finished, time}`` events, in time order; the
        placements of the tasks they made ready, in decision order."""
        return self._call("POST", "/v1/events", {"events": events}, key)["placements"]

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/workflows/{workflow_id}")

    def metrics(self) -> dict[str, Any]:
        return self._call("GET", "/v1/metrics")

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/v1/info")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def _call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        headers = {**self.headers, "Idempotency-Key": key} if key else self.headers
        deadline = time.monotonic() + self.retry_for
        pause = 0.05
        while True:
            try:
                status, raw = self._send(method, self.prefix + path, data, headers)
                if status not in RETRY_STATUS or time.monotonic() >= deadline:
                    break
            except TransportError:
                # Only safe to repeat what is idempotent: reads, and writes carrying a key.
                if time.monotonic() >= deadline or (method == "POST" and key is None):
                    raise
            self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        if status >= 400:
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = raw.decode(errors="replace")
            raise ServiceError(status, detail)
        return json.loads(raw)

    def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """One request on the kept-alive connection (a new one if the service closed it)."""
        try:
            if self.connection is not None and self.connection.closed_by_peer():
                self.close()
            if self.connection is None:
                self.connection = Connection(self.scheme, self.host, self.port, self.timeout)
            status, raw, keep_alive = self.connection.request(method, path, data, headers)
        except (OSError, ValueError) as exc:
            self.close()
            raise TransportError(f"{method} {self.url}{path}: {exc.__class__.__name__}: {exc}") from exc
        if not keep_alive:
            self.close()
        return status, raw


class Connection:
    """One HTTP/1.1 connection to the service: a request is one write; a response is read by its
    ``Content-Length`` (or its chunks, or to the end where it has neither).

    Args:
        scheme: ``http`` or ``https``.
        host, port: where the service listens (port None: 80 or 443).
        timeout: seconds for connecting and for each read.
    """

    def __init__(self, scheme: str, host: str, port: int | None, timeout: float) -> None:
        self.host = host if port is None else f"{host}:{port}"
        sock = socket.create_connection((host, port or (443 if scheme == "https" else 80)), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock, self.timeout = sock, timeout
        self.reader = sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def closed_by_peer(self) -> bool:
        """True if the service closed this idle connection (its keep-alive timeout, a restart): a
        kept-alive socket with something to read before a request was sent is not usable."""
        if not select.select([self.sock], [], [], 0)[0]:
            return False
        self.sock.setblocking(False)
        try:
            self.sock.recv(1)  # b"" at the end of the stream; a stray byte is as unusable
        except (BlockingIOError, ssl.SSLWantReadError):
            return False  # only TLS housekeeping (a session ticket) was waiting
        except OSError:
            pass
        finally:
            self.sock.settimeout(self.timeout)
        return True

    def request(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        """Send one request; returns (status, body, whether the connection stays open)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        if data is not None:
            lines.append(f"Content-Length: {len(data)}")
        self.sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (data or b""))
        status_line = self.reader.readline(MAX_LINE)
        version, status, *_ = [*status_line.decode("latin-1").split(" ", 2), ""]
        if not version.startswith("HTTP/1.") or not status.isdigit():
            raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
        fields = {}
        while (line := self.reader.readline(MAX_LINE)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        keep_alive = version == "HTTP/1.1" and "close" not in fields.get("connection", "").lower()
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = self._chunks()
        elif "content-length" in fields:
            body = self._exactly(int(fields["content-length"]))
        else:
            body, keep_alive = self.reader.read(), False
        return int(status), body, keep_alive

    def _exactly(self, size: int) -> bytes:
        body = self.reader.read(size)
        if len(body) != size:
            raise ConnectionResetError(f"the response ended after {len(body)} of {size} bytes")
        return body

    def _chunks(self) -> bytes:
        parts = []
        while size := int(self.reader.readline(MAX_LINE).split(b";")[0].strip() or b"0", 16):
            parts.append(self._exactly(size))
            self._exactly(2)  # the CRLF after each chunk
        while self.reader.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(parts)
