"""
The travelling salesman problem as a Gymnasium env with invalid-action masks, and the classic tours to compare with.

:class:`TSPEnv` draws ``num_nodes`` points uniformly in the unit square at reset, from the reset seed alone (so the
episodes of a group, ``group_size > 1``, get the same instance). Each step visits one node: the first step picks
the start, each later step an unvisited node, and the last step also closes the tour back to the start. The reward
of a step is minus the length of the legs it adds, so the return of an episode is minus its tour's length, and the
last step's ``info["tour_length"]`` holds that length. ``action_masks()`` (sb3-contrib's protocol) marks the
unvisited nodes.

A tour may also start at a given node, visited at reset (the episode is then ``num_nodes - 1`` steps): with
``reset(options={"start": node})``, or, for POMO's groups (Kwon et al. 2020), with ``TSPEnv(spread_starts=True)``,
whose episode ``j`` of a group starts at node ``j mod num_nodes`` (a grouped rollout resets episode ``j`` of its
group with ``options={"group_index": j}``), so a group of ``num_nodes`` episodes tries every start once.

The observation is flat, in the layout :class:`~sb3_reinforce.attention.AttentionPolicy` reads (and that a plain
``MlpPolicy`` takes as it is), for ``N`` nodes with ``F`` features each (``F = 2`` here: x and y):

- ``[0, N * F)``: the node features, node by node
- ``[N * F, N * F + N)``: 1 where the node is visited
- ``[N * F + N, N * F + 2 * N)``: one-hot of the current node (all 0 before the first step)
- ``[N * F + 2 * N, N * F + 3 * N)``: one-hot of the first node (all 0 before the first step)

The tour functions (:func:`tour_length`, :func:`nearest_neighbour_tour`, :func:`farthest_insertion_tour`) take
``(N, 2)`` coordinates and are what the routing benchmark compares with; :func:`solve` builds tours of many
instances at once with a trained policy (greedy, best of k samples, or from every start).
"""

from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces

#: Features of a node in :class:`TSPEnv`'s observation: its x and y
TSP_NODE_FEATURES = 2


def node_observation_size(num_nodes: int, node_features: int) -> int:
    """The length of the flat observation of ``num_nodes`` nodes with ``node_features`` features each."""
    return num_nodes * (node_features + 3)


def tour_length(locs: np.ndarray, tour: np.ndarray) -> float:
    """
    :param locs: (N, 2) coordinates
    :param tour: (N,) the order of the nodes, each once; the tour returns to its first node
    :return: the length of the closed tour
    """
    return float(tour_lengths(locs[None], tour[None])[0])


def tour_lengths(locs: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """
    :param locs: (B, N, 2) coordinates of B instances
    :param tours: (B, N) a tour of each instance (see :func:`tour_length`)
    :return: (B,) the lengths of the closed tours
    """
    ordered = np.take_along_axis(locs, tours[:, :, None], axis=1)  # (B, N, 2)
    return np.linalg.norm(ordered - np.roll(ordered, -1, axis=1), axis=2).sum(axis=1)


def nearest_neighbour_tour(locs: np.ndarray, start: int = 0) -> np.ndarray:
    """
    The nearest-neighbour tour: from ``start``, go to the closest node not visited yet.

    :param locs: (N, 2) coordinates
    :param start: The first node
    :return: (N,) the tour
    """
    n = len(locs)
    distances = np.linalg.norm(locs[:, None, :] - locs[None, :, :], axis=-1)  # (N, N)
    visited = np.zeros(n, dtype=bool)
    tour = [start]
    visited[start] = True
    for _ in range(n - 1):
        row = np.where(visited, np.inf, distances[tour[-1]])
        tour.append(int(np.argmin(row)))
        visited[tour[-1]] = True
    return np.array(tour)


def farthest_insertion_tour(locs: np.ndarray) -> np.ndarray:
    """
    The farthest-insertion tour: start from the two farthest-apart nodes; then take the node farthest from the tour
    (its distance to the closest tour node) and insert it where it lengthens the tour least.

    :param locs: (N, 2) coordinates
    :return: (N,) the tour
    """
    n = len(locs)
    distances = np.linalg.norm(locs[:, None, :] - locs[None, :, :], axis=-1)  # (N, N)
    if n <= 2:
        return np.arange(n)
    first, second = np.unravel_index(int(np.argmax(distances)), distances.shape)
    tour = [int(first), int(second)]
    in_tour = np.zeros(n, dtype=bool)
    in_tour[tour] = True
    # (N,): each node's distance to its closest node in the tour
    to_tour = np.minimum(distances[first], distances[second])
    for _ in range(n - 2):
        node = int(np.argmax(np.where(in_tour, -np.inf, to_tour)))
        ordered = np.array(tour)
        following = np.roll(ordered, -1)
        # the cost of inserting between each tour node and the next
        added = distances[ordered, node] + distances[node, following] - distances[ordered, following]
        tour.insert(int(np.argmin(added)) + 1, node)
        in_tour[node] = True
        to_tour = np.minimum(to_tour, distances[node])
    return np.array(tour)


def random_instances(num_instances: int, num_nodes: int, seed: int) -> np.ndarray:
    """
    ``num_instances`` instances of ``num_nodes`` nodes uniform in the unit square, (num_instances, num_nodes, 2),
    each drawn as :class:`TSPEnv` draws it from reset seed ``seed + i``.
    """
    return np.stack([_draw_locs(np.random.default_rng(seed + index), num_nodes) for index in range(num_instances)])


def node_observations(locs: np.ndarray, visited: np.ndarray, current: np.ndarray, first: np.ndarray) -> np.ndarray:
    """
    The flat observations (see the module's docstring) of a batch of partial tours.

    :param locs: (B, N, F) node features
    :param visited: (B, N) True where the node is visited
    :param current: (B,) the current node, -1 before the first step
    :param first: (B,) the first node, -1 before the first step
    :return: (B, N * (F + 3)) float32
    """
    batch, n, _ = locs.shape
    rows = np.arange(batch)
    one_hots = np.zeros((2, batch, n), dtype=np.float32)  # current, first
    for one_hot, node in zip(one_hots, (current, first), strict=True):
        started = node >= 0
        one_hot[rows[started], node[started]] = 1.0
    return np.concatenate([locs.reshape(batch, -1), visited, *one_hots], axis=1, dtype=np.float32)


def solve(
    policy: Any, locs: np.ndarray, n_samples: int = 1, all_starts: bool = False, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """
    Tours of many instances with a trained policy, all built at once (the policy sees the observations and masks
    :class:`TSPEnv` gives it): greedy (``n_samples=1``: the most likely node at each step) or the shortest of
    ``n_samples`` sampled tours; with ``all_starts``, from each of the ``N`` start nodes (POMO's multi-start
    decoding: ``N * n_samples`` tours per instance), the shortest kept.

    :param policy: A policy whose ``get_distribution(obs, action_masks=...)`` takes masks (REINFORCE's, and
        sb3-contrib's maskable ones), or a model that has one (``model.policy``)
    :param locs: (n, N, 2) instances
    :param n_samples: Tours per instance and start; 1 decodes greedily
    :param all_starts: Build tours from every start node, not only from the start the policy picks
    :param batch_size: Tours built at once
    :return: the shortest tour's length (n,) and the tour (n, N) of each instance
    """
    policy = getattr(policy, "policy", policy)
    locs = np.asarray(locs, dtype=np.float32)
    if locs.ndim != 3 or locs.shape[2] != TSP_NODE_FEATURES:
        raise ValueError(f"locs must have shape (n, num_nodes, {TSP_NODE_FEATURES}), got {locs.shape}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    n, num_nodes, _ = locs.shape
    per_instance = n_samples * (num_nodes if all_starts else 1)
    per_batch = max(1, batch_size // per_instance)
    policy.set_training_mode(False)
    best_lengths, best_tours = [], []
    for begin in range(0, n, per_batch):
        batch = np.repeat(locs[begin : begin + per_batch], per_instance, axis=0)  # (b * per_instance, N, 2)
        rows = np.arange(len(batch))
        tours = np.zeros((len(batch), num_nodes), dtype=np.int64)
        visited = np.zeros((len(batch), num_nodes), dtype=bool)
        first = np.full(len(batch), -1)
        if all_starts:
            # instance by instance: every start, n_samples times
            first = np.tile(np.repeat(np.arange(num_nodes), n_samples), len(batch) // per_instance)
            tours[:, 0] = first
            visited[rows, first] = True
        with th.no_grad():
            for step in range(1 if all_starts else 0, num_nodes):
                current = tours[:, step - 1] if step > 0 else first
                obs = th.as_tensor(node_observations(batch, visited, current, first), device=policy.device)
                distribution = policy.get_distribution(obs, action_masks=~visited)
                actions = distribution.get_actions(deterministic=n_samples == 1).cpu().numpy()
                tours[:, step] = actions
                visited[rows, actions] = True
                if step == 0:
                    first = actions
        lengths = tour_lengths(batch, tours).reshape(-1, per_instance)
        best = lengths.argmin(axis=1)
        best_lengths.append(lengths[np.arange(len(lengths)), best])
        best_tours.append(tours.reshape(-1, per_instance, num_nodes)[np.arange(len(lengths)), best])
    return np.concatenate(best_lengths), np.concatenate(best_tours)


def _draw_locs(rng: np.random.Generator, num_nodes: int) -> np.ndarray:
    return rng.random((num_nodes, TSP_NODE_FEATURES), dtype=np.float32)


class TSPEnv(gym.Env):
    """
    The travelling salesman problem on ``num_nodes`` points uniform in the unit square (see the module's docstring
    for the observation). An episode is ``num_nodes`` steps; its return is minus the length of the tour.

    :param num_nodes: Number of nodes (at least 2)
    :param locs: Fixed coordinates (num_nodes, 2) to solve every episode (e.g. a test instance), instead of drawing
        them at reset; ``reset(options={"locs": ...})`` sets the coordinates of one episode
    :param render_mode: ``"rgb_array"``: :meth:`render` draws the nodes and the tour so far (SB3's ``make_vec_env``
        asks for it)
    :param spread_starts: Start episode ``j`` of a group at node ``j mod num_nodes`` (POMO's starts; the reset reads
        ``options["group_index"]``, which grouped rollouts pass); False: the first step picks the start
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        num_nodes: int = 20,
        locs: np.ndarray | None = None,
        render_mode: str | None = None,
        spread_starts: bool = False,
    ) -> None:
        if not isinstance(num_nodes, (int, np.integer)) or num_nodes < 2:
            raise ValueError(f"num_nodes must be an integer of at least 2, got {num_nodes!r}")
        self.num_nodes = int(num_nodes)
        self.spread_starts = bool(spread_starts)
        self.render_mode = render_mode
        self.fixed_locs = None if locs is None else self._checked_locs(locs)
        size = node_observation_size(self.num_nodes, TSP_NODE_FEATURES)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.num_nodes)
        self.locs = np.zeros((self.num_nodes, TSP_NODE_FEATURES), dtype=np.float32)
        self._obs = np.zeros(size, dtype=np.float32)
        self.visited = np.zeros(self.num_nodes, dtype=bool)
        self.tour: list[int] = []
        self.length = 0.0

    def _checked_locs(self, locs: np.ndarray) -> np.ndarray:
        locs = np.asarray(locs, dtype=np.float32)
        if locs.shape != (self.num_nodes, TSP_NODE_FEATURES):
            raise ValueError(f"locs must have shape ({self.num_nodes}, {TSP_NODE_FEATURES}), got {locs.shape}")
        if not np.all((locs >= 0) & (locs <= 1)):
            raise ValueError("locs must lie in the unit square [0, 1]^2")
        return locs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if options is not None and "locs" in options:
            self.locs = self._checked_locs(options["locs"])
        elif self.fixed_locs is not None:
            self.locs = self.fixed_locs
        else:
            self.locs = _draw_locs(self.np_random, self.num_nodes)
        n, features = self.num_nodes, self.num_nodes * TSP_NODE_FEATURES
        self._obs[:] = 0.0
        self._obs[:features] = self.locs.ravel()
        self._visited_at, self._current_at, self._first_at = features, features + n, features + 2 * n
        self.visited[:] = False
        self.tour = []
        self.length = 0.0
        start = self._start(options or {})
        if start is not None:
            self._visit(start)
        return self._obs.copy(), {}

    def _start(self, options: dict[str, Any]) -> int | None:
        """The node the reset's ``options`` start the tour at (None: the first step picks it)."""
        if "start" in options:
            start = options["start"]
            if not isinstance(start, (int, np.integer)) or not 0 <= start < self.num_nodes:
                raise ValueError(f"options['start'] must be a node in [0, {self.num_nodes}), got {start!r}")
            return int(start)
        if self.spread_starts and "group_index" in options:
            return int(options["group_index"]) % self.num_nodes
        return None

    def _visit(self, node: int) -> None:
        """Mark ``node`` visited and current (and first, on the tour's first node) in the state and observation."""
        if self.tour:
            self._obs[self._current_at + self.tour[-1]] = 0.0
        else:
            self._obs[self._first_at + node] = 1.0
        self.tour.append(node)
        self.visited[node] = True
        self._obs[self._visited_at + node] = 1.0
        self._obs[self._current_at + node] = 1.0

    def action_masks(self) -> np.ndarray:
        """(num_nodes,) True for the nodes the next step may visit: the unvisited ones."""
        return ~self.visited

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        node = int(action)
        if not 0 <= node < self.num_nodes:
            raise ValueError(f"action must be a node in [0, {self.num_nodes}), got {action!r}")
        if self.visited[node]:
            raise ValueError(f"node {node} is already visited: the action mask (action_masks()) forbids it")
        added = float(np.linalg.norm(self.locs[node] - self.locs[self.tour[-1]])) if self.tour else 0.0
        self._visit(node)
        done = len(self.tour) == self.num_nodes
        info: dict[str, Any] = {}
        if done:
            added += float(np.linalg.norm(self.locs[self.tour[0]] - self.locs[node]))
        self.length += added
        if done:
            info["tour_length"] = self.length
            info["tour"] = np.array(self.tour)
        return self._obs.copy(), -added, done, False, info

    def render(self) -> np.ndarray | None:
        """An RGB image (128 x 128): the tour so far in black, its nodes in red, the first one in blue."""
        if self.render_mode != "rgb_array":
            return None
        size = 128
        image = np.full((size, size, 3), 255, dtype=np.uint8)
        pixels = np.clip(np.rint(self.locs * (size - 1)).astype(int), 0, size - 1)
        for previous, node in zip(self.tour, self.tour[1:], strict=False):
            for t in np.linspace(0.0, 1.0, size):
                x, y = np.rint((1 - t) * pixels[previous] + t * pixels[node]).astype(int)
                image[size - 1 - y, x] = 0
        for index, (x, y) in enumerate(pixels):
            color = (0, 0, 255) if self.tour and index == self.tour[0] else (255, 0, 0)
            image[max(size - 2 - y, 0) : size - y + 1, max(x - 1, 0) : x + 2] = color
        return image
