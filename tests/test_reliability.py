"""Drop-in reliability: learning-rate schedules, endless episodes, early stops, loading, Atari resets, logged
episode statistics, A2C/PPO arguments, overflow, and the guards and behaviours the docs promise."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.checks import DEFAULT_EPISODE_LENGTH_LIMIT
from sb3_reinforce.schedules import DEFAULT_LEARNING_RATE, StepsLinearSchedule
from tests.envs import ConstantRewardEnv, GaussianBanditEnv, RandomLengthEnv


def params_of(model: REINFORCE) -> dict[str, th.Tensor]:
    return {name: p.detach().clone() for name, p in model.policy.named_parameters()}


def assert_params_equal(a: dict[str, th.Tensor], b: dict[str, th.Tensor]) -> None:
    for name in a:
        assert th.equal(a[name], b[name]), name


def assert_params_changed(before: dict[str, th.Tensor], model: REINFORCE) -> None:
    after = params_of(model)
    assert any(not th.equal(before[name], after[name]) for name in before), "no parameter changed"


# ---------------------------------------------------------------------------------------------------------------
# 1. Learning rate


def test_default_learning_rate_decays_with_the_model_steps_and_never_reaches_zero():
    assert isinstance(DEFAULT_LEARNING_RATE, StepsLinearSchedule)
    assert DEFAULT_LEARNING_RATE.value_at(0) == 5e-3
    assert DEFAULT_LEARNING_RATE.value_at(50_000) == pytest.approx(2.55e-3)
    assert DEFAULT_LEARNING_RATE.value_at(100_000) == DEFAULT_LEARNING_RATE.value_at(10**9) == 1e-4
    with pytest.raises(ValueError, match="final"):
        StepsLinearSchedule(1e-3, 0.0, 100)


def test_learn_shorter_than_one_rollout_makes_a_real_update():
    """Pendulum's episodes last 200 steps: learn(200) is one rollout of 8 episodes, 1,600 steps."""
    model = REINFORCE("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    before = params_of(model)
    model.learn(200)
    assert model.num_timesteps == 1_600
    assert model.policy.optimizer.param_groups[0]["lr"] == 5e-3
    assert_params_changed(before, model)


class UpdateLearningRates(BaseCallback):
    """The learning rate of every update, read from the optimizer when the next rollout starts."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _record(self) -> None:
        if self.model._n_updates > len(self.rates):
            self.rates.append(self.model.policy.optimizer.param_groups[0]["lr"])

    def _on_rollout_start(self) -> None:
        self._record()

    def _on_training_end(self) -> None:
        self._record()


def test_schedule_is_read_at_the_rollout_start_and_never_reaches_zero():
    """A schedule decaying to 0: the first update runs at its start value and none at 0, although the last
    rollout overshoots total_timesteps (SB3's progress after the rollout would be negative, i.e. a rate of 0)."""
    env = make_vec_env(RandomLengthEnv, n_envs=2, seed=0, env_kwargs=dict(max_length=20))
    model = REINFORCE("MlpPolicy", env, learning_rate=LinearSchedule(1e-2, 0.0, 1.0), n_episodes=4, seed=0, device="cpu")
    spy = UpdateLearningRates()
    model.learn(300, callback=spy)
    assert model.num_timesteps > 300  # the last rollout ran past the budget
    assert spy.rates[0] == pytest.approx(1e-2)
    assert len(spy.rates) == model._n_updates >= 3
    assert min(spy.rates) > 0
    assert all(a > b for a, b in zip(spy.rates, spy.rates[1:], strict=False))  # still decaying


def test_default_learning_rate_is_the_same_when_training_in_a_loop():
    """The rates of a loop of learn() calls are those of one long call: a function of the rollout's first step."""
    env = make_vec_env(RandomLengthEnv, n_envs=2, seed=0, env_kwargs=dict(max_length=20))
    schedule = StepsLinearSchedule(1e-2, 1e-3, 1_000)
    model = REINFORCE("MlpPolicy", env, learning_rate=schedule, n_episodes=4, seed=0, device="cpu")
    starts = []

    class Starts(UpdateLearningRates):
        def _on_rollout_start(self) -> None:
            super()._on_rollout_start()
            starts.append(self.model.num_timesteps)

    spy = Starts()
    for _ in range(6):
        model.learn(250, callback=spy, reset_num_timesteps=False)
    assert model.num_timesteps >= 1_500 and len(spy.rates) == model._n_updates
    np.testing.assert_allclose(spy.rates, [schedule.value_at(step) for step in starts[: len(spy.rates)]])
    assert spy.rates[0] == 1e-2 and spy.rates[-1] == 1e-3 and min(spy.rates) > 0
    # the default: the same rate for the same step, whatever the learn() calls
    default = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    default.learn(300)
    default.learn(300, reset_num_timesteps=False)
    assert default.policy.optimizer.param_groups[0]["lr"] == DEFAULT_LEARNING_RATE.value_at(default._rollout_start_timesteps)


# ---------------------------------------------------------------------------------------------------------------
# 2. Episodes that never end


def test_endless_episode_raises_within_the_limit_and_names_the_fix():
    model = REINFORCE("MlpPolicy", DummyVecEnv([ConstantRewardEnv]), episode_length_limit=500, seed=0, device="cpu")
    before = params_of(model)
    with pytest.raises(RuntimeError, match=r"episode_length_limit=500.*TimeLimit"):
        model.learn(64)
    assert model.num_timesteps == 501  # bounded: one step past the limit
    assert model.rollout_buffer.buffer_size <= 1024  # memory bounded too
    assert_params_equal(before, params_of(model))
    # the model is still usable: with a time limit, the same model trains
    model.set_env(DummyVecEnv([lambda: TimeLimit(ConstantRewardEnv(), max_episode_steps=10)]))
    model.learn(100, reset_num_timesteps=False)
    assert model._n_updates == 2  # 2 rollouts of 8 episodes of 10 steps


def test_default_episode_length_limit_is_above_every_time_limit():
    assert DEFAULT_EPISODE_LENGTH_LIMIT == 100_000  # ALE v4 NoFrameskip: 400,000 frames with a frame skip of 4
    assert REINFORCE("MlpPolicy", "CartPole-v1", device="cpu").episode_length_limit == DEFAULT_EPISODE_LENGTH_LIMIT


def test_an_env_that_waits_does_not_trip_the_limit():
    """The limit counts the steps of the episodes a rollout waits for, not the rollout's length."""
    env = make_vec_env(RandomLengthEnv, n_envs=2, seed=0, env_kwargs=dict(max_length=30))
    model = REINFORCE("MlpPolicy", env, n_episodes=8, episode_length_limit=30, seed=0, device="cpu")
    model.learn(2_000)  # rollouts of 4 episodes per env run well past 30 steps
    assert model.num_timesteps >= 2_000


# ---------------------------------------------------------------------------------------------------------------
# 3. A callback that stops training in the middle of a rollout


class StopAtEpisodeStart(BaseCallback):
    """Stop training on the first step of the ``nth`` episode of env 0 (its observation before the step is 0)."""

    def __init__(self, nth: int) -> None:
        super().__init__()
        self.nth = nth
        self.starts = 0

    def _on_step(self) -> bool:
        if self.locals["self"]._last_obs[0, 0] == 0.0:
            self.starts += 1
        return self.starts < self.nth


class EpisodeObservations(BaseCallback):
    """The observations of every used episode of env 0, from each rollout's buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.episodes: list[np.ndarray] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        observations = buffer.observations[: buffer.pos, 0, 0][buffer.used[:, 0]]
        ends = np.flatnonzero(buffer.episode_ends[: buffer.pos, 0][buffer.used[:, 0]])
        self.episodes.extend(np.split(observations, ends[:-1] + 1))


@pytest.mark.parametrize("n_envs", [1, 2])
def test_stop_by_callback_then_resume_starts_from_a_clean_reset(n_envs):
    env = make_vec_env(RandomLengthEnv, n_envs=n_envs, seed=0, env_kwargs=dict(max_length=10))
    model = REINFORCE("MlpPolicy", env, n_episodes=2 * n_envs, seed=0, device="cpu")
    stop = StopAtEpisodeStart(nth=3)  # mid-rollout: the rollout needs 2 episodes per env
    model.learn(10_000, callback=stop)
    assert model.num_timesteps < 10_000 and model._n_updates == 1

    recorder = EpisodeObservations()
    model.learn(500, callback=recorder, reset_num_timesteps=False)
    assert len(recorder.episodes) >= 10
    for observations in recorder.episodes:
        # the env's step counter: every used episode starts with a reset (0) and loses no transition
        np.testing.assert_array_equal(observations, np.arange(len(observations)))


# ---------------------------------------------------------------------------------------------------------------
# 4. Loading with the policy_kwargs the model was created with


@pytest.mark.parametrize("use_baseline", [False, True])
def test_load_accepts_the_policy_kwargs_the_model_was_created_with(use_baseline, tmp_path):
    env = make_vec_env(lambda: TimeLimit(FakeImageEnv(screen_height=36, screen_width=36, n_channels=1), 8), seed=0)
    policy_kwargs = dict(net_arch=[32])
    model = REINFORCE("CnnPolicy", env, policy_kwargs=policy_kwargs, use_baseline=use_baseline, seed=0, device="cpu")
    assert model.policy_kwargs == policy_kwargs
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=env, policy_kwargs=dict(net_arch=[32]), device="cpu")
    assert loaded.policy.use_value_net == use_baseline
    assert_params_equal(params_of(model), params_of(loaded))
    with pytest.raises(ValueError, match="policy kwargs"):
        REINFORCE.load(tmp_path / "model", env=env, policy_kwargs=dict(net_arch=[16]), device="cpu")


# ---------------------------------------------------------------------------------------------------------------
# 5. The rollout-start reset under AtariWrapper (EpisodicLifeEnv)


def test_rollout_start_reset_starts_a_new_game_under_episodic_life():
    pytest.importorskip("ale_py")
    from stable_baselines3.common.env_util import make_atari_env

    env = make_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0)
    model = REINFORCE("CnnPolicy", env, n_episodes=2, seed=0, device="cpu")
    model._last_obs = env.reset()
    for _ in range(60):
        env.step(np.zeros(2, dtype=np.int64))
    frames_before = [ale.getEpisodeFrameNumber() for ale in env.get_attr("ale")]
    model._reset_all_envs(env)
    frames_after = [ale.getEpisodeFrameNumber() for ale in env.get_attr("ale")]
    # a real reset: a new game (at most 30 no-ops and a FIRE) with all its lives, not one more step of the old one
    assert min(frames_before) > 200 and all(after < 150 for after in frames_after), (frames_before, frames_after)
    assert [ale.lives() for ale in env.get_attr("ale")] == [5, 5]
    assert np.all(model._last_episode_starts)
    env.close()


# ---------------------------------------------------------------------------------------------------------------
# 6. rollout/ep_rew_mean and ep_len_mean come from the episodes the update used


@pytest.mark.parametrize("carry_episodes", [False, True])
def test_logged_episode_statistics_are_the_used_episodes(carry_episodes):
    env = make_vec_env(RandomLengthEnv, n_envs=8, seed=1, env_kwargs=dict(max_length=20))
    # every logged episode is used by an update, once; with carrying, an episode finished while waiting is logged
    # by the update that uses it, and one dropped behind the carried ones never is
    model = REINFORCE(
        "MlpPolicy", env, n_episodes=8, stats_window_size=10_000, carry_episodes=carry_episodes, seed=1, device="cpu"
    )
    used_lengths: list[int] = []

    class Check(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            used_lengths.extend(self.model.rollout_buffer.episode_lengths.tolist())

    model.learn(2_000, callback=Check())
    logged = [info["l"] for info in model.ep_info_buffer]
    assert len(used_lengths) > 50
    assert sorted(logged) == sorted(used_lengths)
    # the Monitor files hold more episodes: also the ones played while waiting for the slowest env
    monitored = sum(len(e.get_episode_lengths()) for e in model.get_env().envs)
    assert monitored > len(used_lengths)


# ---------------------------------------------------------------------------------------------------------------
# 7. Arguments of A2C and PPO


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
# 8. Float32 overflow


class HugeRewardEnv(gym.Env):
    """Two-step episodes paying 3e38 per step: finite in float32, but the return (6e38) is not."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, dtype=np.float32), 3e38, self.t >= 2, False, {}


def test_returns_overflowing_float32_raise_before_any_update():
    model = REINFORCE("MlpPolicy", DummyVecEnv([HugeRewardEnv]), n_episodes=2, gamma=1.0, seed=0, device="cpu")
    before = params_of(model)
    with pytest.raises(ValueError, match="overflow float32"):
        model.learn(4)
    assert_params_equal(before, params_of(model))


# ---------------------------------------------------------------------------------------------------------------
# 10. Behaviours the docs claim


class ActionRecorder(gym.Wrapper):
    """Record the actions the env receives."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.received: list[float] = []

    def step(self, action):
        self.received.append(float(np.asarray(action).item()))
        return self.env.step(action)


def test_actions_are_clipped_when_stepping_and_stored_unclipped():
    recorder = ActionRecorder(GaussianBanditEnv())  # action bounds [-2, 2]
    model = REINFORCE(
        "MlpPolicy", DummyVecEnv([lambda: recorder]), n_episodes=64, policy_kwargs=dict(log_std_init=2.0), seed=0, device="cpu"
    )
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
    stored = model.rollout_buffer.actions[: model.rollout_buffer.pos, 0, 0]
    received = np.array(recorder.received)
    assert np.any(np.abs(stored) > 2.0)  # std e^2: many samples fall outside the bounds
    assert np.all(np.abs(received) <= 2.0)
    np.testing.assert_allclose(received, np.clip(stored, -2.0, 2.0), rtol=1e-6)


def test_squashed_gsde_actions_are_rescaled_to_the_bounds_as_predict_does():
    # squash_output=True (gSDE only): the policy samples tanh(u) in [-1, 1]; the env must get it rescaled to its
    # bounds [-2, 2], as SB3's A2C/PPO and predict() do, while the buffer keeps the squashed sample it can score
    recorder = ActionRecorder(GaussianBanditEnv())
    model = REINFORCE(
        "MlpPolicy",
        DummyVecEnv([lambda: recorder]),
        n_episodes=64,
        use_sde=True,
        sde_sample_freq=1,
        policy_kwargs=dict(squash_output=True, log_std_init=1.0),
        seed=0,
        device="cpu",
    )
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
    stored = model.rollout_buffer.actions[: model.rollout_buffer.pos, 0, 0]
    received = np.array(recorder.received)
    assert np.all(np.abs(stored) <= 1.0)
    assert np.max(np.abs(received)) > 1.5  # the whole torque range is used, not only [-1, 1]
    np.testing.assert_allclose(received, 2.0 * stored, rtol=1e-5, atol=1e-5)  # float32 rescaling
    predicted, _ = model.predict(np.zeros((1, 1), dtype=np.float32), deterministic=True)
    assert model.action_space.contains(predicted[0])


def test_reward_to_go_false_weights_every_step_by_the_episode_return():
    env = make_vec_env(lambda: TimeLimit(ConstantRewardEnv(), max_episode_steps=5), seed=0)
    model = REINFORCE(
        "MlpPolicy", env, n_episodes=2, gamma=0.5, reward_to_go=False, baseline="none", normalize_advantage=False, device="cpu"
    )
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
    np.testing.assert_allclose(model.rollout_buffer.advantages[:10, 0], 1.9375)
    np.testing.assert_allclose(model.rollout_buffer.returns[:10, 0], 1.9375)


def test_non_finite_loss_raises_before_any_parameter_changes(monkeypatch):
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100)
    before = params_of(model)
    evaluate = model._baseline.evaluate

    def nan_log_prob(policy, obs, actions):
        log_prob, entropy, values = evaluate(policy, obs, actions)
        return log_prob * float("nan"), entropy, values

    monkeypatch.setattr(model._baseline, "evaluate", nan_log_prob)
    with pytest.raises(ValueError, match="loss is not finite"):
        model.learn(100, reset_num_timesteps=False)
    assert_params_equal(before, params_of(model))
    assert all(p.grad is None or not p.grad.abs().sum() for p in model.policy.parameters())


def test_non_finite_gradient_norm_raises_before_any_parameter_changes():
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100)
    before = params_of(model)
    # the loss stays finite; the gradient of one parameter becomes infinite on the way back
    model.policy.action_net.bias.register_hook(lambda grad: grad * math.inf)
    with pytest.raises(ValueError, match="gradient norm is not finite"):
        model.learn(100, reset_num_timesteps=False)
    assert_params_equal(before, params_of(model))


def test_entropy_bonus_increases_the_entropy():
    """Advantages are all 0 (one-step episodes, equal returns, normalised): only the entropy term moves the policy."""
    env = make_vec_env(lambda: TimeLimit(ConstantRewardEnv(), max_episode_steps=1), seed=0)
    obs = th.tensor([[0.5, -0.5]])

    def entropy(model: REINFORCE) -> float:
        with th.no_grad():
            return float(model.policy.get_distribution(obs).entropy().item())

    for ent_coef, sign in ((0.5, 1), (0.0, 0)):
        model = REINFORCE("MlpPolicy", env, n_episodes=8, ent_coef=ent_coef, policy_kwargs=dict(log_std_init=0.0), seed=1)
        # start from a confident policy, so that the entropy has room to grow
        with th.no_grad():
            model.policy.action_net.bias.copy_(th.tensor([2.0, -2.0]))
        start = entropy(model)
        model.learn(40)
        assert np.sign(round(entropy(model) - start, 6)) == sign, (ent_coef, start, entropy(model))


def test_save_load_and_continue_equals_uninterrupted_training(tmp_path):
    """Parameters, optimizer state and hyperparameters are saved; the env and torch's generator are not, so they
    are carried over here (as the docstring says a user must for a bit-exact resume)."""

    def make_model(env):
        return REINFORCE("MlpPolicy", env, n_episodes=2, use_baseline=True, ent_coef=0.01, seed=3, device="cpu")

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


# ---------------------------------------------------------------------------------------------------------------
# The baseline argument (issue 13): "none", "value", "leave_one_out"


def test_leave_one_out_baseline_through_the_algorithm():
    from sb3_reinforce.returns import discounted_returns_to_go, leave_one_out_baseline

    env = make_vec_env(RandomLengthEnv, n_envs=2, seed=0, env_kwargs=dict(max_length=6))
    model = REINFORCE(
        "MlpPolicy", env, baseline="leave_one_out", n_episodes=4, normalize_advantage=False, gamma=0.9, seed=0, device="cpu"
    )
    assert model.policy.value_net is None and not model.use_baseline
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
    buffer = model.rollout_buffer
    rows = slice(0, buffer.pos)
    returns = discounted_returns_to_go(buffer.rewards[rows], buffer.episode_ends[rows], 0.9)
    expected = returns - leave_one_out_baseline(returns, buffer.episode_ends[rows], buffer.used)
    np.testing.assert_allclose(buffer.advantages[buffer.used], expected[buffer.used], rtol=1e-5)
    assert not np.allclose(buffer.advantages[buffer.used], buffer.returns[buffer.used])
    before = params_of(model)
    model.train()
    assert_params_changed(before, model)


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
    # an explicit use_baseline=False keeps its meaning from before the baseline argument: no baseline
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
# gSDE (issue 14)


class NoiseResets(BaseCallback):
    """Steps of the rollout at which the policy's exploration matrix was resampled."""

    def __init__(self) -> None:
        super().__init__()
        self.resets_per_rollout: list[list[int]] = []
        self.step = 0

    def _init_callback(self) -> None:
        policy = self.model.policy
        reset_noise = policy.reset_noise

        def spy(n_envs: int = 1) -> None:
            self.resets_per_rollout[-1].append(self.step)
            reset_noise(n_envs)

        policy.reset_noise = spy  # type: ignore[method-assign]
        self.resets_per_rollout.append([])  # the rollout about to start

    def _on_step(self) -> bool:
        self.step += 1
        return True

    def _on_rollout_end(self) -> None:
        self.resets_per_rollout.append([])
        self.step = 0


@pytest.mark.parametrize("sde_sample_freq", [-1, 3])
def test_gsde_resamples_the_exploration_matrix_per_rollout_or_every_n_steps(sde_sample_freq):
    from stable_baselines3.common.distributions import StateDependentNoiseDistribution
    from stable_baselines3.common.envs import IdentityEnvBox

    env = make_vec_env(lambda: IdentityEnvBox(ep_length=5), n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, use_sde=True, sde_sample_freq=sde_sample_freq, n_episodes=4, seed=0, device="cpu")
    assert isinstance(model.policy.action_dist, StateDependentNoiseDistribution)
    resets = NoiseResets()
    model.learn(40, callback=resets)  # rollouts of 2 episodes of 5 steps per env: 10 steps each
    rollouts = [steps for steps in resets.resets_per_rollout[:-1]]
    assert len(rollouts) == model._n_updates >= 2
    # the reset before a rollout's first step happens at step 0; with sde_sample_freq 3, again before steps 3, 6, 9
    expected = [0] if sde_sample_freq == -1 else [0, 3, 6, 9]
    assert all(steps == expected for steps in rollouts), rollouts


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


def test_gsde_needs_continuous_actions_and_an_integer_frequency():
    with pytest.raises(ValueError, match=r"gSDE|State-Dependent|continuous"):
        REINFORCE("MlpPolicy", "CartPole-v1", use_sde=True, device="cpu")
    with pytest.raises(ValueError, match="sde_sample_freq"):
        REINFORCE("MlpPolicy", "Pendulum-v1", use_sde=True, sde_sample_freq=2.5, device="cpu")
    with pytest.raises(ValueError, match="use_sde"):
        REINFORCE("MlpPolicy", "Pendulum-v1", use_sde="yes", device="cpu")
