"""rl-zoo3 integration: registration, the sb3-reinforce-zoo command line, the Optuna sampler and the hyperparameter file."""

import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

optuna = pytest.importorskip("optuna")
pytest.importorskip("rl_zoo3")
yaml = pytest.importorskip("yaml")

from sb3_reinforce import REINFORCE  # noqa: E402
from sb3_reinforce.storage import (  # noqa: E402
    HEARTBEAT_INTERVAL,
    STORAGE_RETRY_SECONDS,
    RetryingRDBStorage,
    StorageUnavailableError,
    split_heartbeat_interval,
    split_storage_retry_seconds,
)
from sb3_reinforce.zoo import (  # noqa: E402
    HYPERPARAMS_PATH,
    HYPERPARAMS_PATHS,
    convert_reinforce_lstm_params,
    convert_reinforce_params,
    main,
    register,
    sample_reinforce_lstm_params,
    sample_reinforce_params,
    with_default_config,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_ID = "CartPole-v1"

# Keys of a zoo hyperparameter block that rl-zoo3 consumes itself instead of passing them to the constructor
ZOO_KEYS = {
    "n_envs",
    "n_timesteps",
    "policy",
    "normalize",
    "env_wrapper",
    "vec_env_wrapper",
    "frame_stack",
    "callback",
    "env_kwargs",
    "monitor_kwargs",
}


def zoo_env() -> dict[str, str]:
    """The environment of a child process that imports this checkout's package (and plots without a display)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "Agg"
    return env


def run_zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m sb3_reinforce.zoo *args`` in a fresh process, importing this checkout's package."""
    result = subprocess.run(
        [sys.executable, "-m", "sb3_reinforce.zoo", *args], cwd=cwd, env=zoo_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def run_zoo_in_process(*args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``sb3_reinforce.zoo.main(args)`` in this process (faster than a subprocess, for the lighter scripts)."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() replaces sys.argv for rl-zoo3's parsers
    main(list(args))


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory) -> Path:
    """A zoo log folder with one short REINFORCE run on CartPole, trained from an unrelated working directory."""
    log_folder = tmp_path_factory.mktemp("logs")
    cwd = tmp_path_factory.mktemp("cwd")
    run_zoo(
        "train",
        "--algo",
        "reinforce",
        "--env",
        ENV_ID,
        "-n",
        "2000",
        "--seed",
        "0",
        "-f",
        str(log_folder),
        "--eval-freq",
        "1000",
        "--eval-episodes",
        "2",
        "--save-freq",
        "1000",
        "-params",
        "n_envs:2",
        "n_episodes:4",
        cwd=cwd,
    )
    return log_folder


def test_train_writes_zoo_log_folder(trained_folder: Path) -> None:
    run_dir = trained_folder / "reinforce" / f"{ENV_ID}_1"
    assert (run_dir / f"{ENV_ID}.zip").is_file()
    assert (run_dir / "evaluations.npz").is_file()
    assert list(run_dir.glob("*.monitor.csv"))
    assert list(run_dir.glob("rl_model_*_steps.zip"))
    config = yaml.load((run_dir / ENV_ID / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    # the packaged defaults were found, and -params overrode one of them
    assert dict(config)["n_episodes"] == 4
    args = yaml.load((run_dir / ENV_ID / "args.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert Path(args["conf_file"]) == HYPERPARAMS_PATH
    model = REINFORCE.load(run_dir / f"{ENV_ID}.zip", device="cpu")
    assert model.num_timesteps >= 2000


def test_enjoy(trained_folder: Path, tmp_path: Path) -> None:
    result = run_zoo(
        "enjoy",
        "--algo",
        "reinforce",
        "--env",
        ENV_ID,
        "-f",
        str(trained_folder),
        "--no-render",
        "-n",
        "300",
        "--deterministic",
        cwd=tmp_path,
    )
    lines = result.stdout.splitlines()
    # the final model of the trained run, played until 300 steps: CartPole pays 1 per step, so returns = lengths
    assert f"Loading {trained_folder / 'reinforce' / f'{ENV_ID}_1' / f'{ENV_ID}.zip'}" in lines
    lengths = [int(line.split()[-1]) for line in lines if line.startswith("Episode Length")]
    rewards = [float(line.split()[-1]) for line in lines if line.startswith("Episode Reward:")]
    assert lengths and len(lengths) == len(rewards)
    assert sum(lengths) <= 300 and all(1 <= n <= 500 for n in lengths)
    assert rewards == [float(n) for n in lengths]


def test_plots(trained_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import pyplot as plt

    shown = []  # plot_train ends with plt.show(): keep the figure's curves instead
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: shown.append([line.get_xydata() for line in plt.gca().lines]))
    run_zoo_in_process(
        "plot_train",
        "-a",
        "reinforce",
        "-e",
        ENV_ID,
        "-f",
        str(trained_folder),
        "-w",
        "5",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    # one training curve (the one run), smoothed over 5 episodes, up to the run's 2,000 steps
    (curves,) = shown
    (curve,) = curves
    assert len(curve) > 0 and np.all(np.isfinite(curve))
    assert 0 < curve[-1, 0] <= 2000 + 500
    output = tmp_path / "all_plots"
    run_zoo_in_process(
        "all_plots",
        "-a",
        "reinforce",
        "-e",
        ENV_ID,
        "-f",
        str(trained_folder),
        "--no-display",
        "-o",
        str(output),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert output.with_suffix(".pkl").is_file()


def test_record_video(trained_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skip_without_video_tools()
    video_folder = tmp_path / "videos"
    run_zoo_in_process(
        "record_video",
        "--algo",
        "reinforce",
        "--env",
        ENV_ID,
        "-f",
        str(trained_folder),
        "-n",
        "100",
        "-o",
        str(video_folder),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert list(video_folder.glob("*.mp4"))


def skip_without_video_tools() -> None:
    if importlib.util.find_spec("moviepy") is None:
        pytest.skip("record_video needs moviepy")
    if importlib.util.find_spec("pygame") is None:
        pytest.skip("record_video renders CartPole with pygame (gymnasium[classic-control])")
    if shutil.which("ffmpeg") is None and importlib.util.find_spec("imageio_ffmpeg") is None:
        pytest.skip("record_video needs ffmpeg")


def test_record_training(trained_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skip_without_video_tools()
    video_folder = tmp_path / "videos"
    run_zoo_in_process(
        "record_training",
        "--algo",
        "reinforce",
        "--env",
        ENV_ID,
        "-f",
        str(trained_folder),
        "-n",
        "50",
        "-o",
        str(video_folder),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    names = sorted(path.name for path in video_folder.glob("*.mp4"))
    # one video per checkpoint, the final and the best model (each recorded by a subprocess), joined into one
    assert [name for name in names if name.startswith("checkpoint-")] == [
        f"checkpoint-{steps}-reinforce-{ENV_ID}-step-0-to-step-50.mp4" for steps in (1000, 2000)
    ]
    assert any(name.startswith("final-model-") for name in names)
    assert any(name.startswith("best-model-") for name in names)
    joined = video_folder / "training.mp4"
    assert joined.is_file()
    parts = [video_folder / name for name in names if name != "training.mp4"]
    assert joined.stat().st_size > max(part.stat().st_size for part in parts)


def test_optimize_with_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    common = ["--algo", "reinforce", "--env", ENV_ID, "-f", str(tmp_path / "logs"), "--storage", storage]
    common += ["--study-name", "reinforce-cartpole", "--eval-episodes", "2"]
    run_zoo(
        "train",
        *common,
        "-n",
        "1000",
        "-optimize",
        "--n-trials",
        "2",
        "--n-jobs",
        "2",
        "--n-startup-trials",
        "1",
        "--n-evaluations",
        "1",
        "--sampler",
        "random",
        "--no-optim-plots",
        "--seed",
        "0",
        cwd=tmp_path,
    )
    study = optuna.load_study(study_name="reinforce-cartpole", storage=storage)
    assert len(study.trials) == 2
    assert all(trial.state.is_finished() for trial in study.trials)
    assert list((tmp_path / "logs" / "reinforce").glob("report_*.csv"))

    # train with the hyperparameters of one trial, read back from the shared study (uses the converter table)
    run_zoo_in_process(
        "train",
        *common,
        "--trial-id",
        "1",
        "-n",
        "500",
        "--eval-freq",
        "-1",
        "--seed",
        "0",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    # the optimisation made the folder {ENV_ID}_1, this run the next one
    config_file = tmp_path / "logs" / "reinforce" / f"{ENV_ID}_2" / ENV_ID / "config.yml"
    config = yaml.load(config_file.read_text(), Loader=yaml.UnsafeLoader)
    assert dict(config)["learning_rate"] == pytest.approx(study.trials[1].params["learning_rate"])


def test_train_with_trial_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--trial-id 0`` trains with the first trial's hyperparameters (rl-zoo3 alone tests the id for truth)."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="reinforce-cartpole", storage=storage, direction="maximize")
    distributions = {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
        "n_episodes": optuna.distributions.CategoricalDistribution([1, 2, 4, 8, 16, 32]),
        "net_arch": optuna.distributions.CategoricalDistribution(["tiny", "small", "medium"]),
    }
    # trial 0 far from CartPole's preset (learning rate from 0.004 down, 2 episodes, the default network), trial 1 elsewhere
    for learning_rate, n_episodes, net_arch in [(0.000123, 16, "tiny"), (0.00456, 4, "medium")]:
        params = {"learning_rate": learning_rate, "n_episodes": n_episodes, "net_arch": net_arch}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=1.0))
    args = ["--algo", "reinforce", "--env", ENV_ID, "-f", str(tmp_path / "logs"), "--storage", storage]
    args += ["--study-name", "reinforce-cartpole", "--trial-id", "0", "-n", "200", "--eval-freq", "-1", "--seed", "0"]
    run_zoo_in_process("train", *args, cwd=tmp_path, monkeypatch=monkeypatch)

    run_dir = tmp_path / "logs" / "reinforce" / f"{ENV_ID}_1"
    config = dict(yaml.load((run_dir / ENV_ID / "config.yml").read_text(), Loader=yaml.UnsafeLoader))
    assert config["learning_rate"] == pytest.approx(0.000123)
    assert config["n_episodes"] == 16
    assert config["policy_kwargs"]["net_arch"] == {"pi": [64], "vf": [64]}
    model = REINFORCE.load(run_dir / f"{ENV_ID}.zip", device="cpu")
    assert model.lr_schedule(1.0) == pytest.approx(0.000123)
    assert model.n_episodes == 16


def test_register_is_explicit_and_idempotent() -> None:
    code = """
import rl_zoo3
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS
assert "reinforce" not in ALGOS and "reinforce" not in HYPERPARAMS_SAMPLER and "reinforce" not in HYPERPARAMS_CONVERTER
tables = [dict(ALGOS), dict(HYPERPARAMS_SAMPLER), dict(HYPERPARAMS_CONVERTER)]
import sb3_reinforce.zoo
assert "reinforce" not in ALGOS, "importing sb3_reinforce.zoo must not register"
sb3_reinforce.zoo.register()
once = [dict(ALGOS), dict(HYPERPARAMS_SAMPLER), dict(HYPERPARAMS_CONVERTER)]
sb3_reinforce.zoo.register()
assert [dict(ALGOS), dict(HYPERPARAMS_SAMPLER), dict(HYPERPARAMS_CONVERTER)] == once
for before, after in zip(tables, once):
    assert set(after) - set(before) == {"reinforce", "reinforce_lstm"}
    assert all(after[key] is value for key, value in before.items())
from sb3_reinforce import REINFORCE, RecurrentREINFORCE
assert ALGOS["reinforce"] is REINFORCE and ALGOS["reinforce_lstm"] is RecurrentREINFORCE
"""
    result = subprocess.run([sys.executable, "-c", code], env=zoo_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def small_experiment(env_id: str, tmp_path: Path, n_timesteps: int) -> tuple[Any, REINFORCE, dict]:
    """An ExperimentManager set up for ``env_id`` from the packaged hyperparameters, from Python, as the README shows."""
    import argparse

    import rl_zoo3.import_envs  # noqa: F401
    from rl_zoo3.exp_manager import ExperimentManager

    register()
    manager = ExperimentManager(
        argparse.Namespace(),
        "reinforce",
        env_id,
        str(tmp_path),
        n_timesteps=n_timesteps,
        eval_freq=-1,
        seed=0,
        log_interval=-1,  # ExperimentManager's own default (0) fails in learn()
        verbose=0,
        device="cpu",
        config=str(HYPERPARAMS_PATH),
    )
    results = manager.setup_experiment()
    assert results is not None
    model, saved_hyperparams = results
    assert isinstance(model, REINFORCE)
    return manager, model, saved_hyperparams


def test_experiment_manager_from_python(tmp_path: Path) -> None:
    manager, model, _ = small_experiment(ENV_ID, tmp_path, n_timesteps=500)
    manager.learn(model)
    assert model.num_timesteps >= 500


@pytest.mark.parametrize(
    ("args", "expected_conf"),
    [
        (["--algo", "reinforce"], str(HYPERPARAMS_PATH)),
        (["--algo=reinforce", "--env", ENV_ID], str(HYPERPARAMS_PATH)),
        (["--algo", "reinforce", "-conf", "mine.yml"], None),
        (["--algo", "reinforce", "--conf-file=mine.yml"], None),
        (["--algo", "reinforce_lstm"], str(HYPERPARAMS_PATHS["reinforce_lstm"])),
        (["--algo", "ppo"], None),
        ([], None),  # rl-zoo3's default algorithm is ppo
    ],
)
def test_default_config_injection(args: list[str], expected_conf: str | None) -> None:
    new_args = with_default_config(args)
    if expected_conf is None:
        assert new_args == args
    else:
        assert new_args == [*args, "--conf-file", expected_conf]


def test_heartbeat_interval_option() -> None:
    # taken out of train's arguments (rl-zoo3 would reject it), the others left in order
    args = ["--algo", "reinforce", "-n", "1000", "--seed", "-1"]
    assert split_heartbeat_interval(args) == (args, HEARTBEAT_INTERVAL)
    assert split_heartbeat_interval(["-optimize", "--heartbeat-interval", "5", *args]) == (["-optimize", *args], 5)
    assert split_heartbeat_interval(["--heartbeat-interval=0", *args]) == (args, 0)
    # no abbreviation: "--heart" is left to rl-zoo3, which rejects it
    assert split_heartbeat_interval(["--heart", "5"]) == (["--heart", "5"], HEARTBEAT_INTERVAL)
    with pytest.raises(SystemExit):
        split_heartbeat_interval(["--heartbeat-interval", "-1"])


def test_storage_retry_seconds_option() -> None:
    # taken out of train's arguments like --heartbeat-interval, the others left in order
    args = ["--algo", "reinforce", "--heartbeat-interval", "5", "-n", "1000"]
    assert split_storage_retry_seconds(args) == (args, STORAGE_RETRY_SECONDS)
    assert split_storage_retry_seconds(["--storage-retry-seconds", "2.5", *args]) == (args, 2.5)
    assert split_storage_retry_seconds([*args, "--storage-retry-seconds=0"]) == (args, 0)
    with pytest.raises(SystemExit):
        split_storage_retry_seconds(["--storage-retry-seconds", "-1"])
    with pytest.raises(SystemExit):
        split_storage_retry_seconds(["--storage-retry-seconds", "nan"])


def test_retrying_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes whose answer was lost, tried again; a database that does not come back (SQLite, failures simulated)."""
    import sqlalchemy
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState

    storage = RetryingRDBStorage(f"sqlite:///{tmp_path / 'study.db'}", retry_seconds=0.5)
    study = optuna.create_study(storage=storage, study_name="study")
    lost = sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
    write_state = RDBStorage.set_trial_state_values
    calls: list[TrialState] = []

    def committed_then_lost(self: RDBStorage, trial_id: int, state: TrialState, values: Any = None) -> bool:
        calls.append(state)
        done = write_state(self, trial_id, state, values)
        if len(calls) == 1:
            raise lost
        return done

    # the first write is committed, its answer lost: the next try finds the trial finished
    monkeypatch.setattr(RDBStorage, "set_trial_state_values", committed_then_lost)
    trial_id = study.ask()._trial_id
    assert storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.5])
    assert calls == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert storage.get_trial(trial_id).values == [1.5]
    # a trial found failed may have been failed by another worker: reported as Optuna does
    calls.clear()
    trial_id = study.ask()._trial_id
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    assert storage.get_trial(trial_id).state == TrialState.FAIL

    def never_answers() -> None:
        raise lost

    # a heartbeat that cannot be recorded is skipped; an operation gives up after retry_seconds, and all later ones
    monkeypatch.setattr(storage, "scoped_session", never_answers)
    started = time.monotonic()
    assert storage.record_heartbeat(trial_id) is None
    assert time.monotonic() - started >= 0.5
    with pytest.raises(StorageUnavailableError) as error:
        storage.get_trial(trial_id)
    message = str(error.value)
    assert message.startswith(f"lost the Optuna storage sqlite:///{tmp_path / 'study.db'}: no answer for 0.5 s (")
    assert "server closed the connection unexpectedly" in message and "\n" not in message
    monkeypatch.undo()
    with pytest.raises(StorageUnavailableError):
        storage.get_study_user_attrs(study._study_id)
    storage.engine.dispose()


def test_sampler_gives_valid_constructor_arguments() -> None:
    # one study shared by runs with different n_envs (as with --storage): the search space must not depend on it
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    env = gym.make(ENV_ID)
    baselines, value_fits, group_sizes, std_scalings = set(), set(), set(), set()
    for n_envs in (1, 3, 1, 3, 2, 1, 4, 3, 1, 2, 1, 1) * 3:
        trial = study.ask()
        hyperparams = sample_reinforce_params(trial, n_actions=0, n_envs=n_envs, additional_args={})
        assert hyperparams["n_episodes"] in (1, 2, 4, 8, 16, 32)
        assert 0.97 <= hyperparams["gamma"] < 1.0
        # the value fit's arguments are sampled only for the fit they belong to
        fit = hyperparams.get("value_fit")
        assert (fit is not None) == hyperparams["use_baseline"]
        assert ("vf_coef" in hyperparams) == (fit == "joint")
        assert ("vf_learning_rate" in hyperparams) == ("vf_n_epochs" in hyperparams) == (fit == "separate")
        model = REINFORCE("MlpPolicy", env, device="cpu", **hyperparams)
        if fit is not None:
            assert model.value_fit == fit
            value_fits.add(fit)
        assert (model.policy.value_net is not None) == hyperparams["use_baseline"]
        # the converter, as rl-zoo3 uses it to load a trial from a study, gives the same arguments
        assert convert_reinforce_params(dict(trial.params)) == hyperparams
        assert model.baseline == hyperparams["baseline"]
        baselines.add(model.baseline)
        # groups: whole groups per update, never carried
        group_sizes.add(model.group_size)
        assert model.n_episodes % model.group_size == 0 and not (model.group_size > 1 and model.carry_episodes)
        if model.group_size > 1 and model.baseline == "leave_one_out":
            std_scalings.add(model.group_std_scaling)
        vec_model = REINFORCE("MlpPolicy", make_vec_env(ENV_ID, n_envs=n_envs), device="cpu", **hyperparams)
        assert vec_model.group_size == model.group_size
        study.tell(trial, 0.0)
    assert baselines == {"none", "value", "leave_one_out"}
    assert value_fits == {"separate", "joint"}
    assert group_sizes == {1, 2, 4, 8} and std_scalings == {False, True}


def test_sampled_trial_without_baseline_overrides_preset_bootstrap() -> None:
    """rl-zoo3 updates the env's preset with the sampled values: Pendulum-v1's bootstrap_truncated needs a baseline."""
    preset = load_hyperparams()["Pendulum-v1"]
    assert preset["bootstrap_truncated"] and preset["use_baseline"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    env = gym.make("Pendulum-v1")
    seen_without_baseline = False
    for _ in range(12):
        trial = study.ask()
        # from the preset, as in rl-zoo3's objective
        kwargs = {"bootstrap_truncated": True, "use_baseline": True, "value_fit": "joint"}
        kwargs.update(sample_reinforce_params(trial, n_actions=1, n_envs=4, additional_args={}))
        model = REINFORCE("MlpPolicy", env, device="cpu", **kwargs)
        assert model.bootstrap_truncated == (kwargs["baseline"] == "value")
        seen_without_baseline |= not kwargs["use_baseline"]
        study.tell(trial, 0.0)
    assert seen_without_baseline


def load_hyperparams() -> dict:
    with open(HYPERPARAMS_PATH) as file:
        return yaml.safe_load(file)


def test_wheel_ships_hyperparams_and_console_script(tmp_path: Path) -> None:
    """A non-editable install gets the top-level hyperparams/reinforce.yml as package data, and the console script."""
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    # symlinks=True: sb3_reinforce/hyperparams stays a link to ../hyperparams, as in the repository
    shutil.copytree(REPO_ROOT / "hyperparams", source / "hyperparams")
    shutil.copytree(
        REPO_ROOT / "sb3_reinforce", source / "sb3_reinforce", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("sb3_reinforce-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("sb3_reinforce/hyperparams/reinforce.yml").decode()
        shipped_lstm = archive.read("sb3_reinforce/hyperparams/reinforce_lstm.yml").decode()
        (entry_points,) = [name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert shipped == (REPO_ROOT / "hyperparams" / "reinforce.yml").read_text()
    assert shipped_lstm == (REPO_ROOT / "hyperparams" / "reinforce_lstm.yml").read_text()
    assert "sb3-reinforce-zoo = sb3_reinforce.zoo:main" in scripts


@pytest.mark.parametrize("env_id", sorted(load_hyperparams()))
def test_hyperparams_keys_are_valid(env_id: str) -> None:
    block = load_hyperparams()[env_id]
    constructor_args = set(inspect.signature(REINFORCE.__init__).parameters) - {"self", "env"}
    unknown = set(block) - constructor_args - ZOO_KEYS
    assert not unknown, f"{env_id}: unknown keys {sorted(unknown)}"
    assert "n_timesteps" in block and "policy" in block
    assert isinstance(block["n_timesteps"], (int, float))


@pytest.mark.parametrize("env_id", sorted(set(load_hyperparams()) - {"atari", "default"}))
def test_hyperparams_build_a_model(env_id: str, tmp_path: Path) -> None:
    import argparse

    import rl_zoo3.import_envs  # noqa: F401
    from rl_zoo3.exp_manager import ExperimentManager

    register()  # registers the package's example envs too
    if env_id not in gym.registry:
        pytest.skip(f"{env_id} is not registered (missing extra)")
    manager = ExperimentManager(
        argparse.Namespace(),
        "reinforce",
        env_id,
        str(tmp_path),
        eval_freq=-1,
        seed=0,
        verbose=0,
        device="cpu",
        config=str(HYPERPARAMS_PATH),
    )
    try:
        results = manager.setup_experiment()
    except (gym.error.DependencyNotInstalled, ImportError) as e:
        pytest.skip(f"{env_id}: {e}")
    assert results is not None
    model, _ = results
    assert isinstance(model, REINFORCE)
    assert model.n_envs == load_hyperparams()[env_id].get("n_envs", 1)
    obs = model.env.reset()
    assert np.all(np.isfinite(model.predict(obs)[0]))
    model.env.close()


def test_default_block_trains_an_env_without_its_own_block(tmp_path: Path) -> None:
    """rl-zoo3's ``default:`` fallback: any env id without a block trains with the library defaults."""
    assert "MountainCar-v0" not in load_hyperparams()
    manager, model, saved_hyperparams = small_experiment("MountainCar-v0", tmp_path, n_timesteps=400)
    assert saved_hyperparams == load_hyperparams()["default"]
    assert model.n_episodes == 8 and model.n_envs == 1  # the library defaults
    manager.learn(model)
    assert model.num_timesteps == 8 * 200  # one rollout: 8 MountainCar episodes cut at 200 steps
    model.env.close()


# ---------------------------------------------------------------------------------------------------------------
# reinforce_lstm: RecurrentREINFORCE in the zoo


def load_lstm_hyperparams() -> dict:
    with open(HYPERPARAMS_PATHS["reinforce_lstm"]) as file:
        return yaml.safe_load(file)


@pytest.mark.parametrize("env_id", sorted(set(load_lstm_hyperparams()) - {"default"}))
def test_lstm_presets_build_a_model(env_id: str, tmp_path: Path) -> None:
    import argparse

    import rl_zoo3.import_envs  # noqa: F401
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_reinforce import RecurrentREINFORCE
    from sb3_reinforce.schedules import StepsLinearSchedule

    block = load_lstm_hyperparams()[env_id]
    unknown = set(block) - set(inspect.signature(REINFORCE.__init__).parameters) - ZOO_KEYS
    assert not unknown, f"{env_id}: unknown keys {sorted(unknown)}"
    register()
    manager = ExperimentManager(
        argparse.Namespace(), "reinforce_lstm", env_id, str(tmp_path), eval_freq=-1, seed=0, verbose=0, device="cpu",
        config=str(HYPERPARAMS_PATHS["reinforce_lstm"]),
    )  # fmt: skip
    try:
        results = manager.setup_experiment()
    except (gym.error.DependencyNotInstalled, ImportError) as e:
        pytest.skip(f"{env_id}: {e}")
    assert results is not None
    model, _ = results
    assert isinstance(model, RecurrentREINFORCE) and model.n_envs == block["n_envs"]
    if str(block.get("learning_rate", "")).startswith("steps_lin_"):
        assert isinstance(model.learning_rate, StepsLinearSchedule)
    obs = model.env.reset()
    actions, states = model.predict(obs)
    assert np.all(np.isfinite(actions)) and states is not None
    model.env.close()


def test_lstm_sampler_gives_valid_constructor_arguments() -> None:
    from sb3_reinforce import RecurrentREINFORCE

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sizes = set()
    for _ in range(12):
        trial = study.ask()
        hyperparams = sample_reinforce_lstm_params(trial, n_actions=0, n_envs=1, additional_args={})
        assert convert_reinforce_lstm_params(dict(trial.params)) == hyperparams
        model = RecurrentREINFORCE("MlpLstmPolicy", ENV_ID, device="cpu", **hyperparams)
        assert model.policy.lstm_actor.hidden_size == hyperparams["policy_kwargs"]["lstm_hidden_size"]
        sizes.add(model.policy.lstm_actor.hidden_size)
        study.tell(trial, 0.0)
    assert len(sizes) > 1
