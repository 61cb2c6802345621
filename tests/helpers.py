"""Helpers shared by the test modules: parametrisations, tiny models, parameter comparisons and recording callbacks."""

from typing import Any

import numpy as np
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)

from sb3_reinforce import REINFORCE
from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.carrying import CarryingEpisodicRolloutBuffer
from sb3_reinforce.groups import GroupedEpisodicRolloutBuffer
from tests.envs import RandomRewardEnv

# ---------------------------------------------------------------------------------------------------------------
# Parametrisations shared by the smoke runs and the save/load tests

# space: (policy, env factory); wrap the env in a TimeLimit of 8 steps for short episodes
SPACES = {
    "discrete": ("MlpPolicy", lambda: IdentityEnv(dim=3, ep_length=8)),
    "box": ("MlpPolicy", lambda: IdentityEnvBox(ep_length=8)),
    "multidiscrete": ("MlpPolicy", lambda: IdentityEnvMultiDiscrete(dim=2, ep_length=8)),
    "multibinary": ("MlpPolicy", lambda: IdentityEnvMultiBinary(dim=3, ep_length=8)),
    "image": ("CnnPolicy", lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1)),
    "dict": ("MultiInputPolicy", lambda: SimpleMultiObsEnv(random_start=False)),
}

# name: the REINFORCE arguments that select the baseline; "leave_one_out" is the default (no argument at all)
BASELINES: dict[str, dict[str, Any]] = {
    "none": dict(baseline="none"),
    "leave_one_out": dict(),
    "value_separate": dict(baseline="value"),
    "value_joint": dict(baseline="value", value_fit="joint"),
}


def baseline_name(case: str) -> str:
    """The model's ``baseline`` attribute for a case of BASELINES."""
    return "value" if case.startswith("value") else case


# name: the REINFORCE arguments that choose how rollouts are played; carrying episodes is the default
ROLLOUTS: dict[str, dict[str, Any]] = {
    "carrying": dict(),
    "dropping": dict(carry_episodes=False),
    "grouped": dict(group_size=2),
}


def space_model(space: str, baseline: str, rollout: str) -> REINFORCE:
    """A model on the env of ``space`` (8-step episodes, 2 envs, 2 episodes per update) with a case of BASELINES
    and of ROLLOUTS; ent_coef > 0, since some of these envs pay no reward at all and training must still move the
    parameters."""
    policy, make_env = SPACES[space]
    env = make_vec_env(lambda: TimeLimit(make_env(), max_episode_steps=8), n_envs=2, seed=0)
    kwargs = {**BASELINES[baseline], **ROLLOUTS[rollout]}
    return REINFORCE(policy, env, n_episodes=2, ent_coef=0.01, batch_size=16, seed=0, device="cpu", **kwargs)


def buffer_class_of(space: str, rollout: str) -> type:
    """The buffer class REINFORCE picks for a case of ROLLOUTS (one class for every observation space)."""
    if rollout == "grouped":
        return GroupedEpisodicRolloutBuffer
    if rollout == "carrying":
        return CarryingEpisodicRolloutBuffer
    return EpisodicRolloutBuffer


# ---------------------------------------------------------------------------------------------------------------
# Parameters


def params_of(model: REINFORCE) -> dict[str, th.Tensor]:
    return {name: p.detach().clone() for name, p in model.policy.named_parameters()}


def assert_params_equal(a: dict[str, th.Tensor], b: dict[str, th.Tensor]) -> None:
    for name in a:
        assert th.equal(a[name], b[name]), name


def assert_params_changed(before: dict[str, th.Tensor], model: REINFORCE) -> None:
    after = params_of(model)
    assert any(not th.equal(before[name], after[name]) for name in before), "no parameter changed"


# ---------------------------------------------------------------------------------------------------------------
# Models and rollouts


def random_reward_model(**kwargs) -> REINFORCE:
    """Two envs of random rewards and random episode ends (at most 20 steps), 4 episodes per update."""
    env = make_vec_env(lambda: TimeLimit(RandomRewardEnv(), max_episode_steps=20), n_envs=2, seed=0)
    return REINFORCE("MlpPolicy", env, n_episodes=4, seed=0, device="cpu", **kwargs)


def one_rollout(model: REINFORCE) -> None:
    """Collect one rollout without training, as learn() does before its first update."""
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)


def collect(model: REINFORCE) -> None:
    """One rollout without an update (the first call sets the model up for learning); can be called again."""
    if model._last_obs is None:
        model._setup_learn(total_timesteps=1, callback=None)
    _, callback = model._setup_learn(total_timesteps=1, callback=None, reset_num_timesteps=False)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)


# ---------------------------------------------------------------------------------------------------------------
# Callbacks that record what the rollouts used


class UsedSteps(BaseCallback):
    """Episode lengths, used, carried and dropped steps of every rollout."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []
        self.used = self.carried = self.dropped = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.lengths.extend(buffer.episode_lengths.tolist())
        self.used += buffer.n_used_steps
        statistics = buffer.rollout_statistics()  # what the rollout logs as rollout/carried_steps, unused_steps
        self.carried += statistics.get("carried_steps", 0)
        self.dropped += statistics["unused_steps"]


class RolloutRecorder(BaseCallback):
    """Copy what every rollout used, at the end of each rollout."""

    def __init__(self) -> None:
        super().__init__()
        self.episode_lengths: list[np.ndarray] = []
        self.first_obs: list[np.ndarray] = []
        self.unused: list[int] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.episode_lengths.append(buffer.episode_lengths.copy())
        self.first_obs.append(buffer.observations[0].copy())
        self.unused.append(buffer.n_unused_steps)
