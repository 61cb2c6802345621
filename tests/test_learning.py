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


def test_recurrent_preset_solves_cartpole_without_velocities(tmp_path):
    """sb3-contrib's RecurrentPPO performance case (CartPole without velocities, mean >= 450 over 10 deterministic
    episodes) with the reinforce_lstm preset and its budget of 100,000 steps, trained through rl-zoo3."""
    import argparse

    pytest.importorskip("rl_zoo3")
    import rl_zoo3.import_envs  # noqa: F401
    from rl_zoo3.exp_manager import ExperimentManager
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    from sb3_reinforce.zoo import HYPERPARAMS_PATHS, register

    register()
    manager = ExperimentManager(
        argparse.Namespace(), "reinforce_lstm", "CartPoleNoVel-v1", str(tmp_path), eval_freq=-1, seed=0,
        log_interval=-1, verbose=0, device="cpu", config=str(HYPERPARAMS_PATHS["reinforce_lstm"]),
    )  # fmt: skip
    results = manager.setup_experiment()
    assert results is not None
    model, _ = results
    manager.learn(model)
    assert model.num_timesteps <= 100_000 + 8 * 500  # the budget, and the last rollout's whole episodes
    # learn() closed the training envs: a fresh one, with the training observation statistics
    eval_env = VecNormalize(make_vec_env("CartPoleNoVel-v1", n_envs=1, seed=1000), training=False, norm_reward=False)
    eval_env.obs_rms = model.get_vec_normalize_env().obs_rms
    evaluate_policy(model, eval_env, n_eval_episodes=10, reward_threshold=450)
