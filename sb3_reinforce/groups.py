"""
Grouped rollouts: the episodes of an update form groups of ``group_size`` that start from the same reset seed,
and each episode is judged against the other episodes of its group (RLOO, GRPO, POMO). ``REINFORCE`` picks
these buffers in ``_setup_model`` when ``group_size > 1``.

A grouped rollout is played in rounds: at the start of each round every env is reset with the seed of its group,
and the round ends when every env has finished one episode (an env that finishes early keeps stepping; those
steps are not used). With ``n_envs`` a multiple of ``group_size`` one round holds whole groups; with fewer envs a
group's episodes are played over several rounds.
"""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.buffers import DictEpisodicRolloutBuffer, EpisodicRolloutBuffer

# Seeds handed to the envs' reset: Gymnasium takes any non-negative int; SB3's VecEnv.seed uses uint32 too
_MAX_SEED = np.iinfo(np.uint32).max


def check_group_layout(group_size: int, n_envs: int, n_episodes: int) -> None:
    """
    Raise a ValueError unless ``n_episodes`` episodes played by ``n_envs`` envs (the same number each) split into
    groups of ``group_size``: ``n_envs`` a multiple of ``group_size`` or a divisor of it, and ``n_episodes`` a
    multiple of ``group_size`` and of ``n_envs``.
    """
    if n_envs % group_size != 0 and group_size % n_envs != 0:
        raise ValueError(
            f"group_size={group_size} needs n_envs to be a multiple or a divisor of it (each round of a grouped rollout "
            f"resets every env), got n_envs={n_envs}"
        )
    if n_episodes % group_size != 0 or n_episodes % n_envs != 0:
        raise ValueError(
            f"group_size={group_size} needs n_episodes to be a multiple of group_size and of n_envs={n_envs} (whole "
            f"groups, the same number of episodes in every env), got n_episodes={n_episodes}"
        )


def reset_is_reproducible(env: VecEnv, seed: int = 0, n_resets: int = 2) -> bool:
    """
    Whether ``env`` starts from the same observation whenever it is reset with the same seed: the condition for
    grouped rollouts (``group_size > 1``). Resets every env ``n_resets`` times with ``seed`` and compares the
    observations; the env is left reset.

    :param env: The env (a ``VecEnv``; wrappers such as ``VecNormalize`` change the observations they pass on, so
        check the unwrapped env or one made without them)
    :param seed: The seed to reset with
    :param n_resets: How many resets to compare
    :return: True when every reset gave the same observations
    """
    first = None
    for _ in range(n_resets):
        obs = seeded_reset(env, [seed] * env.num_envs)
        flat = [np.asarray(part) for part in (obs.values() if isinstance(obs, dict) else [obs])]
        if first is None:
            first = flat
        elif not all(np.array_equal(a, b) for a, b in zip(first, flat, strict=True)):
            return False
    return True


def seeded_reset(env: VecEnv, seeds: list[int | None]) -> Any:
    """
    Reset every env of ``env`` (through its wrappers), env ``i`` with ``seeds[i]``: the seeds are set on the
    innermost ``VecEnv``, which hands them to the next reset (SB3's ``VecEnv.seed`` gives every env its own
    seed, where a group needs the same one in several envs).

    :return: The observations of the reset
    """
    base = env.unwrapped
    base._seeds = list(seeds)  # type: ignore[attr-defined]
    return env.reset()


class GroupedEpisodicRolloutBuffer(EpisodicRolloutBuffer):
    """
    Episodic rollout buffer of a grouped rollout: each round's episodes (one per env) start from their group's
    reset seed (:meth:`begin_rollout` and :meth:`reset_request` hand the seeds to the algorithm); ``groups``
    holds the group of every step, and the steps an env plays after its episode of the round are not valid.

    :param group_size: Episodes per group
    :param seed: Seed of the generator of the groups' reset seeds (None: fresh entropy)
    The other parameters as :class:`~sb3_reinforce.buffers.EpisodicRolloutBuffer`.
    """

    groups: np.ndarray
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
        group_size: int = 2,
        seed: int | None = None,
    ):
        self.group_size = group_size
        self.seed_generator = np.random.default_rng(seed)
        self.episodes_per_env = 1
        self.round = 0
        self.round_seeds: list[int] = []
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs)

    def _allocate(self, capacity: int) -> None:
        super()._allocate(capacity)
        self.groups = np.zeros((capacity, self.n_envs), dtype=np.int64)
        self.valid = np.zeros((capacity, self.n_envs), dtype=bool)

    def _per_step_arrays(self) -> list[np.ndarray]:
        return [*super()._per_step_arrays(), self.groups, self.valid]

    def _set_per_step_arrays(self, arrays: list[np.ndarray]) -> None:
        *plain, self.groups, self.valid = arrays
        super()._set_per_step_arrays(plain)

    def reset(self) -> None:
        super().reset()
        # (n_envs,): True once an env has finished its episode of the round (its later steps are not valid)
        self.waiting = np.zeros(self.n_envs, dtype=bool)

    def begin_rollout(self, episodes_per_env: int) -> list[int | None] | None:
        """Forget the last rollout, draw the groups' seeds and return those of the first round."""
        self.reset()
        self.episodes_per_env = episodes_per_env
        n_groups = episodes_per_env * self.n_envs // self.group_size
        self.round_seeds = self.seed_generator.integers(0, _MAX_SEED, size=n_groups).tolist()
        self.round = 0
        return self._seeds_of_round()

    def _group_of(self, env_index: np.ndarray | int) -> np.ndarray | int:
        """The group of the episode env ``env_index`` plays in the current round."""
        return (self.round * self.n_envs + env_index) // self.group_size

    def _seeds_of_round(self) -> list[int | None]:
        return [int(self.round_seeds[self._group_of(env_index)]) for env_index in range(self.n_envs)]

    def reset_request(self) -> list[int | None] | None:
        """After a step: the seeds of the next round once every env has finished its episode of this one, else None."""
        if not self.waiting.all() or self.round + 1 >= self.episodes_per_env:
            return None
        self.round += 1
        self.waiting[:] = False
        return self._seeds_of_round()

    def _record_step(self, episode_end: np.ndarray) -> np.ndarray:
        valid = ~self.waiting
        self.valid[self.pos] = valid
        self.groups[self.pos] = self._group_of(np.arange(self.n_envs))
        self.waiting |= episode_end
        return episode_end & valid

    def _valid(self) -> np.ndarray:
        return self.valid[: self.pos]

    @property
    def in_flight(self) -> np.ndarray:
        # every grouped rollout starts from a seeded reset: nothing in flight is kept
        return np.zeros(self.n_envs, dtype=bool)

    def _groups(self) -> np.ndarray | None:
        return self.groups[: self.pos]


class DictGroupedEpisodicRolloutBuffer(GroupedEpisodicRolloutBuffer, DictEpisodicRolloutBuffer):
    """:class:`GroupedEpisodicRolloutBuffer` for ``Dict`` observation spaces."""

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        n_envs: int = 1,
        group_size: int = 2,
        seed: int | None = None,
    ):
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(f"DictGroupedEpisodicRolloutBuffer needs a Dict observation space, got {observation_space}")
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs, group_size, seed)
