"""Cluster files: written and read back to the same cluster, the class-mix form, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from scale_pl.errors import ScaleError
from scale_pl.io.cluster_file import cluster_to_dict, load_cluster, write_cluster
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec
from scale_pl.sim.system.cluster import Cluster


def _same(a: Cluster, b: Cluster) -> None:
    assert a.server_names == b.server_names
    np.testing.assert_array_equal(a.speed, b.speed)
    np.testing.assert_array_equal(a.slots, b.slots)
    assert a.network == b.network
    assert [c.name for c in a.classes] == [c.name for c in b.classes]


def _write_and_read(tmp_path, cluster, catalogue) -> Cluster:
    path = tmp_path / "c.yaml"
    write_cluster(cluster, path)
    return load_cluster(path, catalogue)


@pytest.mark.parametrize("n", [1, 4, 16, 48, 128])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, generator, n, suffix):
    cluster = load_cluster_spec().make(n, generator.catalogue)
    path = tmp_path / f"c{suffix}"
    write_cluster(cluster, path)
    _same(cluster, load_cluster(path, generator.catalogue))
    if suffix == ".json":
        json.loads(path.read_text())  # really JSON


def test_counts_and_order(tmp_path, generator):
    cluster = load_cluster_spec().make(16, generator.catalogue)
    data = cluster_to_dict(cluster)
    assert {k: v["count"] for k, v in data["classes"].items()} == {
        "gpu_large": 2, "gpu_small": 6, "cpu_large": 4, "cpu_small": 4
    }  # fmt: skip
    reordered = Cluster(generator.catalogue, cluster.classes, np.array([3, 3, 0, 1]), cluster.network)
    back = _write_and_read(tmp_path, reordered, generator.catalogue)
    assert back.server_names == ["cpu_small-0", "cpu_small-1", "gpu_large-0", "gpu_small-0"]
    split = Cluster(generator.catalogue, cluster.classes, np.array([0, 1, 0]), cluster.network)
    with pytest.raises(ScaleError, match="servers of class 'gpu_large' are not contiguous"):
        cluster_to_dict(split)


def test_class_mix_config_needs_servers(generator):
    path = CONF_DIR / "cluster" / "default.yaml"
    _same(load_cluster(path, generator.catalogue, 16), load_cluster_spec().make(16, generator.catalogue))
    with pytest.raises(ScaleError, match=r"class-mix cluster config .*--servers N"):
        load_cluster(path, generator.catalogue)


BASE = {"classes": {"cpu": {"speeds": {"code_exec": 1.0}, "slots": 2, "count": 3}}}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["classes"]["cpu"].update(slot=4), r"class 'cpu': unexpected key 'slot'"),
        (lambda d: d["classes"]["cpu"].pop("count"), r"class 'cpu': 'count' is a required property"),
        (lambda d: d["classes"]["cpu"].update(count=-1), r"class 'cpu', count: -1 is less than the minimum of 0"),
        (lambda d: d["classes"]["cpu"].update(slots=0), r"class 'cpu', slots: 0 is less than the minimum of 1"),
        (lambda d: d["classes"]["cpu"]["speeds"].update(code_exec=-2), r"class 'cpu', speeds, code_exec: -2"),
        (lambda d: d["classes"]["cpu"]["speeds"].update(teleport=1),
         r"class 'cpu': speed for unknown primitive 'teleport'"),
        (lambda d: d["classes"]["cpu"].update(count=0), r"every class has count 0"),
        (lambda d: d.update(network={"bandwidth_mbps": 0}), r"network, bandwidth_mbps: 0 is less than or equal"),
        (lambda d: d.update(netwrok={}), r"unexpected key 'netwrok'"),
        (lambda d: d["classes"]["cpu"]["speeds"].update(code_exec=float("nan")),
         r"server class 'cpu': speed for 'code_exec' must"),
    ],
)  # fmt: skip
def test_bad_cluster_files(tmp_path, generator, edit, message):
    data = json.loads(json.dumps(BASE))
    edit(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScaleError, match=rf"^{path}: {message}"):
        load_cluster(path, generator.catalogue)


def test_missing_and_malformed(tmp_path, generator):
    with pytest.raises(ScaleError, match=r"nope.yaml: no such file"):
        load_cluster(tmp_path / "nope.yaml", generator.catalogue)
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: {cpu: [}\n")
    with pytest.raises(ScaleError, match=r"bad.yaml: malformed YAML at line 1"):
        load_cluster(bad, generator.catalogue)
