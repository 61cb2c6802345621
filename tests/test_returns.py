"""Returns-to-go, whole-episode returns, the episode mask, the leave-one-out baseline and normalisation, against
hand-computed values and reference loops; then the returns a rollout stores on a tiny env, in closed form."""

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE
from sb3_reinforce.returns import (
    discounted_returns_to_go,
    first_episodes_mask,
    leave_one_out_baseline,
    normalize,
    whole_episode_returns,
)
from tests.envs import ConstantRewardEnv
from tests.helpers import one_rollout

# ---------------------------------------------------------------------------------------------------------------
# Returns-to-go and whole-episode returns


def reference_returns(rewards: np.ndarray, ends: np.ndarray, gamma: float, reward_to_go: bool = True) -> np.ndarray:
    """Plain loop: split every env's column into episodes, compute each episode's returns on its own."""
    out = np.full(rewards.shape, np.nan)
    for env in range(rewards.shape[1]):
        start = 0
        for step in range(rewards.shape[0]):
            if ends[step, env] or step == rewards.shape[0] - 1:
                episode = [float(r) for r in rewards[start : step + 1, env]]
                for t in range(len(episode)):
                    g_t = sum(gamma**k * episode[t + k] for k in range(len(episode) - t))
                    r_tau = sum(gamma**k * episode[k] for k in range(len(episode)))
                    out[start + t, env] = g_t if reward_to_go else r_tau
                start = step + 1
    return out


def column(values):
    return np.array(values, dtype=np.float64).reshape(-1, 1)


@pytest.mark.parametrize(
    "gamma, expected",
    [
        (0.0, [1.0, 2.0, 3.0]),
        (1.0, [6.0, 5.0, 3.0]),
        (0.9, [1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 3.0]),
    ],
)
def test_single_episode_hand_computed(gamma, expected):
    rewards = column([1, 2, 3])
    ends = column([0, 0, 1]).astype(bool)
    np.testing.assert_allclose(discounted_returns_to_go(rewards, ends, gamma)[:, 0], expected)


def test_episodes_back_to_back_do_not_leak():
    # episode A: rewards 1, 1 ; episode B: rewards 5, 0, 2
    rewards = column([1, 1, 5, 0, 2])
    ends = column([0, 1, 0, 0, 1]).astype(bool)
    gamma = 0.9
    expected = [1 + 0.9, 1, 5 + 0 + 0.81 * 2, 0 + 0.9 * 2, 2]
    np.testing.assert_allclose(discounted_returns_to_go(rewards, ends, gamma)[:, 0], expected)
    whole = [1.9, 1.9, 6.62, 6.62, 6.62]
    np.testing.assert_allclose(whole_episode_returns(rewards, ends, gamma)[:, 0], whole)


def test_several_envs_hand_computed():
    # env 0: one episode of length 3 ; env 1: episodes of lengths 1 and 2 ; gamma = 0.5
    rewards = np.array([[1.0, 4.0], [1.0, 2.0], [1.0, 8.0]])
    ends = np.array([[0, 1], [0, 0], [1, 1]], dtype=bool)
    returns = discounted_returns_to_go(rewards, ends, 0.5)
    np.testing.assert_allclose(returns[:, 0], [1.75, 1.5, 1.0])
    np.testing.assert_allclose(returns[:, 1], [4.0, 6.0, 8.0])
    whole = whole_episode_returns(rewards, ends, 0.5)
    np.testing.assert_allclose(whole[:, 1], [4.0, 6.0, 6.0])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("reward_to_go", [True, False])
def test_matches_reference_loop_on_random_data(gamma, reward_to_go):
    rng = np.random.default_rng(42)
    rewards = rng.normal(size=(60, 5))
    ends = rng.random((60, 5)) < 0.15
    ends[-1] = True
    fn = discounted_returns_to_go if reward_to_go else whole_episode_returns
    np.testing.assert_allclose(fn(rewards, ends, gamma), reference_returns(rewards, ends, gamma, reward_to_go))


def test_returns_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        discounted_returns_to_go(np.zeros((3, 2)), np.zeros((3, 1), dtype=bool), 0.9)


def test_first_episodes_mask():
    # env 0 ends at steps 1, 3 and 4 ; env 1 at step 4 only
    ends = np.array([[0, 0], [1, 0], [0, 0], [1, 0], [1, 1]], dtype=bool)
    mask = first_episodes_mask(ends, 1)
    np.testing.assert_array_equal(mask[:, 0], [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(mask[:, 1], [1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="finished"):
        first_episodes_mask(ends, 2)
    ends[4, 1] = False
    ends[2, 1] = True
    ends[4, 1] = True
    np.testing.assert_array_equal(first_episodes_mask(ends, 2)[:, 0], [1, 1, 1, 1, 0])


def test_normalize_guards_a_single_value():
    np.testing.assert_array_equal(normalize(np.array([3.0])), [3.0])
    out = normalize(np.array([1.0, 2.0, 3.0]))
    assert abs(out.mean()) < 1e-12 and abs(out.std() - 1) < 1e-6
    np.testing.assert_array_equal(normalize(np.array([2.0, 2.0])), [0.0, 0.0])


# ---------------------------------------------------------------------------------------------------------------
# Leave-one-out baseline


def reference_leave_one_out(returns: np.ndarray, ends: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Plain loop: list the episodes, then average the other episodes' return at the same step (0 if they ended)."""
    episodes = []  # lists of (step, env)
    for env in range(returns.shape[1]):
        current = []
        for step in range(returns.shape[0]):
            if used[step, env]:
                current.append((step, env))
                if ends[step, env]:
                    episodes.append(current)
                    current = []
    out = np.zeros(returns.shape)
    for i, episode in enumerate(episodes):
        for t, (step, env) in enumerate(episode):
            others = [returns[other[t]] if t < len(other) else 0.0 for j, other in enumerate(episodes) if j != i]
            out[step, env] = sum(others) / len(others)
    return out


def test_leave_one_out_hand_computed():
    # env 0: episodes [3, 1] and [5]; env 1: episode [10, 20, 30]
    returns = np.array([[3.0, 10.0], [1.0, 20.0], [5.0, 30.0]])
    ends = np.array([[False, False], [True, False], [True, True]])
    expected = np.array([[(5 + 10) / 2, (3 + 5) / 2], [(0 + 20) / 2, (1 + 0) / 2], [(3 + 10) / 2, (0 + 0) / 2]])
    np.testing.assert_allclose(leave_one_out_baseline(returns, ends, np.ones_like(ends)), expected)


def test_leave_one_out_matches_reference_loop_on_random_data():
    rng = np.random.default_rng(3)
    returns = rng.normal(size=(40, 5))
    ends = rng.random((40, 5)) < 0.2
    ends[-1] = True
    used = first_episodes_mask(ends, 2)
    np.testing.assert_allclose(leave_one_out_baseline(returns, ends, used), reference_leave_one_out(returns, ends, used))


def test_leave_one_out_needs_two_episodes():
    with pytest.raises(ValueError, match="at least 2 episodes"):
        leave_one_out_baseline(np.ones((3, 1)), np.array([[False], [False], [True]]), np.ones((3, 1), dtype=bool))


# ---------------------------------------------------------------------------------------------------------------
# The returns of a rollout, in closed form: reward 1 per step, episodes of 5 steps (a time limit), gamma 0.5


def test_truncation_is_not_bootstrapped_without_baseline():
    def make_env():
        return TimeLimit(ConstantRewardEnv(), max_episode_steps=5)

    model = REINFORCE("MlpPolicy", make_vec_env(make_env, seed=0), n_episodes=1, gamma=0.5, seed=0, device="cpu")
    one_rollout(model)
    np.testing.assert_allclose(model.rollout_buffer.returns[:5, 0], [1.9375, 1.875, 1.75, 1.5, 1.0])


def test_bootstrap_truncated_adds_discounted_value():
    def make_env():
        return TimeLimit(ConstantRewardEnv(), max_episode_steps=5)

    model = REINFORCE(
        "MlpPolicy",
        make_vec_env(make_env, seed=0),
        n_episodes=1,
        gamma=0.5,
        use_baseline=True,
        bootstrap_truncated=True,
        seed=0,
        device="cpu",
    )
    with th.no_grad():
        v_final = float(model.policy.predict_values(th.tensor([[0.5, -0.5]])).item())
    one_rollout(model)
    assert model.rollout_buffer.returns[4, 0] == pytest.approx(1.0 + 0.5 * v_final, rel=1e-5)


def test_reward_to_go_false_weights_every_step_by_the_episode_return():
    env = make_vec_env(lambda: TimeLimit(ConstantRewardEnv(), max_episode_steps=5), seed=0)
    model = REINFORCE(
        "MlpPolicy", env, n_episodes=2, gamma=0.5, reward_to_go=False, baseline="none", normalize_advantage=False, device="cpu"
    )
    one_rollout(model)
    np.testing.assert_allclose(model.rollout_buffer.advantages[:10, 0], 1.9375)
    np.testing.assert_allclose(model.rollout_buffer.returns[:10, 0], 1.9375)


@pytest.mark.parametrize("rollout", [dict(carry_episodes=True), dict(group_size=2)])
def test_whole_episode_returns_of_carried_and_grouped_columns(rollout):
    """A column that does not start with an episode (carried steps right-aligned, or a grouped rollout's waves
    after unused steps) still gives each used episode its own return: reward 1 per step, so R = sum_k<L 0.9^k."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_reinforce import REINFORCE
    from tests.envs import RandomLengthEnv

    env = make_vec_env(RandomLengthEnv, n_envs=4, seed=0, env_kwargs=dict(max_length=20))
    model = REINFORCE("MlpPolicy", env, n_episodes=8, gamma=0.9, reward_to_go=False, seed=0, **rollout)
    checked = carried = 0

    class CheckReturns(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            nonlocal checked, carried
            buffer = self.model.rollout_buffer
            carried += int(getattr(buffer, "n_carried_steps", 0))
            for env_index in range(4):
                rows = np.flatnonzero(buffer.used[:, env_index])
                ends = rows[buffer.episode_ends[rows, env_index]]
                starts = np.concatenate([[rows[0]], rows[np.searchsorted(rows, ends[:-1]) + 1]])
                for start, end in zip(starts, ends, strict=True):
                    episode = rows[(rows >= start) & (rows <= end)]
                    expected = (1 - 0.9 ** len(episode)) / 0.1
                    np.testing.assert_allclose(buffer.returns[episode, env_index], expected, rtol=1e-5)
                    checked += 1

    model.learn(2_000, callback=CheckReturns())
    assert carried > 0 or "group_size" in rollout
    assert checked >= 32
