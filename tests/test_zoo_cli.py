"""
rl-zoo3's own command-line tests (``tests/test_train.py``, ``tests/test_enjoy.py`` and
``tests/test_hyperparams_opt.py`` of rl-baselines3-zoo), run as rl-zoo3 runs them, in fresh processes, for
``reinforce`` and ``reinforce_lstm`` through ``python -m sb3_reinforce.zoo``.

Ported, for both algorithms:

- ``test_train``: a short ``train`` on a discrete and a continuous env (the continuous one with ``VecNormalize``);
- ``test_continue_training``: ``train -i`` from a saved model;
- ``test_custom_yaml``: ``-conf`` with another file and a policy given by its import path in ``-params``;
- ``test_parallel_train``: ``monitor_kwargs`` and ``callback`` given in ``-params`` (rl-zoo3's
  ``RawStatisticsCallback``, which writes to TensorBoard);
- ``test_load``: ``train -P --eval-freq --save-freq``, then ``enjoy --load-best -P``, ``--load-checkpoint`` and
  ``--load-last-checkpoint``;
- ``test_optimize``: ``-optimize`` with every sampler and pruner that runs offline;
- ``test_optimize_log_path``: ``--optimization-log-path``;
- ``test_multiple_workers``: two workers of one study in a shared storage, then ``--trial-id``.

Not ported, and why:

- ``test_save_load_replay_buffer`` and ``ParallelTrainCallback``: replay buffers are off-policy machinery; REINFORCE has
  none (``test_parallel_train`` uses ``RawStatisticsCallback`` instead);
- ``test_python_config_file``: its example file holds PPO's hyperparameters only;
- ``test_trained_agents`` and ``test_benchmark``: they load rl-zoo3's published agents (rl-trained-agents, the
  Hugging Face hub), which hold no REINFORCE model;
- the ``auto`` sampler: it downloads its implementation from OptunaHub at run time;
- ``test_record_video`` and ``test_record_training``: in ``tests/test_zoo.py``, with the other scripts.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("rl_zoo3")

REPO_ROOT = Path(__file__).resolve().parent.parent
N_STEPS = 100

# algo: (a discrete env, a continuous env with VecNormalize in its preset)
ENVS = {
    "reinforce": ("CartPole-v1", "Pendulum-v1"),
    "reinforce_lstm": ("CartPoleNoVel-v1", "PendulumNoVel-v1"),
}
ALGOS = sorted(ENVS)


def zoo(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m sb3_reinforce.zoo script args`` in a fresh process; fails the test on a non-zero exit."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "sb3_reinforce.zoo", script, *map(str, args)]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_train(tmp_path: Path, algo: str, continuous: bool) -> None:
    env_id = ENVS[algo][continuous]
    zoo("train", "-n", N_STEPS, "--algo", algo, "--env", env_id, "--log-folder", tmp_path, cwd=tmp_path)
    assert (tmp_path / algo / f"{env_id}_1" / f"{env_id}.zip").is_file()
    if continuous:  # the preset normalises the observations: their statistics are saved beside the model
        assert (tmp_path / algo / f"{env_id}_1" / env_id / "vecnormalize.pkl").is_file()


@pytest.mark.parametrize("algo", ALGOS)
def test_continue_training(tmp_path: Path, algo: str) -> None:
    env_id = ENVS[algo][0]
    args = ["-n", N_STEPS, "--algo", algo, "--env", env_id, "--log-folder", tmp_path]
    zoo("train", *args, cwd=tmp_path)
    result = zoo("train", *args, "-i", tmp_path / algo / f"{env_id}_1" / f"{env_id}.zip", cwd=tmp_path)
    assert "Loading pretrained agent" in result.stdout
    assert (tmp_path / algo / f"{env_id}_2" / f"{env_id}.zip").is_file()


@pytest.mark.parametrize("algo", ALGOS)
def test_custom_yaml(tmp_path: Path, algo: str) -> None:
    conf = tmp_path / "custom.yml"
    conf.write_text("CartPole-v1:\n  n_timesteps: 1000\n  policy: 'MlpPolicy'\n  n_episodes: 4\n")
    policy = "sb3_reinforce.policies.MlpPolicy" if algo == "reinforce" else "sb3_reinforce.recurrent_policies.MlpLstmPolicy"
    args = ["-n", N_STEPS, "--algo", algo, "--env", "CartPole-v1", "--log-folder", tmp_path, "-conf", conf]
    zoo("train", *args, "-params", "n_envs:2", "n_episodes:2", f"policy:'{policy}'", cwd=tmp_path)
    config = (tmp_path / algo / "CartPole-v1_1" / "CartPole-v1" / "config.yml").read_text()
    assert "n_episodes\n    - 2" in config and policy in config


@pytest.mark.parametrize("algo", ALGOS)
def test_parallel_train(tmp_path: Path, algo: str) -> None:
    env_id = ENVS[algo][1]
    zoo(
        "train",
        *("-n", 1000, "--algo", algo, "--env", env_id, "--log-folder", tmp_path, "--tensorboard-log", tmp_path / "tb"),
        "-params",
        "monitor_kwargs:'dict(info_keywords=(\"TimeLimit.truncated\",))'",
        "callback:'rl_zoo3.callbacks.RawStatisticsCallback'",
        cwd=tmp_path,
    )
    monitor = next((tmp_path / algo / f"{env_id}_1").glob("*.monitor.csv")).read_text()
    assert "TimeLimit.truncated" in monitor.splitlines()[1]


@pytest.mark.parametrize("algo", ALGOS)
def test_load(tmp_path: Path, algo: str) -> None:
    """rl-zoo3's test_load: a model trained with a progress bar is saved, and every way of loading it works."""
    env_id = ENVS[algo][0]
    args = ["-n", 1000, "--algo", algo, "--env", env_id, "-params", "n_envs:1", "--log-folder", tmp_path]
    # train and save checkpoints and the best model, with the progress bar
    zoo("train", *args, "--eval-freq", 500, "--save-freq", 500, "-P", cwd=tmp_path)
    run_dir = tmp_path / algo / f"{env_id}_1"
    assert (run_dir / f"{env_id}.zip").is_file()
    assert (run_dir / "best_model.zip").is_file()
    assert (run_dir / "rl_model_500_steps.zip").is_file()

    enjoy = ["-n", N_STEPS, "-f", tmp_path, "--algo", algo, "--env", env_id, "--no-render"]
    zoo("enjoy", *enjoy, "--load-best", "-P", cwd=tmp_path)
    zoo("enjoy", *enjoy, "--load-checkpoint", 500, cwd=tmp_path)
    zoo("enjoy", *enjoy, "--load-last-checkpoint", cwd=tmp_path)


def optimize_args(algo: str, tmp_path: Path) -> list[str | Path]:
    return [
        *("-n", N_STEPS, "--algo", algo, "--env", ENVS[algo][0], "-params", "policy_kwargs:'dict(net_arch=[32])'"),
        *("n_envs:1", "--seed", 14, "--log-folder", tmp_path, "--n-trials", 2, "--n-evaluations", 2),
        *("--n-startup-trials", 1, "--no-optim-plots", "-optimize"),
    ]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("sampler", ["random", "tpe"])
@pytest.mark.parametrize("pruner", ["none", "halving", "median"])
def test_optimize(tmp_path: Path, algo: str, sampler: str, pruner: str) -> None:
    zoo("train", *optimize_args(algo, tmp_path), "--n-jobs", 1, "--sampler", sampler, "--pruner", pruner, cwd=tmp_path)
    assert list((tmp_path / algo).glob("report_*.csv"))


@pytest.mark.parametrize("algo", ALGOS)
def test_optimize_log_path(tmp_path: Path, algo: str) -> None:
    log_path = tmp_path / "optim_logs"
    zoo("train", *optimize_args(algo, tmp_path), "--optimization-log-path", log_path, cwd=tmp_path)
    # one folder of evaluations per trial
    assert len([path for path in log_path.iterdir() if path.name.startswith("trial_")]) == 2


@pytest.mark.parametrize("algo", ALGOS)
def test_multiple_workers(tmp_path: Path, algo: str) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = ["--storage", storage, "--study-name", f"{algo}-study"]
    for _ in range(2):  # two workers, one after the other, of the same study
        zoo("train", *optimize_args(algo, tmp_path), *study, cwd=tmp_path)
    loaded = optuna.load_study(study_name=f"{algo}-study", storage=storage)
    assert len(loaded.trials) == 4
    # a model trained with the hyperparameters of one of the trials, read back from the study
    zoo("train", *("-n", N_STEPS, "--algo", algo, "--env", ENVS[algo][0], "--log-folder", tmp_path), *study,
        "--trial-id", 1, cwd=tmp_path)  # fmt: skip
