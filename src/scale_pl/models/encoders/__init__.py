"""DAG encoders: padded workflow graphs -> per-node embeddings, one shared constructor signature."""

from scale_pl.models.encoders.base import BidirectionalConv, DAGEncoder, padded_to_graph
from scale_pl.models.encoders.gnn import GATv2Encoder, GCNEncoder, GINEncoder, GraphTransformerEncoder, SAGEEncoder
from scale_pl.models.encoders.mlp import MLPEncoder

#: Short names (as in ``conf/encoder/<name>.yaml``) to encoder classes.
ENCODERS: dict[str, type[DAGEncoder]] = {
    "gatv2": GATv2Encoder,
    "gin": GINEncoder,
    "gcn": GCNEncoder,
    "sage": SAGEEncoder,
    "transformer": GraphTransformerEncoder,
    "mlp": MLPEncoder,
}

__all__ = [
    "ENCODERS",
    "BidirectionalConv",
    "DAGEncoder",
    "GATv2Encoder",
    "GCNEncoder",
    "GINEncoder",
    "GraphTransformerEncoder",
    "MLPEncoder",
    "SAGEEncoder",
    "padded_to_graph",
]
