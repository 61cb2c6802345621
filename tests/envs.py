"""Small environments with known answers, for the tests."""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class RandomLengthEnv(gym.Env):
    """
    Episodes whose length is uniform on {1, ..., max_length} whatever the actions: mean (max_length + 1) / 2.
    The observation is the step index within the episode, so a test can tell where every episode starts.
    Reward 1 per step.
    """

    def __init__(self, max_length: int = 20):
        self.max_length = max_length
        self.observation_space = spaces.Box(0.0, np.inf, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.length = 0
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.length = int(self.np_random.integers(1, self.max_length + 1))
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], dtype=np.float32), 1.0, self.t >= self.length, False, {}


class RandomRewardEnv(gym.Env):
    """Random Gaussian observations and rewards, random episode ends (probability 0.25 per step), 3 actions."""

    def __init__(self, obs_dim: int = 3):
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)

    def _obs(self) -> np.ndarray:
        return self.np_random.normal(size=self.observation_space.shape).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        reward = float(self.np_random.normal()) + 0.5 * int(action)
        terminated = bool(self.np_random.random() < 0.25)
        return self._obs(), reward, terminated, False, {}


class ConstantRewardEnv(gym.Env):
    """Constant observation, reward 1 every step, never terminates (wrap it in a TimeLimit)."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return np.array([0.5, -0.5], dtype=np.float32), {}

    def step(self, action):
        return np.array([0.5, -0.5], dtype=np.float32), 1.0, False, False, {}


class NaNRewardEnv(gym.Env):
    """Episodes of 3 steps; the reward of the ``nan_at``-th step since creation is NaN."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, nan_at: int = 5):
        self.nan_at = nan_at
        self.total = 0
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.total += 1
        self.t += 1
        reward = float("nan") if self.total == self.nan_at else 1.0
        return np.zeros(2, dtype=np.float32), reward, self.t >= 3, False, {}


class NaNObservationEnv(gym.Env):
    """Episodes of 5 steps; the observation after the ``nan_at``-th step of every episode is NaN."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, nan_at: int = 3):
        self.nan_at = nan_at
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if self.t == self.nan_at else 0.0, dtype=np.float32)
        return obs, 1.0, self.t >= 5, False, {}


class GaussianBanditEnv(gym.Env):
    """One-step episodes, one continuous action, reward -(a - optimum)^2: the optimal mean action is ``optimum``."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)

    def __init__(self, optimum: float = 0.7):
        self.optimum = optimum

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        reward = -float((np.asarray(action).item() - self.optimum) ** 2)
        return np.ones(1, dtype=np.float32), reward, True, False, {}


class HugeRewardEnv(gym.Env):
    """Two-step episodes paying 3e38 per step: finite in float32, but the return (6e38) is not."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, dtype=np.float32), 3e38, self.t >= 2, False, {}
