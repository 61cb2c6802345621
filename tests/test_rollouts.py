"""Rollouts: whole episodes in unbiased batches, the episode length limit, resets, the actions sent to the env and
gSDE's exploration noise, errors on non-finite data, and what a rollout logs (episode statistics, keys, progress)."""

import csv
import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnvBox
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from sb3_reinforce import REINFORCE
from sb3_reinforce.checks import DEFAULT_EPISODE_LENGTH_LIMIT
from tests.envs import (
    ConstantRewardEnv,
    GaussianBanditEnv,
    HugeRewardEnv,
    NaNObservationEnv,
    NaNRewardEnv,
    RandomLengthEnv,
    RandomRewardEnv,
)
from tests.helpers import RolloutRecorder, assert_params_equal, one_rollout, params_of

# ---------------------------------------------------------------------------------------------------------------
# Whole episodes, unbiased batches


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
    starts (with carrying, their steps are importance-weighted instead: tests/test_carrying.py)."""
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


def _unregistered_with_time_limit(vec_env_cls: type) -> DummyVecEnv:
    """8 envs of TimeLimit(an env that never ends, 500), with no spec: the limit is known from the wrapper alone."""
    return make_vec_env(lambda: TimeLimit(ConstantRewardEnv(), max_episode_steps=500), n_envs=8, vec_env_cls=vec_env_cls)


@pytest.mark.parametrize(
    "make_env",
    [
        pytest.param(lambda: _unregistered_with_time_limit(DummyVecEnv), id="TimeLimit-wrapper"),
        pytest.param(lambda: VecNormalize(_unregistered_with_time_limit(DummyVecEnv)), id="TimeLimit-under-VecNormalize"),
        pytest.param(lambda: _unregistered_with_time_limit(SubprocVecEnv), id="TimeLimit-in-subprocesses"),
        pytest.param(
            lambda: make_vec_env("CartPole-v1", n_envs=8, seed=0, env_kwargs=dict(max_episode_steps=500)), id="registered"
        ),
    ],
)
def test_n_steps_reads_the_time_limit_of_the_wrappers_and_the_spec(make_env):
    env = make_env()
    try:
        model = REINFORCE("MlpPolicy", env, n_episodes=8, seed=0, device="cpu")
        # one episode per env, of at most 500 steps
        assert model.n_steps == 500
        assert model.n_envs * model.n_steps == 4_000
    finally:
        env.close()


def test_n_steps_before_training_is_the_steps_the_first_rollout_plays_under_a_wrapper_time_limit():
    model = REINFORCE("MlpPolicy", _unregistered_with_time_limit(DummyVecEnv), n_episodes=8, seed=0, device="cpu")
    planned = model.n_envs * model.n_steps
    model.learn(2_048)  # the episodes never end before the time limit: every env plays its 500 steps
    assert model.num_timesteps == planned == 4_000


# ---------------------------------------------------------------------------------------------------------------
# Episodes that never end: the episode length limit


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
# Resets: after a callback stops training mid-rollout, and at a rollout's start under Atari's episodic life


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
# The actions the env receives, and gSDE's exploration noise


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
    one_rollout(model)
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
    one_rollout(model)
    stored = model.rollout_buffer.actions[: model.rollout_buffer.pos, 0, 0]
    received = np.array(recorder.received)
    assert np.all(np.abs(stored) <= 1.0)
    assert np.max(np.abs(received)) > 1.5  # the whole torque range is used, not only [-1, 1]
    np.testing.assert_allclose(received, 2.0 * stored, rtol=1e-5, atol=1e-5)  # float32 rescaling
    predicted, _ = model.predict(np.zeros((1, 1), dtype=np.float32), deterministic=True)
    assert model.action_space.contains(predicted[0])


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


# ---------------------------------------------------------------------------------------------------------------
# Non-finite data: a NaN reward or observation, or returns that overflow float32, raise before any update


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


def test_returns_overflowing_float32_raise_before_any_update():
    model = REINFORCE("MlpPolicy", DummyVecEnv([HugeRewardEnv]), n_episodes=2, gamma=1.0, seed=0, device="cpu")
    before = params_of(model)
    with pytest.raises(ValueError, match="overflow float32"):
        model.learn(4)
    assert_params_equal(before, params_of(model))


# ---------------------------------------------------------------------------------------------------------------
# What a rollout logs: rollout/ep_rew_mean and ep_len_mean come from the episodes the update used; the log keys;
# the progress bar


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
