"""DAG encoders: padded batches, isolation between graphs, both edge directions, arguments."""

from __future__ import annotations

import pytest
import torch

from scale_pl.models.encoders import ENCODERS, DAGEncoder, GATv2Encoder, MLPEncoder, padded_to_graph

IN_DIM = 14  # node_feature_dim(6)


def _encoder(name: str, num_layers: int = 2, **kwargs: object) -> DAGEncoder:
    torch.manual_seed(0)
    return ENCODERS[name](IN_DIM, 16, 8, num_layers, **kwargs).eval()


def test_padded_to_graph_by_hand() -> None:
    nodes = torch.arange(2 * 3, dtype=torch.float).view(2, 3, 1)
    node_mask = torch.tensor([[True, True, False], [True, False, True]])
    edges = torch.tensor([[[0, 1], [1, 2], [0, 0]], [[0, 2], [0, 1], [2, 0]]])
    edge_mask = torch.tensor([[True, True, False], [True, True, False]])
    x, edge_index = padded_to_graph(nodes, node_mask, edges, edge_mask)
    assert x.squeeze(-1).tolist() == [0.0, 1.0, 3.0, 5.0]
    # env 0: (0, 1) kept, (1, 2) touches a padded node; env 1: (0, 2) -> (2, 3), (0, 1) padded.
    assert edge_index.tolist() == [[0, 2], [1, 3]]


@pytest.mark.parametrize("num_nodes", [1, 2, 13, 40])
def test_encode_shapes_and_padding(encoder_name: str, num_nodes: int, make_obs) -> None:
    obs = make_obs(3, num_nodes, 2 * num_nodes, 4, seed=num_nodes)
    out = _encoder(encoder_name).encode(obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
    assert out.shape == (3, num_nodes, 8)
    assert torch.isfinite(out).all()
    assert (out[~obs.node_mask] == 0).all()


def test_encode_without_edges(encoder_name: str, make_obs) -> None:
    obs = make_obs(4, 5, 0, 3)
    assert obs.edges.shape == (4, 0, 2)
    out = _encoder(encoder_name).encode(obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
    assert out.shape == (4, 5, 8) and torch.isfinite(out).all()


def test_batch_equals_each_graph_alone_with_scattered_padding(encoder_name: str, make_obs) -> None:
    """No information crosses graphs, padded slots are ignored wherever they sit."""
    enc = _encoder(encoder_name, num_layers=3)
    obs = make_obs(5, 9, 20, 2, seed=3)
    batched = enc.encode(obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
    for b in range(5):
        m = int(obs.node_mask[b].sum())
        alone = enc.encode(
            obs.nodes[b : b + 1, :m], obs.node_mask[b : b + 1, :m], obs.edges[b : b + 1], obs.edge_mask[b : b + 1]
        )
        torch.testing.assert_close(batched[b, :m], alone[0], rtol=1e-5, atol=1e-6)
        # The same graph spread over 2m slots in a scrambled order, garbage in the padding.
        slots = torch.randperm(2 * m, generator=torch.Generator().manual_seed(b))[:m]
        nodes = torch.randn(1, 2 * m, IN_DIM)
        nodes[0, slots] = obs.nodes[b, :m]
        node_mask = torch.zeros(1, 2 * m, dtype=torch.bool)
        node_mask[0, slots] = True
        edges = slots[obs.edges[b : b + 1]]
        scattered = enc.encode(nodes, node_mask, edges, obs.edge_mask[b : b + 1])
        torch.testing.assert_close(scattered[0, slots], alone[0], rtol=1e-5, atol=1e-6)


def _chain_embeddings(enc: DAGEncoder, nodes: torch.Tensor, edges: list[list[int]]) -> torch.Tensor:
    e = torch.tensor([edges])
    return enc.encode(nodes, torch.ones(1, 3, dtype=torch.bool), e, torch.ones(1, len(edges), dtype=torch.bool))[0]


@pytest.mark.parametrize("num_layers", [1, 2])
def test_node_sees_ancestors_and_descendants(encoder_name: str, num_layers: int) -> None:
    enc = _encoder(encoder_name, num_layers=num_layers)
    nodes = torch.randn(1, 3, IN_DIM, generator=torch.Generator().manual_seed(1))
    chain = [[0, 1], [1, 2]]  # a -> b -> c
    b = _chain_embeddings(enc, nodes, chain)[1]
    changed_a, changed_c = nodes.clone(), nodes.clone()
    changed_a[0, 0] += 1.0
    changed_c[0, 2] += 1.0
    b_after_a = _chain_embeddings(enc, changed_a, chain)[1]
    b_after_c = _chain_embeddings(enc, changed_c, chain)[1]
    if encoder_name == "mlp":  # the ablation sees no neighbours at all
        torch.testing.assert_close(b_after_a, b)
        torch.testing.assert_close(b_after_c, b)
    else:
        assert not torch.allclose(b_after_a, b, atol=1e-6), "b does not see its parent"
        assert not torch.allclose(b_after_c, b, atol=1e-6), "b does not see its child"


def test_edge_direction_is_distinguishable(encoder_name: str) -> None:
    """Reversing every edge changes the embeddings: parents and children are not confused."""
    enc = _encoder(encoder_name)
    nodes = torch.randn(1, 3, IN_DIM, generator=torch.Generator().manual_seed(2))
    forward = _chain_embeddings(enc, nodes, [[0, 1], [1, 2]])
    reverse = _chain_embeddings(enc, nodes, [[1, 0], [2, 1]])
    if encoder_name == "mlp":
        torch.testing.assert_close(forward, reverse)
    else:
        assert not torch.allclose(forward, reverse, atol=1e-6)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_norms_in_training_mode_even_for_one_node(encoder_name: str, norm: str, make_obs) -> None:
    enc = _encoder(encoder_name, norm=norm).train()
    for num_nodes in (1, 12):
        obs = make_obs(1, num_nodes, num_nodes, 2)
        obs.node_mask[:] = True
        out = enc.encode(obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
        assert torch.isfinite(out).all()


def test_dropout_only_in_training(make_obs) -> None:
    enc = _encoder("gin", dropout=0.5)
    obs = make_obs(4, 10, 15, 2)
    args = (obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
    torch.testing.assert_close(enc.encode(*args), enc.encode(*args))
    enc.train()
    assert not torch.allclose(enc.encode(*args), enc.encode(*args))


def test_reset_parameters_reinitialises(encoder_name: str) -> None:
    enc = _encoder(encoder_name)
    before = [p.detach().clone() for p in enc.parameters()]
    enc.reset_parameters()
    after = list(enc.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True) if a.numel() > 1)


def test_repr_and_shared_signature(encoder_name: str) -> None:
    enc = ENCODERS[encoder_name](IN_DIM, 16, 8, 3, act="gelu", norm="layer", dropout=0.1)
    text = repr(enc)
    assert text.startswith(type(enc).__name__ + "(14, 16, 8, num_layers=3")
    assert "act='gelu'" in text and "norm='layer'" in text and "dropout=0.1" in text
    assert (enc.in_dim, enc.hidden_dim, enc.out_dim, enc.num_layers) == (IN_DIM, 16, 8, 3)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="num_layers"):
        MLPEncoder(IN_DIM, 16, 8, 0)
    with pytest.raises(ValueError, match="heads"):
        GATv2Encoder(IN_DIM, 16, 10, 2, heads=4)
    with pytest.raises(ValueError, match="norm"):
        MLPEncoder(IN_DIM, 16, 8, 2, norm="group")
    with pytest.raises(ValueError, match="node features"):
        MLPEncoder(IN_DIM, 16, 8, 2).encode(
            torch.zeros(1, 2, 5),
            torch.ones(1, 2, dtype=torch.bool),
            torch.zeros(1, 0, 2, dtype=torch.long),
            torch.zeros(1, 0, dtype=torch.bool),
        )


def test_encode_graphs_matches_padded_encode(encoder_name: str, make_obs) -> None:
    enc = _encoder(encoder_name)
    obs = make_obs(6, 11, 15, 2, seed=4)
    args = (obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
    padded = enc.encode(*args)
    current, mean = enc.encode_graphs(*args, obs.current)
    torch.testing.assert_close(current, padded[torch.arange(6), obs.current])
    counts = obs.node_mask.sum(1, keepdim=True).float()
    torch.testing.assert_close(mean, padded.sum(1) / counts, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("encoder_name", [name for name in ENCODERS if name != "mlp"])  # the ablation sees no edges
def test_receptive_field_is_num_layers_hops(encoder_name: str) -> None:
    """On a -> b -> c, a and c see each other with 2 layers, not with 1."""
    nodes = torch.randn(1, 3, IN_DIM, generator=torch.Generator().manual_seed(3))
    changed_a, changed_c = nodes.clone(), nodes.clone()
    changed_a[0, 0] += 1.0
    changed_c[0, 2] += 1.0
    chain = [[0, 1], [1, 2]]
    for num_layers, sees in ((1, False), (2, True)):
        enc = _encoder(encoder_name, num_layers=num_layers)
        base = _chain_embeddings(enc, nodes, chain)
        a_moved = not torch.allclose(_chain_embeddings(enc, changed_c, chain)[0], base[0], atol=1e-6)
        c_moved = not torch.allclose(_chain_embeddings(enc, changed_a, chain)[2], base[2], atol=1e-6)
        assert (a_moved, c_moved) == (sees, sees)
