"""sb3_reinforce.callbacks: SB3's progress bar runs as it was given, and its total follows the steps trained."""

import pytest
from stable_baselines3.common import callbacks as sb3_callbacks
from stable_baselines3.common.callbacks import CallbackList, ProgressBarCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE


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


@pytest.fixture
def recording_bar(monkeypatch):
    monkeypatch.setattr(sb3_callbacks, "tqdm", _RecordingBar)
    _RecordingBar.closed = []
    return _RecordingBar


def _model() -> REINFORCE:
    return REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=4, seed=0), seed=0, device="cpu")


@pytest.mark.parametrize("through_list", [False, True])
def test_progress_bar_ends_at_the_steps_trained(recording_bar, through_list):
    model = _model()
    if through_list:  # as rl-zoo3's --progress passes it
        model.learn(300, callback=[ProgressBarCallback()])
    else:
        model.learn(300, progress_bar=True)
    assert model.num_timesteps > 300  # whole episodes: the last rollout ran past the budget
    assert recording_bar.closed == [(model.num_timesteps, model.num_timesteps)]


def test_the_bar_a_caller_holds_is_the_one_that_runs(recording_bar):
    """rl-zoo3 keeps the bar it passes and calls its on_training_end() again after learn(): it must have run."""
    callbacks = [ProgressBarCallback()]
    model = _model()
    model.learn(300, callback=callbacks)
    assert callbacks[0].pbar.n == model.num_timesteps
    callbacks[0].on_training_end()  # rl-zoo3's exp_manager.learn does this in its finally block


def test_follower_is_added_after_every_bar_only():
    from sb3_reinforce.callbacks import ProgressBarTotalFollower, with_episodic_progress_bar

    inner = ProgressBarCallback()
    built = with_episodic_progress_bar(
        CallbackList([sb3_callbacks.EveryNTimesteps(10, sb3_callbacks.StopTrainingOnMaxEpisodes(1)), CallbackList([inner])]),
        progress_bar=True,
    )
    assert isinstance(built, CallbackList)
    follower = built.callbacks[-1]
    assert isinstance(follower, ProgressBarTotalFollower)
    assert follower.bars[0] is inner and len(follower.bars) == 2  # the nested bar and the one progress_bar=True added
    # without a bar there is nothing to follow
    plain = with_episodic_progress_bar([sb3_callbacks.StopTrainingOnMaxEpisodes(1)], progress_bar=False)
    assert not any(isinstance(item, ProgressBarTotalFollower) for item in plain.callbacks)
