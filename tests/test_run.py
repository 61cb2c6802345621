"""Smoke runs with tiny budgets: every action and observation space with every baseline, with and without carrying
episodes and in groups; gSDE; vectorised envs and their wrappers; policy options. Each run trains, moves the parameters and
predicts actions of the env's action space."""

import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnvBox
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize

from sb3_reinforce import REINFORCE
from tests.envs import RandomLengthEnv
from tests.helpers import (
    BASELINES,
    ROLLOUTS,
    SPACES,
    assert_params_changed,
    baseline_name,
    buffer_class_of,
    params_of,
    space_model,
)


def check_run(model: REINFORCE, total_timesteps: int) -> None:
    """Train ``model`` for ``total_timesteps``: at least one update that moves the parameters, then valid actions."""
    before = params_of(model)
    model.learn(total_timesteps)
    assert model.num_timesteps >= total_timesteps and model._n_updates >= 1
    assert_params_changed(before, model)
    env = model.get_env()
    actions, _ = model.predict(env.reset())
    assert len(actions) == env.num_envs
    assert all(model.action_space.contains(action) for action in actions), actions


# ---------------------------------------------------------------------------------------------------------------
# Spaces x baselines x rollouts (carried, dropped, grouped)


@pytest.mark.parametrize("rollout", list(ROLLOUTS))
@pytest.mark.parametrize("baseline", list(BASELINES))
@pytest.mark.parametrize("space", list(SPACES))
def test_run(space, baseline, rollout):
    model = space_model(space, baseline, rollout)
    assert model.baseline == baseline_name(baseline)
    assert (model.policy.value_net is not None) == (model.baseline == "value")
    assert model.vf_optimizer is None or baseline == "value_separate"
    assert type(model.rollout_buffer) is buffer_class_of(space, rollout)
    check_run(model, 32)


# ---------------------------------------------------------------------------------------------------------------
# gSDE (Box actions)


@pytest.mark.parametrize("sde_sample_freq", [-1, 1, 4])
@pytest.mark.parametrize("baseline", list(BASELINES))
def test_run_gsde(baseline, sde_sample_freq):
    env = make_vec_env(lambda: IdentityEnvBox(ep_length=8), n_envs=2, seed=0)
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_episodes=2,
        use_sde=True,
        sde_sample_freq=sde_sample_freq,
        policy_kwargs=dict(log_std_init=-1.0),
        seed=0,
        device="cpu",
        **BASELINES[baseline],
    )
    assert "log_std" in dict(model.policy.named_parameters())
    check_run(model, 32)


# ---------------------------------------------------------------------------------------------------------------
# Vectorised envs: one env, several, and VecEnv wrappers (SubprocVecEnv: tests/test_integration.py)


def make_vec(variant: str):
    def random_length():
        return RandomLengthEnv(max_length=10)

    if variant == "dummy_1":
        return make_vec_env(random_length, n_envs=1, seed=0)
    if variant == "dummy_3":
        return make_vec_env(random_length, n_envs=3, seed=0, vec_env_cls=DummyVecEnv)
    if variant == "frame_stack":
        return VecFrameStack(make_vec_env(random_length, n_envs=2, seed=0), n_stack=3)
    assert variant == "normalize"
    return VecNormalize(make_vec_env(random_length, n_envs=2, seed=0))


@pytest.mark.parametrize("variant", ["dummy_1", "dummy_3", "frame_stack", "normalize"])
def test_run_vec_envs(variant):
    env = make_vec(variant)
    try:
        model = REINFORCE("MlpPolicy", env, n_episodes=env.num_envs, ent_coef=0.01, seed=0, device="cpu")
        assert model.n_envs == env.num_envs
        check_run(model, 100)
    finally:
        env.close()


# ---------------------------------------------------------------------------------------------------------------
# Policy options


POLICY_OPTIONS = {
    "linear": dict(net_arch=[]),
    "separate_heads": dict(net_arch=dict(pi=[16], vf=[8])),
    "separate_trunks": dict(share_features_extractor=False),
    "relu_no_ortho_init": dict(activation_fn=th.nn.ReLU, ortho_init=False),
    "sgd": dict(optimizer_class=th.optim.SGD, optimizer_kwargs=dict(momentum=0.9)),
}


@pytest.mark.parametrize("option", list(POLICY_OPTIONS))
@pytest.mark.parametrize("baseline", ["leave_one_out", "value_separate"])
def test_run_policy_options(baseline, option):
    env = make_vec_env(lambda: RandomLengthEnv(max_length=10), n_envs=2, seed=0)
    kwargs = dict(policy_kwargs=POLICY_OPTIONS[option], **BASELINES[baseline])
    if option == "separate_trunks" and baseline == "leave_one_out":
        # without a value network there is no second trunk to build
        with pytest.warns(UserWarning, match="share_features_extractor"):
            model = REINFORCE("MlpPolicy", env, n_episodes=2, ent_coef=0.01, seed=0, device="cpu", **kwargs)
    else:
        model = REINFORCE("MlpPolicy", env, n_episodes=2, ent_coef=0.01, seed=0, device="cpu", **kwargs)
    if option == "sgd":
        assert isinstance(model.policy.optimizer, th.optim.SGD)
        assert model.vf_optimizer is None or isinstance(model.vf_optimizer, th.optim.SGD)
    check_run(model, 60)
