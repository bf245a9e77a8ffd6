"""The embedded MLflow store when several trainings start at once on a new ``mlflow.db``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scale_pl.errors import ScaleError
from scale_pl.tracking import prepare_store, store_lock

PREPARE = "import sys; from scale_pl.tracking import prepare_store; prepare_store(sys.argv[1], 'exp', sys.argv[2])"


def test_processes_started_together_on_a_new_store_all_find_it_ready(tmp_path):
    """Without the lock, MLflow's first-contact migration races (``table _alembic_tmp_metrics
    already exists``) and so does the experiment's creation; with it every process succeeds and
    the store holds the experiment once."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = (tmp_path / "mlartifacts").as_uri()
    procs = [
        subprocess.Popen([sys.executable, "-c", PREPARE, uri, artifacts], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    from mlflow.tracking import MlflowClient

    experiments = [e for e in MlflowClient(tracking_uri=uri).search_experiments() if e.name == "exp"]
    assert len(experiments) == 1 and experiments[0].artifact_location == artifacts
    prepare_store(uri, "exp", artifacts)  # a store already made is left as it is
    assert [e.experiment_id for e in MlflowClient(tracking_uri=uri).search_experiments() if e.name == "exp"] == [
        experiments[0].experiment_id
    ]


def test_the_lock_is_kept_out_of_the_users_folder_and_names_the_database_not_the_spelling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare_store("sqlite:///mlflow.db", "exp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]  # no mlflow.db.lock beside it
    (tmp_path / "sub").mkdir()
    lock = store_lock("sqlite:///mlflow.db")
    assert lock == store_lock(f"sqlite:///{tmp_path / 'sub' / '..' / 'mlflow.db'}")
    assert lock != store_lock(f"sqlite:///{tmp_path / 'sub' / 'mlflow.db'}")
    assert tmp_path not in lock.parents


def test_a_store_that_is_not_a_database_is_a_one_line_error(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not a database, just bytes\n" * 100)
    with pytest.raises(ScaleError, match=r"^MLflow store sqlite:///.*mlflow\.db: ") as info:
        prepare_store(f"sqlite:///{db}", "exp")
    assert "\n" not in str(info.value)


def test_other_stores_are_left_to_themselves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare_store("http://127.0.0.1:9/", "exp")  # a tracking server is not contacted here
    prepare_store("postgresql://user@host/db", "exp")
    assert list(tmp_path.iterdir()) == []
