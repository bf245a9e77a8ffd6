"""Bad requests: a 4xx with a JSON body naming the field or the id, and no trace in the state.

Each case runs against two fresh services fed the same valid history; only the first also gets
the bad request. Both then get the same valid requests and must answer them identically, as if
the bad one had never come (and the journal holds no trace of it).
"""

from __future__ import annotations

import copy
import json
import warnings

import pytest

from scale_pl.serve.app import create_app
from scale_pl.serve.server import build_service

with warnings.catch_warnings():  # starlette asks for httpx2 but works with httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CLUSTER = """
classes:
  gpu: {speeds: {llm_plan: 2.0, llm_generate: 2.0, code_exec: 1.0, retrieval: 1.0, tool_api: 1.0}, slots: 2, count: 2}
  cpu: {speeds: {code_exec: 0.5, retrieval: 0.5, tool_api: 1.0}, slots: 1, count: 2}
network: {latency: 0.005, bandwidth_mbps: 100.0}
"""
# t0 -> t1, t0 -> t2, (t1, t2) -> t3
FLOW = {
    "id": "w0",
    "arrival": 1.0,
    "tasks": [
        {"id": "t0", "type": "llm_plan", "work": 2.0},
        {"id": "t1", "type": "tool_api", "work": 0.3},
        {"id": "t2", "type": "retrieval", "work": 0.1},
        {"id": "t3", "type": "llm_generate", "work": 6.0},
    ],
    "edges": [["t0", "t1"], ["t0", "t2"], ["t1", "t2"], ["t2", "t3"]],
}


def ev(task: str, kind: str, time: float, workflow: str = "w0") -> dict:
    return {"workflow": workflow, "task": task, "kind": kind, "time": time}


HISTORY = [
    ("/v1/workflows", FLOW),
    ("/v1/events", {"events": [ev("t0", "started", 1.0), ev("t0", "finished", 3.0)]}),
]  # after it: t1 placed at 3.0, t2 and t3 waiting
AFTER = [
    ("/v1/events", {"events": [ev("t1", "started", 3.5), ev("t1", "finished", 4.0)]}),
    ("/v1/workflows", {**FLOW, "id": "w1", "arrival": 4.0}),
    ("/v1/events", {"events": [ev("t2", "started", 4.5), ev("t2", "finished", 5.0)]}),
]


def flow(**changes) -> dict:
    spec = copy.deepcopy(FLOW)
    spec.update(changes)
    return spec


def task_changed(i: int, **changes) -> dict:
    spec = copy.deepcopy(FLOW)
    spec["id"] = "w9"
    spec["arrival"] = 5.0
    spec["tasks"][i].update(changes)
    return spec


CASES = {
    "malformed workflow JSON": ("/v1/workflows", b'{"id": "w9", "arrival": ', 400, ["malformed JSON", "line 1"]),
    "malformed events JSON": ("/v1/events", b"[{]", 400, ["malformed JSON"]),
    "NaN is not JSON": ("/v1/events", b'{"events": [{"workflow": "w0", "task": "t1", "kind": "started", "time": NaN}]}',
                        400, ["NaN"]),
    "negative work": ("/v1/workflows", task_changed(1, work=-1.0), 422, ["task 't1'", "work", "minimum"]),
    "missing arrival": ("/v1/workflows", {k: v for k, v in FLOW.items() if k != "arrival"}, 422, ["'arrival'"]),
    "unexpected key": ("/v1/workflows", flow(id="w9", arival=3.0), 422, ["'arival'"]),
    "no tasks": ("/v1/workflows", flow(id="w9", tasks=[]), 422, ["tasks", "empty"]),
    "string work": ("/v1/workflows", task_changed(0, work="2"), 422, ["task 't0'", "work", "number"]),
    "cycle": ("/v1/workflows", flow(id="w9", arrival=5.0, edges=[*FLOW["edges"], ["t3", "t0"]]), 422,
              ["workflow 'w9'", "cycle"]),
    "unknown task type": ("/v1/workflows", task_changed(2, type="telepathy"), 422, ["task 't2'", "'telepathy'"]),
    "type no server runs": ("/v1/workflows", task_changed(3, type="vision"), 422, ["task 't3'", "'vision'"]),
    "edge to an unknown task": ("/v1/workflows", flow(id="w9", arrival=5.0, edges=[["t0", "t7"]]), 422, ["'t7'"]),
    "duplicate task id": ("/v1/workflows", task_changed(1, id="t0"), 422, ["duplicate task id 't0'"]),
    "duplicate workflow id": ("/v1/workflows", flow(arrival=5.0), 409, ["workflow 'w0'", "already submitted"]),
    "arrival before the clock": ("/v1/workflows", flow(id="w9", arrival=2.0), 409, ["arrival 2.0", "clock 3.0"]),
    "no events": ("/v1/events", {"events": []}, 422, ["events", "empty"]),
    "bad event kind": ("/v1/events", {"events": [ev("t1", "exploded", 3.5)]}, 422, ["kind", "'exploded'"]),
    "event without time": ("/v1/events", {"events": [{"workflow": "w0", "task": "t1", "kind": "started"}]}, 422,
                           ["'time'"]),
    "unknown workflow": ("/v1/events", {"events": [ev("t1", "started", 3.5, workflow="w7")]}, 422, ["'w7'"]),
    "unknown task": ("/v1/events", {"events": [ev("t8", "started", 3.5)]}, 422, ["'t8'"]),
    "event older than the clock": ("/v1/events", {"events": [ev("t1", "started", 2.5)]}, 409,
                                   ["events[0]", "2.5", "clock 3.0"]),
    "events out of order": ("/v1/events", {"events": [ev("t1", "started", 3.5), ev("t1", "finished", 3.4)]}, 409,
                            ["events[1]", "3.4", "events[0].time"]),
    "finish of a task never placed": ("/v1/events", {"events": [ev("t3", "finished", 3.5)]}, 409,
                                      ["task 't3'", "never placed"]),
    "start of a task never placed": ("/v1/events", {"events": [ev("t2", "started", 3.5)]}, 409,
                                     ["'t2'", "never placed"]),
    "duplicate event": ("/v1/events", {"events": [ev("t0", "finished", 3.0)]}, 409, ["'t0'", "already reported"]),
    "duplicate event in one request": ("/v1/events", {"events": [ev("t1", "started", 3.5), ev("t1", "started", 3.5)]},
                                       409, ["events[1]", "'t1'", "already reported"]),
    "finish without a start": ("/v1/events", {"events": [ev("t1", "finished", 3.5)]}, 409, ["'t1'", "never started"]),
    "events not in an object": ("/v1/events", [ev("t1", "started", 3.5)], 422, ["body", "object"]),
    "valid events then a bad one": ("/v1/events", {"events": [ev("t1", "started", 3.5), ev("t1", "finished", 4.0),
                                                             ev("t9", "started", 4.0)]}, 422, ["events[2]", "'t9'"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "c.yaml"
    path.write_text(CLUSTER)
    return path


def fresh(cluster, state=None) -> TestClient:
    service = build_service(cluster, "rank_eft", state=state)
    client = TestClient(create_app(service))
    client.service = service
    for path, body in HISTORY:
        assert client.post(path, json=body).status_code == 200
    return client


def send(client: TestClient, path: str, body):
    if isinstance(body, bytes):
        return client.post(path, content=body, headers={"content-type": "application/json"})
    return client.post(path, json=body)


@pytest.mark.parametrize("case", CASES)
def test_rejected_without_a_trace(case, cluster, tmp_path):
    path, body, status, fragments = CASES[case]
    hit, untouched = fresh(cluster, state=tmp_path / "state.db"), fresh(cluster)
    journalled = len(hit.service.journal)
    response = send(hit, path, body)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) >= {"error", "message"}
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error["message"])
    assert len(hit.service.journal) == journalled
    for path, body in AFTER:  # the next valid requests behave as if the bad one never came
        a, b = send(hit, path, body), send(untouched, path, body)
        assert a.status_code == b.status_code == 200, a.text
        assert a.json() == b.json()
    assert hit.get("/v1/workflows/w0").json() == untouched.get("/v1/workflows/w0").json()
    assert hit.get("/v1/metrics").json()["decisions"] == untouched.get("/v1/metrics").json()["decisions"] == 5


def test_unknown_workflow_is_a_404(cluster):
    response = fresh(cluster).get("/v1/workflows/nope")
    assert response.status_code == 404
    assert "'nope'" in response.json()["message"]


def test_an_idempotency_key_reused_for_another_body_is_a_409(cluster):
    client = fresh(cluster)
    first = client.post("/v1/workflows", json=flow(id="w5", arrival=4.0), headers={"Idempotency-Key": "k1"})
    again = client.post("/v1/workflows", json=flow(id="w5", arrival=4.0), headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/workflows", json=flow(id="w6", arrival=4.0), headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409 and "'k1'" in other.json()["message"]
    assert client.get("/v1/metrics").json()["workflows"]["submitted"] == 2


def test_the_state_after_the_history(cluster):
    """The history itself, decision by decision: what the cases above start from."""
    state = fresh(cluster).get("/v1/workflows/w0").json()
    assert [t["state"] for t in state["tasks"]] == ["done", "queued", "waiting", "waiting"]
    assert state["tasks"][0]["start"] == 1.0 and state["tasks"][0]["finish"] == 3.0
    assert state["tasks"][1]["ready"] == 3.0 and state["state"] == "in_system"


def test_openapi_documents_the_bodies(cluster):
    schema = fresh(cluster).get("/openapi.json").json()
    body = schema["paths"]["/v1/workflows"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "tasks" in body["properties"] and "$ref" not in json.dumps(body)
    assert "/v1/events" in schema["paths"]
