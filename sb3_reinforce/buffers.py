"""Episodic rollout buffers and the Monte Carlo returns math of REINFORCE.

All arrays are time-major, shaped ``(n_steps, n_envs, ...)`` as in SB3's ``RolloutBuffer``: row ``t`` holds the
``t``-th step of every env. ``episode_ends[t, e]`` is True when the episode of env ``e`` ended (terminated or
truncated) with step ``t``, i.e. the ``dones`` returned by ``VecEnv.step`` for that step.
"""

from collections.abc import Generator
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.utils import explained_variance


def discounted_returns_to_go(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """
    Returns-to-go ``G_t = sum_{k=t}^{T} gamma^(k-t) r_k``, where ``T`` is the last step of the episode holding ``t``.

    One backward loop over time handles every env at once. Nothing is bootstrapped: a step that ends an episode
    gets ``G_t = r_t``. Steps after the last episode end of a column belong to an unfinished episode; their
    values are partial sums and callers must not use them (see :func:`first_episodes_mask`).

    :param rewards: shape (n_steps, n_envs)
    :param episode_ends: shape (n_steps, n_envs), True where an episode ends with that step
    :param gamma: discount factor in [0, 1]
    :return: returns-to-go, shape (n_steps, n_envs), float64
    """
    if rewards.shape != episode_ends.shape or rewards.ndim != 2:
        raise ValueError(
            f"rewards and episode_ends must both have shape (n_steps, n_envs), got {rewards.shape} and {episode_ends.shape}"
        )
    returns = np.zeros(rewards.shape, dtype=np.float64)
    # (n_envs,): the return-to-go of the step after t, zeroed where an episode ends at t
    next_return = np.zeros(rewards.shape[1], dtype=np.float64)
    continues = 1.0 - episode_ends.astype(np.float64)
    for step in reversed(range(rewards.shape[0])):
        next_return = rewards[step] + gamma * continues[step] * next_return
        returns[step] = next_return
    return returns


def whole_episode_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """
    The discounted return of the whole episode, ``R(tau) = sum_k gamma^k r_k`` counted from the episode's first
    step, given to every step of that episode (the estimator of the original policy gradient theorem, before the
    causality argument that gives returns-to-go).

    :param rewards: shape (n_steps, n_envs)
    :param episode_ends: shape (n_steps, n_envs)
    :param gamma: discount factor in [0, 1]
    :return: shape (n_steps, n_envs), float64
    """
    returns_to_go = discounted_returns_to_go(rewards, episode_ends, gamma)
    # (n_steps, n_envs): True on the first step of every episode
    episode_starts = np.ones_like(episode_ends, dtype=bool)
    episode_starts[1:] = episode_ends[:-1]
    episode_return = returns_to_go[0].copy()
    out = np.empty_like(returns_to_go)
    for step in range(returns_to_go.shape[0]):
        episode_return = np.where(episode_starts[step], returns_to_go[step], episode_return)
        out[step] = episode_return
    return out


def first_episodes_mask(episode_ends: np.ndarray, episodes_per_env: int) -> np.ndarray:
    """
    Select the steps of the first ``episodes_per_env`` episodes of every env.

    Each env contributes the same number of whole episodes, so the batch is a set of i.i.d. episodes: keeping
    instead the first N episodes to finish across envs would over-represent short episodes.

    :param episode_ends: shape (n_steps, n_envs); every column must hold at least ``episodes_per_env`` ends
    :param episodes_per_env: number of whole episodes kept per env
    :return: bool mask, shape (n_steps, n_envs)
    """
    finished = episode_ends.sum(axis=0)
    if np.any(finished < episodes_per_env):
        raise ValueError(f"Every env must have finished {episodes_per_env} episode(s); finished per env: {finished.tolist()}")
    return episodes_finished_before(episode_ends) < episodes_per_env


def episodes_finished_before(episode_ends: np.ndarray) -> np.ndarray:
    """
    :param episode_ends: shape (n_steps, n_envs)
    :return: shape (n_steps, n_envs), int64: the number of episodes the env finished before step t, i.e. the index
        (from 0) of the episode that step t belongs to
    """
    ends = episode_ends.astype(np.int64)
    return np.cumsum(ends, axis=0) - ends


def leave_one_out_baseline(returns: np.ndarray, episode_ends: np.ndarray, used: np.ndarray) -> np.ndarray:
    """
    Leave-one-out baseline (Kool, van Hoof and Welling, 2019): step ``t`` of episode ``i`` gets the mean, over the
    batch's other episodes ``j``, of their return at the same step ``t`` of their own episode, counted as 0 where
    episode ``j`` has already ended (its return-to-go there is 0):

        b_i(t) = sum_{j != i} G_j(t) / (N - 1)

    It depends only on the other episodes, which are independent of episode ``i``, so ``G_i(t) - b_i(t)`` weights
    ``grad log pi(a_t|s_t)`` without bias; no value network is needed. Episodes are the used steps of each column,
    in order, each ending with an episode end.

    :param returns: shape (n_steps, n_envs): the returns ``G`` of every step (returns-to-go, or whole-episode ones)
    :param episode_ends: shape (n_steps, n_envs)
    :param used: shape (n_steps, n_envs): the steps of the batch's episodes
    :return: shape (n_steps, n_envs), the baseline of every used step (0 elsewhere), float64
    :raises ValueError: with fewer than two episodes
    """
    # (n_used,) each, column by column: the steps of an episode are consecutive
    envs, steps = np.nonzero(used.T)
    n_episodes = int((episode_ends & used).sum())
    if n_episodes < 2:
        raise ValueError(f"The leave-one-out baseline needs at least 2 episodes per batch, got {n_episodes}")
    ends = episode_ends[steps, envs]
    # (n_used,): episode of each step, and its index t within the episode
    episode = np.cumsum(ends) - ends
    starts = np.flatnonzero(np.r_[True, ends[:-1]])
    position = np.arange(len(steps)) - starts[episode]
    # (N, T_max): the returns of each episode by time step, 0 after the episode's end
    padded = np.zeros((n_episodes, int(position.max()) + 1), dtype=np.float64)
    padded[episode, position] = returns[steps, envs]
    totals = padded.sum(axis=0)
    baseline = np.zeros(returns.shape, dtype=np.float64)
    baseline[steps, envs] = (totals[position] - padded[episode, position]) / (n_episodes - 1)
    return baseline


def normalize(values: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """
    Standardise to zero mean and unit variance. A single value is returned unchanged: its standard deviation is
    undefined, and centring it would zero the policy gradient.

    :param values: 1-D array
    :param eps: added to the standard deviation
    """
    if values.size < 2:
        return values
    return (values - values.mean()) / (values.std() + eps)


class EpisodicRolloutBufferSamples(NamedTuple):
    observations: th.Tensor | TensorDict
    actions: th.Tensor
    returns: th.Tensor
    advantages: th.Tensor
    # importance weight of the step's episode: 1 unless part of it was played under earlier parameters
    weights: th.Tensor


def _grow(array: np.ndarray, capacity: int) -> np.ndarray:
    """Copy ``array`` into a new array with ``capacity`` rows (axis 0)."""
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class EpisodicRolloutBuffer(BaseBuffer):
    """
    Rollout buffer of whole episodes for REINFORCE.

    Unlike SB3's ``RolloutBuffer`` its length is not fixed: it grows (doubling its capacity) until the algorithm
    stops stepping, and keeps that capacity for the next rollout. Observations are stored with the observation
    space's own dtype (an ``uint8`` image stays ``uint8``); they become float tensors one minibatch at a time
    in :meth:`get`, so a large rollout never exists as float32 in memory.

    After :meth:`compute_returns_and_advantage`, only the steps of the first ``episodes_per_env`` episodes of
    each env are used; the steps an env took after its last used episode ended are counted in
    ``n_unused_steps``. :meth:`reset` drops them; :meth:`carry_unused` keeps them as the start of the next
    rollout, marked as played under earlier parameters (``played_before``), for an importance-weighted update.
    ``valid`` marks the steps that belong to a kept episode: a carried column is right-aligned (its carried steps
    end on the same row for every env, the rows above them are not valid), and the rest of an episode dropped in
    flight is stored but not valid.

    :param buffer_size: Initial capacity, in steps per env
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Must be 1: Monte Carlo returns (kept for ``OnPolicyAlgorithm``'s call signature)
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    """

    observation_space: spaces.Space
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_ends: np.ndarray
    values: np.ndarray
    returns: np.ndarray
    advantages: np.ndarray
    used: np.ndarray
    played_before: np.ndarray
    behaviour_log_prob: np.ndarray
    weights: np.ndarray
    valid: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        n_envs: int = 1,
    ):
        if gae_lambda != 1.0:
            raise ValueError(f"EpisodicRolloutBuffer computes Monte Carlo returns: gae_lambda must be 1, got {gae_lambda}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.gamma = gamma
        self.reset()

    def _allocate_observations(self, capacity: int) -> None:
        self.observations = np.zeros((capacity, self.n_envs, *self.obs_shape), dtype=self.observation_space.dtype)

    def _grow_observations(self, capacity: int) -> None:
        self.observations = _grow(self.observations, capacity)

    def _store_observations(self, obs: np.ndarray) -> None:
        self.observations[self.pos] = np.asarray(obs).reshape((self.n_envs, *self.obs_shape))

    def _observation_batch(self, steps: np.ndarray, envs: np.ndarray) -> th.Tensor | TensorDict:
        return self.to_torch(self.observations[steps, envs])

    def reset(self) -> None:
        capacity = self.buffer_size
        if getattr(self, "rewards", None) is None or len(self.rewards) != capacity:
            # first call: allocate; later calls keep the (grown) arrays, whose rows add() overwrites before use
            self._allocate_observations(capacity)
            self.actions = np.zeros((capacity, self.n_envs, self.action_dim), dtype=np.float32)
            self.rewards = np.zeros((capacity, self.n_envs), dtype=np.float32)
            self.episode_ends = np.zeros((capacity, self.n_envs), dtype=bool)
            # the Monitor's record of each episode ("episode", "is_success"), at the step that ends it
            self.episode_infos = np.full((capacity, self.n_envs), None, dtype=object)
            self.values = np.zeros((capacity, self.n_envs), dtype=np.float32)
            self.played_before = np.zeros((capacity, self.n_envs), dtype=bool)
            self.behaviour_log_prob = np.zeros((capacity, self.n_envs), dtype=np.float32)
            self.valid = np.zeros((capacity, self.n_envs), dtype=bool)
        self.played_before[:] = False
        # (n_envs,): True while an env plays the rest of an episode that was dropped in flight (its steps not valid)
        self.skipping = np.zeros(self.n_envs, dtype=bool)
        self.n_dropped_steps = 0
        self.has_values = False
        self._reset_results()
        super().reset()

    def _reset_results(self) -> None:
        """Forget what compute_returns_and_advantage derived from the last rollout."""
        self.returns = np.zeros((0, self.n_envs), dtype=np.float32)
        self.advantages = np.zeros((0, self.n_envs), dtype=np.float32)
        self.used = np.zeros((0, self.n_envs), dtype=bool)
        self.episode_lengths = np.zeros(0, dtype=np.int64)
        self.explained_variance = float("nan")
        self.weights = np.zeros((0, self.n_envs), dtype=np.float32)
        self.generator_ready = False

    def carry_unused(self, max_episodes: int) -> None:
        """
        Start a rollout with the valid steps each env took after its used episodes, instead of dropping them: at
        most ``max_episodes`` whole episodes per env, and the start of the episode in flight when there are fewer.
        They become the first steps of the env's column, marked ``played_before``. The rest is dropped, by
        position only (never by content): whole episodes past the first ``max_episodes``, and an episode in flight
        behind them, whose remaining steps the next rollout stores as not valid. Without a computed rollout this
        is :meth:`reset`.

        :param max_episodes: Most whole episodes carried per env (bounds how old a carried step can be)
        """
        if self.used.shape[0] == 0:
            self.reset()
            return
        rows = self.pos
        self.n_dropped_steps = 0
        kept_rows = []
        for env_index in range(self.n_envs):
            # (k,): the env's valid steps that the update did not use, in order
            unused = np.flatnonzero(self.valid[:rows, env_index] & ~self.used[:, env_index])
            kept = unused
            ends = np.flatnonzero(self.episode_ends[unused, env_index])
            if len(ends) >= max_episodes:
                kept = unused[: ends[max_episodes - 1] + 1]
                # an episode in flight behind the kept ones is dropped: skip its remaining steps
                self.skipping[env_index] = not self.episode_ends[rows - 1, env_index]
            self.n_dropped_steps += len(unused) - len(kept)
            kept_rows.append(kept)
        new_pos = max(len(kept) for kept in kept_rows)
        per_step = [self.actions, self.rewards, self.episode_ends, self.episode_infos, self.values, self.behaviour_log_prob]
        for env_index, kept in enumerate(kept_rows):
            first = new_pos - len(kept)
            for array in [*per_step, *self._observation_arrays()]:
                array[first:new_pos, env_index] = array[kept, env_index]
                array[:first, env_index] = 0
            self.played_before[:new_pos, env_index] = np.arange(new_pos) >= first
            self.valid[:new_pos, env_index] = np.arange(new_pos) >= first
        # add() does not write played_before: the rows the next steps go to must read "played now"
        self.played_before[new_pos:] = False
        self.pos = new_pos
        self.full = False
        self._reset_results()

    def _observation_arrays(self) -> list[np.ndarray]:
        return [self.observations]

    @property
    def in_flight(self) -> np.ndarray:
        """(n_envs,): True where the buffer holds the start of the env's current episode, or skips its rest."""
        if self.pos == 0:
            return self.skipping.copy()
        last = self.pos - 1
        return (self.valid[last] & ~self.episode_ends[last]) | self.skipping

    @property
    def finished_episodes(self) -> np.ndarray:
        """(n_envs,): number of whole valid episodes stored in each column."""
        return (self.episode_ends[: self.pos] & self.valid[: self.pos]).sum(axis=0)

    def _grow_capacity(self) -> None:
        capacity = 2 * self.buffer_size
        self._grow_observations(capacity)
        self.actions = _grow(self.actions, capacity)
        self.rewards = _grow(self.rewards, capacity)
        self.episode_ends = _grow(self.episode_ends, capacity)
        self.episode_infos = _grow(self.episode_infos, capacity)
        self.values = _grow(self.values, capacity)
        self.played_before = _grow(self.played_before, capacity)
        self.behaviour_log_prob = _grow(self.behaviour_log_prob, capacity)
        self.valid = _grow(self.valid, capacity)
        self.buffer_size = capacity

    def add(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        episode_end: np.ndarray,
        value: th.Tensor | None = None,
        infos: list[dict[str, Any]] | None = None,
    ) -> None:
        """
        :param obs: Observation of every env before the step
        :param action: Action taken by every env
        :param reward: Reward of the step, shape (n_envs,)
        :param episode_end: True where the step ended the env's episode, shape (n_envs,)
        :param value: Baseline value V(obs), shape (n_envs, 1), or None when there is no learned baseline
        :param infos: The envs' infos of the step: the ``"episode"`` and ``"is_success"`` entries of an episode's
            last step are kept, for :meth:`used_episode_infos`
        """
        if self.pos == self.buffer_size:
            self._grow_capacity()
        self._store_observations(obs)  # type: ignore[arg-type]
        self.actions[self.pos] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = reward
        self.episode_ends[self.pos] = episode_end
        self.episode_infos[self.pos] = None
        if infos is not None:
            for env_index in np.flatnonzero(episode_end):
                info = infos[env_index]
                self.episode_infos[self.pos, env_index] = {k: info[k] for k in ("episode", "is_success") if k in info}
        if self.skipping.any():
            self.valid[self.pos] = ~self.skipping
            self.n_dropped_steps += int(self.skipping.sum())
            self.skipping &= ~np.asarray(episode_end, dtype=bool)
        else:
            self.valid[self.pos] = True
        if value is not None:
            self.values[self.pos] = value.detach().cpu().numpy().flatten()
            self.has_values = True
        self.pos += 1

    def compute_returns_and_advantage(  # type: ignore[override]
        self,
        episodes_per_env: int,
        reward_to_go: bool = True,
        normalize_advantage: bool = False,
        leave_one_out: bool = False,
    ) -> None:
        """
        Monte Carlo returns of the first ``episodes_per_env`` whole episodes of every env, and their advantages
        ``A_t = G_t - V(s_t)`` (``A_t = G_t`` without a stored baseline), optionally standardised over the used
        steps.

        :param episodes_per_env: Number of whole episodes used per env
        :param reward_to_go: Weight step t by the return-to-go ``G_t`` (True) or by the whole-episode
            return ``R(tau)`` (False)
        :param normalize_advantage: Standardise the advantages over the used steps
        :param leave_one_out: Subtract :func:`leave_one_out_baseline` from the returns instead of stored values
        :raises ValueError: if a used reward or return is NaN or infinite
        """
        rewards = self.rewards[: self.pos]
        episode_ends = self.episode_ends[: self.pos]
        valid = self.valid[: self.pos]
        self.used = first_episodes_mask(episode_ends & valid, episodes_per_env) & valid
        if not np.all(np.isfinite(rewards[self.used])):
            steps, envs = np.nonzero(~np.isfinite(rewards) & self.used)
            raise ValueError(
                f"The rollout holds a non-finite reward (NaN or inf) at step {steps[0]} of env {envs[0]}: "
                "no update was made. Check the environment's reward or a reward wrapper."
            )
        returns_fn = discounted_returns_to_go if reward_to_go else whole_episode_returns
        returns = returns_fn(rewards, episode_ends, self.gamma)
        if leave_one_out:
            advantages = returns - leave_one_out_baseline(returns, episode_ends, self.used)
        elif self.has_values:
            advantages = returns - self.values[: self.pos]
        else:
            advantages = returns.copy()
        if normalize_advantage:
            advantages[self.used] = normalize(advantages[self.used])
        # checked after the cast to float32, the precision the loss sees: a float64 return above 3.4e38 is inf there
        returns_32, advantages_32 = returns.astype(np.float32), advantages.astype(np.float32)
        if not (np.all(np.isfinite(returns_32[self.used])) and np.all(np.isfinite(advantages_32[self.used]))):
            raise ValueError(
                "The rollout's discounted returns or advantages overflow float32 (|x| > 3.4e38) or are not finite: "
                "no update was made. Scale the rewards down (e.g. VecNormalize) or lower gamma."
            )
        self.returns, self.advantages = returns_32, advantages_32
        if self.has_values:
            self.explained_variance = float(explained_variance(self.values[: self.pos][self.used], returns[self.used]))
        self.episode_lengths = _episode_lengths(episode_ends & self.used, self.used)
        self.weights = np.ones((self.pos, self.n_envs), dtype=np.float32)

    def set_importance_weights(self, log_prob: np.ndarray) -> np.ndarray:
        """
        Importance weights of the used episodes that were partly played under earlier parameters: for each such
        episode ``w = prod_t pi(a_t|s_t) / mu(a_t|s_t)`` over its steps played under the earlier parameters ``mu``
        (``behaviour_log_prob``), ``pi`` being the current policy. Every step of the episode gets ``w``; the
        episodes played wholly under the current parameters keep 1.

        :param log_prob: ``log pi(a_t|s_t)`` under the current parameters of the steps ``used & played_before``,
            in row-major order (that of ``np.nonzero``)
        :return: the weights of the carried episodes
        """
        carried = self.used & self.played_before[: self.pos]
        steps, envs = np.nonzero(carried)
        # (pos, n_envs): index of the step's episode among the valid episodes of its column
        episode_index = episodes_finished_before(self.episode_ends[: self.pos] & self.valid[: self.pos])
        log_weights = np.zeros((self.n_envs, int(episode_index.max(initial=0)) + 1), dtype=np.float64)
        np.add.at(log_weights, (envs, episode_index[steps, envs]), log_prob - self.behaviour_log_prob[steps, envs])
        weights = np.exp(log_weights)
        self.weights = np.where(self.used, weights[np.arange(self.n_envs)[None, :], episode_index], 1.0).astype(np.float32)
        return weights[log_weights != 0.0]

    def used_episode_infos(self) -> list[dict[str, Any]]:
        """The recorded infos (``"episode"``, ``"is_success"``) of the episodes the update uses, in buffer order."""
        ends = self.episode_ends[: self.pos] & self.used
        return [info for info in self.episode_infos[: self.pos][ends] if info is not None]

    @property
    def n_used_steps(self) -> int:
        return int(self.used.sum())

    @property
    def n_unused_steps(self) -> int:
        """Valid steps of the rollout that the update does not use (dropped, or carried to the next rollout)."""
        return int(self.valid[: self.pos].sum()) - self.n_used_steps

    @property
    def n_carried_steps(self) -> int:
        """Used steps that were played before this rollout (under earlier parameters)."""
        return int((self.used & self.played_before[: self.pos]).sum())

    @property
    def n_episodes(self) -> int:
        return len(self.episode_lengths)

    def get(  # type: ignore[override]
        self, batch_size: int | None = None, shuffle: bool = False
    ) -> Generator[EpisodicRolloutBufferSamples, None, None]:
        """
        Iterate over the used steps in chunks of ``batch_size`` (all at once when None), in a fixed order:
        REINFORCE makes one gradient step over the whole batch, so the chunks only bound memory. With
        ``shuffle`` the steps come in a random order, for fitting a value baseline over several passes in
        minibatches. The order is drawn from torch's global generator, the one a bit-exact resume must carry over
        anyway (the actions are sampled from it).
        """
        # flat indices into (n_steps, n_envs), row-major
        indices = np.flatnonzero(self.used.ravel())
        if shuffle:
            indices = indices[th.randperm(len(indices)).numpy()]
        if batch_size is None:
            batch_size = max(len(indices), 1)
        for start in range(0, len(indices), batch_size):
            yield self._get_samples(indices[start : start + batch_size])

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env=None
    ) -> EpisodicRolloutBufferSamples:
        steps, envs = np.divmod(batch_inds, self.n_envs)
        data = (
            self.actions[steps, envs],
            self.returns[steps, envs],
            self.advantages[steps, envs],
            self.weights[steps, envs],
        )
        return EpisodicRolloutBufferSamples(self._observation_batch(steps, envs), *map(self.to_torch, data))


def _episode_lengths(episode_ends: np.ndarray, steps: np.ndarray | None = None) -> np.ndarray:
    """
    Lengths of the episodes in a (n_steps, n_envs) array of episode ends, counting the rows marked in ``steps``
    (every row by default) between one end and the next in each column.
    """
    lengths = []
    steps = np.ones_like(episode_ends, dtype=bool) if steps is None else steps
    for column, in_episode in zip(episode_ends.T, steps.T, strict=True):
        # number of counted rows up to and including each end
        counted = np.cumsum(in_episode)[np.flatnonzero(column)]
        lengths.append(np.diff(counted, prepend=0))
    return np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)


class DictEpisodicRolloutBuffer(EpisodicRolloutBuffer):
    """
    :class:`EpisodicRolloutBuffer` for ``Dict`` observation spaces: one array per key, each with its own dtype.
    """

    observation_space: spaces.Dict
    obs_shape: dict[str, tuple[int, ...]]  # type: ignore[assignment]
    observations: dict[str, np.ndarray]  # type: ignore[assignment]

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        n_envs: int = 1,
    ):
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(f"DictEpisodicRolloutBuffer needs a Dict observation space, got {observation_space}")
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs)

    def _allocate_observations(self, capacity: int) -> None:
        self.observations = {
            key: np.zeros((capacity, self.n_envs, *shape), dtype=self.observation_space[key].dtype)
            for key, shape in self.obs_shape.items()
        }

    def _grow_observations(self, capacity: int) -> None:
        self.observations = {key: _grow(array, capacity) for key, array in self.observations.items()}

    def _store_observations(self, obs: dict[str, np.ndarray]) -> None:  # type: ignore[override]
        for key, array in self.observations.items():
            array[self.pos] = np.asarray(obs[key]).reshape((self.n_envs, *self.obs_shape[key]))

    def _observation_batch(self, steps: np.ndarray, envs: np.ndarray) -> TensorDict:
        return {key: self.to_torch(array[steps, envs]) for key, array in self.observations.items()}

    def _observation_arrays(self) -> list[np.ndarray]:
        return list(self.observations.values())
