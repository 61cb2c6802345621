"""
Whole episodes as sequences, for recurrent policies: the update feeds each used episode to the LSTM from its first
step, with the zero state it started from while collecting, so backpropagation through time runs over the whole
episode and is never cut. Episodes are padded to the longest one of their chunk and chunked so that a chunk holds
at most ``batch_size`` padded steps (one episode at least), which bounds the memory of the update.

Arrays are time-major, ``(n_steps, n_envs)``, as in :mod:`sb3_reinforce.buffers`.
"""

from collections.abc import Generator, Iterator
from typing import NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.type_aliases import TensorDict

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.groups import GroupedEpisodicRolloutBuffer


class EpisodeSegments(NamedTuple):
    """The used episodes of a buffer: episode ``k`` is steps ``starts[k] .. starts[k] + lengths[k] - 1`` of env
    ``envs[k]``. Each array has shape (n_episodes,)."""

    starts: np.ndarray
    envs: np.ndarray
    lengths: np.ndarray


def episode_segments(episode_ends: np.ndarray, used: np.ndarray) -> EpisodeSegments:
    """
    Find the whole episodes among the used steps.

    :param episode_ends: (n_steps, n_envs), True where a step ends its env's episode
    :param used: (n_steps, n_envs), the steps of whole episodes (each a run of consecutive steps of one env that
        ends with an episode end)
    :return: the episodes, ordered by env, then by start
    :raises ValueError: if a used run of steps does not end with an episode end
    """
    # a used step starts an episode unless the step before it (same env) is used and did not end its episode
    continues = np.zeros_like(used)
    continues[1:] = used[:-1] & ~episode_ends[:-1]
    # (n_envs, n_steps) so that nonzero orders by env, then step
    start_envs, starts = np.nonzero((used & ~continues).T)
    end_envs, ends = np.nonzero((used & episode_ends).T)
    if len(starts) != len(ends) or not np.array_equal(start_envs, end_envs) or np.any(ends < starts):
        raise ValueError("The used steps are not whole episodes: a run of used steps does not end an episode")
    lengths = ends - starts + 1
    if lengths.sum() != used.sum():
        raise ValueError("The used steps are not whole episodes: an episode skips a step")
    return EpisodeSegments(starts, start_envs, lengths)


def chunks_of_episodes(lengths: np.ndarray, batch_size: int | None) -> Iterator[np.ndarray]:
    """
    Split episodes, in the given order, into consecutive chunks whose padded size (number of episodes times the
    longest one's length) is at most ``batch_size``; an episode longer than that is a chunk of its own.

    :param lengths: (n_episodes,)
    :param batch_size: Padded steps per chunk, or None for one chunk
    :return: the indices of each chunk's episodes, into ``lengths``
    """
    if batch_size is None:
        if len(lengths) > 0:
            yield np.arange(len(lengths))
        return
    first, longest = 0, 0
    for index, length in enumerate(lengths):
        longest_with = max(longest, int(length))
        if index > first and (index - first + 1) * longest_with > batch_size:
            yield np.arange(first, index)
            first, longest_with = index, int(length)
        longest = longest_with
    if len(lengths) > first:
        yield np.arange(first, len(lengths))


class SequenceLayout(NamedTuple):
    """Where a chunk's episodes sit once padded to ``(n_seq, max_len)``."""

    steps: np.ndarray  # (n_seq, max_len): the buffer row of each position (padding repeats the episode's last step)
    envs: np.ndarray  # (n_seq, max_len): the env of each position
    padding_mask: np.ndarray  # (n_seq, max_len): True at the episodes' own steps


def sequence_layout(starts: np.ndarray, envs: np.ndarray, lengths: np.ndarray) -> SequenceLayout:
    """
    :param starts: (n_seq,) first step of each episode
    :param envs: (n_seq,) env of each episode
    :param lengths: (n_seq,) length of each episode
    """
    offsets = np.arange(int(lengths.max()) if len(lengths) else 0)
    # (n_seq, max_len)
    padding_mask = offsets[None, :] < lengths[:, None]
    steps = starts[:, None] + np.minimum(offsets[None, :], lengths[:, None] - 1)
    return SequenceLayout(steps, np.broadcast_to(envs[:, None], steps.shape), padding_mask)


class SequenceSamples(NamedTuple):
    """
    A chunk of whole episodes. ``observations`` are padded, sequence-major: position ``k * max_len + t`` is step
    ``t`` of episode ``k``. The other fields hold the episodes' own steps only, in the same order (the padded
    positions where ``padding_mask`` is True).
    """

    observations: th.Tensor | TensorDict  # (n_seq * max_len, ...)
    actions: th.Tensor  # (batch, action_dim)
    returns: th.Tensor  # (batch,)
    advantages: th.Tensor  # (batch,)
    weights: th.Tensor  # (batch,)
    action_masks: th.Tensor | None  # (batch, mask_dim), or None without masking
    padding_mask: th.Tensor  # (n_seq * max_len,), True at the episodes' own steps
    n_seq: int  # number of episodes in the chunk


class SequenceEpisodicRolloutBuffer(EpisodicRolloutBuffer):
    """
    :class:`~sb3_reinforce.buffers.EpisodicRolloutBuffer` whose ``get`` yields whole episodes
    (:class:`SequenceSamples`) instead of steps. In the update's fixed order the episodes are sorted by length,
    so that the episodes of a chunk need little padding; with ``shuffle`` (the value fit's minibatches) their
    order is random. Only a recurrent policy, which reads episodes, is given them.
    """

    def get(  # type: ignore[override]  # whole episodes where the base class yields steps
        self, batch_size: int | None = None, shuffle: bool = False
    ) -> Generator[SequenceSamples, None, None]:
        """
        :param batch_size: Padded steps per chunk (at least one episode per chunk), or None for one chunk
        :param shuffle: Random order of the episodes (drawn from torch's global generator), else by length
        """
        segments = episode_segments(self.episode_ends[: self.pos], self.used)
        order = th.randperm(len(segments.lengths)).numpy() if shuffle else np.argsort(segments.lengths, kind="stable")
        starts, envs, lengths = (array[order] for array in segments)
        for chunk in chunks_of_episodes(lengths, batch_size):
            yield self._sequence_samples(sequence_layout(starts[chunk], envs[chunk], lengths[chunk]))

    def _sequence_samples(self, layout: SequenceLayout) -> SequenceSamples:
        return SequenceSamples(
            self._observation_batch(layout.steps.ravel(), layout.envs.ravel()),
            *self._step_data(layout.steps[layout.padding_mask], layout.envs[layout.padding_mask]),
            th.as_tensor(layout.padding_mask.ravel(), device=self.device),
            len(layout.steps),
        )


class SequenceGroupedEpisodicRolloutBuffer(SequenceEpisodicRolloutBuffer, GroupedEpisodicRolloutBuffer):
    """:class:`~sb3_reinforce.groups.GroupedEpisodicRolloutBuffer` yielding whole episodes."""


#: The buffer that yields whole episodes, for each buffer a recurrent policy can use
SEQUENCE_BUFFERS: dict[type[EpisodicRolloutBuffer], type[EpisodicRolloutBuffer]] = {
    EpisodicRolloutBuffer: SequenceEpisodicRolloutBuffer,
    GroupedEpisodicRolloutBuffer: SequenceGroupedEpisodicRolloutBuffer,
}
