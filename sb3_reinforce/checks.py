"""Argument checks of REINFORCE: each raises a ValueError naming the argument and the value it got."""

import inspect
import math
from typing import Any

import numpy as np
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from sb3_reinforce.baselines import BASELINES, VALUE_FITS

# Default of ``episode_length_limit``: the longest episode a rollout waits for before it raises. It is above every
# Gymnasium time limit and ALE's (NoFrameskip-v4: 400,000 frames, i.e. 100,000 agent steps with a frame skip of 4)
DEFAULT_EPISODE_LENGTH_LIMIT = 100_000

# Arguments of A2C and PPO that REINFORCE has no use for: what it uses instead, and the value that means "the same
# as REINFORCE" (accepted silently), or None when any value is rejected
_A2C_PPO_ARGUMENTS: dict[str, tuple[str, Any]] = {
    "n_steps": ("a rollout is made of whole episodes: set n_episodes (episodes per update) instead", None),
    "gae_lambda": ("REINFORCE uses Monte Carlo returns, which is gae_lambda=1; use use_baseline for a baseline", 1.0),
    "rollout_buffer_class": ("REINFORCE picks its own episodic buffer (EpisodicRolloutBuffer)", None),
    "rollout_buffer_kwargs": ("REINFORCE picks its own episodic buffer (EpisodicRolloutBuffer)", None),
    "use_rms_prop": ("pass policy_kwargs=dict(optimizer_class=torch.optim.RMSprop) to use RMSprop", None),
    "rms_prop_eps": ("pass policy_kwargs=dict(optimizer_kwargs=dict(eps=...)) to set the optimizer's eps", None),
    "n_epochs": ("REINFORCE makes one gradient step per rollout (it is not PPO)", None),
    "clip_range": ("REINFORCE has no clipped surrogate objective (it is not PPO)", None),
    "clip_range_vf": ("REINFORCE has no clipped value objective (it is not PPO)", None),
    "target_kl": ("REINFORCE makes one gradient step per rollout (it is not PPO)", None),
}


def is_integer(value: Any) -> bool:
    """An int (Python or NumPy), and not a bool (True would count as 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (Python or NumPy, int or float), and not a bool (True would count as 1)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_rate(name: str, rate: Any) -> None:
    """Raise a ValueError naming ``name`` unless ``rate`` is a schedule or a finite number > 0 (and not a bool)."""
    if not callable(rate) and not (is_real(rate) and 0 < rate < math.inf):
        raise ValueError(f"{name} must be a finite number > 0 or a schedule, got {rate!r}")


def check_hyperparameters(
    learning_rate: float | Schedule,
    n_episodes: int,
    gamma: float,
    ent_coef: float,
    vf_coef: float,
    max_grad_norm: float,
    batch_size: int | None,
    episode_length_limit: int = DEFAULT_EPISODE_LENGTH_LIMIT,
    stats_window_size: int = 100,
    flags: dict[str, Any] | None = None,
) -> None:
    """Raise a ValueError naming the first invalid hyperparameter (``flags``: the boolean ones, by name)."""
    check_rate("learning_rate", learning_rate)
    if not (is_integer(n_episodes) and n_episodes >= 1):
        raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    if not (is_real(gamma) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    for name, value in (("ent_coef", ent_coef), ("vf_coef", vf_coef)):
        if not (is_real(value) and 0.0 <= value < math.inf):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (is_real(max_grad_norm) and max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be > 0 (math.inf disables clipping), got {max_grad_norm!r}")
    if batch_size is not None and not (is_integer(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size must be an integer >= 1 or None, got {batch_size!r}")
    for name, value in (("episode_length_limit", episode_length_limit), ("stats_window_size", stats_window_size)):
        if not (is_integer(value) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    for name, flag in (flags or {}).items():
        # a string such as "False" from a config file would otherwise count as True
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")


def check_value_fit(
    baseline: str, value_fit: str | None, vf_learning_rate: float | Schedule, vf_n_epochs: int, vf_batch_size: int
) -> None:
    """Raise a ValueError naming the first invalid argument of the value fit."""
    if value_fit is not None:
        if value_fit not in VALUE_FITS:
            raise ValueError(f"value_fit must be one of {VALUE_FITS} or None, got {value_fit!r}")
        if baseline != "value":
            raise ValueError(
                f"value_fit={value_fit!r} applies to the value baseline only (baseline='value' or use_baseline=True), "
                f"but the baseline is {baseline!r}"
            )
    check_rate("vf_learning_rate", vf_learning_rate)
    for name, value in (("vf_n_epochs", vf_n_epochs), ("vf_batch_size", vf_batch_size)):
        if not (is_integer(value) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def resolve_baseline(baseline: str | None, use_baseline: bool | None, n_episodes: int) -> str:
    """The baseline from the ``baseline`` and ``use_baseline`` arguments, or a ValueError naming the conflict."""
    if baseline is None:
        if use_baseline is not None:
            # use_baseline keeps its meaning from before the baseline argument: False is no baseline at all
            return "value" if use_baseline else "none"
        # neither given: the default, tuned on CartPole-v1
        return "leave_one_out" if n_episodes >= 2 else "none"
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES} or None, got {baseline!r}")
    if use_baseline and baseline != "value":
        raise ValueError(f"use_baseline=True means baseline='value', but baseline={baseline!r} was passed as well")
    if use_baseline is False and baseline == "value":
        raise ValueError("use_baseline=False means no learned baseline, but baseline='value' was passed as well")
    return baseline


def check_a2c_ppo_arguments(kwargs: dict[str, Any]) -> None:
    """
    Reject the A2C/PPO arguments REINFORCE has no use for with a ``ValueError`` saying what it uses instead
    (a value that means the same as REINFORCE, such as ``gae_lambda=1.0``, is accepted); any other unknown
    argument is a ``TypeError``, as for any Python function.
    """
    for name, value in kwargs.items():
        if name not in _A2C_PPO_ARGUMENTS:
            raise TypeError(f"REINFORCE.__init__() got an unexpected keyword argument {name!r}")
        instead, same_as_reinforce = _A2C_PPO_ARGUMENTS[name]
        if same_as_reinforce is not None and value == same_as_reinforce and type(value) is type(same_as_reinforce):
            continue
        raise ValueError(f"REINFORCE does not take {name}={value!r}: {instead}")


def check_arguments(
    kwargs: dict[str, Any],
    learning_rate: float | Schedule,
    n_episodes: int,
    gamma: float,
    reward_to_go: bool,
    use_baseline: bool | None,
    baseline: str | None,
    bootstrap_truncated: bool,
    normalize_advantage: bool,
    ent_coef: float,
    vf_coef: float,
    value_fit: str | None,
    vf_learning_rate: float | Schedule,
    vf_n_epochs: int,
    vf_batch_size: int,
    max_grad_norm: float,
    batch_size: int | None,
    episode_length_limit: int,
    carry_episodes: bool | None,
    group_size: int,
    group_std_scaling: bool,
    use_sde: bool,
    sde_sample_freq: int,
    stats_window_size: int,
    policy_kwargs: dict[str, Any] | None,
) -> str:
    """
    Check every argument of ``REINFORCE.__init__`` (``kwargs``: the ones it does not know, see
    :func:`check_a2c_ppo_arguments`) and raise a ``ValueError`` naming the first invalid one.

    :return: The baseline: ``baseline`` resolved with ``use_baseline`` and ``n_episodes`` (:func:`resolve_baseline`)
    """
    check_a2c_ppo_arguments(kwargs)
    check_hyperparameters(
        learning_rate=learning_rate,
        n_episodes=n_episodes,
        gamma=gamma,
        ent_coef=ent_coef,
        vf_coef=vf_coef,
        max_grad_norm=max_grad_norm,
        batch_size=batch_size,
        episode_length_limit=episode_length_limit,
        stats_window_size=stats_window_size,
        flags=dict(
            reward_to_go=reward_to_go,
            use_baseline=False if use_baseline is None else use_baseline,
            bootstrap_truncated=bootstrap_truncated,
            normalize_advantage=normalize_advantage,
            carry_episodes=True if carry_episodes is None else carry_episodes,
            group_std_scaling=group_std_scaling,
            use_sde=use_sde,
        ),
    )
    check_groups(group_size, group_std_scaling, carry_episodes, n_episodes, baseline, use_baseline)
    if not is_integer(sde_sample_freq):
        raise ValueError(f"sde_sample_freq must be an integer (-1: once per rollout), got {sde_sample_freq!r}")
    resolved = resolve_baseline(baseline, use_baseline, n_episodes)
    check_value_fit(resolved, value_fit, vf_learning_rate, vf_n_epochs, vf_batch_size)
    if bootstrap_truncated and resolved != "value":
        raise ValueError("bootstrap_truncated=True needs a learned baseline to bootstrap from: set use_baseline=True")
    if policy_kwargs is not None and "use_value_net" in policy_kwargs:
        raise ValueError("Do not pass use_value_net in policy_kwargs: REINFORCE sets it from use_baseline")
    if policy_kwargs is not None and "use_action_masks" in policy_kwargs:
        raise ValueError(
            "Do not pass use_action_masks in policy_kwargs: REINFORCE sets it when the env has an action_masks() method"
        )
    return resolved


#: The arguments of ``REINFORCE.__init__`` that :func:`check_arguments` reads (all but the unknown ``kwargs``)
CHECKED_ARGUMENTS = tuple(inspect.signature(check_arguments).parameters)[1:]


def check_groups(
    group_size: int,
    group_std_scaling: bool,
    carry_episodes: bool | None,
    n_episodes: int,
    baseline: str | None,
    use_baseline: bool | None,
) -> None:
    """Raise a ValueError naming the argument that makes grouped rollouts (``group_size``) impossible."""
    if not (is_integer(group_size) and group_size >= 1):
        raise ValueError(f"group_size must be an integer >= 1 (1: episodes are not grouped), got {group_size!r}")
    if group_size == 1:
        if group_std_scaling:
            raise ValueError("group_std_scaling=True scales advantages within groups: set group_size > 1")
        return
    if carry_episodes:
        raise ValueError(
            f"carry_episodes=True cannot be used with group_size={group_size}: every episode of a group starts from its "
            "group's seeded reset, so no episode is carried (leave carry_episodes unset)"
        )
    if n_episodes % group_size != 0:
        raise ValueError(f"n_episodes={n_episodes} must be a multiple of group_size={group_size} (whole groups)")
    leave_one_out = baseline == "leave_one_out" or (baseline is None and use_baseline is None)
    if group_std_scaling and not leave_one_out:
        raise ValueError(
            "group_std_scaling=True scales the leave-one-out advantages of a group: it needs baseline='leave_one_out'"
        )


def non_finite_observation_error(env_index: int, episode_step: int, num_timesteps: int) -> ValueError:
    """The error of a NaN or infinite observation from env ``env_index`` after step ``episode_step`` of its episode."""
    return ValueError(
        f"The observation of env {env_index} is not finite (NaN or inf) after step {episode_step} of its episode "
        f"(num_timesteps={num_timesteps}): no update was made. Wrap the env in "
        "stable_baselines3.common.vec_env.VecCheckNan(env, raise_exception=True) to find the action or step that "
        "produces it."
    )


def episode_too_long_error(env_index: int, episode_length_limit: int) -> RuntimeError:
    """The error of an episode of env ``env_index`` that has run past ``episode_length_limit`` steps."""
    return RuntimeError(
        f"The episode of env {env_index} has run for more than episode_length_limit={episode_length_limit} steps "
        "without ending: REINFORCE learns from whole episodes and waits for them to end. Give the env a time limit "
        "(gymnasium.wrappers.TimeLimit, or max_episode_steps in gymnasium.make / make_vec_env's env_kwargs), or raise "
        "episode_length_limit if its episodes really are that long. No update was made."
    )


def first_non_finite_env(obs: VecEnvObs) -> int | None:
    """The index of the first env whose floating-point observation holds a NaN or inf, or None."""
    parts = obs.values() if isinstance(obs, dict) else obs if isinstance(obs, tuple) else [obs]
    for part in parts:
        part = part if isinstance(part, np.ndarray) else np.asarray(part)
        # dtype.kind, not np.issubdtype: this runs every step, and issubdtype costs more than the check itself
        if part.dtype.kind == "f" and not np.isfinite(part).all():
            return int(np.flatnonzero(~np.isfinite(part.reshape(len(part), -1)).all(axis=1))[0])
    return None


def observation_error(obs: VecEnvObs, episode_started_at: np.ndarray, n_steps: int, num_timesteps: int) -> ValueError | None:
    """
    The error of the first env whose observation is NaN or infinite, or None.

    :param obs: The observation of every env
    :param episode_started_at: (n_envs,) the rollout step at which each env's current episode started
    :param n_steps: The rollout's steps so far (an env's step in its episode is ``n_steps - episode_started_at``)
    :param num_timesteps: The model's steps so far
    """
    bad_env = first_non_finite_env(obs)
    if bad_env is None:
        return None
    return non_finite_observation_error(bad_env, n_steps - int(episode_started_at[bad_env]), num_timesteps)


def episode_length_error(waited_for: np.ndarray, episode_lengths: np.ndarray, limit: int) -> RuntimeError | None:
    """The error of the first env whose episode, waited for, has run past ``limit`` steps, or None."""
    too_long = np.flatnonzero(waited_for & (episode_lengths > limit))
    return None if too_long.size == 0 else episode_too_long_error(int(too_long[0]), limit)
