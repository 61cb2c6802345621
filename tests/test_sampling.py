"""sb3_reinforce.sampling: the actions a rollout stores and sends, the time limit read through wrappers, the first
rollout's expected length, and the bootstrapped rewards of truncated steps, by hand."""

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_reinforce import REINFORCE
from sb3_reinforce.sampling import bootstrap_truncated_rewards, expected_rollout_steps, stored_and_env_actions, time_limit


def test_stored_and_env_actions_by_space():
    discrete = REINFORCE("MlpPolicy", "CartPole-v1", device="cpu").policy
    stored, sent = stored_and_env_actions(discrete, th.tensor([1, 0, 1]))
    assert stored.shape == (3, 1) and sent.tolist() == [1, 0, 1]

    box = REINFORCE("MlpPolicy", "Pendulum-v1", device="cpu").policy  # bounds [-2, 2]
    stored, sent = stored_and_env_actions(box, th.tensor([[3.0], [-0.5], [-7.0]]))
    assert stored.ravel().tolist() == [3.0, -0.5, -7.0]  # the sample, whose log-probability the update needs
    assert sent.ravel().tolist() == [2.0, -0.5, -2.0]  # clipped to the bounds

    squashed = REINFORCE("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs=dict(squash_output=True)).policy
    stored, sent = stored_and_env_actions(squashed, th.tensor([[1.0], [0.0], [-0.5]]))
    assert sent.ravel().tolist() == [2.0, 0.0, -1.0]  # tanh's range rescaled to the bounds, as predict does


def test_time_limit_through_wrappers_and_the_spec():
    unregistered = lambda: TimeLimit(IdentityEnvBox(ep_length=1000), max_episode_steps=7)  # noqa: E731
    assert time_limit(DummyVecEnv([unregistered])) == 7
    assert time_limit(VecNormalize(DummyVecEnv([unregistered]))) == 7
    assert time_limit(make_vec_env("CartPole-v1")) == 500  # the spec's limit, through gymnasium.make's TimeLimit
    assert time_limit(DummyVecEnv([lambda: IdentityEnv(dim=2, ep_length=5)])) is None


def test_expected_rollout_steps():
    env = DummyVecEnv([lambda: TimeLimit(IdentityEnv(dim=2, ep_length=1000), max_episode_steps=7)])
    assert expected_rollout_steps(env, episodes_per_env=3, default=256) == 21
    assert expected_rollout_steps(DummyVecEnv([lambda: IdentityEnv(dim=2)]), 3, default=256) == 256
    assert expected_rollout_steps(None, 3, default=256) == 256


def test_bootstrap_truncated_rewards_adds_gamma_v_only_where_truncated():
    model = REINFORCE("MlpPolicy", "CartPole-v1", baseline="value", device="cpu", seed=0)
    terminal = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    with th.no_grad():
        value = model.policy.predict_values(th.as_tensor(terminal[None]))[0].item()
    infos = [
        {"TimeLimit.truncated": True, "terminal_observation": terminal},
        {"TimeLimit.truncated": False, "terminal_observation": terminal},  # terminated: its value is 0
        {},  # not done
    ]
    rewards = bootstrap_truncated_rewards(model.policy, np.ones(3), np.array([True, True, False]), infos, gamma=0.9)
    assert rewards.tolist() == pytest.approx([1 + 0.9 * value, 1.0, 1.0])
