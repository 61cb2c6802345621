"""sb3_reinforce.buffers: storage of every observation space, growth, the per-episode book-keeping, and the returns."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.carrying import CarryingEpisodicRolloutBuffer
from sb3_reinforce.groups import GroupedEpisodicRolloutBuffer

DICT_SPACE = spaces.Dict(
    {
        "image": spaces.Box(0, 255, (2, 3), dtype=np.uint8, seed=0),
        "vector": spaces.Box(-1.0, 1.0, (4,), dtype=np.float32),
        "index": spaces.Discrete(5),
    }
)


def _fill(buffer: EpisodicRolloutBuffer, observations: list, episode_ends: list[list[bool]]) -> None:
    for obs, ends in zip(observations, episode_ends, strict=True):
        infos = [{"episode": {"r": float(i), "l": 1}} if end else {} for i, end in enumerate(ends)]
        buffer.add(obs, np.zeros((buffer.n_envs, 1)), np.ones(buffer.n_envs, dtype=np.float32), np.array(ends), None, infos)


@pytest.mark.parametrize("buffer_class", [EpisodicRolloutBuffer, CarryingEpisodicRolloutBuffer])
def test_dict_observations_are_one_array_per_key_in_its_own_dtype_and_survive_growth(buffer_class):
    buffer = buffer_class(2, DICT_SPACE, spaces.Discrete(2), device="cpu", n_envs=2)
    observations = [
        {key: np.stack([space.sample() for _ in range(2)]) for key, space in DICT_SPACE.spaces.items()} for _ in range(5)
    ]
    _fill(buffer, observations, [[False, False]] * 5)
    assert buffer.buffer_size == 8  # doubled twice from 2
    assert {key: array.dtype for key, array in buffer.observations.items()} == {
        "image": np.uint8,
        "vector": np.float32,
        "index": np.int64,
    }
    steps, envs = np.array([0, 4, 2]), np.array([1, 0, 1])
    batch = buffer._observation_batch(steps, envs)
    for key in DICT_SPACE.spaces:
        expected = np.stack([observations[t][key][e] for t, e in zip(steps, envs, strict=True)])
        np.testing.assert_array_equal(batch[key].numpy(), expected.reshape(batch[key].shape))


def test_box_observations_keep_their_dtype_and_shape():
    space = spaces.Box(0, 255, (3, 4), dtype=np.uint8)
    buffer = EpisodicRolloutBuffer(4, space, spaces.Discrete(2), device="cpu", n_envs=3)
    observations = [np.stack([space.sample() for _ in range(3)]) for _ in range(3)]
    _fill(buffer, observations, [[False] * 3] * 3)
    assert buffer.observations.dtype == np.uint8 and buffer.observations.shape == (4, 3, 3, 4)
    np.testing.assert_array_equal(buffer.observations[:3], np.stack(observations))
    batch = buffer._observation_batch(np.array([2]), np.array([1]))
    assert batch.dtype == th.uint8  # made a float tensor by the policy, one chunk at a time


def test_episode_counts_and_infos_are_kept_at_episode_ends_only():
    space = spaces.Box(-1, 1, (1,), dtype=np.float32)
    buffer = EpisodicRolloutBuffer(4, space, spaces.Discrete(2), device="cpu", n_envs=2)
    # a first rollout leaves infos in rows the second one reuses
    _fill(buffer, [np.zeros((2, 1))] * 3, [[True, True]] * 3)
    buffer.reset()
    ends = [[False, True], [True, False], [False, True], [True, True]]
    _fill(buffer, [np.zeros((2, 1))] * 4, ends)
    np.testing.assert_array_equal(buffer.finished_episodes, [2, 3])
    buffer.compute_returns_and_advantage(episodes_per_env=2)
    # env 0: its two episodes; env 1: its first two (the third is not used); in buffer order, row by row
    assert [info["episode"]["r"] for info in buffer.used_episode_infos()] == [1.0, 0.0, 1.0, 0.0]


def test_returns_and_the_advantages_function():
    space = spaces.Box(-1, 1, (1,), dtype=np.float32)
    buffer = EpisodicRolloutBuffer(4, space, spaces.Discrete(2), device="cpu", gamma=0.5, n_envs=1)
    _fill(buffer, [np.zeros((1, 1))] * 3, [[False], [False], [True]])
    buffer.compute_returns_and_advantage(episodes_per_env=1)
    # rewards 1, 1, 1 with gamma 0.5: returns-to-go 1.75, 1.5, 1; without a baseline A = G
    np.testing.assert_allclose(buffer.returns[:, 0], [1.75, 1.5, 1.0])
    np.testing.assert_allclose(buffer.advantages[:, 0], [1.75, 1.5, 1.0])
    seen = {}

    def advantages_fn(returns, episode_ends, used, values, groups):
        seen.update(shapes=(returns.shape, episode_ends.shape, used.shape, values.shape), groups=groups)
        return returns - 1.0

    buffer.compute_returns_and_advantage(episodes_per_env=1, advantages_fn=advantages_fn)
    assert seen == {"shapes": ((3, 1),) * 4, "groups": None}
    np.testing.assert_allclose(buffer.advantages[:, 0], [0.75, 0.5, 0.0])


def test_grouped_buffer_gives_the_advantages_function_its_groups():
    space = spaces.Box(-1, 1, (1,), dtype=np.float32)
    buffer = GroupedEpisodicRolloutBuffer(
        4, space, spaces.Discrete(2), device="cpu", n_envs=2, group_size=2, episodes_per_rollout=4, seed=0
    )
    buffer.begin_rollout(episodes_per_env=2)
    _fill(buffer, [np.zeros((2, 1))], [[True, True]])
    assert buffer.reset_request() is not None  # the second wave
    _fill(buffer, [np.zeros((2, 1))], [[True, True]])
    seen = {}

    def advantages_fn(returns, episode_ends, used, values, groups):
        seen["groups"] = groups.copy()
        return returns

    buffer.compute_returns_and_advantage(episodes_per_env=2, advantages_fn=advantages_fn)
    np.testing.assert_array_equal(seen["groups"], [[0, 0], [1, 1]])  # wave 1 is group 0, wave 2 group 1
