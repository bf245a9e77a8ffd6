"""The placement service without HTTP: one ordered loop, the journal, idempotency and metrics.

Every request goes through :meth:`Service.handle` under one lock, so two clients can never
interleave inside a decision, and the journal's order is the order requests were applied in.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict, deque
from typing import Any

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.serve.engine import Engine
from scale_pl.serve.errors import RequestError
from scale_pl.serve.journal import Journal

KINDS = ("submit", "events")
LATENCY_WINDOW = 100_000  # latest decisions and requests the latency percentiles are taken over


def canonical(body: Any) -> str:
    """The JSON text the journal stores and idempotency keys are compared on (floats exact)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)


class Service:
    """The engine behind a lock, with a write-ahead journal and idempotent retries.

    Args:
        engine: a fresh engine.
        journal: where accepted requests go before they are applied; its entries are applied
            first (a restart). None: the state lives in memory only.
        info: what ``GET /v1/info`` describes (servers, catalogue, policy).
        cache_size: idempotency keys remembered (the oldest are forgotten first).
    """

    def __init__(
        self, engine: Engine, journal: Journal | None = None, info: dict | None = None, cache_size: int = 100_000
    ) -> None:
        self.engine, self.journal, self.info, self.cache_size = engine, journal, info or {}, cache_size
        self.lock = threading.Lock()
        self.responses: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self.request_seconds: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.decision_seconds: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.recovered = 0
        if journal is not None:
            for i, (kind, key, text) in enumerate(journal.entries()):
                try:
                    self._apply(kind, json.loads(text), key, text, write=False)
                except RequestError as exc:  # only a journal written by another version could do this
                    raise ScaleError(
                        f"{journal.path}: request {i + 1} of the journal no longer applies: {exc}"
                    ) from None
                self.recovered += 1
            self.decision_seconds.clear()

    def handle(self, kind: str, body: Any, key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Check, journal and apply one request; returns (response, whether it was a repeat).

        A request repeated with an ``Idempotency-Key`` already seen gets the first answer again
        and changes nothing; the same key with another body is a 409.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        try:
            text = canonical(body)
        except ValueError:
            raise RequestError(400, "malformed_json", "NaN and Infinity are not JSON numbers") from None
        with self.lock:
            began = time.perf_counter()
            if key is not None and key in self.responses:
                digest, response = self.responses[key]
                if digest != _digest(kind, text):
                    raise RequestError(
                        409, "idempotency_key_reused", f"Idempotency-Key {key!r} was used for another request", key
                    )
                return response, True
            response = self._apply(kind, body, key, text, write=True)
            self.request_seconds.append(time.perf_counter() - began)
            return response, False

    def _apply(self, kind: str, body: Any, key: str | None, text: str, write: bool) -> dict[str, Any]:
        engine = self.engine
        checked = engine.check_workflow(body) if kind == "submit" else engine.check_events(body)
        if write and self.journal is not None:
            self.journal.append(kind, key, text)  # write-ahead: durable before it is applied or answered
        placements = engine.submit(checked) if kind == "submit" else engine.apply_events(checked)
        self.decision_seconds.extend(engine.decision_seconds)
        engine.decision_seconds.clear()
        response = {"placements": [p.to_dict() for p in placements], "clock": engine.clock}
        if key is not None:
            self.responses[key] = (_digest(kind, text), response)
            if len(self.responses) > self.cache_size:
                self.responses.popitem(last=False)
        return response

    def workflow(self, wid: str) -> dict[str, Any]:
        with self.lock:
            return self.engine.workflow_state(wid)

    def metrics(self) -> dict[str, Any]:
        """Decisions, workflows, ART of the completed ones, decision and request latency percentiles."""
        with self.lock:
            engine = self.engine
            response = np.array([w["response_time"] for w in engine.completed.values()], dtype=float)
            return {
                "clock": engine.clock,
                "decisions": engine.decisions,
                "workflows": {
                    "submitted": len(engine.index) + len(engine.completed),
                    "in_system": len(engine.index),
                    "completed": len(engine.completed),
                },
                "art": float(response.mean()) if response.size else None,
                "response_time_percentiles": _percentiles(response, 1.0),
                "decision_latency_ms": _percentiles(np.array(self.decision_seconds), 1000.0),
                "request_latency_ms": _percentiles(np.array(self.request_seconds), 1000.0),
                "recovered_requests": self.recovered,
            }


def _digest(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()


def _percentiles(values: np.ndarray, scale: float) -> dict[str, float] | None:
    if values.size == 0:
        return None
    p50, p90, p99 = np.percentile(values, [50, 90, 99]) * scale
    return {"count": int(values.size), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "max": float(values.max() * scale)}  # fmt: skip
