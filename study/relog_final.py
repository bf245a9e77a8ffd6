"""Re-run the final evaluation of finished study runs and log it to their MLflow runs.

    python study/relog_final.py scale_s0 no_srr_s0

For runs whose final evaluation predates a metric (the runs started before the per-pattern ART and
the test-N z statistics were logged): the best checkpoint is evaluated exactly as
``FinalEvaluation`` does (same test seeds, sizes and heuristics, read from the run's config) and
every ``final/...`` and ``final_pattern/...`` metric is logged again (identical values for the old ones).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mlflow
import yaml
from mlflow.entities import Metric

from scale_pl.baselines import make_heuristic
from scale_pl.evaluation.across_n import evaluate_across_n
from scale_pl.evaluation.callback import FinalEvaluation, final_metrics
from scale_pl.io.policy_loader import load_checkpoint_policy
from scale_pl.seeds import TEST_SEED_BASE
from scale_pl.tracking import EXPERIMENT, tracking_uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    client = mlflow.MlflowClient(tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    for name in args.names:
        (run,) = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"attributes.run_name = '{name}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        config = yaml.safe_load(Path(client.download_artifacts(run.info.run_id, "config.yaml")).read_text())
        callbacks = config["trainer"]["callbacks"]
        (final,) = [c["init_args"] for c in callbacks if c["class_path"].endswith("FinalEvaluation")]
        spec = FinalEvaluation(**final)  # its defaults for what the config leaves out
        policy = load_checkpoint_policy(Path("checkpoints") / run.info.run_id / "best.ckpt")
        policy.record_features = True
        policies = {"scale": lambda policy=policy: policy}
        policies |= {h: (lambda h=h: make_heuristic(h)) for h in spec.heuristics}
        data = config["data"]
        rows = evaluate_across_n(policies, data["workload_config"], data["cluster_config"], spec.sizes,
                                 range(TEST_SEED_BASE, TEST_SEED_BASE + spec.seeds),
                                 spec.workflows_per_server, data.get("rho"))  # fmt: skip
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in final_metrics(rows).items()]
        for i in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[i : i + 1000])
        print(f"{name}: logged {len(metrics)} metrics to run {run.info.run_id}")


if __name__ == "__main__":
    main()
