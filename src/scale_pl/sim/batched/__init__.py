"""`SchedulingEnv`: the event semantics batched over environments in torch, with its belief, features and metrics."""
