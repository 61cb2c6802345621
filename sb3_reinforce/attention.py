"""
An attention encoder-decoder for routing, in the style of Kool, van Hoof and Welling (2019), "Attention, Learn to
Solve Routing Problems!", as an SB3 policy.

The observation is the flat node layout of :mod:`sb3_reinforce.routing` (node features, visited, current node,
first node). :class:`AttentionExtractor` is the whole network:

- the **encoder** embeds the nodes (a linear layer) and runs ``n_layers`` transformer layers over them (multi-head
  self-attention and a feed-forward layer, each with a skip connection and layer normalisation); the graph embedding
  is the mean of the node embeddings. It depends on the instance only, so it runs once per instance: rows of a batch
  that hold the same instance share one encoding, and while collecting (no gradient) an env's encoding is kept
  until its instance changes.
- the **decoder** runs every step: a context of the graph embedding and the embeddings of the first and the current
  node (learned placeholders before the first step) attends over the unvisited nodes (``n_heads`` heads, a glimpse),
  and the glimpse points at a node: ``clip * tanh(q . k / sqrt(d))`` for each node, visited nodes masked. These
  scores are the logits of the categorical action distribution.

The extractor's features are the node logits followed by the context (graph, first and current embeddings).
:class:`AttentionPolicy` takes the logits as they are (no linear layer after them) and, when it has a value network
(a learned baseline, or PPO), reads V(s) from the context through a small MLP. Unlike Kool et al. it uses layer
normalisation, not batch normalisation, so a state's action probabilities do not depend on the other states of its
batch, and the rollout (evaluation mode) and the update (training mode) compute the same policy.
"""

import math
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_reinforce.policies import REINFORCEPolicy, new_optimizer

#: The logit of a masked node: the softmax gives it a probability of exactly 0 (as sb3-contrib's masks do)
MASKED_LOGIT = -1e8


def node_layout(observation_space: spaces.Space, num_nodes: int) -> int:
    """
    The number of features per node of a flat node observation (see :mod:`sb3_reinforce.routing`).

    :raises ValueError: if the observation is not a flat Box of ``num_nodes * (features + 3)`` values
    """
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(
            f"The attention policy reads a flat Box observation (see sb3_reinforce.routing), got {observation_space}"
        )
    size = observation_space.shape[0]
    if size % num_nodes != 0 or size // num_nodes < 4:
        raise ValueError(
            f"An observation of {size} values does not hold {num_nodes} nodes (the action space's size) in the "
            "layout of sb3_reinforce.routing: num_nodes * (node features + 3)"
        )
    return size // num_nodes - 3


class _EncoderLayer(nn.Module):
    """A transformer layer: self-attention and a feed-forward layer, each added to its input and normalised."""

    def __init__(self, embed_dim: int, n_heads: int, ff_hidden: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, n_heads, batch_first=True)
        self.norm_attention = nn.LayerNorm(embed_dim)
        self.feed_forward = nn.Sequential(nn.Linear(embed_dim, ff_hidden), nn.ReLU(), nn.Linear(ff_hidden, embed_dim))
        self.norm_feed_forward = nn.LayerNorm(embed_dim)

    def forward(self, h: th.Tensor) -> th.Tensor:
        # h: (batch, N, d)
        h = self.norm_attention(h + self.attention(h, h, h, need_weights=False)[0])
        return self.norm_feed_forward(h + self.feed_forward(h))


class AttentionExtractor(BaseFeaturesExtractor):
    """
    Kool et al.'s attention model as an SB3 features extractor (see the module's docstring). Its features are
    ``[logits (num_nodes), context (3 * embed_dim)]``.

    :param observation_space: A flat node observation (:mod:`sb3_reinforce.routing`)
    :param num_nodes: Number of nodes (the policy passes the action space's size)
    :param embed_dim: Size of the node embeddings
    :param n_heads: Attention heads of the encoder and of the decoder's glimpse
    :param n_layers: Encoder layers
    :param ff_hidden: Hidden units of the encoder's feed-forward layers
    :param tanh_clipping: ``C`` of the pointer's ``C * tanh(.)`` logits
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        num_nodes: int,
        embed_dim: int = 128,
        n_heads: int = 8,
        n_layers: int = 3,
        ff_hidden: int = 512,
        tanh_clipping: float = 10.0,
    ) -> None:
        if embed_dim % n_heads != 0:
            raise ValueError(f"embed_dim ({embed_dim}) must be a multiple of n_heads ({n_heads})")
        super().__init__(observation_space, features_dim=num_nodes + 3 * embed_dim)
        self.num_nodes = num_nodes
        self.node_features = node_layout(observation_space, num_nodes)
        self.embed_dim = embed_dim
        self.n_heads = n_heads
        self.tanh_clipping = tanh_clipping
        self.node_embedding = nn.Linear(self.node_features, embed_dim)
        self.layers = nn.ModuleList(_EncoderLayer(embed_dim, n_heads, ff_hidden) for _ in range(n_layers))
        # the decoder: per-node glimpse keys and values and pointer keys, computed once per instance
        self.project_nodes = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.project_graph = nn.Linear(embed_dim, embed_dim, bias=False)
        self.project_step = nn.Linear(2 * embed_dim, embed_dim, bias=False)
        self.project_glimpse = nn.Linear(embed_dim, embed_dim, bias=False)
        # the first and the current node before the first step
        self.placeholder = nn.Parameter(th.empty(2 * embed_dim).uniform_(-1, 1))
        # while collecting: the last instances seen and their encodings (see _encodings)
        self._cached_nodes: th.Tensor | None = None
        self._cached_encodings: tuple[th.Tensor, ...] | None = None

    def train(self, mode: bool = True) -> "AttentionExtractor":
        # SB3 sets the mode at the start of every rollout, update and predict: the parameters may have changed since
        # the encodings were kept
        self._cached_nodes = self._cached_encodings = None
        return super().train(mode)

    def encode(self, nodes: th.Tensor) -> tuple[th.Tensor, ...]:
        """
        :param nodes: (batch, N, F) node features of distinct instances
        :return: node embeddings (batch, N, d), graph embedding (batch, d), glimpse keys and values and pointer
            keys (batch, N, d) each, and the decoder's fixed query part (batch, d)
        """
        h = self.node_embedding(nodes)
        for layer in self.layers:
            h = layer(h)
        graph = h.mean(dim=1)
        glimpse_keys, glimpse_values, pointer_keys = self.project_nodes(h).chunk(3, dim=-1)
        return h, graph, glimpse_keys, glimpse_values, pointer_keys, self.project_graph(graph)

    def _encodings(self, nodes: th.Tensor) -> tuple[th.Tensor, ...]:
        """The encodings of every row's instance, each distinct instance encoded once (see the module's docstring)."""
        if th.is_grad_enabled():
            self._cached_nodes = self._cached_encodings = None
            flat = nodes.flatten(1)
            unique, inverse = th.unique(flat, dim=0, return_inverse=True)
            if len(unique) == len(flat):
                return self.encode(nodes)
            encodings = self.encode(unique.view(len(unique), *nodes.shape[1:]))
            return tuple(encoding[inverse] for encoding in encodings)
        cached_nodes, cached = self._cached_nodes, self._cached_encodings
        if cached_nodes is None or cached is None or cached_nodes.shape != nodes.shape:
            encodings = self.encode(nodes)
        else:
            changed = (cached_nodes != nodes).flatten(1).any(dim=1)
            if not changed.any():
                return cached
            encodings = tuple(encoding.clone() for encoding in cached)
            for encoding, new in zip(encodings, self.encode(nodes[changed]), strict=True):
                encoding[changed] = new
        self._cached_nodes, self._cached_encodings = nodes.clone(), encodings
        return encodings

    def forward(self, observations: th.Tensor) -> th.Tensor:
        n, batch = self.num_nodes, observations.shape[0]
        node_end = n * self.node_features
        nodes = observations[:, :node_end].view(batch, n, self.node_features)
        visited = observations[:, node_end : node_end + n] > 0.5  # (batch, N)
        current = observations[:, node_end + n : node_end + 2 * n]  # (batch, N) one-hot, zeros at the start
        first = observations[:, node_end + 2 * n :]
        h, graph, glimpse_keys, glimpse_values, pointer_keys, graph_query = self._encodings(nodes)

        started = current.sum(dim=1, keepdim=True) > 0.5  # (batch, 1)
        # (batch, 2d): the embeddings of the first and the current node (one-hot rows times the embeddings)
        step_context = th.cat([th.bmm(first[:, None, :], h)[:, 0], th.bmm(current[:, None, :], h)[:, 0]], dim=1)
        step_context = th.where(started, step_context, self.placeholder.expand(batch, -1))
        query = graph_query + self.project_step(step_context)  # (batch, d)

        # the glimpse: multi-head attention of the query over the unvisited nodes
        d_head = self.embed_dim // self.n_heads
        heads_query = query.view(batch, self.n_heads, 1, d_head)
        heads_keys = glimpse_keys.view(batch, n, self.n_heads, d_head).transpose(1, 2)  # (batch, H, N, d_head)
        heads_values = glimpse_values.view(batch, n, self.n_heads, d_head).transpose(1, 2)
        compatibility = heads_query @ heads_keys.transpose(-1, -2) / math.sqrt(d_head)  # (batch, H, 1, N)
        compatibility = compatibility.masked_fill(visited[:, None, None, :], MASKED_LOGIT)
        glimpse = (th.softmax(compatibility, dim=-1) @ heads_values).view(batch, self.embed_dim)
        glimpse = self.project_glimpse(glimpse)

        # the pointer: one logit per node
        scores = (pointer_keys @ glimpse[:, :, None])[:, :, 0] / math.sqrt(self.embed_dim)  # (batch, N)
        logits = (self.tanh_clipping * th.tanh(scores)).masked_fill(visited, MASKED_LOGIT)
        return th.cat([logits, graph, step_context], dim=1)


class PointerLatents(nn.Module):
    """
    The policy's "MLP extractor" for :class:`AttentionExtractor`'s features: the actor's latent is the node
    logits as they are; the critic's is an MLP of the context.

    :param num_nodes: Number of nodes
    :param context_dim: Size of the context (3 * embed_dim)
    :param value_net_arch: Hidden layers of the critic's MLP
    :param activation_fn: The critic's activation
    """

    def __init__(self, num_nodes: int, context_dim: int, value_net_arch: list[int], activation_fn: type[nn.Module]):
        super().__init__()
        self.num_nodes = num_nodes
        layers: list[nn.Module] = []
        size = context_dim
        for hidden in value_net_arch:
            layers += [nn.Linear(size, hidden), activation_fn()]
            size = hidden
        self.value_net = nn.Sequential(*layers)
        self.latent_dim_pi = num_nodes
        self.latent_dim_vf = size

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return features[:, : self.num_nodes]

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features[:, self.num_nodes :])


def attention_policy_kwargs(action_space: spaces.Space, kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    The ``ActorCriticPolicy`` arguments of an attention policy: :class:`AttentionExtractor` with ``num_nodes`` from
    the (Discrete) action space, no orthogonal initialisation (torch's own suits the attention layers), and the
    caller's ``features_extractor_kwargs`` on top.
    """
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"The attention policy chooses one node per step: a Discrete action space, got {action_space}")
    extractor_kwargs = {"num_nodes": int(action_space.n), **(kwargs.pop("features_extractor_kwargs", None) or {})}
    kwargs.setdefault("ortho_init", False)
    kwargs.setdefault("net_arch", [])
    return {"features_extractor_class": AttentionExtractor, "features_extractor_kwargs": extractor_kwargs, **kwargs}


def use_pointer_head(policy: BasePolicy, lr_schedule: Schedule) -> None:
    """
    Make the node logits the action distribution's parameters as they are: the action head SB3 (or sb3-contrib)
    builds, a linear layer, is replaced by the identity, and the optimizer is built again without it. Called at the
    end of an attention policy's ``_build``.
    """
    policy.action_net = nn.Identity()
    policy.optimizer = new_optimizer(policy, policy.parameters(), lr_schedule(1))


def pointer_latents(policy: Any) -> PointerLatents:
    """The :class:`PointerLatents` of an attention policy (its ``net_arch`` is the critic's hidden layers)."""
    net_arch = policy.net_arch
    value_arch = net_arch.get("vf", []) if isinstance(net_arch, dict) else list(net_arch)
    extractor = policy.features_extractor
    return PointerLatents(extractor.num_nodes, 3 * extractor.embed_dim, value_arch, policy.activation_fn).to(policy.device)


class AttentionPolicy(REINFORCEPolicy):
    """
    REINFORCE's policy with the attention encoder-decoder (:class:`AttentionExtractor`) for routing observations
    (:mod:`sb3_reinforce.routing`). ``features_extractor_kwargs`` sets the network (``embed_dim``, ``n_heads``,
    ``n_layers``, ``ff_hidden``, ``tanh_clipping``); ``net_arch`` is the hidden layers of V(s)'s MLP over the context
    when there is a value network. Masks, groups, save/load and ``predict`` work as with the other policies.

    :param observation_space: A flat node observation
    :param action_space: Discrete(num_nodes)
    :param lr_schedule: Learning rate schedule
    :param kwargs: Every other argument of :class:`~sb3_reinforce.policies.REINFORCEPolicy`
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule, **kwargs: Any):
        super().__init__(observation_space, action_space, lr_schedule, **attention_policy_kwargs(action_space, kwargs))

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = pointer_latents(self)  # type: ignore[assignment]  # the same interface as MlpExtractor

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        use_pointer_head(self, lr_schedule)
