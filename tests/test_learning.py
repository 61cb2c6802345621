"""Seeded learning runs: REINFORCE must actually solve small tasks."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE
from tests.envs import GaussianBanditEnv


@pytest.mark.slow
def test_default_reinforce_solves_cartpole_within_100k_steps():
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100_000)
    monitor = model.get_env().envs[0]
    returns = np.array(monitor.get_episode_rewards())
    steps = np.cumsum(monitor.get_episode_lengths())
    window_means = np.convolve(returns, np.ones(25) / 25, mode="valid")  # mean of episodes i-24..i
    solved = np.flatnonzero(window_means >= 475)
    assert solved.size > 0, f"best 25-episode mean {window_means.max():.1f}"
    assert steps[solved[0] + 24] <= 100_000


def test_gaussian_policy_converges_to_the_bandit_optimum():
    env = make_vec_env(GaussianBanditEnv, n_envs=4, seed=0, env_kwargs=dict(optimum=0.7))
    model = REINFORCE("MlpPolicy", env, n_episodes=32, learning_rate=1e-2, seed=0, device="cpu")
    initial_std = th.exp(model.policy.log_std).item()
    model.learn(10_000)
    action, _ = model.predict(np.ones((1, 1), dtype=np.float32), deterministic=True)
    assert abs(action.item() - 0.7) < 0.05
    assert th.exp(model.policy.log_std).item() < 0.5 * initial_std  # the policy became confident
