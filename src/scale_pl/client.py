"""A small client of the placement service (``python -m scale_pl serve``), over httpx.

    from scale_pl.client import PlacementClient

    with PlacementClient("http://127.0.0.1:8000") as client:
        placements = client.submit({"id": "w0", "arrival": 0.0, "tasks": [...], "edges": [...]})
        placements = client.events([{"workflow": "w0", "task": "t0", "kind": "finished", "time": 2.1}])

Every placement is a dict ``{workflow, task, server, server_index, time, transfer}``. With
``retry_for`` > 0 a request that gets no answer (the service is restarting) is sent again, with the
same ``Idempotency-Key``, until that many seconds have passed: a request the service had already
journalled is answered as the first time and applied once.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

RETRYABLE = (httpx.TransportError,)  # no answer at all: refused, reset, timed out
RETRY_STATUS = (502, 503, 504)


class ServiceError(Exception):
    """The service refused a request: ``status`` and the JSON ``body`` (``error``, ``message``)."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.body = status, body


class PlacementClient:
    """Calls the ``/v1`` API of one placement service.

    Args:
        url: the service, e.g. ``http://127.0.0.1:8000``.
        token: the bearer token, if the service was started with one.
        timeout: seconds per request.
        retry_for: seconds to keep retrying a request that got no answer (0: do not retry).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0, retry_for: float = 0.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.retry_for = retry_for
        self.retries = 0

    def __enter__(self) -> PlacementClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

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
        headers = {"Idempotency-Key": key} if key else None
        deadline = time.monotonic() + self.retry_for
        pause = 0.05
        while True:
            try:
                response = self.http.request(method, path, json=body, headers=headers)
                if response.status_code not in RETRY_STATUS:
                    break
            except RETRYABLE:
                # Only safe to repeat what is idempotent: reads, and writes carrying a key.
                if time.monotonic() >= deadline or (method == "POST" and key is None):
                    raise
            else:
                if time.monotonic() >= deadline:
                    break
            self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        if response.status_code >= 400:
            try:
                detail = response.json()
            except ValueError:
                detail = response.text
            raise ServiceError(response.status_code, detail)
        return response.json()
