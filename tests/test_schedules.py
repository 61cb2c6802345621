"""Learning-rate schedules: the default decays with the model's env steps and never reaches zero, a schedule is read
at each rollout's start, and the value fit's learning rate follows its own schedule."""

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import LinearSchedule

from sb3_reinforce import REINFORCE
from sb3_reinforce.schedules import DEFAULT_LEARNING_RATE, StepsLinearSchedule
from tests.envs import RandomLengthEnv
from tests.helpers import assert_params_changed, params_of, random_reward_model

# ---------------------------------------------------------------------------------------------------------------
# The policy's learning rate


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
# The value fit's learning rate (value_fit="separate")


def test_value_learning_rate_schedule_and_logged_keys(tmp_path):
    from stable_baselines3.common.logger import configure

    model = random_reward_model(baseline="value", vf_learning_rate=lambda progress: 1e-2 * progress)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(400)
    import pandas

    log = pandas.read_csv(tmp_path / "progress.csv")
    assert {"train/value_loss", "train/vf_learning_rate", "train/explained_variance"} <= set(log.columns)
    rates = log["train/vf_learning_rate"].dropna().to_numpy()
    assert rates[0] == pytest.approx(1e-2) and np.all(np.diff(rates) < 0)
    # the schedule read at the last update's rollout start (the log is written before each update)
    assert model.vf_optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * model._current_progress_remaining)
