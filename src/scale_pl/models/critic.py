"""The value head: its own path to the value, with PopArt-normalised outputs."""

from __future__ import annotations

import torch
from torch import nn

from scale_pl.models.layers import masked_mean, mlp, reset_module


class Critic(nn.Module):
    """State value from the actor's features (read through a stop-gradient) and the system state.

    Inputs: the task embedding, the attention feature ``z``, the mean server embedding (a mean,
    never a sum, so its scale does not grow with ``N``) and the size-free system features of the
    observation (workflows in the system per server, their mean age, mean backlog per class:
    what drives the reward).

    Two things keep the value loss from reshaping the actor outside PPO's clip:

    - ``stop_gradient`` (default True): the actor's features enter detached, so the value loss
      trains only this module's MLP;
    - PopArt (van Hasselt et al., 2016): the MLP predicts a *normalised* value; ``forward``
      returns ``mu + sigma * output`` in return units. :meth:`update_statistics` moves ``mu`` and
      ``sigma`` toward the statistics of new value targets and rescales the last layer so that
      every output is unchanged; the value loss is taken in normalised units
      (:meth:`normalise`), so its size does not depend on the reward scale or the horizon.

    Args:
        embed_dim: ``D``, size of the task embedding, ``z`` and the server embeddings.
        hidden_dim: width of the MLP's hidden layers.
        act: activation name.
        system_dim: size of ``Observation.system`` (0 = not read).
        stop_gradient: detach the actor's features.
        beta: weight of a new batch of targets in the running statistics (the first batch sets them).
        size_feature: also read ``log N``, the number of servers of the cluster (training on several
            cluster sizes: the value of a state depends on how many servers share the load).

    Shapes:
        - input: ``task`` ``[B, D]``, ``z`` ``[B, D]``, ``servers`` ``[B, N, D]``, ``mask`` ``[B, N]``,
          ``system`` ``[B, system_dim]``, ``num_servers`` ``[B]`` (with ``size_feature``)
        - output: ``[B]``
    """

    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int = 64,
        act: str = "relu",
        system_dim: int = 0,
        stop_gradient: bool = True,
        beta: float = 0.1,
        size_feature: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < beta <= 1:
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        self.embed_dim, self.hidden_dim, self.system_dim = embed_dim, hidden_dim, system_dim
        self.stop_gradient, self.beta, self.size_feature = stop_gradient, beta, size_feature
        self.net = mlp(3 * embed_dim + system_dim + int(size_feature), hidden_dim, 1, act)
        self.register_buffer("mu", torch.zeros(()))
        self.register_buffer("sigma", torch.ones(()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def reset_parameters(self) -> None:
        reset_module(self)
        self.mu.zero_()
        self.sigma.fill_(1.0)
        self.count.zero_()

    def forward(
        self,
        task: torch.Tensor,
        z: torch.Tensor,
        servers: torch.Tensor,
        mask: torch.Tensor,
        system: torch.Tensor | None = None,
        num_servers: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pooled = masked_mean(servers, mask)
        parts = [task, z, pooled]
        if self.stop_gradient:
            parts = [p.detach() for p in parts]
        if self.system_dim:
            if system is None:
                raise ValueError("this critic reads Observation.system; the environment did not provide it")
            parts.append(system)
        if self.size_feature:
            if num_servers is None:
                raise ValueError("this critic reads the number of servers; none was given")
            parts.append(torch.log(num_servers.to(task.dtype).clamp_min(1.0)).unsqueeze(-1))
        normalised = self.net(torch.cat(parts, dim=-1)).squeeze(-1)
        return self.mu + self.sigma * normalised

    def normalise(self, value: torch.Tensor) -> torch.Tensor:
        """Return units -> the units the MLP is trained in."""
        return (value - self.mu) / self.sigma

    @torch.no_grad()
    def update_statistics(self, targets: torch.Tensor) -> None:
        """Move ``mu``, ``sigma`` toward ``targets``' mean and std, preserving every output (PopArt)."""
        targets = targets.detach().float()
        weight = 1.0 if int(self.count) == 0 else self.beta
        mean = (1 - weight) * self.mu + weight * targets.mean()
        second = (1 - weight) * (self.sigma**2 + self.mu**2) + weight * targets.pow(2).mean()
        sigma = (second - mean**2).clamp(min=1e-8).sqrt().clamp(min=1e-4)
        last = self.net[-1]
        last.weight.mul_(self.sigma / sigma)
        last.bias.mul_(self.sigma).add_(self.mu - mean).div_(sigma)
        self.mu.copy_(mean)
        self.sigma.copy_(sigma)
        self.count += 1
