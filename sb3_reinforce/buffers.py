"""Rollout buffers of whole episodes for REINFORCE.

All arrays are time-major, shaped ``(n_steps, n_envs, ...)`` as in SB3's ``RolloutBuffer``: row ``t`` holds the
``t``-th step of every env. ``episode_ends[t, e]`` is True when the episode of env ``e`` ended (terminated or
truncated) with step ``t``, i.e. the ``dones`` returned by ``VecEnv.step`` for that step.
"""

from collections.abc import Generator
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.utils import explained_variance

from sb3_reinforce.returns import (
    discounted_returns_to_go,
    first_episodes_mask,
    normalize,
    whole_episode_returns,
)
from sb3_reinforce.type_aliases import AdvantageFn, EpisodicRolloutBufferSamples, LogProbFn


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
    space's own dtype (an ``uint8`` image stays ``uint8``; a ``Dict`` space's are one array per key); they become
    float tensors one minibatch at a time in :meth:`get`, so a large rollout never exists as float32 in memory.

    After :meth:`compute_returns_and_advantage`, only the steps of the first ``episodes_per_env`` episodes of
    each env are used; the steps an env took after its last used episode ended are counted in
    ``n_unused_steps`` and dropped at the next rollout's start (:meth:`begin_rollout`).

    :param buffer_size: Initial capacity, in steps per env
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Must be 1: Monte Carlo returns (kept for ``OnPolicyAlgorithm``'s call signature)
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param mask_dim: Length of one env's action mask (0: no masks are stored)
    """

    observation_space: spaces.Space
    #: (capacity, n_envs, *obs_shape), or one such array per key of a ``Dict`` observation space
    observations: np.ndarray | dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    episode_ends: np.ndarray
    episode_infos: np.ndarray
    values: np.ndarray
    returns: np.ndarray
    advantages: np.ndarray
    used: np.ndarray
    weights: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        n_envs: int = 1,
        mask_dim: int = 0,
    ):
        if gae_lambda != 1.0:
            raise ValueError(f"EpisodicRolloutBuffer computes Monte Carlo returns: gae_lambda must be 1, got {gae_lambda}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.gamma = gamma
        self.mask_dim = mask_dim
        self.reset()

    def _allocate_observations(self, capacity: int) -> None:
        if isinstance(self.observation_space, spaces.Dict):
            shapes: dict[str, tuple[int, ...]] = self.obs_shape  # type: ignore[assignment]  # SB3: a dict for Dict
            self.observations = {
                key: np.zeros((capacity, self.n_envs, *shape), dtype=self.observation_space[key].dtype)
                for key, shape in shapes.items()
            }
        else:
            self.observations = np.zeros((capacity, self.n_envs, *self.obs_shape), dtype=self.observation_space.dtype)

    def _observation_arrays(self) -> list[np.ndarray]:
        return list(self.observations.values()) if isinstance(self.observations, dict) else [self.observations]

    def _grow_observations(self, capacity: int) -> None:
        if isinstance(self.observations, dict):
            self.observations = {key: _grow(array, capacity) for key, array in self.observations.items()}
        else:
            self.observations = _grow(self.observations, capacity)

    def _store_observations(self, obs: np.ndarray | dict[str, np.ndarray]) -> None:
        if isinstance(self.observations, dict):
            for key, array in self.observations.items():
                array[self.pos] = np.asarray(obs[key]).reshape((self.n_envs, *array.shape[2:]))
        else:
            self.observations[self.pos] = np.asarray(obs).reshape((self.n_envs, *self.observations.shape[2:]))

    def _observation_batch(self, steps: np.ndarray, envs: np.ndarray) -> th.Tensor | TensorDict:
        if isinstance(self.observations, dict):
            return {key: self.to_torch(array[steps, envs]) for key, array in self.observations.items()}
        return self.to_torch(self.observations[steps, envs])

    def _per_step_arrays(self) -> list[np.ndarray]:
        """Every array with a row per step (observations aside), which grows with the buffer."""
        return [self.actions, self.rewards, self.episode_ends, self.episode_infos, self.values, self.action_masks]

    def _set_per_step_arrays(self, arrays: list[np.ndarray]) -> None:
        self.actions, self.rewards, self.episode_ends, self.episode_infos, self.values, self.action_masks = arrays

    def reset(self) -> None:
        capacity = self.buffer_size
        if getattr(self, "rewards", None) is None or len(self.rewards) != capacity:
            # first call: allocate; later calls keep the (grown) arrays, whose rows add() overwrites before use
            self._allocate_observations(capacity)
            self._allocate(capacity)
        # (n_envs,): whole episodes of each env in the buffer
        self.finished_episodes = np.zeros(self.n_envs, dtype=np.int64)
        self.has_values = False
        self._reset_results()
        super().reset()

    def _allocate(self, capacity: int) -> None:
        self.actions = np.zeros((capacity, self.n_envs, self.action_dim), dtype=np.float32)
        self.rewards = np.zeros((capacity, self.n_envs), dtype=np.float32)
        self.episode_ends = np.zeros((capacity, self.n_envs), dtype=bool)
        # the Monitor's record of each episode ("episode", "is_success"), at the step that ends it
        self.episode_infos = np.full((capacity, self.n_envs), None, dtype=object)
        self.values = np.zeros((capacity, self.n_envs), dtype=np.float32)
        # (capacity, n_envs, mask_dim): the masks the actions were sampled under (no memory when mask_dim is 0)
        self.action_masks = np.ones((capacity, self.n_envs, self.mask_dim), dtype=bool)

    def _reset_results(self) -> None:
        """Forget what compute_returns_and_advantage derived from the last rollout."""
        self.returns = np.zeros((0, self.n_envs), dtype=np.float32)
        self.advantages = np.zeros((0, self.n_envs), dtype=np.float32)
        self.used = np.zeros((0, self.n_envs), dtype=bool)
        self.episode_lengths = np.zeros(0, dtype=np.int64)
        self.explained_variance = float("nan")
        self.weights = np.zeros((0, self.n_envs), dtype=np.float32)
        self.generator_ready = False

    #: The reset options of every env to pass with the seeds :meth:`begin_rollout` and :meth:`reset_request` return
    #: (None: no options)
    reset_options: list[dict[str, Any]] | None = None

    def begin_rollout(self, episodes_per_env: int) -> list[int | None] | None:
        """
        Make room for a rollout of ``episodes_per_env`` whole episodes per env: here, forget the last one.

        :return: The seeds of a reset of every env the rollout must start with (with :attr:`reset_options`), or
            None when it may go on from where the envs are
        """
        self.reset()
        return None

    def reset_request(self) -> list[int | None] | None:
        """
        Called after a step that ended an episode (only then can a reset be due): the seeds of a reset of every env
        the rollout needs now, or None (here: never).
        """
        return None

    def _groups(self) -> np.ndarray | None:
        """(pos, n_envs): the group of every step, for baselines within groups; None when episodes are not grouped."""
        return None

    def end_rollout(self, log_prob: LogProbFn) -> None:
        """
        Called once the rollout's returns are computed, with the current policy's log-likelihood (a hook for
        buffers that keep steps for later updates).
        """

    def begin_update(self, log_prob: LogProbFn) -> np.ndarray:
        """
        Called before the update, with the current policy's log-likelihood: set the weights of the used steps.

        :return: The importance weights of the episodes played under earlier parameters (none here)
        """
        return np.zeros(0, dtype=np.float64)

    def rollout_statistics(self) -> dict[str, int]:
        """What the rollout logs beside its episodes (``rollout/<key>``)."""
        return {"unused_steps": self.n_unused_steps}

    def _used_steps(self, episode_ends: np.ndarray, valid: np.ndarray, episodes_per_env: int) -> np.ndarray:
        """(pos, n_envs): the steps the update uses: the first ``episodes_per_env`` valid episodes of every env."""
        return first_episodes_mask(episode_ends & valid, episodes_per_env) & valid

    def _valid(self) -> np.ndarray:
        """(pos, n_envs): the steps that belong to an episode the buffer may use."""
        return np.ones((self.pos, self.n_envs), dtype=bool)

    @property
    def in_flight(self) -> np.ndarray:
        """(n_envs,): True where the buffer holds the start of the env's current (unfinished) episode."""
        if self.pos == 0:
            return np.zeros(self.n_envs, dtype=bool)
        return ~self.episode_ends[self.pos - 1]

    def _grow_capacity(self) -> None:
        capacity = 2 * self.buffer_size
        self._grow_observations(capacity)
        self._set_per_step_arrays([_grow(array, capacity) for array in self._per_step_arrays()])
        self.buffer_size = capacity

    def add(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        episode_end: np.ndarray,
        value: th.Tensor | None = None,
        infos: list[dict[str, Any]] | None = None,
        action_masks: np.ndarray | None = None,
    ) -> None:
        """
        :param obs: Observation of every env before the step
        :param action: Action taken by every env
        :param reward: Reward of the step, shape (n_envs,)
        :param episode_end: True where the step ended the env's episode, shape (n_envs,)
        :param value: Baseline value V(obs), shape (n_envs, 1), or None when there is no learned baseline
        :param infos: The envs' infos of the step: the ``"episode"`` and ``"is_success"`` entries of an episode's
            last step are kept, for :meth:`used_episode_infos`
        :param action_masks: The masks of the valid actions the step's actions were sampled under, shape
            (n_envs, mask_dim), or None without masking
        """
        if self.pos == self.buffer_size:
            self._grow_capacity()
        episode_end = np.asarray(episode_end, dtype=bool)
        self._store_observations(obs)
        self.actions[self.pos] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = reward
        self.episode_ends[self.pos] = episode_end
        if action_masks is not None:
            self.action_masks[self.pos] = np.asarray(action_masks, dtype=bool).reshape((self.n_envs, self.mask_dim))
        if value is not None:
            self.values[self.pos] = value.detach().cpu().numpy().flatten()
            self.has_values = True
        finished = self._record_step(episode_end)
        if episode_end.any():
            # the per-episode book-keeping, at the steps that end one (episode_infos is read only at episode ends)
            self.finished_episodes += finished
            self.episode_infos[self.pos] = None
            if infos is not None:
                for env_index in np.flatnonzero(episode_end):
                    info = infos[env_index]
                    self.episode_infos[self.pos, env_index] = {k: info[k] for k in ("episode", "is_success") if k in info}
        self.pos += 1

    def _record_step(self, episode_end: np.ndarray) -> np.ndarray:
        """Book-keeping of the step being added at ``pos``; returns where it ends a whole episode, (n_envs,)."""
        return episode_end

    def compute_returns_and_advantage(
        self,
        episodes_per_env: int,
        reward_to_go: bool = True,
        normalize_advantage: bool = False,
        advantages_fn: AdvantageFn | None = None,
    ) -> None:
        """
        Monte Carlo returns of the first ``episodes_per_env`` whole episodes of every env, and their advantages
        ``A_t = G_t - b_t`` from a baseline's ``advantages_fn`` (``A_t = G_t`` when None), optionally standardised
        over the used steps.

        :param episodes_per_env: Number of whole episodes used per env
        :param reward_to_go: Weight step t by the return-to-go ``G_t`` (True) or by the whole-episode
            return ``R(tau)`` (False)
        :param normalize_advantage: Standardise the advantages over the used steps
        :param advantages_fn: The baseline's advantages (:meth:`~sb3_reinforce.baselines.Baseline.advantages`)
        :raises ValueError: if a used reward or return is NaN or infinite
        """
        rewards = self.rewards[: self.pos]
        episode_ends = self.episode_ends[: self.pos]
        valid = self._valid()
        self.used = self._used_steps(episode_ends, valid, episodes_per_env)
        if not np.all(np.isfinite(rewards[self.used])):
            steps, envs = np.nonzero(~np.isfinite(rewards) & self.used)
            raise ValueError(
                f"The rollout holds a non-finite reward (NaN or inf) at step {steps[0]} of env {envs[0]}: "
                "no update was made. Check the environment's reward or a reward wrapper."
            )
        returns_fn = discounted_returns_to_go if reward_to_go else whole_episode_returns
        # a step that is not valid bounds an episode as its end does (a carried column starts below invalid rows, a
        # grouped wave after the unused steps of the last one)
        returns = returns_fn(rewards, episode_ends | ~valid, self.gamma)
        if advantages_fn is None:
            advantages = returns.copy()
        else:
            advantages = advantages_fn(returns, episode_ends, self.used, self.values[: self.pos], self._groups())
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

    def used_episode_infos(self) -> list[dict[str, Any]]:
        """The recorded infos (``"episode"``, ``"is_success"``) of the episodes the update uses, in buffer order."""
        ends = self.episode_ends[: self.pos] & self.used
        return [info for info in self.episode_infos[: self.pos][ends] if info is not None]

    @property
    def n_used_steps(self) -> int:
        return int(self.used.sum())

    @property
    def n_unused_steps(self) -> int:
        """Valid steps of the rollout that the update does not use."""
        return int(self._valid().sum()) - self.n_used_steps

    @property
    def n_episodes(self) -> int:
        return len(self.episode_lengths)

    def get(self, batch_size: int | None = None, shuffle: bool = False) -> Generator[EpisodicRolloutBufferSamples, None, None]:
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

    def _get_samples(  # type: ignore[override]  # the episodic samples
        self, batch_inds: np.ndarray, env=None
    ) -> EpisodicRolloutBufferSamples:
        steps, envs = np.divmod(batch_inds, self.n_envs)
        return EpisodicRolloutBufferSamples(self._observation_batch(steps, envs), *self._step_data(steps, envs))

    def _step_data(
        self, steps: np.ndarray, envs: np.ndarray
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor, th.Tensor | None]:
        """The actions, returns, advantages, weights and action masks (None without masks) of the steps ``(steps, envs)``."""
        return (
            self.to_torch(self.actions[steps, envs]),
            self.to_torch(self.returns[steps, envs]),
            self.to_torch(self.advantages[steps, envs]),
            self.to_torch(self.weights[steps, envs]),
            self.action_masks_of(steps, envs),
        )

    def action_masks_of(self, steps: np.ndarray, envs: np.ndarray) -> th.Tensor | None:
        """The stored action masks of the steps ``(steps, envs)``, shape (batch, mask_dim), or None without masks."""
        return th.as_tensor(self.action_masks[steps, envs], device=self.device) if self.mask_dim > 0 else None


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
