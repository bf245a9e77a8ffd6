"""`python -m scale_pl table` and the one-line errors of bad configuration values (exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scale_pl.sim.generators.config import CONF_DIR


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scale_pl", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_table_prints_every_heuristic_with_ratios(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = cli("table", "--sizes", "4", "--seeds", "1", "--workflows-per-server", "3", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("| 4 |")]
    assert [line.split("|")[2].strip() for line in lines] == [
        "random",
        "round_robin",
        "least_loaded",
        "eft",
        "rank_eft",
    ]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| N |")).split("|")
    ratio = header.index(" ART / EFT ")
    eft = next(line for line in lines if "| eft |" in line)
    assert eft.split("|")[ratio].strip() == "1.000"
    assert out.exists()


def write_config(tmp_path: Path, edit) -> Path:
    spec = yaml.safe_load((CONF_DIR / "workload" / "default.yaml").read_text())
    edit(spec)
    path = tmp_path / "workload.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--rho", "0"], ["--rho must be > 0"]),
        (["--rho", "-0.5"], ["--rho must be > 0"]),
        (["--sizes", "0"], ["N must be >= 1"]),
        (["--json", "no/such/folder/rows.json"], ["--json", "does not exist"]),
    ],
)
def test_bad_command_line_values(args, needles) -> None:
    assert_one_line_error(cli("table", *args), *needles)


def test_unknown_primitive_in_a_pattern_role(tmp_path: Path) -> None:
    path = write_config(tmp_path, lambda s: s["roles"].update(act=["tool_api", "tool_apii"]))
    assert_one_line_error(cli("table", "--workload-config", str(path)), str(path), "'tool_apii'", "role 'act'")


def test_pattern_mix_summing_to_zero(tmp_path: Path) -> None:
    path = write_config(tmp_path, lambda s: s.update(pattern_mix={k: 0 for k in s["pattern_mix"]}))
    assert_one_line_error(cli("table", "--workload-config", str(path)), str(path), "sum to 0")


def test_primitive_no_server_class_can_run(tmp_path: Path) -> None:
    spec = yaml.safe_load((CONF_DIR / "cluster" / "default.yaml").read_text())
    for cls in spec["classes"].values():
        cls["speeds"].pop("vision", None)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert_one_line_error(cli("table", "--cluster-config", str(path)), "'vision'", "no server")


def test_missing_config_file(tmp_path: Path) -> None:
    assert_one_line_error(cli("table", "--workload-config", str(tmp_path / "nope.yaml")), "nope.yaml", "no such file")
