"""Callbacks that let a test see into (or hold still) a training process it started with the CLI.

Used from the command line as ``trainer.callbacks`` entries (``tests`` must be on ``PYTHONPATH``).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import lightning as L


class RankProbe(L.Callback):
    """Writes ``rank{r}.json`` into ``out_dir`` at the start of training: the rank, the world size,
    the seed of that rank's rollout collector and a digest of its training workload pool.

    Args:
        out_dir: folder for the JSON files (one per rank).
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        collector = trainer.datamodule.collector
        arrivals = collector.pool.arrival.detach().cpu().numpy().tobytes()
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "collector_seed": collector.generator.initial_seed(),
            "pool_digest": hashlib.sha256(arrivals).hexdigest(),
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class PauseAt(L.Callback):
    """Holds training still at a known point, so that a test can interrupt it there.

    After batch ``batch`` of epoch ``epoch`` it creates ``marker`` and sleeps for ``seconds``:
    a SIGINT sent once the marker exists interrupts training at exactly that point.

    Args:
        marker: file to create when the pause begins.
        epoch: the epoch (from 0).
        batch: the batch index within that epoch.
        seconds: how long to wait for the interrupt.
    """

    def __init__(self, marker: str, epoch: int = 1, batch: int = 0, seconds: float = 120.0) -> None:
        self.marker, self.epoch, self.batch, self.seconds = Path(marker), epoch, batch, seconds

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            self.marker.write_text(json.dumps({"global_step": trainer.global_step}))
            time.sleep(self.seconds)
