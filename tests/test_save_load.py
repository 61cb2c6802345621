"""Save and load: every space and baseline, with and without carrying episodes, saves its parameters, its
hyperparameters and its optimizers' states, loads to the same predictions and continues training; a resumed run
equals an uninterrupted one."""

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv

from sb3_reinforce import REINFORCE
from tests.envs import RandomLengthEnv
from tests.helpers import (
    BASELINES,
    ROLLOUTS,
    SPACES,
    UsedSteps,
    assert_params_changed,
    assert_params_equal,
    baseline_name,
    buffer_class_of,
    params_of,
    random_reward_model,
    space_model,
)

# ---------------------------------------------------------------------------------------------------------------
# Every space and baseline, with episodes carried, dropped or grouped


@pytest.mark.parametrize("rollout", list(ROLLOUTS))
@pytest.mark.parametrize("baseline", list(BASELINES))
@pytest.mark.parametrize("case", list(SPACES))
def test_spaces_train_save_load_and_continue(case, baseline, rollout, tmp_path):
    model = space_model(case, baseline, rollout)
    env = model.get_env()
    model.learn(64)
    buffer_class = buffer_class_of(case, rollout)
    assert type(model.rollout_buffer) is buffer_class
    if case == "image":
        assert model.rollout_buffer.observations.dtype == np.uint8  # stored compactly, not float32

    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=env, device="cpu")
    loaded_actions, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    for name, value in params_of(model).items():
        th.testing.assert_close(value, params_of(loaded)[name])
    assert loaded.use_baseline == (baseline_name(baseline) == "value") and loaded.n_episodes == 2
    assert loaded.baseline == model.baseline == baseline_name(baseline)
    assert loaded.value_fit == model.value_fit and loaded.carry_episodes == model.carry_episodes
    assert loaded.group_size == model.group_size
    assert type(loaded.rollout_buffer) is buffer_class

    steps = loaded.num_timesteps
    before = params_of(loaded)
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.num_timesteps > steps
    assert any(not th.equal(before[n], p) for n, p in params_of(loaded).items())


@pytest.mark.parametrize("n_envs", [1, 3])
def test_carrying_trains_saves_loads_and_continues(n_envs, tmp_path):
    env = make_vec_env(RandomLengthEnv, n_envs=n_envs, seed=0, env_kwargs=dict(max_length=10))
    model = REINFORCE("MlpPolicy", env, n_episodes=3, carry_episodes=True, seed=0, device="cpu").learn(600)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=env, device="cpu")
    assert loaded.carry_episodes
    recorder = UsedSteps()
    loaded.learn(600, callback=recorder, reset_num_timesteps=False)  # the buffer is new: the envs start afresh
    assert recorder.used > 0 and loaded._n_updates > model._n_updates


def test_gsde_trains_saves_loads_and_predicts(tmp_path):
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = REINFORCE(
        "MlpPolicy", env, use_sde=True, n_episodes=2, policy_kwargs=dict(log_std_init=-1.0, full_std=False), seed=0
    )
    before = params_of(model)
    model.learn(800)
    assert_params_changed(before, model)
    assert "log_std" in dict(model.policy.named_parameters())
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "gsde")
    loaded = REINFORCE.load(tmp_path / "gsde", env=env, device="cpu")
    assert loaded.use_sde and loaded.sde_sample_freq == -1
    np.testing.assert_array_equal(actions, loaded.predict(obs, deterministic=True)[0])
    loaded.learn(400, reset_num_timesteps=False)


# ---------------------------------------------------------------------------------------------------------------
# Loading with the policy_kwargs the model was created with


@pytest.mark.parametrize("baseline", list(BASELINES))
def test_load_accepts_the_policy_kwargs_the_model_was_created_with(baseline, tmp_path):
    env = make_vec_env(lambda: TimeLimit(FakeImageEnv(screen_height=36, screen_width=36, n_channels=1), 8), seed=0)
    policy_kwargs = dict(net_arch=[32])
    model = REINFORCE("CnnPolicy", env, policy_kwargs=policy_kwargs, seed=0, device="cpu", **BASELINES[baseline])
    assert model.policy_kwargs == policy_kwargs
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=env, policy_kwargs=dict(net_arch=[32]), device="cpu")
    assert loaded.policy.use_value_net == (baseline_name(baseline) == "value")
    assert_params_equal(params_of(model), params_of(loaded))
    with pytest.raises(ValueError, match="policy kwargs"):
        REINFORCE.load(tmp_path / "model", env=env, policy_kwargs=dict(net_arch=[16]), device="cpu")


# ---------------------------------------------------------------------------------------------------------------
# Optimizer states, and resuming


def test_save_load_keeps_the_value_optimizer(tmp_path):
    model = random_reward_model(baseline="value")
    model.learn(300)
    model.save(tmp_path / "model.zip")
    loaded = REINFORCE.load(tmp_path / "model.zip", device="cpu")
    assert loaded.value_fit == "separate" and loaded.vf_optimizer is not None
    saved_state = model.vf_optimizer.state_dict()["state"]
    loaded_state = loaded.vf_optimizer.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys() and len(saved_state) > 0
    for key in saved_state:
        assert th.equal(saved_state[key]["exp_avg"], loaded_state[key]["exp_avg"])
    loaded.set_env(model.env)
    loaded.learn(100)


@pytest.mark.parametrize("baseline", list(BASELINES))
def test_save_load_and_continue_equals_uninterrupted_training(baseline, tmp_path):
    """Parameters, optimizer states and hyperparameters are saved; the env and torch's generator are not, so they
    are carried over here (as the docstring says a user must for a bit-exact resume)."""

    def make_model(env):
        return REINFORCE("MlpPolicy", env, n_episodes=2, ent_coef=0.01, seed=3, device="cpu", **BASELINES[baseline])

    reference = make_model(make_vec_env(RandomLengthEnv, seed=3, env_kwargs=dict(max_length=15)))
    reference.learn(600)

    env = make_vec_env(RandomLengthEnv, seed=3, env_kwargs=dict(max_length=15))
    model = make_model(env)
    model.learn(300)
    assert model._n_updates < reference._n_updates
    model.save(tmp_path / "model")
    rng_state = th.get_rng_state()
    # load(path, env) would discard the last observation and re-seed the env (SB3): set the env without a reset
    loaded = REINFORCE.load(tmp_path / "model", device="cpu")
    th.set_rng_state(rng_state)
    loaded.set_env(env, force_reset=False)
    loaded.learn(600 - loaded.num_timesteps, reset_num_timesteps=False)

    assert loaded.num_timesteps == reference.num_timesteps and loaded._n_updates == reference._n_updates
    assert_params_equal(params_of(reference), params_of(loaded))
