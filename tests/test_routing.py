"""sb3_reinforce.routing: the travelling salesman env (masks, tours, returns, seeded instances) and the classic tours,
against hand-computed values."""

import itertools

import gymnasium as gym
import numpy as np
import pytest

import sb3_reinforce.envs  # noqa: F401  (registers TSP20-v0 and TSP50-v0)
from sb3_reinforce.routing import (
    TSPEnv,
    farthest_insertion_tour,
    nearest_neighbour_tour,
    node_observations,
    random_instances,
    solve,
    tour_length,
)


def play(env: TSPEnv, rng: np.random.Generator) -> tuple[float, dict]:
    """One episode of uniformly random valid actions; the return and the last info."""
    env_return, done, info = 0.0, False, {}
    while not done:
        action = rng.choice(np.flatnonzero(env.action_masks()))
        _, reward, done, truncated, info = env.step(action)
        assert not truncated
        env_return += reward
    return env_return, info


@pytest.mark.parametrize("env_id, num_nodes", [("TSP20-v0", 20), ("TSP50-v0", 50)])
def test_registered_envs_keep_to_their_spaces(env_id, num_nodes):
    """(SB3's env checker plays random actions, which visit nodes twice: the env refuses those.)"""
    env = gym.make(env_id)
    assert env.unwrapped.num_nodes == num_nodes and env.action_space.n == num_nodes
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(num_nodes):
        assert env.observation_space.contains(obs)
        obs, _, terminated, _, _ = env.step(rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
    assert terminated and env.observation_space.contains(obs)


def test_a_tour_visits_each_node_once_and_its_return_is_minus_its_length():
    env, rng = TSPEnv(num_nodes=12), np.random.default_rng(0)
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        locs = obs[: 12 * 2].reshape(12, 2)
        env_return, info = play(env, rng)
        assert sorted(info["tour"].tolist()) == list(range(12))
        assert info["tour_length"] == pytest.approx(tour_length(locs, info["tour"]), rel=1e-6)
        assert env_return == pytest.approx(-info["tour_length"], rel=1e-6)


def test_the_masks_allow_exactly_the_unvisited_nodes_and_a_visited_node_is_refused():
    env = TSPEnv(num_nodes=5)
    env.reset(seed=0)
    assert env.action_masks().all()
    env.step(3)
    env.step(1)
    assert env.action_masks().tolist() == [True, False, True, False, True]
    with pytest.raises(ValueError, match="node 1 is already visited"):
        env.step(1)
    with pytest.raises(ValueError, match="action must be a node"):
        env.step(5)


def test_the_observation_layout():
    env = TSPEnv(num_nodes=4, locs=np.array([[0, 0], [0, 1], [1, 1], [1, 0]]))
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [0, 0, 0, 1, 1, 1, 1, 0] + [0] * 12
    obs, reward, *_ = env.step(2)
    assert reward == 0.0  # choosing the start adds no leg
    visited, current, first = obs[8:12].tolist(), obs[12:16].tolist(), obs[16:20].tolist()
    assert visited == current == first == [0, 0, 1, 0]
    obs, reward, *_ = env.step(3)
    assert reward == pytest.approx(-1.0)
    assert (obs[8:12].tolist(), obs[12:16].tolist(), obs[16:20].tolist()) == ([0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 1, 0])
    env.step(0)
    _, reward, terminated, _, info = env.step(1)
    # the last step adds its leg and the one that closes the tour: 1 + 1, a tour of the unit square is 4
    assert terminated and reward == pytest.approx(-2.0) and info["tour_length"] == pytest.approx(4.0)


def test_a_tour_started_at_reset_visits_its_start_first_and_takes_one_step_less():
    square = np.array([[0, 0], [0, 1], [1, 1], [1, 0]])
    env = TSPEnv(num_nodes=4, locs=square)
    obs, _ = env.reset(seed=0, options={"start": 2})
    visited, current, first = obs[8:12].tolist(), obs[12:16].tolist(), obs[16:20].tolist()
    assert visited == current == first == [0, 0, 1, 0]
    assert env.action_masks().tolist() == [True, True, False, True] and env.tour == [2]
    rewards = [env.step(node)[1] for node in (3, 0)]
    _, reward, terminated, _, info = env.step(1)
    assert terminated and info["tour"].tolist() == [2, 3, 0, 1]
    assert sum(rewards) + reward == pytest.approx(-4.0) and info["tour_length"] == pytest.approx(4.0)


def test_spread_starts_read_the_group_index_and_plain_envs_ignore_it():
    spread, plain = TSPEnv(num_nodes=5, spread_starts=True), TSPEnv(num_nodes=5)
    for index in range(12):
        spread.reset(seed=0, options={"group_index": index})
        assert spread.tour == [index % 5]
        plain.reset(seed=0, options={"group_index": index})
        assert plain.tour == [] and plain.action_masks().all()
    spread.reset(seed=0)
    assert spread.tour == []  # no group: the first step picks the start
    spread.reset(seed=0, options={"group_index": 4, "start": 1})
    assert spread.tour == [1]  # an explicit start wins


@pytest.mark.parametrize("start", [None, 3])
def test_node_observations_are_the_envs_observations(start):
    env, rng = TSPEnv(num_nodes=6), np.random.default_rng(0)
    obs, _ = env.reset(seed=3, options=None if start is None else {"start": start})
    done = False
    while True:
        tour = env.tour
        current = np.array([tour[-1] if tour else -1])
        first = np.array([tour[0] if tour else -1])
        expected = node_observations(env.locs[None], env.visited[None], current, first)
        assert expected.dtype == np.float32 and np.array_equal(expected[0], obs)
        if done:
            break
        obs, _, done, _, _ = env.step(rng.choice(np.flatnonzero(env.action_masks())))


class NearestNeighbourPolicy:
    """A stand-in policy for ``solve``: always the closest unvisited node (any node before the first step)."""

    device = "cpu"

    def set_training_mode(self, mode: bool) -> None:
        pass

    def get_distribution(self, obs, action_masks):
        import torch as th

        obs, masks = obs.numpy(), np.asarray(action_masks)
        n = masks.shape[1]
        locs = obs[:, : 2 * n].reshape(len(obs), n, 2)
        current = obs[:, 3 * n : 4 * n]
        started = current.sum(axis=1) > 0
        here = locs[np.arange(len(obs)), current.argmax(axis=1)]  # (B, 2)
        distance = np.where(masks, np.linalg.norm(locs - here[:, None], axis=2), np.inf)
        nodes = np.where(started, distance.argmin(axis=1), rng_starts(masks))
        return type("Choice", (), {"get_actions": lambda self, deterministic: th.as_tensor(nodes)})()


def rng_starts(masks: np.ndarray) -> np.ndarray:
    return np.full(len(masks), 2)  # the stand-in's own choice of start: node 2


def test_solve_builds_the_tours_the_policy_picks_from_its_start_or_from_every_start():
    locs = random_instances(5, 7, seed=11)
    lengths, tours = solve(NearestNeighbourPolicy(), locs)
    multi_lengths, multi_tours = solve(NearestNeighbourPolicy(), locs, all_starts=True, batch_size=10)
    for index, instance in enumerate(locs):
        assert tours[index].tolist() == nearest_neighbour_tour(instance, start=2).tolist()
        assert lengths[index] == pytest.approx(tour_length(instance, tours[index]), rel=1e-6)
        by_start = [tour_length(instance, nearest_neighbour_tour(instance, start)) for start in range(7)]
        assert multi_lengths[index] == pytest.approx(min(by_start), rel=1e-6)
        assert sorted(multi_tours[index].tolist()) == list(range(7))
        assert multi_lengths[index] == pytest.approx(tour_length(instance, multi_tours[index]), rel=1e-6)


def test_solve_with_a_model_samples_valid_tours_and_names_bad_input():
    from sb3_reinforce import REINFORCE

    model = REINFORCE(
        "AttentionPolicy",
        TSPEnv(num_nodes=6),
        policy_kwargs=dict(features_extractor_kwargs=dict(embed_dim=16, n_heads=2, n_layers=1, ff_hidden=32)),
        seed=0,
    )
    locs = random_instances(4, 6, seed=0)
    greedy, _ = solve(model, locs)
    from_every_start, _ = solve(model, locs, all_starts=True)
    # the greedy tour from the start the policy picks is one of the tours from every start
    assert np.all(from_every_start <= greedy + 1e-6) and np.any(from_every_start < greedy - 1e-6)
    sampled, tours = solve(model, locs, n_samples=8, all_starts=True)
    assert all(sorted(tour.tolist()) == list(range(6)) for tour in tours)
    assert np.allclose(sampled, [tour_length(instance, tour) for instance, tour in zip(locs, tours, strict=True)])
    with pytest.raises(ValueError, match="locs must have shape"):
        solve(model, locs[0])
    with pytest.raises(ValueError, match="n_samples"):
        solve(model, locs, n_samples=0)


def test_a_seeded_instance_repeats_and_the_test_set_draws_what_the_env_draws():
    env = TSPEnv(num_nodes=20)
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    other, _ = env.reset(seed=8)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    instances = random_instances(3, 20, seed=7)
    assert np.array_equal(instances[0].ravel(), first[:40]) and np.array_equal(instances[1].ravel(), other[:40])
    assert instances.dtype == np.float32 and np.all((instances >= 0) & (instances < 1))


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="num_nodes"):
        TSPEnv(num_nodes=1)
    with pytest.raises(ValueError, match="locs must have shape"):
        TSPEnv(num_nodes=3, locs=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="unit square"):
        TSPEnv(num_nodes=2, locs=np.array([[0.0, 0.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match=r"options\['start'\] must be a node"):
        TSPEnv(num_nodes=3).reset(seed=0, options={"start": 3})


def test_tour_length_by_hand():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    assert tour_length(square, np.array([0, 1, 2, 3])) == pytest.approx(4.0)
    assert tour_length(square, np.array([0, 2, 1, 3])) == pytest.approx(2 + 2 * np.sqrt(2))


def brute_force_length(locs: np.ndarray) -> float:
    """The optimal tour's length, by trying every order (node 0 first)."""
    return min(tour_length(locs, np.array((0, *order))) for order in itertools.permutations(range(1, len(locs))))


def test_the_heuristic_tours_are_tours_no_shorter_than_the_optimum():
    rng = np.random.default_rng(0)
    for _ in range(20):
        locs = rng.random((7, 2))
        optimum = brute_force_length(locs)
        for tour in (nearest_neighbour_tour(locs), nearest_neighbour_tour(locs, start=3), farthest_insertion_tour(locs)):
            assert sorted(tour.tolist()) == list(range(7))
            assert tour_length(locs, tour) >= optimum - 1e-9


def test_on_a_circle_both_heuristics_find_the_optimal_tour():
    # points on a circle in shuffled order: the optimal tour goes round the circle
    angles = np.random.default_rng(1).permutation(np.linspace(0, 2 * np.pi, 9, endpoint=False))
    locs = 0.5 + 0.4 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    optimum = brute_force_length(locs)
    assert tour_length(locs, nearest_neighbour_tour(locs)) == pytest.approx(optimum)
    assert tour_length(locs, farthest_insertion_tour(locs)) == pytest.approx(optimum)


def test_nearest_neighbour_by_hand():
    # from node 0 at the origin: node 2 (0.1 away), then node 1 (0.5 from node 2), then node 3
    locs = np.array([[0.0, 0.0], [0.6, 0.0], [0.1, 0.0], [0.6, 0.9]])
    assert nearest_neighbour_tour(locs).tolist() == [0, 2, 1, 3]
