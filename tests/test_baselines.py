"""The baselines through the algorithm: leave-one-out advantages, and the value network, fitted on its own
(value_fit="separate") or in the policy's step (value_fit="joint")."""

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.baselines import JointValueBaseline, ValueBaseline
from tests.envs import ConstantRewardEnv, RandomLengthEnv
from tests.helpers import assert_params_changed, one_rollout, params_of, random_reward_model

# ---------------------------------------------------------------------------------------------------------------
# Leave-one-out


def test_leave_one_out_baseline_through_the_algorithm():
    from sb3_reinforce.returns import discounted_returns_to_go, leave_one_out_baseline

    env = make_vec_env(RandomLengthEnv, n_envs=2, seed=0, env_kwargs=dict(max_length=6))
    model = REINFORCE(
        "MlpPolicy", env, baseline="leave_one_out", n_episodes=4, normalize_advantage=False, gamma=0.9, seed=0, device="cpu"
    )
    assert model.policy.value_net is None and not model.use_baseline
    one_rollout(model)
    buffer = model.rollout_buffer
    rows = slice(0, buffer.pos)
    returns = discounted_returns_to_go(buffer.rewards[rows], buffer.episode_ends[rows], 0.9)
    expected = returns - leave_one_out_baseline(returns, buffer.episode_ends[rows], buffer.used)
    np.testing.assert_allclose(buffer.advantages[buffer.used], expected[buffer.used], rtol=1e-5)
    assert not np.allclose(buffer.advantages[buffer.used], buffer.returns[buffer.used])
    before = params_of(model)
    model.train()
    assert_params_changed(before, model)


# ---------------------------------------------------------------------------------------------------------------
# The value network learns the returns, whatever its architecture and fit


@pytest.mark.parametrize("value_fit", ["separate", "joint"])
@pytest.mark.parametrize("net_arch", [[32], dict(pi=[32], vf=[16])])
@pytest.mark.parametrize("share", [True, False])
def test_value_loss_falls_on_a_fixed_return_task(net_arch, share, value_fit):
    def make_env():
        return TimeLimit(ConstantRewardEnv(), max_episode_steps=1)  # every return is exactly 1

    model = REINFORCE(
        "MlpPolicy",
        make_vec_env(make_env, n_envs=2, seed=0),
        n_episodes=4,
        use_baseline=True,
        value_fit=value_fit,
        learning_rate=1e-2,
        vf_learning_rate=1e-2,
        policy_kwargs=dict(net_arch=net_arch, share_features_extractor=share),
        seed=0,
        device="cpu",
    )
    obs = th.tensor([[0.5, -0.5]])

    def value_error() -> float:
        with th.no_grad():
            return float((model.policy.predict_values(obs) - 1.0).pow(2).item())

    before = value_error()
    model.learn(400)
    assert value_error() < 0.1 * before
    assert not share or model.policy.vf_features_extractor is model.policy.pi_features_extractor


# ---------------------------------------------------------------------------------------------------------------
# The value fit: separate (its own optimizer, after the policy's step) or joint (in the policy's step)


def _collect(model: REINFORCE) -> None:
    """One rollout into the model's buffer, as learn() starts it."""
    model._setup_learn(10_000)
    assert model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer)


def _snapshot(params) -> list[th.Tensor]:
    return [param.detach().clone() for param in params]


def _changed(before, params) -> list[bool]:
    return [not th.equal(old, param.detach()) for old, param in zip(before, params, strict=True)]


def _actor_parameters(model: REINFORCE) -> list[th.nn.Parameter]:
    value_ids = {id(param) for param in model.policy.value_parameters()}
    return [param for param in model.policy.parameters() if id(param) not in value_ids]


def test_value_baseline_is_fitted_separately_by_default():
    model = random_reward_model(baseline="value")
    assert model.value_fit == "separate"
    assert type(model._baseline) is ValueBaseline
    assert isinstance(model.vf_optimizer, th.optim.Adam)
    optimized = {id(param) for group in model.vf_optimizer.param_groups for param in group["params"]}
    assert optimized == {id(param) for param in model.policy.value_parameters()}
    assert model.vf_optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert random_reward_model(use_baseline=True).value_fit == "separate"
    joint = random_reward_model(baseline="value", value_fit="joint")
    assert joint.vf_optimizer is None and type(joint._baseline) is JointValueBaseline


def test_policy_step_leaves_the_value_network_alone():
    """With value_fit="separate" the policy's step has no value term: V changes only in the value fit."""
    model = random_reward_model(baseline="value")
    _collect(model)
    value_before = _snapshot(model.policy.value_parameters())
    actor_before = _snapshot(_actor_parameters(model))
    model._baseline.fit = lambda *args: None  # the policy's step only
    model.train()
    assert not any(_changed(value_before, model.policy.value_parameters()))
    assert all(_changed(actor_before, _actor_parameters(model)))


def test_joint_step_changes_the_value_network():
    model = random_reward_model(baseline="value", value_fit="joint")
    _collect(model)
    value_before = _snapshot(model.policy.value_parameters())
    model.train()
    assert all(_changed(value_before, model.policy.value_parameters()))


def test_value_fit_trains_only_the_value_network_and_fits_the_returns():
    model = random_reward_model(baseline="value", vf_n_epochs=50, vf_batch_size=16, vf_learning_rate=1e-2)
    _collect(model)
    buffer = model.rollout_buffer
    steps, envs = np.nonzero(buffer.used)
    obs = buffer.to_torch(buffer.observations[steps, envs])
    returns = buffer.to_torch(buffer.returns[steps, envs])

    def value_error() -> float:
        with th.no_grad():
            return float(((model.policy.predict_values(obs).flatten() - returns) ** 2).mean())

    actor_before = _snapshot(_actor_parameters(model))
    value_before = _snapshot(model.policy.value_parameters())
    error_before = value_error()
    n_steps = 0
    step = model.vf_optimizer.step

    def counted_step(*args, **kwargs):
        nonlocal n_steps
        n_steps += 1
        return step(*args, **kwargs)

    model.vf_optimizer.step = counted_step
    model._fit_baseline()
    assert n_steps == 50 * int(np.ceil(len(steps) / 16))  # vf_n_epochs passes of minibatches of vf_batch_size
    assert value_error() < 0.5 * error_before
    assert not any(_changed(actor_before, _actor_parameters(model)))
    assert all(_changed(value_before, model.policy.value_parameters()))


def test_value_fit_leaves_a_shared_features_extractor_to_the_policy():
    env = make_vec_env(lambda: TimeLimit(FakeImageEnv(action_dim=2), max_episode_steps=5), n_envs=1, seed=0)
    model = REINFORCE("CnnPolicy", env, n_episodes=2, baseline="value", seed=0, device="cpu")
    assert model.policy.share_features_extractor
    cnn = list(model.policy.features_extractor.parameters())
    assert not {id(param) for param in cnn} & {id(param) for param in model.policy.value_parameters()}
    _collect(model)
    cnn_before = _snapshot(cnn)
    model.policy.optimizer.zero_grad()
    model._fit_baseline()
    assert not any(_changed(cnn_before, cnn))
    assert all(param.grad is None for param in cnn)  # no gradient even computed into the policy's trunk


def test_advantages_use_the_value_from_before_the_fit():
    """A batch's advantages are G - V(s) with V as it was when the batch was played (fitted on earlier batches)."""
    model = random_reward_model(baseline="value", normalize_advantage=False)
    model.learn(200)  # V fitted on a few batches
    _collect(model)
    buffer = model.rollout_buffer
    steps, envs = np.nonzero(buffer.used)
    with th.no_grad():
        values_now = model.policy.predict_values(buffer.to_torch(buffer.observations[steps, envs])).flatten().numpy()
    np.testing.assert_allclose(buffer.advantages[steps, envs], buffer.returns[steps, envs] - values_now, atol=1e-5)
    model.train()  # the fit changes V, not this batch's advantages
    with th.no_grad():
        values_after = model.policy.predict_values(buffer.to_torch(buffer.observations[steps, envs])).flatten().numpy()
    assert not np.allclose(values_after, values_now)
    np.testing.assert_allclose(buffer.advantages[steps, envs], buffer.returns[steps, envs] - values_now, atol=1e-5)


def test_value_fit_weights_each_step():
    """The value loss multiplies each step by its weight (importance weights of carried episodes): weight 0 on
    every step leaves V as it is, weight 1 changes it."""
    for weight, changes in ((0.0, False), (1.0, True)):
        model = random_reward_model(baseline="value")
        _collect(model)
        model.rollout_buffer.weights = np.full_like(model.rollout_buffer.weights, weight)
        value_before = _snapshot(model.policy.value_parameters())
        model._fit_baseline()
        assert all(_changed(value_before, model.policy.value_parameters())) is changes


def test_non_finite_value_loss_raises_and_leaves_the_value_network():
    model = random_reward_model(baseline="value")
    _collect(model)
    model.rollout_buffer.returns[:] = np.nan
    value_before = _snapshot(model.policy.value_parameters())
    with pytest.raises(ValueError, match="value loss is not finite"):
        model._fit_baseline()
    assert not any(_changed(value_before, model.policy.value_parameters()))
