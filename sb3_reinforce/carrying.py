"""
Carrying episodes: rollout buffers that keep the steps an env played while waiting for the slowest env and start
the next rollout with them, weighting each episode partly played under earlier parameters by its likelihood
ratio. ``REINFORCE`` picks them in ``_setup_model`` when ``carry_episodes=True``.
"""

import numpy as np

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.returns import episodes_finished_before
from sb3_reinforce.type_aliases import LogProbFn

# An env carries at most this many rollouts' worth of whole episodes. Tuned on CartPole-v1 with 8 envs: with 2,
# more of the used steps come from older parameters, with weights further from 1, and fewer seeds solve it
CARRIED_ROLLOUTS = 1


class CarryingEpisodicRolloutBuffer(EpisodicRolloutBuffer):
    """
    :class:`~sb3_reinforce.buffers.EpisodicRolloutBuffer` that carries the valid steps each env took after its
    used episodes to the next rollout (:meth:`carry_unused`), marked as played under earlier parameters
    (``played_before``), with their log-likelihood then (``behaviour_log_prob``) for an importance-weighted
    update. ``valid`` marks the steps that belong to a kept episode: a carried column is right-aligned (its
    carried steps end on the same row for every env, the rows above them are not valid), and the rest of an
    episode dropped in flight is stored but not valid.

    Parameters as :class:`~sb3_reinforce.buffers.EpisodicRolloutBuffer`.
    """

    played_before: np.ndarray
    behaviour_log_prob: np.ndarray
    valid: np.ndarray

    def _allocate(self, capacity: int) -> None:
        super()._allocate(capacity)
        self.played_before = np.zeros((capacity, self.n_envs), dtype=bool)
        self.behaviour_log_prob = np.zeros((capacity, self.n_envs), dtype=np.float32)
        self.valid = np.zeros((capacity, self.n_envs), dtype=bool)

    def _per_step_arrays(self) -> list[np.ndarray]:
        return [*super()._per_step_arrays(), self.played_before, self.behaviour_log_prob, self.valid]

    def _set_per_step_arrays(self, arrays: list[np.ndarray]) -> None:
        *plain, self.played_before, self.behaviour_log_prob, self.valid = arrays
        super()._set_per_step_arrays(plain)

    def reset(self) -> None:
        super().reset()
        self.played_before[:] = False
        # (n_envs,): True while an env plays the rest of an episode that was dropped in flight (its steps not valid)
        self.skipping = np.zeros(self.n_envs, dtype=bool)
        # whether any env is skipping: most steps of most rollouts have none, and need no per-env book-keeping
        self._skipping_any = False
        self.n_dropped_steps = 0

    def begin_rollout(self, episodes_per_env: int) -> list[int | None] | None:
        """Start the rollout with the steps carried from the last one (:meth:`carry_unused`)."""
        self.carry_unused(max_episodes=CARRIED_ROLLOUTS * episodes_per_env)
        return None

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
        moved = [*super()._per_step_arrays(), self.behaviour_log_prob]
        for env_index, kept in enumerate(kept_rows):
            first = new_pos - len(kept)
            for array in [*moved, *self._observation_arrays()]:
                array[first:new_pos, env_index] = array[kept, env_index]
                array[:first, env_index] = None if array.dtype == object else 0
            self.played_before[:new_pos, env_index] = np.arange(new_pos) >= first
            self.valid[:new_pos, env_index] = np.arange(new_pos) >= first
        # add() does not write played_before: the rows the next steps go to must read "played now"
        self.played_before[new_pos:] = False
        self.pos = new_pos
        self.full = False
        self.finished_episodes = (self.episode_ends[:new_pos] & self.valid[:new_pos]).sum(axis=0).astype(np.int64)
        self._skipping_any = bool(self.skipping.any())
        self._reset_results()

    def _record_step(self, episode_end: np.ndarray) -> np.ndarray:
        if not self._skipping_any:
            self.valid[self.pos] = True
            return episode_end
        valid = ~self.skipping
        self.valid[self.pos] = valid
        self.n_dropped_steps += int(self.skipping.sum())
        self.skipping &= ~episode_end
        self._skipping_any = bool(self.skipping.any())
        return episode_end & valid

    def _valid(self) -> np.ndarray:
        return self.valid[: self.pos]

    @property
    def in_flight(self) -> np.ndarray:
        """(n_envs,): True where the buffer holds the start of the env's current episode, or skips its rest."""
        if self.pos == 0:
            return self.skipping.copy()
        last = self.pos - 1
        return (self.valid[last] & ~self.episode_ends[last]) | self.skipping

    def end_rollout(self, log_prob: LogProbFn) -> None:
        """
        Store ``log pi(a_t|s_t)`` under the current parameters for the steps this rollout played but does not use:
        they are carried to the next rollout, whose update weights them against the parameters of then.
        """
        steps, envs = np.nonzero(~self.used & ~self.played_before[: self.pos] & self.valid[: self.pos])
        if len(steps) > 0:
            self.behaviour_log_prob[steps, envs] = log_prob(steps, envs)

    def begin_update(self, log_prob: LogProbFn) -> np.ndarray:
        """Weight every used episode partly played under earlier parameters by its likelihood ratio."""
        steps, envs = np.nonzero(self.used & self.played_before[: self.pos])
        current = log_prob(steps, envs) if len(steps) > 0 else np.zeros(0, dtype=np.float32)
        weights = self.set_importance_weights(current)
        if not np.all(np.isfinite(weights)):
            raise ValueError("An importance weight of a carried episode is not finite: no parameter was changed.")
        return weights

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

    def rollout_statistics(self) -> dict[str, int]:
        return {"carried_steps": self.n_carried_steps, "unused_steps": self.n_dropped_steps}

    @property
    def n_carried_steps(self) -> int:
        """Used steps that were played before this rollout (under earlier parameters)."""
        return int((self.used & self.played_before[: self.pos]).sum())
