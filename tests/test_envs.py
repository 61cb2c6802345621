"""The example environments shipped with the package."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env

import sb3_reinforce.envs  # noqa: F401  (registers ReverseDigits-v0)
from sb3_reinforce.envs import ReverseDigitsEnv
from sb3_reinforce.groups import reset_is_reproducible


def test_reverse_digits_rewards_only_the_reversed_prompt_at_the_end():
    env = ReverseDigitsEnv(length=3, n_digits=4)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    prompt = env.prompt.copy()
    assert obs.shape == (3 * 9,) and obs[:12].reshape(3, 4).argmax(axis=1).tolist() == prompt.tolist()
    for action in prompt[::-1][:-1]:
        obs, reward, terminated, _, _ = env.step(int(action))
        assert reward == 0.0 and not terminated
    _, reward, terminated, _, info = env.step(int(prompt[0]))
    assert reward == 1.0 and terminated and info["is_success"]
    env.reset(seed=3)
    for action in prompt:  # the prompt itself, not reversed: wrong unless it is a palindrome
        _, reward, terminated, _, info = env.step(int(action))
    assert terminated and reward == float(prompt.tolist() == prompt[::-1].tolist()) == float(info["is_success"])


def test_reverse_digits_is_registered_and_its_reset_depends_only_on_the_seed():
    env = make_vec_env("ReverseDigits-v0", n_envs=3)
    assert reset_is_reproducible(env)
    prompts = {tuple(gym.make("ReverseDigits-v0").unwrapped.reset(seed=seed)[0]) for seed in range(20)}
    assert len(prompts) > 10
    with pytest.raises(ValueError, match="length >= 1 and n_digits >= 2"):
        ReverseDigitsEnv(length=0)
    assert np.isclose(ReverseDigitsEnv(length=2, n_digits=3).observation_space.shape[0], 2 * 7)
