"""The system model's data: task catalogue, clusters, workloads, and the observation of a decision."""
