"""
Grouped rollouts: the episodes of an update form groups of ``group_size`` that start from the same reset seed,
and each episode is judged against the other episodes of its group (RLOO, GRPO, POMO). ``REINFORCE`` picks
these buffers in ``_setup_model`` when ``group_size > 1``.

A grouped rollout of ``n_episodes`` episodes is played in ``ceil(n_episodes / n_envs)`` waves: at the start of each
wave every env is reset with the seed of its group, and the wave ends when every env has finished one episode (an
env that finishes early keeps stepping; those steps are not used). Episode ``i`` of the rollout is played by env
``i mod n_envs`` in wave ``i // n_envs`` and belongs to group ``i // group_size``: with ``n_envs`` a multiple of
``group_size`` a wave holds whole groups, with fewer envs a group's episodes are played over several waves, and
the envs past ``n_episodes`` in the last wave play episodes that are not used. Each reset of a grouped rollout
passes the episode's index in its group as the reset option ``group_index`` (``0 .. group_size - 1``), which an env
may read to vary its episodes within a group (:class:`~sb3_reinforce.routing.TSPEnv` spreads the tours' starts over
the nodes, as POMO does) and otherwise ignores.
"""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.atari_wrappers import EpisodicLifeEnv
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.buffers import EpisodicRolloutBuffer

# Seeds handed to the envs' reset: Gymnasium takes any non-negative int; SB3's VecEnv.seed uses uint32 too
_MAX_SEED = np.iinfo(np.uint32).max


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
        obs = reset_all_envs(env, [seed] * env.num_envs)
        flat = [np.asarray(part) for part in (obs.values() if isinstance(obs, dict) else [obs])]
        if first is None:
            first = flat
        elif not all(np.array_equal(a, b) for a, b in zip(first, flat, strict=True)):
            return False
    return True


def reset_all_envs(env: VecEnv, seeds: list[int | None] | None = None, options: list[dict[str, Any]] | None = None) -> Any:
    """
    Reset every env of ``env`` (through its wrappers) to the start of a new episode, env ``i`` with ``seeds[i]``
    and ``options[i]`` when given. The seeds are set on the innermost ``VecEnv``, which hands them to the next reset
    (SB3's ``VecEnv.seed`` gives every env its own seed, where a group needs the same one in several envs). Under
    SB3's ``EpisodicLifeEnv`` (``AtariWrapper``) the reset starts a new game, not only a new life.

    :return: The observations of the reset
    """
    life_episodes = [index for index, wrapped in enumerate(env.env_is_wrapped(EpisodicLifeEnv)) if wrapped]
    if life_episodes:
        # EpisodicLifeEnv.reset() in the middle of a life only takes a no-op step: make it a real reset
        env.env_method("set_wrapper_attr", "was_real_done", True, indices=life_episodes)
    if seeds is not None:
        env.unwrapped._seeds = list(seeds)
    if options is not None:
        env.set_options(options)
    return env.reset()


class GroupedEpisodicRolloutBuffer(EpisodicRolloutBuffer):
    """
    Episodic rollout buffer of a grouped rollout: each wave's episodes (one per env) start from their group's
    reset seed (:meth:`begin_rollout` and :meth:`reset_request` hand the seeds to the algorithm); ``groups``
    holds the group of every step, and the steps an env plays after its episode of the wave are not valid.

    :param group_size: Episodes per group
    :param episodes_per_rollout: Episodes per rollout, a multiple of ``group_size``
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
        episodes_per_rollout: int = 2,
        seed: int | None = None,
        mask_dim: int = 0,
    ):
        if group_size < 2 or episodes_per_rollout % group_size != 0:
            raise ValueError(f"episodes_per_rollout={episodes_per_rollout} must be a multiple of group_size={group_size} >= 2")
        self.group_size = group_size
        self.episodes_per_rollout = episodes_per_rollout
        self.seed_generator = np.random.default_rng(seed)
        self.wave = 0
        self.wave_seeds: list[int] = []
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs, mask_dim)

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
        # (n_envs,): True once an env has finished its episode of the wave (its later steps are not valid)
        self.waiting = np.zeros(self.n_envs, dtype=bool)

    @property
    def n_waves(self) -> int:
        return -(-self.episodes_per_rollout // self.n_envs)

    def begin_rollout(self, episodes_per_env: int) -> list[int | None] | None:
        """
        Forget the last rollout, draw the groups' seeds and return those of the first wave (``episodes_per_env`` is
        the number of waves: ``ceil(n_episodes / n_envs)``).
        """
        self.reset()
        n_groups = self.episodes_per_rollout // self.group_size
        self.wave_seeds = self.seed_generator.integers(0, _MAX_SEED, size=n_groups).tolist()
        self.wave = 0
        return self._start_wave()

    def _episode_index(self) -> np.ndarray:
        """(n_envs,): the index in the rollout of the episode each env plays in the current wave."""
        return self.wave * self.n_envs + np.arange(self.n_envs)

    def _start_wave(self) -> list[int | None]:
        """Mark the envs without an episode in this wave as done with it, and return every env's reset seed."""
        playing = self._episode_index() < self.episodes_per_rollout
        self.waiting = ~playing
        # an env past n_episodes in the last wave has no episode to finish: it counts as done with the wave
        self.finished_episodes += ~playing
        groups, members = np.divmod(self._episode_index(), self.group_size)
        self.reset_options = [
            {"group_index": int(member)} if play else {} for member, play in zip(members, playing, strict=True)
        ]
        return [int(self.wave_seeds[group]) if play else None for group, play in zip(groups, playing, strict=True)]

    def reset_request(self) -> list[int | None] | None:
        """After a step: the seeds of the next wave once every env has finished its episode of this one, else None."""
        if not self.waiting.all() or self.wave + 1 >= self.n_waves:
            return None
        self.wave += 1
        return self._start_wave()

    def _record_step(self, episode_end: np.ndarray) -> np.ndarray:
        valid = ~self.waiting
        self.valid[self.pos] = valid
        self.groups[self.pos] = self._episode_index() // self.group_size
        self.waiting |= episode_end
        return episode_end & valid

    def _valid(self) -> np.ndarray:
        return self.valid[: self.pos]

    def _used_steps(self, episode_ends: np.ndarray, valid: np.ndarray, episodes_per_env: int) -> np.ndarray:
        # every valid step belongs to an episode of its wave, and a wave ends when all of them have
        return valid.copy()

    @property
    def in_flight(self) -> np.ndarray:
        # every grouped rollout starts from a seeded reset: nothing in flight is kept
        return np.zeros(self.n_envs, dtype=bool)

    def _groups(self) -> np.ndarray | None:
        return self.groups[: self.pos]
