"""The workload file: exact round trips, defaults, the catalogue rule, schema and one-line errors."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from scale_pl.errors import ScaleError
from scale_pl.io.schema import load_schema
from scale_pl.io.workload_file import dump_workload, read_workload_file, write_workload
from scale_pl.io.workload_sources import load_catalogue, load_workload


@pytest.fixture(scope="module")
def workload(generator, small_cluster):
    return generator.generate(small_cluster, seed=3)


def test_round_trip_is_bit_exact(workload, tmp_path):
    path = tmp_path / "w.json"
    write_workload(workload, path, meta={"seed": 3})
    back = read_workload_file(path)
    assert back.catalogue.primitives == workload.catalogue.primitives
    assert len(back.workflows) == len(workload.workflows)
    for a, b in zip(workload.workflows, back.workflows, strict=True):
        assert (a.id, a.arrival, a.pattern, a.task_ids) == (b.id, b.arrival, b.pattern, b.task_ids)
        for field in ("types", "work", "expected_work", "output_mb", "edges"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    assert dump_workload(back, {"seed": 3}) == path.read_text()


def test_written_file_follows_the_shipped_schema(workload, tmp_path):
    schema = load_schema("workload")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(dump_workload(workload)), schema)
    jsonschema.Draft202012Validator.check_schema(load_schema("cluster"))


def _write(tmp_path, data, name="w.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_defaults_and_catalogue_from_config(tmp_path):
    data = {"workflows": [{"id": 7, "arrival": 1.5, "tasks": [
        {"id": "a", "type": "code_exec", "work": 2.0},
        {"id": "b", "type": "retrieval", "work": 0.5, "expected_work": 0.25, "output_mb": 1.0}],
        "edges": [["a", "b"]]}]}  # fmt: skip
    wl = load_workload([_write(tmp_path, data)])
    cat = load_catalogue()
    assert wl.catalogue.primitives == cat.primitives
    (f,) = wl.workflows
    assert f.id == "7" and f.arrival == 1.5
    np.testing.assert_array_equal(f.expected_work, [2.0, 0.25])  # expected_work defaults to work
    np.testing.assert_array_equal(f.output_mb, [cat[cat.index("code_exec")].output_mb, 1.0])
    assert f.edges.tolist() == [[0, 1]]


def test_embedded_catalogue_wins_and_must_agree(tmp_path):
    cat = {"fast": {"work": 1.0}, "slow": {"work": 5.0, "latency": 0.1}}
    flow = {"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "slow", "work": 1}]}
    wl = load_workload([_write(tmp_path, {"catalogue": cat, "workflows": [flow]})])
    assert wl.catalogue.names == ["fast", "slow"]
    other = _write(tmp_path, {"catalogue": {"fast": {"work": 2.0}}, "workflows": [flow]}, "other.json")
    with pytest.raises(ScaleError, match=r"other\.json: its catalogue differs from the one in"):
        load_workload([tmp_path / "w.json", other])
    no_cat = _write(tmp_path, {"workflows": [{**flow, "id": "x"}]}, "nocat.json")
    both = load_workload([tmp_path / "w.json", no_cat])  # the embedded catalogue serves both files
    assert both.catalogue.names == ["fast", "slow"] and [f.id for f in both.workflows] == ["w", "x"]


def test_same_ids_in_two_files_are_renamed(tmp_path):
    flow = {"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec", "work": 1}]}
    a = _write(tmp_path, {"workflows": [flow]}, "a.json")
    wl = load_workload([a, a, a])
    assert [f.id for f in wl.workflows] == ["w", "w#2", "w#3"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"workflows": []}, r"workflows: must not be empty"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec"}]}]},
         r"workflow 'w', task 't': 'work' is a required property"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec", "work": 1, "wrok": 1}]}]},
         r"workflow 'w', task 't': unexpected key 'wrok'"),
        ({"workflows": [{"id": "w", "arrival": -1, "tasks": [{"id": "t", "type": "code_exec", "work": 1}]}]},
         r"workflow 'w', arrival: -1 is less than the minimum of 0"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": "t"}]}, r"workflow 'w', tasks: must be array, got a string"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec", "work": 1}]}] * 2},
         r"duplicate workflow id 'w'"),
        ({"format": "other", "workflows": [{"id": "w", "arrival": 0, "tasks": []}]},
         r"format: must be 'scale_pl.workload'"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec", "work": 1e400}]}]},
         r"workflow 'w': task 't' has work inf \(must be a finite number >= 0\)"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec", "work": 1}],
                         "edges": [["t", "t"]]}]}, r"workflow 'w': task 't' depends on itself"),
        ({"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "t", "type": "code_exec", "work": 1}],
                         "edges": [["t"]]}]}, r"workflow 'w', edges\[0\]: \['t'\] is too short"),
    ],
)  # fmt: skip
def test_bad_workload_files(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(ScaleError, match=rf"^{path}: {message}"):
        load_workload([path])


def test_neither_format(tmp_path):
    path = _write(tmp_path, [1, 2])
    with pytest.raises(ScaleError, match="neither a scale_pl workload file"):
        load_workload([path])
