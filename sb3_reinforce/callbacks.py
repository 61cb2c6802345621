"""Callbacks adapted to rollouts of whole episodes."""

from collections.abc import Iterator

from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.type_aliases import MaybeCallback


class ProgressBarTotalFollower(BaseCallback):
    """
    Keeps SB3 progress bars honest for an algorithm whose last rollout may run past ``total_timesteps``: a rollout
    of whole episodes is never cut, so when the steps trained pass a bar's total, the total follows them and the bar
    ends at 100 % with the number of steps actually trained.

    The bars stay SB3's own objects, so whoever created one (rl-zoo3's ``--progress``) still holds the bar that
    runs; this callback must come after them in the list, where it sees each step they have counted.

    :param bars: The progress bars to follow
    """

    def __init__(self, bars: list[ProgressBarCallback]) -> None:
        super().__init__()
        self.bars = bars

    def _on_step(self) -> bool:
        for bar in self.bars:
            pbar = getattr(bar, "pbar", None)
            if pbar is None or pbar.total is None or pbar.n <= pbar.total:
                continue
            pbar.total = pbar.n
            # tqdm.rich draws from a task of its own, whose total is set apart from tqdm's
            progress, task_id = getattr(pbar, "_prog", None), getattr(pbar, "_task_id", None)
            if progress is not None and task_id is not None:
                progress.update(task_id, total=pbar.n)
        return True


def _progress_bars(callback: BaseCallback) -> Iterator[ProgressBarCallback]:
    """The SB3 progress bars in ``callback`` and in the lists it holds."""
    if isinstance(callback, ProgressBarCallback):
        yield callback
    elif isinstance(callback, CallbackList):
        for item in callback.callbacks:
            yield from _progress_bars(item)


def with_episodic_progress_bar(callback: MaybeCallback, progress_bar: bool) -> BaseCallback:
    """
    The callback :meth:`~stable_baselines3.common.base_class.BaseAlgorithm.learn` runs, as SB3 builds it, followed
    by a :class:`ProgressBarTotalFollower` of its progress bars (``progress_bar=True``, or SB3's
    ``ProgressBarCallback`` among the callbacks, as rl-zoo3's ``--progress`` passes it) when it has any.

    :param callback: The callback(s) given to ``learn()``
    :param progress_bar: Whether ``learn()`` was asked for a progress bar
    :return: One callback, not yet initialised
    """
    if isinstance(callback, list):
        callback = CallbackList(callback)
    if not isinstance(callback, BaseCallback):
        callback = ConvertCallback(callback)
    if progress_bar:
        callback = CallbackList([callback, ProgressBarCallback()])
    bars = list(_progress_bars(callback))
    if bars:
        callback = CallbackList([callback, ProgressBarTotalFollower(bars)])
    return callback
