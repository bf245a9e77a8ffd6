"""The SCALE policy: DAG encoders, the cross-attention pointer, the critic and wrappers.

Importing this package needs only torch and torch_geometric.
"""

from scale_pl.models.critic import Critic
from scale_pl.models.decisions import TIE_TOLERANCE, DecisionRecord, greedy_choice
from scale_pl.models.decoders import CrossAttentionPointer
from scale_pl.models.encoders import (
    ENCODERS,
    DAGEncoder,
    GATv2Encoder,
    GCNEncoder,
    GINEncoder,
    GraphTransformerEncoder,
    MLPEncoder,
    SAGEEncoder,
)
from scale_pl.models.policy import (
    GreedyPolicy,
    PolicyEnsemble,
    PolicyOutput,
    SamplingPolicy,
    SCALEPolicy,
    build_policy,
    entropy_from_logits,
)
from scale_pl.models.priors import PRIORS, HeuristicPrior

__all__ = [
    "ENCODERS",
    "PRIORS",
    "TIE_TOLERANCE",
    "Critic",
    "CrossAttentionPointer",
    "DAGEncoder",
    "DecisionRecord",
    "GATv2Encoder",
    "GCNEncoder",
    "GINEncoder",
    "GraphTransformerEncoder",
    "GreedyPolicy",
    "HeuristicPrior",
    "MLPEncoder",
    "PolicyEnsemble",
    "PolicyOutput",
    "SAGEEncoder",
    "SCALEPolicy",
    "SamplingPolicy",
    "build_policy",
    "entropy_from_logits",
    "greedy_choice",
]
