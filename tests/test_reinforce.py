"""Behaviour of the REINFORCE algorithm: gradients, batches, baselines, spaces, persistence and errors."""

import math

import numpy as np
import pytest
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
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.carrying import CarryingEpisodicRolloutBuffer, DictCarryingEpisodicRolloutBuffer
from tests.envs import ConstantRewardEnv, NaNObservationEnv, NaNRewardEnv, RandomLengthEnv, RandomRewardEnv


def params_of(model: REINFORCE) -> dict[str, th.Tensor]:
    return {name: p.detach().clone() for name, p in model.policy.named_parameters()}


def one_rollout(model: REINFORCE) -> None:
    """Collect one rollout without training, as learn() does before its first update."""
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)


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


# ---------------------------------------------------------------------------------------------------------------
# Gradient


def reference_returns_to_go(rewards: list[float], gamma: float) -> list[float]:
    out, running = [], 0.0
    for reward in reversed(rewards):
        running = reward + gamma * running
        out.append(running)
    return out[::-1]


@pytest.mark.parametrize("n_envs", [1, 2])
def test_update_equals_analytic_reinforce_gradient(n_envs):
    """Linear softmax policy, plain SGD: the parameter change is lr * mean_t G_t grad log pi(a_t|s_t)."""
    lr, gamma = 0.1, 0.9
    env = make_vec_env(RandomRewardEnv, n_envs=n_envs, seed=3)
    model = REINFORCE(
        "MlpPolicy",
        env,
        learning_rate=lr,
        n_episodes=4,
        gamma=gamma,
        baseline="none",  # the plain estimator: G_t weights grad log pi
        normalize_advantage=False,
        ent_coef=0.0,
        max_grad_norm=math.inf,
        policy_kwargs=dict(net_arch=[], optimizer_class=th.optim.SGD, ortho_init=False),
        seed=3,
        device="cpu",
    )
    one_rollout(model)
    buffer = model.rollout_buffer
    weight = model.policy.action_net.weight.detach().numpy().astype(np.float64)  # (n_actions, obs_dim)
    bias = model.policy.action_net.bias.detach().numpy().astype(np.float64)

    # Independent computation from the raw rollout: each env's first 2 episodes, returns-to-go by hand.
    grad_w, grad_b, n_steps = np.zeros_like(weight), np.zeros_like(bias), 0
    for e in range(n_envs):
        t, episodes = 0, 0
        while episodes < model.episodes_per_env:
            start = t
            while not buffer.episode_ends[t, e]:
                t += 1
            t += 1
            episodes += 1
            returns = reference_returns_to_go([float(r) for r in buffer.rewards[start:t, e]], gamma)
            for step, g in zip(range(start, t), returns, strict=True):
                s = buffer.observations[step, e].astype(np.float64)
                a = int(buffer.actions[step, e, 0])
                logits = weight @ s + bias
                pi = np.exp(logits - logits.max())
                pi /= pi.sum()
                score = -pi
                score[a] += 1.0  # d log pi(a|s) / d logits
                grad_w += g * np.outer(score, s)
                grad_b += g * score
                n_steps += 1
    assert n_steps == buffer.n_used_steps
    if n_envs > 1:
        assert buffer.n_unused_steps > 0  # the test also covers steps that must be left out

    model.train()
    new_weight = model.policy.action_net.weight.detach().numpy()
    new_bias = model.policy.action_net.bias.detach().numpy()
    np.testing.assert_allclose(new_weight - weight, lr * grad_w / n_steps, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_bias - bias, lr * grad_b / n_steps, rtol=1e-4, atol=1e-6)


def test_batch_size_only_bounds_memory():
    """Accumulating gradients over chunks gives the same update as the whole batch at once."""
    results, initial = [], None
    for batch_size in (None, 7):
        model = REINFORCE(
            "MlpPolicy",
            make_vec_env(RandomRewardEnv, n_envs=2, seed=0),
            n_episodes=6,
            use_baseline=True,
            ent_coef=0.01,
            batch_size=batch_size,
            seed=0,
            device="cpu",
        )
        initial = initial or params_of(model)
        model.learn(total_timesteps=1)  # one rollout, one update
        assert model._n_updates == 1 and model.rollout_buffer.n_used_steps > 7
        results.append(params_of(model))
    # the update moved every parameter (policy and value), so the comparison below compares two real updates
    for name in initial:
        assert not th.allclose(initial[name], results[0][name]), name
    for name in results[0]:
        th.testing.assert_close(results[0][name], results[1][name], rtol=1e-5, atol=1e-6)


def test_update_never_evaluates_more_than_batch_size_steps(monkeypatch):
    """Memory stays bounded: the update's forward passes see at most batch_size steps, and all steps once."""
    env = make_vec_env(RandomRewardEnv, n_envs=2, seed=0)
    # without carrying: no log-likelihood of carried steps to evaluate before the update
    model = REINFORCE("MlpPolicy", env, n_episodes=8, batch_size=5, carry_episodes=False, seed=0)
    one_rollout(model)
    seen = []
    get_distribution = model.policy.get_distribution

    def spy(obs):
        seen.append(len(obs))
        return get_distribution(obs)

    monkeypatch.setattr(model.policy, "get_distribution", spy)
    model.train()
    assert max(seen) <= 5
    assert sum(seen) == model.rollout_buffer.n_used_steps > 5


# ---------------------------------------------------------------------------------------------------------------
# Rollouts: whole episodes, unbiased batches


def test_batches_are_not_biased_towards_short_episodes():
    n_envs, max_length = 8, 20
    expected_mean = (max_length + 1) / 2
    model = REINFORCE(
        "MlpPolicy",
        make_vec_env(RandomLengthEnv, n_envs=n_envs, seed=1, env_kwargs=dict(max_length=max_length)),
        n_episodes=8,
        seed=1,
        device="cpu",
    )
    recorder = RolloutRecorder()
    model.learn(total_timesteps=20_000, callback=recorder)
    lengths = np.concatenate(recorder.episode_lengths)
    assert all(len(rollout) == 8 for rollout in recorder.episode_lengths)
    # standard error of the mean of uniform{1..20}: sqrt((20^2 - 1) / 12 / n)
    tolerance = 4 * math.sqrt((max_length**2 - 1) / 12 / len(lengths))
    assert abs(lengths.mean() - expected_mean) < tolerance, (lengths.mean(), tolerance)
    assert sum(recorder.unused) > 0

    # The same test would catch "stop at the first 8 episodes to finish across envs": simulate that rule.
    rng = np.random.default_rng(0)
    biased = []
    for _ in range(len(recorder.episode_lengths)):
        episode_lengths = rng.integers(1, max_length + 1, size=(n_envs, 8))
        end_times = np.cumsum(episode_lengths, axis=1)
        first_to_finish = np.argsort(end_times.ravel(), kind="stable")[:8]
        biased.extend(episode_lengths.ravel()[first_to_finish])
    assert abs(np.mean(biased) - expected_mean) > tolerance


def test_every_used_episode_starts_under_current_parameters():
    """Without carrying, episodes in flight at the end of a rollout are not continued: each rollout starts at episode
    starts (with carrying, their steps are importance-weighted instead: tests/test_carry.py)."""
    recorder = RolloutRecorder()
    env = make_vec_env(RandomLengthEnv, n_envs=3, seed=2)
    model = REINFORCE("MlpPolicy", env, n_episodes=3, carry_episodes=False, seed=2, device="cpu")
    model.learn(total_timesteps=3_000, callback=recorder)
    assert len(recorder.first_obs) > 10
    for first_obs in recorder.first_obs:
        np.testing.assert_array_equal(first_obs, 0.0)  # the env's step counter: 0 right after a reset


def test_num_timesteps_counts_every_step():
    model = REINFORCE("MlpPolicy", make_vec_env(RandomLengthEnv, n_envs=4, seed=0), n_episodes=4, seed=0, device="cpu")
    one_rollout(model)
    buffer = model.rollout_buffer
    assert model.num_timesteps == buffer.pos * 4 == buffer.n_used_steps + buffer.n_unused_steps


# ---------------------------------------------------------------------------------------------------------------
# Baseline and time limits


def test_no_value_network_without_baseline(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", policy_kwargs=dict(share_features_extractor=True), device="cpu")
    assert model.policy.value_net is None
    names = list(model.policy.state_dict())
    assert not any("value" in name or "vf" in name for name in names), names
    with pytest.raises(RuntimeError, match="no value network"):
        model.policy.predict_values(th.zeros((1, 4)))
    model.learn(500)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", device="cpu")
    assert loaded.policy.value_net is None
    assert list(loaded.policy.state_dict()) == names

    with_baseline = REINFORCE("MlpPolicy", "CartPole-v1", use_baseline=True, device="cpu")
    assert with_baseline.policy.value_net is not None
    n_without = sum(p.numel() for p in model.policy.parameters())
    n_with = sum(p.numel() for p in with_baseline.policy.parameters())
    assert n_with > n_without


def test_no_value_net_ignores_separate_trunk_request():
    with pytest.warns(UserWarning, match="share_features_extractor"):
        model = REINFORCE("MlpPolicy", "CartPole-v1", policy_kwargs=dict(share_features_extractor=False), device="cpu")
    assert model.policy.vf_features_extractor is model.policy.pi_features_extractor


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


def test_truncation_is_not_bootstrapped_without_baseline():
    def make_env():
        return TimeLimit(ConstantRewardEnv(), max_episode_steps=5)

    model = REINFORCE("MlpPolicy", make_vec_env(make_env, seed=0), n_episodes=1, gamma=0.5, seed=0, device="cpu")
    one_rollout(model)
    np.testing.assert_allclose(model.rollout_buffer.returns[:5, 0], [1.9375, 1.875, 1.75, 1.5, 1.0])


def test_bootstrap_truncated_adds_discounted_value():
    def make_env():
        return TimeLimit(ConstantRewardEnv(), max_episode_steps=5)

    model = REINFORCE(
        "MlpPolicy",
        make_vec_env(make_env, seed=0),
        n_episodes=1,
        gamma=0.5,
        use_baseline=True,
        bootstrap_truncated=True,
        seed=0,
        device="cpu",
    )
    with th.no_grad():
        v_final = float(model.policy.predict_values(th.tensor([[0.5, -0.5]])).item())
    one_rollout(model)
    assert model.rollout_buffer.returns[4, 0] == pytest.approx(1.0 + 0.5 * v_final, rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Spaces, persistence, determinism

SPACE_CASES = {
    "discrete": ("MlpPolicy", lambda: IdentityEnv(dim=3, ep_length=8)),
    "box": ("MlpPolicy", lambda: IdentityEnvBox(ep_length=8)),
    "multidiscrete": ("MlpPolicy", lambda: IdentityEnvMultiDiscrete(dim=2, ep_length=8)),
    "multibinary": ("MlpPolicy", lambda: IdentityEnvMultiBinary(dim=3, ep_length=8)),
    "image": ("CnnPolicy", lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1)),
    "dict": ("MultiInputPolicy", lambda: SimpleMultiObsEnv(random_start=False)),
}


@pytest.mark.parametrize("case", list(SPACE_CASES))
@pytest.mark.parametrize("use_baseline", [False, True])
def test_spaces_train_save_load_and_continue(case, use_baseline, tmp_path):
    policy, make_env = SPACE_CASES[case]
    env = make_vec_env(lambda: TimeLimit(make_env(), max_episode_steps=8), n_envs=2, seed=0)
    # ent_coef > 0: some of these envs pay no reward at all, and training must still move the parameters
    model = REINFORCE(policy, env, n_episodes=2, use_baseline=use_baseline, ent_coef=0.01, batch_size=16, seed=0, device="cpu")
    model.learn(64)
    buffer_class = DictCarryingEpisodicRolloutBuffer if case == "dict" else CarryingEpisodicRolloutBuffer
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
    assert loaded.use_baseline == use_baseline and loaded.n_episodes == 2

    steps = loaded.num_timesteps
    before = params_of(loaded)
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.num_timesteps > steps
    assert any(not th.equal(before[n], p) for n, p in params_of(loaded).items())


def test_same_seed_gives_identical_parameters():
    runs = []
    for _ in range(2):
        model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=7), use_baseline=True, seed=7, device="cpu")
        model.learn(3_000)
        runs.append(params_of(model))
    for name in runs[0]:
        assert th.equal(runs[0][name], runs[1][name]), name


# ---------------------------------------------------------------------------------------------------------------
# Bad input

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


def test_nan_reward_raises_before_any_parameter_changes(tmp_path):
    model = REINFORCE(
        "MlpPolicy", DummyVecEnv([lambda: NaNRewardEnv(nan_at=8)]), n_episodes=2, baseline="none", seed=0, device="cpu"
    )
    initial = params_of(model)
    model.learn(6)  # one clean update: episodes 1-2 are steps 1-6
    before = params_of(model)
    assert model._n_updates == 1 and any(not th.equal(initial[name], before[name]) for name in initial)
    model.save(tmp_path / "before")
    with pytest.raises(ValueError, match="non-finite reward"):
        model.learn(6, reset_num_timesteps=False)
    for name, value in params_of(model).items():
        assert th.equal(value, before[name]), name
    assert all(th.isfinite(p).all() for p in model.policy.parameters())
    model.save(tmp_path / "after")
    reloaded = REINFORCE.load(tmp_path / "after", device="cpu")
    for name, value in params_of(reloaded).items():
        assert th.equal(value, before[name]), name


def test_gaussian_log_std_and_logged_keys(tmp_path):
    from stable_baselines3.common.logger import configure

    model = REINFORCE(
        "MlpPolicy",
        make_vec_env(lambda: IdentityEnvBox(ep_length=8), n_envs=2, seed=0),
        n_episodes=2,
        use_baseline=True,
        seed=0,
        device="cpu",
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(64)
    import csv

    with open(tmp_path / "progress.csv") as f:
        header = next(csv.reader(f))
    for key in (
        "train/policy_loss",
        "train/entropy_loss",
        "train/value_loss",
        "train/explained_variance",
        "train/learning_rate",
        "train/n_updates",
        "train/std",
        "train/grad_norm",
        "train/n_episodes",
        "train/n_steps",
        "rollout/unused_steps",
        "rollout/n_episodes",
        "rollout/ep_rew_mean",
        "time/fps",
    ):
        assert key in header, key


def _spread_action_net(policy) -> None:
    """Far-from-uniform action probabilities (the init's are near 0.5 each), so a wrong sampler shows."""
    generator = th.Generator().manual_seed(0)
    with th.no_grad():
        policy.action_net.weight.copy_(th.randn(policy.action_net.weight.shape, generator=generator))
        policy.action_net.bias.copy_(2 * th.randn(policy.action_net.bias.shape, generator=generator))


@pytest.mark.parametrize(
    "env_id, use_value_net, share",
    [
        ("CartPole-v1", False, True),  # categorical
        ("CartPole-v1", True, False),  # categorical, value net on its own trunk
        ("Pendulum-v1", False, True),  # diagonal Gaussian
        ("Pendulum-v1", True, True),
    ],
)
def test_sample_actions_draws_what_the_distribution_draws(env_id, use_value_net, share):
    """The rollout's sampler plays, for the same random state, exactly the actions of SB3's distribution."""
    model = REINFORCE(
        "MlpPolicy", env_id, use_baseline=use_value_net, policy_kwargs=dict(share_features_extractor=share), seed=0
    )
    policy = model.policy
    _spread_action_net(policy)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(64)]))
    with th.no_grad():
        th.manual_seed(1)
        actions, values = policy.sample_actions(obs)
        th.manual_seed(1)
        expected_actions, expected_values, _ = policy.forward(obs)
    assert actions.shape == expected_actions.shape == (64, *model.action_space.shape)
    assert th.equal(actions, expected_actions)
    if use_value_net:
        assert th.equal(values, expected_values)
    else:
        assert values is None


def test_sample_actions_draws_what_the_distribution_draws_for_bits():
    """Bernoulli (MultiBinary) actions: the same draws as SB3's BernoulliDistribution."""
    from stable_baselines3.common.envs import IdentityEnvMultiBinary

    model = REINFORCE("MlpPolicy", IdentityEnvMultiBinary(dim=3, ep_length=5), seed=0)
    _spread_action_net(model.policy)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(64)]), dtype=th.float32)
    with th.no_grad():
        th.manual_seed(2)
        actions, _ = model.policy.sample_actions(obs)
        th.manual_seed(2)
        expected, _, _ = model.policy.forward(obs)
    assert actions.shape == (64, 3)
    assert th.equal(actions, expected)


def test_nan_observation_names_the_env_and_step_and_changes_no_parameter():
    env_fns = [lambda: NaNObservationEnv(nan_at=5), lambda: NaNObservationEnv(nan_at=3)]
    model = REINFORCE("MlpPolicy", DummyVecEnv(env_fns), n_episodes=2, seed=0, device="cpu")
    initial = params_of(model)
    with pytest.raises(ValueError, match=r"observation of env 1 .*step 3 of its episode.*VecCheckNan"):
        model.learn(100)
    for name, value in params_of(model).items():
        assert th.equal(value, initial[name]), name
    # the next learn() starts from a reset, not from the NaN observation
    assert model._last_episode_starts is not None and not model._last_episode_starts.any()


class _RecordingBar:
    """Stands in for tqdm: keeps the count and total the progress bar ended with."""

    closed: list[tuple[int, int]] = []

    def __init__(self, total: int) -> None:
        self.n, self.total = 0, total

    def update(self, n: int) -> None:
        self.n += n

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        _RecordingBar.closed.append((self.n, self.total))


@pytest.mark.parametrize("through_list", [False, True])
def test_progress_bar_ends_at_the_steps_trained(monkeypatch, through_list):
    from stable_baselines3.common import callbacks as sb3_callbacks

    monkeypatch.setattr(sb3_callbacks, "tqdm", _RecordingBar)
    _RecordingBar.closed = []
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=4, seed=0), seed=0, device="cpu")
    if through_list:  # as rl-zoo3's --progress passes it
        model.learn(300, callback=[sb3_callbacks.ProgressBarCallback()])
    else:
        model.learn(300, progress_bar=True)
    assert model.num_timesteps > 300  # whole episodes: the last rollout ran past the budget
    assert _RecordingBar.closed == [(model.num_timesteps, model.num_timesteps)]


def test_n_steps_is_each_envs_steps_per_rollout_for_sb3_code():
    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = REINFORCE("MlpPolicy", env, n_episodes=8, seed=0, device="cpu")
    # before any rollout: the longest rollout the time limit allows (2 episodes per env of at most 500 steps)
    assert model.n_steps == 2 * 500
    steps_per_rollout: list[int] = []

    class CountSteps(BaseCallback):
        def _on_rollout_start(self) -> None:
            steps_per_rollout.append(0)

        def _on_step(self) -> bool:
            steps_per_rollout[-1] += 1
            return True

    model.learn(2_000, callback=CountSteps())
    assert len(steps_per_rollout) > 1
    assert model.n_steps == steps_per_rollout[-1]
    # the buffer's capacity is its own: it holds at least the last rollout (carried steps included)
    assert model.rollout_buffer.buffer_size >= model.n_steps
    # without a time limit the first rollout's length is unknown: the buffer's initial capacity stands in
    no_limit = REINFORCE("MlpPolicy", DummyVecEnv([RandomRewardEnv]), n_episodes=2, seed=0, device="cpu")
    assert no_limit.n_steps == no_limit.rollout_buffer.buffer_size
