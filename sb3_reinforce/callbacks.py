"""Callbacks adapted to rollouts of whole episodes."""

from stable_baselines3.common import callbacks as sb3_callbacks
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback
from stable_baselines3.common.type_aliases import MaybeCallback


class ProgressBarCallback(sb3_callbacks.ProgressBarCallback):
    """
    SB3's progress bar for an algorithm whose last rollout may run past ``total_timesteps``: a rollout of whole
    episodes is never cut, so when the steps trained pass the bar's total, the total follows them and the bar
    ends at 100 % with the number of steps actually trained.
    """

    def _on_step(self) -> bool:
        self.pbar.update(self.training_env.num_envs)
        if self.pbar.total is not None and self.pbar.n > self.pbar.total:
            self.pbar.total = self.pbar.n
            # tqdm.rich draws from a task of its own, whose total is set apart from tqdm's
            progress, task_id = getattr(self.pbar, "_prog", None), getattr(self.pbar, "_task_id", None)
            if progress is not None and task_id is not None:
                progress.update(task_id, total=self.pbar.n)
        return True


def with_episodic_progress_bar(callback: MaybeCallback, progress_bar: bool) -> BaseCallback:
    """
    The callback :meth:`~stable_baselines3.common.base_class.BaseAlgorithm.learn` runs, as SB3 builds it, except
    that the progress bar (``progress_bar=True``, or SB3's ``ProgressBarCallback`` in a list of callbacks, as
    rl-zoo3's ``--progress`` passes it) is :class:`ProgressBarCallback`.

    :param callback: The callback(s) given to ``learn()``
    :param progress_bar: Whether ``learn()`` was asked for a progress bar
    :return: One callback, not yet initialised
    """
    if isinstance(callback, list):
        callback = CallbackList(
            [ProgressBarCallback() if type(item) is sb3_callbacks.ProgressBarCallback else item for item in callback]
        )
    if not isinstance(callback, BaseCallback):
        callback = ConvertCallback(callback)
    if progress_bar:
        callback = CallbackList([callback, ProgressBarCallback()])
    return callback
