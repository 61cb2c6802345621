"""sb3_reinforce.checks: a bad argument raises a ValueError naming the parameter; A2C and PPO arguments are
explained; the baseline and use_baseline arguments agree; the value fit's and gSDE's arguments are checked; the
rollout's observation and episode-length checks find the first bad env."""

import numpy as np
import pytest

from sb3_reinforce import REINFORCE
from tests.helpers import random_reward_model

# ---------------------------------------------------------------------------------------------------------------
# Hyperparameters


BAD_KWARGS = [
    (dict(n_episodes=0), "n_episodes"),
    (dict(n_episodes=2.5), "n_episodes"),
    (dict(gamma=1.5), "gamma"),
    (dict(gamma=-0.1), "gamma"),
    (dict(gamma=float("nan")), "gamma"),
    (dict(gamma=True), "gamma"),
    (dict(ent_coef=True), "ent_coef"),
    (dict(vf_coef=np.bool_(True)), "vf_coef"),
    (dict(max_grad_norm=True), "max_grad_norm"),
    (dict(ent_coef=-0.01), "ent_coef"),
    (dict(vf_coef=-1.0), "vf_coef"),
    (dict(max_grad_norm=0.0), "max_grad_norm"),
    (dict(max_grad_norm=-1.0), "max_grad_norm"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(learning_rate=True), "learning_rate"),
    (dict(learning_rate=float("inf")), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(learning_rate="1e-3"), "learning_rate"),
    (dict(bootstrap_truncated=True), "bootstrap_truncated"),
    (dict(use_baseline="False"), "use_baseline"),
    (dict(reward_to_go=1), "reward_to_go"),
    (dict(normalize_advantage=None), "normalize_advantage"),
    (dict(use_baseline=True, bootstrap_truncated="yes"), "bootstrap_truncated"),
    (dict(stats_window_size=0), "stats_window_size"),
    (dict(policy_kwargs=dict(use_value_net=True)), "use_value_net"),
]


@pytest.mark.parametrize("kwargs, name", BAD_KWARGS)
def test_invalid_hyperparameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        REINFORCE("MlpPolicy", "CartPole-v1", device="cpu", **kwargs)


def test_numpy_numbers_are_accepted_as_hyperparameters():
    # what a config loader or a sweep may hand over (np.float32 is not a Python float)
    model = REINFORCE(
        "MlpPolicy",
        "CartPole-v1",
        gamma=np.float32(0.99),
        ent_coef=np.float32(0.01),
        vf_coef=np.float64(0.5),
        max_grad_norm=np.int64(1),
        device="cpu",
    )
    assert model.gamma == pytest.approx(0.99) and model.ent_coef == pytest.approx(0.01) and model.max_grad_norm == 1


def test_wrong_policy_class_is_rejected():
    from stable_baselines3.common.policies import ActorCriticPolicy

    with pytest.raises(ValueError, match="REINFORCEPolicy"):
        REINFORCE(ActorCriticPolicy, "CartPole-v1", device="cpu")


# ---------------------------------------------------------------------------------------------------------------
# Arguments of A2C and PPO


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_steps=5), "n_steps"),
        (dict(gae_lambda=0.95), "gae_lambda"),
        (dict(rollout_buffer_class=None), "rollout_buffer_class"),
        (dict(rollout_buffer_kwargs={}), "rollout_buffer_kwargs"),
        (dict(use_rms_prop=True), "use_rms_prop"),
        (dict(n_epochs=10), "n_epochs"),
        (dict(clip_range=0.2), "clip_range"),
    ],
)
def test_a2c_and_ppo_arguments_raise_a_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=rf"REINFORCE does not take {name}=.*: "):
        REINFORCE("MlpPolicy", "CartPole-v1", device="cpu", **kwargs)


def test_a2c_arguments_meaning_the_same_are_accepted_and_unknown_ones_are_type_errors():
    model = REINFORCE("MlpPolicy", "CartPole-v1", gae_lambda=1.0, device="cpu")
    assert model.gae_lambda == 1.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'not_an_argument'"):
        REINFORCE("MlpPolicy", "CartPole-v1", not_an_argument=1, device="cpu")


# ---------------------------------------------------------------------------------------------------------------
# The baseline argument ("none", "value", "leave_one_out") and use_baseline


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(baseline="critic"), "baseline must be one of"),
        (dict(baseline="none", use_baseline=True), "use_baseline=True means baseline='value'"),
        (dict(baseline="value", use_baseline=False), "use_baseline=False means no learned baseline"),
        (dict(baseline="leave_one_out", n_episodes=1), "at least 2 episodes"),
        (dict(baseline="leave_one_out", bootstrap_truncated=True), "bootstrap_truncated"),
    ],
)
def test_bad_baseline_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        REINFORCE("MlpPolicy", "CartPole-v1", device="cpu", **kwargs)


def test_baseline_and_use_baseline_agree_and_survive_save_load(tmp_path):
    assert REINFORCE("MlpPolicy", "CartPole-v1", use_baseline=True, device="cpu").baseline == "value"
    # an explicit use_baseline=False means no baseline
    assert REINFORCE("MlpPolicy", "CartPole-v1", use_baseline=False, device="cpu").baseline == "none"
    # neither given: the default
    assert REINFORCE("MlpPolicy", "CartPole-v1", device="cpu").baseline == "leave_one_out"
    assert REINFORCE("MlpPolicy", "CartPole-v1", n_episodes=1, device="cpu").baseline == "none"
    value = REINFORCE("MlpPolicy", "CartPole-v1", baseline="value", device="cpu")
    assert value.use_baseline and value.policy.value_net is not None
    loo = REINFORCE("MlpPolicy", "CartPole-v1", baseline="leave_one_out", device="cpu")
    loo.save(tmp_path / "loo")
    assert REINFORCE.load(tmp_path / "loo", device="cpu").baseline == "leave_one_out"


# ---------------------------------------------------------------------------------------------------------------
# The value fit's arguments (baseline="value")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(baseline="none", value_fit="separate"), "value_fit"),
        (dict(baseline="leave_one_out", value_fit="joint"), "value_fit"),
        (dict(baseline="value", value_fit="both"), "value_fit"),
        (dict(baseline="value", vf_learning_rate=0.0), "vf_learning_rate"),
        (dict(baseline="value", vf_learning_rate="1e-3"), "vf_learning_rate"),
        (dict(baseline="value", vf_learning_rate=True), "vf_learning_rate"),
        (dict(baseline="value", vf_learning_rate=float("inf")), "vf_learning_rate"),
        (dict(baseline="value", vf_n_epochs=0), "vf_n_epochs"),
        (dict(baseline="value", vf_batch_size=2.5), "vf_batch_size"),
    ],
)
def test_invalid_value_fit_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        random_reward_model(**kwargs)


# ---------------------------------------------------------------------------------------------------------------
# gSDE


def test_gsde_needs_continuous_actions_and_an_integer_frequency():
    with pytest.raises(ValueError, match=r"gSDE|State-Dependent|continuous"):
        REINFORCE("MlpPolicy", "CartPole-v1", use_sde=True, device="cpu")
    with pytest.raises(ValueError, match="sde_sample_freq"):
        REINFORCE("MlpPolicy", "Pendulum-v1", use_sde=True, sde_sample_freq=2.5, device="cpu")
    with pytest.raises(ValueError, match="use_sde"):
        REINFORCE("MlpPolicy", "Pendulum-v1", use_sde="yes", device="cpu")


# ---------------------------------------------------------------------------------------------------------------
# The rollout's checks (each runs every step: on whole arrays, pure functions)


def test_first_non_finite_env_finds_the_first_bad_env_of_any_observation():
    from sb3_reinforce.checks import first_non_finite_env

    obs = np.zeros((4, 3, 2), dtype=np.float32)
    assert first_non_finite_env(obs) is None
    obs[2, 1, 0] = np.inf
    obs[3, 0, 1] = np.nan
    assert first_non_finite_env(obs) == 2
    # integer observations cannot be NaN: not looked at
    assert first_non_finite_env(np.full((2, 3), 7, dtype=np.uint8)) is None
    # a Dict observation: every key is looked at
    dict_obs = {"a": np.zeros((3, 2)), "b": np.zeros((3,), dtype=np.float64)}
    assert first_non_finite_env(dict_obs) is None
    dict_obs["b"][1] = -np.inf
    assert first_non_finite_env(dict_obs) == 1


def test_observation_error_names_the_env_its_episode_step_and_the_model_step():
    from sb3_reinforce.checks import observation_error

    obs = np.zeros((3, 4))
    assert observation_error(obs, np.zeros(3, dtype=np.int64), n_steps=10, num_timesteps=100) is None
    obs[1, 2] = np.nan
    error = observation_error(obs, np.array([0, 6, 0]), n_steps=10, num_timesteps=100)
    assert isinstance(error, ValueError)
    message = str(error)
    assert "env 1" in message and "step 4" in message and "100" in message


def test_episode_length_error_looks_only_at_the_episodes_waited_for():
    from sb3_reinforce.checks import episode_length_error

    lengths = np.array([5, 50, 60])
    assert episode_length_error(np.array([True, False, False]), lengths, limit=40) is None
    error = episode_length_error(np.array([True, False, True]), lengths, limit=40)
    assert isinstance(error, RuntimeError) and "env 2" in str(error) and "40" in str(error)
