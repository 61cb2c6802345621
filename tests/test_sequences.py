"""sb3_reinforce.sequences: finding the whole episodes of a buffer, chunking them and padding them. The buffers that
yield them to a recurrent policy are tested with it, in test_recurrent.py."""

import itertools

import numpy as np
import pytest

from sb3_reinforce.sequences import chunks_of_episodes, episode_segments, sequence_layout

# ---------------------------------------------------------------------------------------------------------------
# The pure functions, against hand-computed values and a plain loop


def segments_by_loop(episode_ends: np.ndarray, used: np.ndarray) -> list[tuple[int, int, int]]:
    """(env, start, length) of every used episode, by walking each column."""
    found = []
    for env in range(used.shape[1]):
        start = None
        for step in range(used.shape[0]):
            if used[step, env] and start is None:
                start = step
            if used[step, env] and episode_ends[step, env]:
                found.append((env, start, step - start + 1))
                start = None
    return found


def test_episode_segments_hand_computed():
    # env 0: episodes of 2 and 1 steps, then an unused step; env 1: an unused step, then an episode of 3 steps
    episode_ends = np.array([[0, 0], [1, 0], [1, 0], [0, 0]], dtype=bool)
    episode_ends[3, 1] = True
    used = np.array([[1, 0], [1, 1], [1, 1], [0, 1]], dtype=bool)
    segments = episode_segments(episode_ends, used)
    assert segments.envs.tolist() == [0, 0, 1]
    assert segments.starts.tolist() == [0, 2, 1]
    assert segments.lengths.tolist() == [2, 1, 3]


def test_episode_segments_match_a_loop_on_random_rollouts():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n_steps, n_envs = rng.integers(1, 30), rng.integers(1, 5)
        episode_ends = rng.random((n_steps, n_envs)) < 0.3
        # used: the steps up to each column's k-th episode end, k random (0 to all of them)
        used = np.zeros_like(episode_ends)
        for env in range(n_envs):
            ends = np.flatnonzero(episode_ends[:, env])
            if len(ends) > 0:
                used[: ends[rng.integers(0, len(ends))] + 1, env] = True
        segments = episode_segments(episode_ends, used)
        found = list(zip(segments.envs.tolist(), segments.starts.tolist(), segments.lengths.tolist(), strict=True))
        assert found == segments_by_loop(episode_ends, used)


def test_episode_segments_refuse_an_unfinished_episode():
    episode_ends = np.array([[0], [1], [0]], dtype=bool)
    with pytest.raises(ValueError, match="not whole episodes"):
        episode_segments(episode_ends, np.ones((3, 1), dtype=bool))


@pytest.mark.parametrize("batch_size", [None, 1, 5, 12, 40])
def test_chunks_cover_every_episode_once_within_the_bound(batch_size):
    lengths = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    chunks = list(chunks_of_episodes(lengths, batch_size))
    assert np.concatenate(chunks).tolist() == list(range(len(lengths)))
    for chunk in chunks:
        padded = len(chunk) * lengths[chunk].max()
        assert len(chunk) == 1 or batch_size is None or padded <= batch_size


def test_sequence_layout_pads_after_each_episode():
    layout = sequence_layout(np.array([4, 0]), np.array([1, 0]), np.array([2, 3]))
    assert layout.padding_mask.tolist() == [[True, True, False], [True, True, True]]
    # padding repeats the episode's last step, so that it reads only rows of the episode
    assert layout.steps.tolist() == [[4, 5, 5], [0, 1, 2]]
    assert layout.envs.tolist() == [[1, 1, 1], [0, 0, 0]]


def test_episode_segments_refuse_a_run_that_is_cut_or_skips():
    episode_ends = np.array([[0], [0], [1]], dtype=bool)
    with pytest.raises(ValueError, match="not whole episodes"):
        episode_segments(episode_ends, np.array([[1], [1], [0]], dtype=bool))  # runs out before its end
    with pytest.raises(ValueError, match="not whole episodes"):
        episode_segments(episode_ends, np.array([[1], [0], [1]], dtype=bool))  # skips a step


@pytest.mark.parametrize(
    "lengths, batch_size, expected",
    [
        ([3, 3, 3, 3], 6, [[0, 1], [2, 3]]),  # two episodes of 3 fill 6 padded steps
        ([1, 2, 5, 5], 10, [[0, 1], [2, 3]]),  # 3 episodes padded to 5 would be 15
        ([7, 2], 4, [[0], [1]]),  # an episode longer than the batch is a chunk of its own
        ([2, 2, 2], None, [[0, 1, 2]]),  # no batch size: one chunk
        ([], None, []),
        ([], 8, []),
    ],
)
def test_chunks_of_episodes_by_hand(lengths, batch_size, expected):
    chunks = [chunk.tolist() for chunk in chunks_of_episodes(np.array(lengths, dtype=np.int64), batch_size)]
    assert chunks == expected


def test_chunks_cover_every_episode_once_within_the_batch():
    rng = np.random.default_rng(1)
    for _ in range(100):
        lengths = np.sort(rng.integers(1, 40, size=rng.integers(1, 30)))
        batch_size = int(rng.integers(1, 120))
        chunks = list(chunks_of_episodes(lengths, batch_size))
        assert np.array_equal(np.concatenate(chunks), np.arange(len(lengths)))
        for chunk in chunks:
            padded = len(chunk) * lengths[chunk].max()
            assert padded <= batch_size or len(chunk) == 1
        # greedy: adding the next episode to a chunk would have gone over the batch
        for chunk, following in itertools.pairwise(chunks):
            grown = np.append(chunk, following[0])
            assert len(grown) * lengths[grown].max() > batch_size
