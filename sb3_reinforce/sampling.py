"""
Playing a policy in a ``VecEnv``: the steps that training (``REINFORCE.collect_rollouts``) and the diagnostics
(:mod:`sb3_reinforce.diagnostics`) share.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.groups import reset_all_envs
from sb3_reinforce.policies import REINFORCEPolicy


def sample_actions(
    policy: REINFORCEPolicy,
    obs: np.ndarray | dict[str, np.ndarray],
    action_masks: np.ndarray | None = None,
    device: th.device | None = None,
) -> tuple[np.ndarray, np.ndarray, th.Tensor | None]:
    """
    Sample one action per env, without gradient.

    :param policy: The policy
    :param obs: The observation of every env, shape (n_envs, ...)
    :param action_masks: The masks of every env's valid actions, shape (n_envs, mask_dim), for a maskable policy
    :param device: The policy's device; None reads ``policy.device``, which walks the policy's parameters: a
        caller that samples every step reads it once
    :return: the actions to store (the distribution's samples; Discrete ones shaped (n_envs, 1)), the actions to
        send to the env (a squashed gSDE action rescaled to the bounds as ``predict`` does, another ``Box`` action
        clipped to them) and V(obs), shape (n_envs, 1), or None without a value network
    """
    with th.no_grad():
        obs_tensor = obs_as_tensor(obs, policy.device if device is None else device)
        action_tensor, values = policy.sample_actions(obs_tensor, action_masks)
    return (*stored_and_env_actions(policy, action_tensor), values)


def stored_and_env_actions(policy: BasePolicy, action_tensor: th.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """
    :param policy: The policy that sampled the actions
    :param action_tensor: The distribution's samples, shape (n_envs, *action_shape)
    :return: the actions to store (Discrete ones shaped (n_envs, 1)) and the actions to send to the env (a
        squashed action rescaled to the bounds as ``predict`` does, another ``Box`` action clipped to them)
    """
    actions = action_tensor.cpu().numpy()
    action_space = policy.action_space
    if isinstance(action_space, spaces.Discrete):
        return actions.reshape(-1, 1), actions
    if isinstance(action_space, spaces.Box):
        if policy.squash_output:
            return actions, policy.unscale_action(actions)
        return actions, np.clip(actions, action_space.low, action_space.high)
    return actions, actions


def time_limit(env: VecEnv) -> int | None:
    """
    The time limit of the first env of ``env``: the ``max_episode_steps`` of a ``gymnasium.wrappers.TimeLimit``
    anywhere in its wrappers (``gymnasium.make`` adds one for a registered limit), else its spec's, else None.
    """
    if env.has_attr("_max_episode_steps"):
        max_episode_steps = env.get_attr("_max_episode_steps", indices=0)[0]
        if max_episode_steps is not None:
            return int(max_episode_steps)
    spec = env.get_attr("spec", indices=0)[0] if env.has_attr("spec") else None
    max_episode_steps = getattr(spec, "max_episode_steps", None)
    return None if max_episode_steps is None else int(max_episode_steps)


def expected_rollout_steps(env: VecEnv | None, episodes_per_env: int, default: int) -> int:
    """
    Each env's steps in a rollout before the first one is played: ``episodes_per_env`` episodes as long as the
    env's time limit (:func:`time_limit`) allows, or ``default`` when the env has no time limit (or there is no env).
    """
    max_episode_steps = None if env is None else time_limit(env)
    return default if max_episode_steps is None else episodes_per_env * max_episode_steps


def log_prob_of(
    policy: REINFORCEPolicy, buffer: EpisodicRolloutBuffer, steps: np.ndarray, envs: np.ndarray, batch_size: int | None
) -> np.ndarray:
    """
    ``log pi(a|s)`` under the policy's current parameters of the buffer's steps ``(steps, envs)`` (with the masks
    their actions were sampled under), in chunks of ``batch_size`` steps, without gradient.
    """
    chunk = batch_size or max(len(steps), 1)
    out = [np.zeros(0, dtype=np.float32)]
    with th.no_grad():
        for start in range(0, len(steps), chunk):
            rows, cols = steps[start : start + chunk], envs[start : start + chunk]
            actions = buffer.to_torch(buffer.actions[rows, cols])
            if isinstance(policy.action_space, spaces.Discrete):
                actions = actions.long().flatten()
            observations = buffer._observation_batch(rows, cols)
            _, log_prob, _ = policy.evaluate_actions(observations, actions, buffer.action_masks_of(rows, cols))
            out.append(log_prob.cpu().numpy())
    return np.concatenate(out)


def bootstrap_truncated_rewards(
    policy: REINFORCEPolicy, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]], gamma: float
) -> np.ndarray:
    """The rewards with ``gamma * V(final observation)`` added to every step that ended by truncation."""
    rewards = rewards.astype(np.float32, copy=True)
    for idx, done in enumerate(dones):
        if done and infos[idx].get("TimeLimit.truncated", False) and infos[idx].get("terminal_observation") is not None:
            terminal_obs = policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
            with th.no_grad():
                terminal_value = policy.predict_values(terminal_obs)[0]
            rewards[idx] += gamma * terminal_value.item()
    return rewards


@contextlib.contextmanager
def kept_exploration_noise(policy: REINFORCEPolicy) -> Iterator[None]:
    """Restore the policy's gSDE exploration matrices on exit (a no-op without gSDE)."""
    distribution = policy.action_dist
    saved = {
        name: getattr(distribution, name)
        for name in ("exploration_mat", "exploration_matrices")
        if hasattr(distribution, name)
    }
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(distribution, name, value)


def play_episodes(
    policy: REINFORCEPolicy,
    env: VecEnv,
    buffer: EpisodicRolloutBuffer,
    episodes_per_env: int,
    gamma_bootstrap: float | None = None,
    sde_sample_freq: int = -1,
) -> None:
    """
    From a reset of ``env``, play ``episodes_per_env`` whole episodes in each of its envs with ``policy`` and
    fill ``buffer`` (reset first): the rollout ``REINFORCE`` would collect, without training, callbacks or
    logging. A grouped buffer (:class:`~sb3_reinforce.groups.GroupedEpisodicRolloutBuffer`) gets its waves of
    seeded resets. The policy's gSDE exploration matrices are drawn afresh for it, and they and the policy's
    training mode are restored afterwards, also after an error.

    :param policy: The policy that plays
    :param env: The env it plays in
    :param buffer: A buffer with ``env.num_envs`` columns
    :param episodes_per_env: Whole episodes per env
    :param gamma_bootstrap: With a policy that has a value network, add ``gamma_bootstrap * V`` of the final
        observation at a time-limit truncation (``bootstrap_truncated``); None: no bootstrap
    :param sde_sample_freq: With gSDE, draw new exploration matrices every ``sde_sample_freq`` steps (-1: once,
        at the start), as ``REINFORCE`` does
    """
    training = policy.training
    policy.set_training_mode(False)
    try:
        seeds = buffer.begin_rollout(episodes_per_env)
        obs = reset_all_envs(env, seeds, buffer.reset_options)
        with kept_exploration_noise(policy):
            if policy.use_sde:
                policy.reset_noise(env.num_envs)
            n_steps = 0
            device = policy.device
            while np.any(buffer.finished_episodes < episodes_per_env):
                if policy.use_sde and sde_sample_freq > 0 and n_steps > 0 and n_steps % sde_sample_freq == 0:
                    policy.reset_noise(env.num_envs)
                n_steps += 1
                actions, env_actions, values = sample_actions(policy, obs, device=device)
                new_obs, rewards, dones, infos = env.step(env_actions)
                if gamma_bootstrap is not None:
                    rewards = bootstrap_truncated_rewards(policy, rewards, dones, infos, gamma_bootstrap)
                buffer.add(obs, actions, rewards, dones, values, infos)
                obs = new_obs
                seeds = buffer.reset_request()  # the next wave of a grouped rollout
                if seeds is not None:
                    obs = reset_all_envs(env, seeds, buffer.reset_options)
    finally:
        policy.set_training_mode(training)
