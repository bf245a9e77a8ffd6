"""DDP on CPU through the CLI: two ranks train together, each on its own seeded environments."""

from __future__ import annotations

import json

import pytest
import torch

from tests.training.fitting import CHECKPOINT_CALLBACK, checkpoint_dir, copy_store, fit_args, run_cli, runs


@pytest.mark.slow  # two processes with gloo on a shared CPU: ~20-40 s
def test_ddp_on_cpu_gives_each_rank_its_own_environments(tmp_path, empty_store):
    probe = {"class_path": "tests.training.probes.RankProbe", "init_args": {"out_dir": str(tmp_path / "ranks")}}
    ddp = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
    uri = copy_store(empty_store, tmp_path)
    result = run_cli(fit_args(*ddp, callbacks=[CHECKPOINT_CALLBACK, probe]), tmp_path, uri, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    ranks = [json.loads((tmp_path / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["collector_seed"] for r in ranks] == [0, 1000]  # seed + 1000 x rank (RolloutDataModule)
    assert ranks[0]["pool_digest"] != ranks[1]["pool_digest"]  # different training workloads

    (run,) = runs(uri)  # rank 0 alone logs, into one run
    assert run.info.status == "FINISHED" and "val/N16/art" in run.data.metrics
    last = torch.load(checkpoint_dir(tmp_path, run.info.run_id) / "last.ckpt", weights_only=True)
    assert last["global_step"] > 0
