"""
Example environments.

:class:`ReverseDigitsEnv` is a verifiable-reward sequence task in the shape of reasoning-model training: a prompt
is drawn at reset, the agent writes its answer one token per step, and the only reward comes at the end, 1 for a
correct answer and 0 otherwise. Its reset depends only on its seed, so grouped rollouts (``group_size > 1``) can
give several attempts the same prompt. Importing this module registers it as ``ReverseDigits-v0``, with
``StartStateBandit-v0`` and the travelling salesman of :mod:`sb3_reinforce.routing`, ``TSP20-v0`` and ``TSP50-v0``.
"""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ReverseDigitsEnv(gym.Env):
    """
    Write the prompt's digits in reverse order. The prompt is ``length`` digits drawn uniformly from
    ``{0, ..., n_digits - 1}`` at reset; each step writes one digit (the action); after ``length`` steps the episode
    ends with reward 1 if the answer is the reversed prompt, else 0 (``info["is_success"]`` says which, for SB3's
    ``rollout/success_rate``). A uniformly random policy succeeds with probability ``n_digits ** -length``.

    The observation is what a small policy needs to read: the one-hot prompt (``length * n_digits``) and the
    one-hot answer written so far, a blank token marking the positions not written yet
    (``length * (n_digits + 1)``).

    :param length: Number of digits of the prompt (and of the answer)
    :param n_digits: Size of the alphabet
    :param render_mode: ``"rgb_array"``: :meth:`render` draws the prompt (top row) and the answer so far (bottom
        row) as one grey level per digit, black for a blank
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, length: int = 4, n_digits: int = 4, render_mode: str | None = None):
        if length < 1 or n_digits < 2:
            raise ValueError(f"ReverseDigitsEnv needs length >= 1 and n_digits >= 2, got {length} and {n_digits}")
        self.length, self.n_digits = length, n_digits
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(length * (2 * n_digits + 1),), dtype=np.float32)
        self.action_space = spaces.Discrete(n_digits)
        self.prompt = np.zeros(length, dtype=np.int64)
        self.answer: list[int] = []

    def _obs(self) -> np.ndarray:
        prompt = np.eye(self.n_digits, dtype=np.float32)[self.prompt]
        written = np.full(self.length, self.n_digits)  # the blank token
        written[: len(self.answer)] = self.answer
        answer = np.eye(self.n_digits + 1, dtype=np.float32)[written]
        return np.concatenate([prompt.ravel(), answer.ravel()])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.prompt = self.np_random.integers(self.n_digits, size=self.length)
        self.answer = []
        return self._obs(), {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        written = np.full(self.length, -1)
        written[: len(self.answer)] = self.answer
        levels = np.stack([self.prompt, written]).astype(np.float64)
        image = np.where(levels < 0, 0, 64 + 191 * levels / max(self.n_digits - 1, 1)).astype(np.uint8)
        # 16 x 16 pixels per digit, three channels
        return np.repeat(np.repeat(image, 16, axis=0), 16, axis=1)[..., None].repeat(3, axis=2)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.answer.append(int(action))
        if len(self.answer) < self.length:
            return self._obs(), 0.0, False, False, {}
        correct = self.answer == self.prompt[::-1].tolist()
        return self._obs(), float(correct), True, False, {"is_success": correct}


class StartStateBanditEnv(gym.Env):
    """
    One-step episodes whose start state dominates the reward: ``s`` is uniform on ``{0, ..., n_states - 1}`` at
    reset (one-hot observation), there are two actions, and the reward is ``10 s + [a == s mod 2]``. The best
    action is worth 1 in every state, while the start state moves the return by up to ``10 (n_states - 1)``.

    :param n_states: Number of start states
    :param render_mode: ``"rgb_array"``: :meth:`render` draws the start state as a white square in a row
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 1}

    def __init__(self, n_states: int = 4, render_mode: str | None = None):
        self.n_states = n_states
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(n_states,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.state = 0

    def _obs(self) -> np.ndarray:
        return np.eye(self.n_states, dtype=np.float32)[self.state]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.state = int(self.np_random.integers(self.n_states))
        return self._obs(), {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        row = (255 * self._obs()).astype(np.uint8)[None, :]
        return np.repeat(np.repeat(row, 16, axis=0), 16, axis=1)[..., None].repeat(3, axis=2)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = 10.0 * self.state + float(int(action) == self.state % 2)
        return self._obs(), reward, True, False, {}


for _env_id, _entry_point, _kwargs in (
    ("ReverseDigits-v0", "sb3_reinforce.envs:ReverseDigitsEnv", {}),
    ("StartStateBandit-v0", "sb3_reinforce.envs:StartStateBanditEnv", {}),
    # the travelling salesman (sb3_reinforce.routing): an episode visits every node once, so no time limit
    ("TSP20-v0", "sb3_reinforce.routing:TSPEnv", {"num_nodes": 20}),
    ("TSP50-v0", "sb3_reinforce.routing:TSPEnv", {"num_nodes": 50}),
):
    if _env_id not in gym.registry:
        gym.register(_env_id, entry_point=_entry_point, kwargs=_kwargs)
