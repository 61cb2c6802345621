"""
sb3_reinforce.zoo_patches: what each patch does, and the rl-zoo3 behaviour it works around, checked against the
installed rl-zoo3. A test of the second kind fails when an upgrade changes that behaviour: the patch it names can
then go (or must change).
"""

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("rl_zoo3")

from rl_zoo3 import record_training as _record_training_module  # noqa: E402  (its source is read below)
from rl_zoo3.exp_manager import ExperimentManager  # noqa: E402

from sb3_reinforce import zoo_patches  # noqa: E402
from sb3_reinforce.schedules import StepsLinearSchedule  # noqa: E402
from sb3_reinforce.zoo import HYPERPARAMS_PATHS, register  # noqa: E402
from sb3_reinforce.zoo_patches import (  # noqa: E402
    database_storages,
    read_steps_schedules,
    record_video_command,
    registered_record_video,
    steps_schedules,
    trial_zero_loaded,
)

# ---------------------------------------------------------------------------------------------------------------
# What the patches do


def test_steps_schedules() -> None:
    parsed = steps_schedules({"learning_rate": "steps_lin_5e-3_5e-4_1e5", "vf_learning_rate": 0.01, "gamma": 0.9})
    assert repr(parsed["learning_rate"]) == repr(StepsLinearSchedule(5e-3, 5e-4, 100_000))
    assert parsed["vf_learning_rate"] == 0.01 and parsed["gamma"] == 0.9
    assert steps_schedules({"learning_rate": "lin_0.01"}) == {"learning_rate": "lin_0.01"}  # rl-zoo3's own
    with pytest.raises(ValueError, match="steps_lin_<initial>_<final>_<steps>"):
        steps_schedules({"learning_rate": "steps_lin_5e-3_1e5"})


def test_read_steps_schedules_wraps_rl_zoo3_once() -> None:
    read_steps_schedules()
    patched = ExperimentManager._preprocess_schedules
    read_steps_schedules()
    assert ExperimentManager._preprocess_schedules is patched  # idempotent
    out = patched({"learning_rate": "steps_lin_5e-3_5e-4_1e5", "clip_range": "lin_0.2"})
    assert isinstance(out["learning_rate"], StepsLinearSchedule)
    assert out["clip_range"](1.0) == pytest.approx(0.2)  # rl-zoo3's own schedule, from the original


def test_record_video_command_runs_registered_record_video() -> None:
    args = ["--env", "CartPole-v1", "--algo", "reinforce", "--load-checkpoint", "1000"]
    assert record_video_command(["python", "-m", "rl_zoo3.record_video", *args]) == [
        sys.executable,
        "-m",
        "sb3_reinforce.zoo",
        "record_video",
        *args,
    ]
    # anything else is left alone
    assert record_video_command(["ffmpeg", "-i", "a.mp4"]) == ["ffmpeg", "-i", "a.mp4"]
    assert record_video_command(["python", "-m", "rl_zoo3.train"]) == ["python", "-m", "rl_zoo3.train"]


def test_scoped_patches_are_undone() -> None:
    create_study, load_study = optuna.create_study, optuna.load_study
    read_hyperparameters, call = ExperimentManager.read_hyperparameters, subprocess.call
    with database_storages(0, 1.0), trial_zero_loaded(), registered_record_video():
        assert optuna.create_study is not create_study and optuna.load_study is not load_study
        assert ExperimentManager.read_hyperparameters is not read_hyperparameters
        assert subprocess.call is not call
    assert (optuna.create_study, optuna.load_study) == (create_study, load_study)
    assert ExperimentManager.read_hyperparameters is read_hyperparameters and subprocess.call is call


def test_importing_the_package_patches_nothing() -> None:
    code = """
import optuna, subprocess
from rl_zoo3.exp_manager import ExperimentManager
before = (optuna.create_study, optuna.load_study, subprocess.call, ExperimentManager.read_hyperparameters,
          ExperimentManager.__dict__["_preprocess_schedules"])
import sb3_reinforce, sb3_reinforce.zoo, sb3_reinforce.zoo_patches
after = (optuna.create_study, optuna.load_study, subprocess.call, ExperimentManager.read_hyperparameters,
         ExperimentManager.__dict__["_preprocess_schedules"])
assert before == after
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


# ---------------------------------------------------------------------------------------------------------------
# The upstream behaviour each patch works around: these fail when rl-zoo3 changes it


def _original_preprocess_schedules():
    preprocess = ExperimentManager._preprocess_schedules
    return getattr(preprocess, "wrapped", preprocess)


def test_upstream_preprocess_schedules_does_not_know_steps_schedules() -> None:
    """read_steps_schedules: rl-zoo3 fails on a preset's steps_lin_ learning rate."""
    with pytest.raises(ValueError):
        _original_preprocess_schedules()({"learning_rate": "steps_lin_5e-3_5e-4_1e5"})


def test_upstream_passes_the_storage_url_to_optuna() -> None:
    """database_storages: rl-zoo3 hands --storage to optuna.create_study and optuna.load_study as it came."""
    optimization = inspect.getsource(ExperimentManager.hyperparameters_optimization)
    assert "optuna.create_study(" in optimization and "storage=" in optimization
    assert "optuna.load_study(" in inspect.getsource(ExperimentManager.load_trial)


def test_upstream_skips_trial_zero(tmp_path: Path) -> None:
    """trial_zero_loaded: rl-zoo3 reads --trial-id's parameters only when the id is true, so 0 is ignored."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    distributions = {"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)}
    study.add_trial(optuna.trial.create_trial(params={"learning_rate": 0.000123}, distributions=distributions, value=1.0))
    register()  # the converter of reinforce's trial parameters

    def trial_zero_learning_rate() -> object:
        manager = ExperimentManager(
            argparse.Namespace(), "reinforce", "CartPole-v1", str(tmp_path), storage=storage, study_name="s",
            trial_id=0, config=str(HYPERPARAMS_PATHS["reinforce"]),
        )  # fmt: skip
        return manager.read_hyperparameters()[0]["learning_rate"]

    assert trial_zero_learning_rate() == "lin_0.004"  # the preset's, not the trial's
    with trial_zero_loaded():
        assert trial_zero_learning_rate() == pytest.approx(0.000123)


def test_upstream_record_training_runs_record_video_and_ffmpeg_as_programs() -> None:
    """registered_record_video and ffmpeg_on_path: record_training starts python -m rl_zoo3.record_video and ffmpeg."""
    source = Path(inspect.getfile(_record_training_module)).read_text()
    assert 'subprocess.call(["python", "-m", "rl_zoo3.record_video"' in source
    assert "ffmpeg -" in source


def test_patches_name_the_versions_they_were_written_against() -> None:
    import rl_zoo3

    assert set(zoo_patches.WRITTEN_AGAINST) == {"rl_zoo3", "optuna"}
    # a newer major or minor version: read this module's patches against it, then raise the version here
    assert rl_zoo3.__version__.startswith(zoo_patches.WRITTEN_AGAINST["rl_zoo3"])
    assert optuna.__version__.startswith(zoo_patches.WRITTEN_AGAINST["optuna"])
