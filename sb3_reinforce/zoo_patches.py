"""
Every change this package makes to rl-zoo3's and Optuna's own behaviour, in one place.

Written against rl-zoo3 2.9 and Optuna 5.1 (:data:`WRITTEN_AGAINST`). Nothing is patched when a module is imported:
:func:`read_steps_schedules` is applied by :func:`sb3_reinforce.zoo.register`, the others by the command line
(``python -m sb3_reinforce.zoo``) for the duration of one command, and undone after it. Each names the upstream
behaviour it works around; ``tests/test_zoo_patches.py`` checks that behaviour against the installed rl-zoo3, and
fails when an upgrade changes it, so that the patch can go.

- :func:`read_steps_schedules`: ``ExperimentManager._preprocess_schedules`` knows numbers and ``lin_<x>``
  only; a preset's ``steps_lin_<initial>_<final>_<steps>`` becomes a :class:`StepsLinearSchedule`.
- :func:`database_storages`: ``ExperimentManager`` hands a ``--storage`` URL as it is to ``optuna.create_study``
  (``-optimize``) and ``optuna.load_study`` (``--trial-id``); the URL is opened with heartbeats and retries instead
  (:func:`~sb3_reinforce.storage.open_rdb_storage`).
- :func:`trial_zero_loaded`: ``ExperimentManager.read_hyperparameters`` loads ``--trial-id``'s parameters only
  when the id is true, so trial 0 is ignored.
- :func:`registered_record_video`: ``record_training`` records each model with ``python -m rl_zoo3.record_video``
  in a new process, where this package's algorithms are not registered.
- :func:`ffmpeg_on_path`: ``record_training`` runs an ``ffmpeg`` program found on ``PATH``.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna

from sb3_reinforce.schedules import StepsLinearSchedule
from sb3_reinforce.storage import open_rdb_storage

#: The versions these patches were written against
WRITTEN_AGAINST = {"rl_zoo3": "2.9", "optuna": "5.1"}

#: A learning rate written ``steps_lin_<initial>_<final>_<steps>`` in a preset is a :class:`StepsLinearSchedule`
STEPS_SCHEDULE_PREFIX = "steps_lin_"


def steps_schedules(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    The hyperparameters with every learning rate written ``steps_lin_<initial>_<final>_<steps>`` (e.g.
    ``steps_lin_5e-3_5e-4_1e5``) made a :class:`~sb3_reinforce.schedules.StepsLinearSchedule`.
    """
    hyperparams = dict(hyperparams)
    for key in ("learning_rate", "vf_learning_rate"):
        value = hyperparams.get(key)
        if isinstance(value, str) and value.startswith(STEPS_SCHEDULE_PREFIX):
            try:
                initial, final, steps = (float(part) for part in value[len(STEPS_SCHEDULE_PREFIX) :].split("_"))
            except ValueError:
                raise ValueError(
                    f"{key}={value!r}: a steps schedule is written {STEPS_SCHEDULE_PREFIX}<initial>_<final>_<steps>, "
                    "e.g. steps_lin_5e-3_5e-4_1e5"
                ) from None
            hyperparams[key] = StepsLinearSchedule(initial, final, int(steps))
    return hyperparams


def _replace(owner: object, name: str, value: object) -> Any:
    """Set ``owner.<name>`` to ``value`` and return what it was: the one way this module changes upstream code."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    return original


@contextlib.contextmanager
def _replaced(owner: object, **values: object) -> Iterator[None]:
    """``owner``'s attributes named by the keywords are the values given for the duration of the block."""
    originals = {name: _replace(owner, name, value) for name, value in values.items()}
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(owner, name, original)


class _StepsSchedulesFirst:
    """rl-zoo3's ``_preprocess_schedules`` (kept as ``wrapped``), with the steps schedules read before it."""

    def __init__(self, wrapped: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.wrapped = wrapped

    def __call__(self, hyperparams: dict[str, Any]) -> dict[str, Any]:
        hyperparams = steps_schedules(hyperparams)
        steps = {key: value for key, value in hyperparams.items() if isinstance(value, StepsLinearSchedule)}
        return {**self.wrapped({key: value for key, value in hyperparams.items() if key not in steps}), **steps}


def read_steps_schedules() -> None:
    """
    Make ``ExperimentManager._preprocess_schedules`` (rl-zoo3 2.9: numbers and ``lin_<x>`` only, any other string
    is split at ``_`` and fails) turn a preset's ``steps_lin_...`` learning rates into
    :class:`~sb3_reinforce.schedules.StepsLinearSchedule` first, and hand it the rest. Applied once for the process
    (rl-zoo3 users build ``ExperimentManager`` from Python too); calling it again changes nothing. The original
    stays reachable as ``ExperimentManager._preprocess_schedules.wrapped``.
    """
    from rl_zoo3.exp_manager import ExperimentManager

    preprocess = ExperimentManager._preprocess_schedules
    if not isinstance(preprocess, _StepsSchedulesFirst):
        _replace(ExperimentManager, "_preprocess_schedules", staticmethod(_StepsSchedulesFirst(preprocess)))


@contextlib.contextmanager
def database_storages(heartbeat_interval: int, retry_seconds: float) -> Iterator[None]:
    """
    For the duration of the block, ``optuna.create_study`` and ``optuna.load_study`` called with a storage URL open
    it with :func:`~sb3_reinforce.storage.open_rdb_storage` (heartbeats, workers started together, lost connections
    retried for ``retry_seconds``); the study is created or loaded under the storage's lock. rl-zoo3 2.9 passes the
    ``--storage`` URL as it is (a path ending in ``.log`` arrives as the journal storage rl-zoo3 opened: left alone).
    """
    create_study, load_study = optuna.create_study, optuna.load_study

    def create_study_in_database(*, storage: Any = None, **kwargs: Any) -> optuna.Study:
        if not isinstance(storage, str):
            return create_study(storage=storage, **kwargs)
        with open_rdb_storage(storage, heartbeat_interval, retry_seconds) as opened:
            return create_study(storage=opened, **kwargs)

    def load_study_from_database(*, storage: Any, **kwargs: Any) -> optuna.Study:
        if not isinstance(storage, str):
            return load_study(storage=storage, **kwargs)
        with open_rdb_storage(storage, heartbeat_interval, retry_seconds) as opened:
            return load_study(storage=opened, **kwargs)

    with _replaced(optuna, create_study=create_study_in_database, load_study=load_study_from_database):
        yield


class _TrialId(int):
    # A trial id that is true also when it is 0
    def __bool__(self) -> bool:
        return True


@contextlib.contextmanager
def trial_zero_loaded() -> Iterator[None]:
    """
    For the duration of the block, ``ExperimentManager.read_hyperparameters`` loads ``--trial-id 0`` too: rl-zoo3
    2.9 loads a trial's parameters under ``if self.storage and self.study_name and self.trial_id:``, which skips
    trial 0; the id it reads is made true.
    """
    from rl_zoo3.exp_manager import ExperimentManager

    read_hyperparameters = ExperimentManager.read_hyperparameters

    def read_with_trial_zero(self: ExperimentManager) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.trial_id is not None:
            self.trial_id = _TrialId(self.trial_id)
        return read_hyperparameters(self)

    with _replaced(ExperimentManager, read_hyperparameters=read_with_trial_zero):
        yield


def record_video_command(command: Sequence[str]) -> list[str]:
    """
    The command that records one model, for a command that ``rl_zoo3.record_training`` runs.

    ``record_training`` records each model with ``python -m rl_zoo3.record_video ...`` in a new process, where
    ``reinforce`` is not registered; that call becomes ``<this interpreter> -m sb3_reinforce.zoo record_video ...``.
    Other commands are returned unchanged.

    :param command: A command (list of arguments) given to ``subprocess.call``
    :return: The command to run instead
    """
    command = list(command)
    if len(command) >= 3 and command[1:3] == ["-m", "rl_zoo3.record_video"]:
        return [sys.executable, "-m", "sb3_reinforce.zoo", "record_video", *command[3:]]
    return command


@contextlib.contextmanager
def registered_record_video() -> Iterator[None]:
    """For the duration of the block, ``subprocess.call`` runs :func:`record_video_command`'s command instead."""
    call = subprocess.call

    def call_registered(command: Sequence[str], *args: Any, **kwargs: Any) -> int:
        return call(record_video_command(command), *args, **kwargs)

    with _replaced(subprocess, call=call_registered):
        yield


@contextlib.contextmanager
def ffmpeg_on_path() -> Iterator[None]:
    """
    ``record_training`` runs the ``ffmpeg`` program to caption and join the videos. Without one on ``PATH``, the
    block runs with the binary that imageio-ffmpeg ships (installed with moviepy, which record_video needs anyway).
    """
    if shutil.which("ffmpeg") is not None:
        yield
        return
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SystemExit("record_training needs ffmpeg: install it, or pip install imageio-ffmpeg") from None
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), os.path.join(folder, "ffmpeg"))
        old_path = os.environ.get("PATH", "")
        os.environ["PATH"] = folder + os.pathsep + old_path
        try:
            yield
        finally:
            os.environ["PATH"] = old_path
