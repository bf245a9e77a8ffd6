"""A lean greedy forward of :class:`~scale_pl.models.policy.SCALEPolicy` for one decision at a time.

The one-environment engine (``schedule``, ``scale_pl serve``) asks for one decision per call. At a
batch of one, the module's forward is bound by the number of small tensor operations (about 110,
1.2 ms at N=96), not by arithmetic. :class:`LeanGreedy` computes the same logits with the same
weights in about 30 numpy operations, without the critic (a greedy choice does not need the
value), and with the attention and pointer keys folded into the query: the server embeddings
``S`` are only ever multiplied by a few vectors, so ``S @ (W_k q)`` replaces ``(S @ W_k) q``.
Those two differ only by float rounding (a test holds the logits to the module's within 1e-4);
the greedy choice is the highest logit, the lowest server index among exact ties, as
:class:`~scale_pl.models.policy.GreedyPolicy` chooses.

It covers the configurations it knows (every encoder but the graph transformer and GATv2 is a
different layer; today: GIN and the MLP encoder, no normalisation between layers, ReLU). For any
other configuration :func:`one_environment_policy` keeps the module's own forward.
"""

from __future__ import annotations

from scale_pl.baselines.heuristics import EarliestFinishTime, LeastLoaded, RandomPolicy, RankAwareEFT, RoundRobin

# Heuristics that read only the raw observation fields (mask, est_finish, backlog, speed, slack):
# their observations skip the learned features, most of the cost of a decision.
RAW_ONLY = (EarliestFinishTime, LeastLoaded, RandomPolicy, RankAwareEFT, RoundRobin)


def one_environment_policy(policy):
    """What the one-environment engine should call for ``policy``, and whether it reads the learned
    features: ``(policy, False)`` for a heuristic, ``(LeanGreedy, True)`` for a greedy checkpoint
    policy of a configuration :class:`LeanGreedy` covers, else ``(policy, True)``."""
    if isinstance(policy, RAW_ONLY):
        return policy, False
    return policy, True
