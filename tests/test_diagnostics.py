"""gradient_statistics on a one-step bandit whose policy gradient is known in closed form."""

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.diagnostics import ESTIMATORS, gradient_statistics, policy_parameters

# Fixed reward of each action: a large common offset makes the baseline's effect on the variance obvious.
REWARDS = np.array([11.0, 10.0, 12.0])
LOGITS = np.array([0.5, -0.3, 0.1])
N_EPISODES = 16
N_BATCHES = 300


class FixedRewardBandit(gym.Env):
    """One-step episodes, constant observation [1], reward REWARDS[action]."""

    observation_space = spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Discrete(len(REWARDS))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        return np.ones(1, dtype=np.float32), float(REWARDS[int(action)]), True, False, {}


def make_env(n_envs: int = 4) -> DummyVecEnv:
    return DummyVecEnv([FixedRewardBandit] * n_envs)


def make_bandit_model() -> REINFORCE:
    # linear softmax policy: logits z = W [1] + b; hyperparameters pinned (the defaults may change)
    model = REINFORCE(
        "MlpPolicy",
        make_env(),
        learning_rate=1e-3,
        n_episodes=N_EPISODES,
        gamma=0.99,
        reward_to_go=True,
        normalize_advantage=False,
        policy_kwargs=dict(net_arch=[]),
        seed=0,
        device="cpu",
    )
    with th.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.copy_(th.as_tensor(LOGITS))
    return model


def analytic_gradient() -> np.ndarray:
    """grad J for J = sum_k pi_k r_k: dJ/dz_k = pi_k (r_k - sum_j pi_j r_j), and z = W [1] + b."""
    pi = np.exp(LOGITS) / np.exp(LOGITS).sum()
    dj_dz = pi * (REWARDS - pi @ REWARDS)
    # policy parameters in named_parameters order: action_net.weight (3, 1), action_net.bias (3,)
    return np.concatenate([dj_dz * 1.0, dj_dz])


@pytest.fixture(scope="module")
def bandit_statistics():
    model = make_bandit_model()
    stats = gradient_statistics(
        model,
        n_batches=N_BATCHES,
        n_reference_batches=50,
        reference_estimator="value_baseline",
        env=make_env(),
        n_value_batches=4,
        value_fit_steps=300,
        seed=1,
    )
    return model, stats


def test_parameters_are_the_linear_softmax():
    model = make_bandit_model()
    assert [p.shape for p in policy_parameters(model)] == [th.Size([3, 1]), th.Size([3])]


@pytest.mark.parametrize("estimator", ["return", "reward_to_go", "value_baseline", "leave_one_out"])
def test_unbiased_estimators_match_analytic_gradient(bandit_statistics, estimator):
    _, stats = bandit_statistics
    gradients = stats[estimator].gradients
    standard_error = gradients.std(axis=0, ddof=1) / math.sqrt(len(gradients))
    error = np.abs(stats[estimator].mean_gradient - analytic_gradient())
    assert np.all(error <= 4 * standard_error), (error, standard_error)


def test_batch_baseline_is_shrunk_by_one_over_n(bandit_statistics):
    # the batch mean contains the step's own return: E[g] = (1 - 1/N) grad J on one-step episodes
    _, stats = bandit_statistics
    gradients = stats["batch_baseline"].gradients
    standard_error = gradients.std(axis=0, ddof=1) / math.sqrt(len(gradients))
    expected = (1 - 1 / N_EPISODES) * analytic_gradient()
    assert np.all(np.abs(stats["batch_baseline"].mean_gradient - expected) <= 4 * standard_error)


def test_normalized_estimator_points_the_right_way(bandit_statistics):
    # standardising rescales each batch by a random factor: not unbiased in scale, so only the direction is tested
    _, stats = bandit_statistics
    mean = stats["normalized"].mean_gradient
    exact = analytic_gradient()
    assert mean @ exact / (np.linalg.norm(mean) * np.linalg.norm(exact)) > 0.99


def test_baselines_reduce_variance(bandit_statistics):
    _, stats = bandit_statistics
    assert stats["batch_baseline"].variance < 0.1 * stats["reward_to_go"].variance
    assert stats["value_baseline"].variance < 0.1 * stats["reward_to_go"].variance
    assert stats["leave_one_out"].variance < 0.1 * stats["reward_to_go"].variance
    assert stats["value_baseline"].snr > stats["reward_to_go"].snr
    # one-step episodes: R(tau) and G_t are the same estimator
    np.testing.assert_allclose(stats["return"].gradients, stats["reward_to_go"].gradients)


def test_statistics_are_consistent(bandit_statistics):
    _, stats = bandit_statistics
    assert set(stats.estimators) == set(ESTIMATORS)
    assert stats.n_episodes == N_EPISODES
    np.testing.assert_allclose(stats.mean_episode_length, 1.0)
    for estimator in stats.estimators.values():
        centred = estimator.gradients - estimator.gradients.mean(axis=0)
        assert estimator.variance == pytest.approx((centred**2).sum() / (N_BATCHES - 1))
        assert -1.0 <= estimator.cosine_similarity <= 1.0
    assert stats["value_baseline"].cosine_similarity > stats["reward_to_go"].cosine_similarity
    # the reference (G_t - V(s) over 50 batches) points along the exact gradient
    exact = analytic_gradient()
    cosine = stats.reference_gradient @ exact / (np.linalg.norm(stats.reference_gradient) * np.linalg.norm(exact))
    assert cosine > 0.99


def test_model_is_unchanged():
    model = make_bandit_model()
    model.learn(64)  # a model mid-training: logger, info buffers and last observation exist
    params = {name: p.detach().clone() for name, p in model.policy.state_dict().items()}
    num_timesteps, last_obs = model.num_timesteps, model._last_obs.copy()
    n_infos, logged = len(model.ep_info_buffer), dict(model.logger.name_to_value)
    rng_state = th.get_rng_state()
    gradient_statistics(model, n_batches=3, n_reference_batches=2, env=make_env(2), n_value_batches=1, value_fit_steps=5)
    for name, value in model.policy.state_dict().items():
        assert th.equal(value, params[name]), name
    assert model.num_timesteps == num_timesteps
    np.testing.assert_array_equal(model._last_obs, last_obs)
    assert len(model.ep_info_buffer) == n_infos
    assert dict(model.logger.name_to_value) == logged
    assert model.n_episodes == N_EPISODES
    assert th.equal(th.get_rng_state(), rng_state)
    model.learn(64, reset_num_timesteps=False)  # still trains


def test_fresh_model_and_default_env():
    # a model that never learned, with a registered env: the diagnostic env is copied from its spec
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_episodes=2, gamma=0.99, policy_kwargs=dict(net_arch=[8]), seed=0)
    stats = gradient_statistics(model, n_batches=2, estimators=["reward_to_go"], n_reference_batches=1, seed=0)
    assert stats["reward_to_go"].gradients.shape == (2, sum(p.numel() for p in policy_parameters(model)))
    assert model.num_timesteps == 0 and model._last_obs is None


def test_rejects_bad_arguments():
    model = make_bandit_model()
    with pytest.raises(ValueError, match="Unknown estimator"):
        gradient_statistics(model, estimators=["advantage"], env=make_env())
    with pytest.raises(ValueError, match="n_batches"):
        gradient_statistics(model, n_batches=1, env=make_env())
    with pytest.raises(ValueError, match="spaces"):
        gradient_statistics(model, env=DummyVecEnv([lambda: gym.make("CartPole-v1")]))


def test_continuous_actions_and_model_with_value_net():
    # Gaussian policy (log_std is a policy parameter) and a model with its own value network, left out
    model = REINFORCE(
        "MlpPolicy", "Pendulum-v1", n_episodes=1, gamma=0.9, use_baseline=True, policy_kwargs=dict(net_arch=[8]), seed=0
    )
    names = [name for name, _ in model.policy.named_parameters()]
    params = policy_parameters(model)
    assert len(params) < len(names) and "log_std" in names
    stats = gradient_statistics(model, n_batches=2, n_reference_batches=1, n_value_batches=1, value_fit_steps=2, seed=0)
    assert stats["value_baseline"].gradients.shape == (2, sum(p.numel() for p in params))
    assert np.all(np.isfinite(stats["value_baseline"].gradients))


# ---------------------------------------------------------------------------------------------------------------
# Several envs, unequal episode lengths: the arm chosen at the first step sets the episode's length, so a batch
# that favoured the episodes that end first (the first N to finish across envs) would over-weight the short arm.
LENGTHS = np.array([1, 4, 9])


class DelayedRewardBandit(gym.Env):
    """The first action picks an arm; the episode then lasts LENGTHS[arm] steps (the later actions change nothing)
    and pays REWARDS[arm] at its last step. With gamma = 1, J = sum_k pi_k REWARDS[k], as for the one-step bandit."""

    observation_space = spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Discrete(len(REWARDS))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.arm, self.t = -1, 0
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        if self.t == 0:
            self.arm = int(action)
        self.t += 1
        done = self.t >= LENGTHS[self.arm]
        return np.ones(1, dtype=np.float32), float(REWARDS[self.arm]) if done else 0.0, done, False, {}


@pytest.mark.parametrize("carry_episodes", [False, True])
def test_estimators_stay_unbiased_with_several_envs_and_unequal_lengths(carry_episodes):
    model = make_bandit_model()
    model.gamma = 1.0
    model.carry_episodes = carry_episodes  # the diagnostics collect fresh batches: nothing is carried into them
    stats = gradient_statistics(
        model,
        n_batches=N_BATCHES,
        estimators=("reward_to_go", "leave_one_out"),
        n_reference_batches=2,
        env=DummyVecEnv([DelayedRewardBandit] * 4),
        seed=2,
    )
    pi = np.exp(LOGITS) / np.exp(LOGITS).sum()
    # the batches hold each env's first N / 4 episodes: the arms in their policy's proportions, not the short ones
    assert stats.mean_episode_length == pytest.approx(pi @ LENGTHS, rel=0.05)
    for name in ("reward_to_go", "leave_one_out"):
        gradients = stats[name].gradients
        standard_error = gradients.std(axis=0, ddof=1) / math.sqrt(len(gradients))
        error = np.abs(stats[name].mean_gradient - analytic_gradient())
        assert np.all(error <= 4 * standard_error), (name, error, standard_error)


class SharedFeatureEnv(gym.Env):
    """Two steps: observation [1, 0], then [1, 1], which pays -(a - 1)^2 (the first action pays nothing)."""

    observation_space = spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Box(-100.0, 100.0, shape=(1,), dtype=np.float32)  # wide: nothing is clipped

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([1.0, 0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        reward = 0.0 if self.t == 1 else -float((np.asarray(action).item() - 1.0) ** 2)
        return np.array([1.0, 1.0], dtype=np.float32), reward, self.t == 2, False, {}


@pytest.mark.parametrize("sde_sample_freq", [1, 2, -1])
def test_gsde_gradient_is_unbiased_only_with_a_new_matrix_every_step(sde_sample_freq):
    # Linear gSDE policy, features = the observation s, std 1 per feature: the step at s explores with
    # n(s) = theta . s, theta ~ N(0, I), of variance |s|^2, mean m(s) = w . s + b. Only the second step pays, so
    # J = -(m(s2) - 1)^2 - |s2|^2: dJ/dw = g s2, dJ/db = g with g = -2 (m(s2) - 1), dJ/dlog_std_j = -2 s2_j^2.
    # The score of each step is that of its own Gaussian N(m(s), |s|^2). Drawn afresh every step, the two steps'
    # noises are independent and the reward-to-go estimate is unbiased. One matrix for both steps (every 2 steps:
    # one per episode; -1: one per env for the whole rollout, so an env's 16 episodes are the same draw) makes
    # n(s1) = theta_1 correlated with n(s2) = theta_1 + theta_2 (cov 1): the first step's score then earns
    # E[n1 r2] = cov E[n2 r2] / |s2|^2, so the estimate's mean is g (s2 + s1) for w and 2 g for b: another
    # direction; for log_std, the first step's score (n1^2 - 1) s1_j^2 adds -2 s1_j^2.
    env = DummyVecEnv([SharedFeatureEnv] * 4)
    model = REINFORCE(
        "MlpPolicy",
        env,
        use_sde=True,
        sde_sample_freq=sde_sample_freq,
        gamma=1.0,
        n_episodes=64,
        normalize_advantage=False,
        policy_kwargs=dict(net_arch=dict(pi=[], vf=[]), log_std_init=0.0, full_std=True),
        seed=0,
        device="cpu",
    )
    assert [name for name, _ in model.policy.named_parameters()][:3] == ["log_std", "action_net.weight", "action_net.bias"]
    weight = model.policy.action_net.weight.detach().numpy()[0]
    g = -2.0 * (weight.sum() + model.policy.action_net.bias.item() - 1.0)
    s1, s2 = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    analytic = np.concatenate([-2.0 * s2**2, g * s2, [g]])  # log_std (2), w (2), b
    shared = np.concatenate([-2.0 * (s1**2 + s2**2), g * (s2 + s1), [2.0 * g]])
    stats = gradient_statistics(model, n_batches=300, estimators=("reward_to_go",), n_reference_batches=0, env=env, seed=1)[
        "reward_to_go"
    ]
    standard_error = stats.gradients.std(axis=0, ddof=1) / math.sqrt(len(stats.gradients))
    expected = analytic if sde_sample_freq == 1 else shared
    assert np.all(np.abs(stats.mean_gradient - expected) <= 4 * standard_error), (stats.mean_gradient, expected)
    if sde_sample_freq == 2:  # 64 independent draws a batch: far from the true gradient, not only consistent with bias
        assert np.all(np.abs(stats.mean_gradient[[0, 2, 4]] - analytic[[0, 2, 4]]) > 8 * standard_error[[0, 2, 4]])
