"""
rl-zoo3 integration: ``reinforce`` as a zoo algorithm, with its Optuna sampler and default hyperparameters.

Nothing here runs when ``rl_zoo3`` is imported: :func:`register` adds REINFORCE to rl-zoo3's tables when called,
and the command line calls it before handing over to rl-zoo3's own entry points::

    python -m sb3_reinforce.zoo train --algo reinforce --env CartPole-v1
    python -m sb3_reinforce.zoo enjoy --algo reinforce --env CartPole-v1 -f logs/
    python -m sb3_reinforce.zoo record_training --algo reinforce --env CartPole-v1 -f logs/
    python -m sb3_reinforce.zoo train --algo reinforce --env CartPole-v1 -optimize --n-trials 20 --n-jobs 2

(``sb3-reinforce-zoo`` is the same command, installed as a console script.) Every argument of the rl-zoo3 script
is accepted. For ``train --algo reinforce`` without ``-conf``, the hyperparameters shipped with this package
(:data:`HYPERPARAMS_PATH`) are used. From Python, pass that path to ``ExperimentManager(..., config=...)``.

``train`` opens a ``--storage`` database URL (SQLite, PostgreSQL, ...) itself, with
:func:`~sb3_reinforce.storage.open_rdb_storage`: heartbeats, workers started together, and lost connections retried
(:mod:`sb3_reinforce.storage`).

``--heartbeat-interval SECONDS`` (default :data:`HEARTBEAT_INTERVAL`, 0 turns the heartbeat off) and
``--storage-retry-seconds SECONDS`` are read here and not passed on to rl-zoo3. ``--trial-id 0`` trains with the
hyperparameters of trial 0 (rl-zoo3 alone would ignore it and use the defaults).
"""

import argparse
import math
import runpy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

try:
    import optuna
    from rl_zoo3 import hyperparams_opt
    from rl_zoo3 import utils as zoo_utils
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError("sb3_reinforce.zoo needs rl-zoo3 and optuna: pip install 'sb3-reinforce[zoo]'") from e
from torch import nn

from sb3_reinforce.baselines import BASELINES
from sb3_reinforce.recurrent import RecurrentREINFORCE
from sb3_reinforce.reinforce import REINFORCE
from sb3_reinforce.storage import (
    HEARTBEAT_INTERVAL,
    STORAGE_RETRY_SECONDS,
    split_heartbeat_interval,
    split_storage_retry_seconds,
    storage_given_up,
)
from sb3_reinforce.zoo_patches import (
    database_storages,
    ffmpeg_on_path,
    read_steps_schedules,
    registered_record_video,
    trial_zero_loaded,
)

ALGO_NAME = "reinforce"
#: RecurrentREINFORCE's name in the zoo (as RecurrentPPO's is ``ppo_lstm``)
LSTM_ALGO_NAME = "reinforce_lstm"
#: The algorithms this package adds to rl-zoo3
ALGORITHMS: dict[str, type[REINFORCE]] = {ALGO_NAME: REINFORCE, LSTM_ALGO_NAME: RecurrentREINFORCE}


def _find_hyperparams_path(algo: str) -> Path:
    # Installed (wheel): package data. Source checkout: ``sb3_reinforce/hyperparams`` is a symlink to the top-level
    # ``hyperparams/`` folder; where symlinks are not checked out (some Windows setups), use that folder directly.
    packaged = Path(__file__).parent / "hyperparams" / f"{algo}.yml"
    if packaged.is_file():
        return packaged
    return Path(__file__).parent.parent / "hyperparams" / f"{algo}.yml"


#: The hyperparameters file of each algorithm of :data:`ALGORITHMS`
HYPERPARAMS_PATHS = {algo: _find_hyperparams_path(algo) for algo in ALGORITHMS}
#: Default hyperparameters of ``reinforce`` for rl-zoo3 (one block per env id, plus the ``atari`` fallback)
HYPERPARAMS_PATH = HYPERPARAMS_PATHS[ALGO_NAME]


# Network sizes the sampler chooses from (the value layers are only built with a learned baseline)
NET_ARCHS = {
    "tiny": dict(pi=[64], vf=[64]),
    "small": dict(pi=[64, 64], vf=[64, 64]),
    "medium": dict(pi=[256, 256], vf=[256, 256]),
}
ACTIVATION_FNS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def convert_reinforce_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn the values sampled by :func:`sample_reinforce_params` (``trial.params``) into REINFORCE constructor
    arguments. rl-zoo3 also calls it to load a trial from a study (``--storage ... --study-name ... --trial-id``).

    :param sampled_params: Optuna parameters: ``one_minus_gamma``, ``net_arch`` and ``activation_fn`` by name, the
        others as constructor arguments
    :return: REINFORCE constructor arguments (``policy_kwargs`` holds the network)
    """
    hyperparams = sampled_params.copy()
    if "one_minus_gamma" in hyperparams:
        hyperparams["gamma"] = 1 - hyperparams.pop("one_minus_gamma")
    policy_kwargs: dict[str, Any] = {}
    if "net_arch" in hyperparams:
        policy_kwargs["net_arch"] = NET_ARCHS[hyperparams.pop("net_arch")]
    if "activation_fn" in hyperparams:
        policy_kwargs["activation_fn"] = ACTIVATION_FNS[hyperparams.pop("activation_fn")]
    if policy_kwargs:
        hyperparams["policy_kwargs"] = policy_kwargs
    if hyperparams.get("baseline") is not None:
        # a preset's use_baseline (Acrobot-v1, LunarLander-v3, Pendulum-v1) would contradict a sampled baseline
        hyperparams["use_baseline"] = hyperparams["baseline"] == "value"
        if hyperparams["baseline"] != "value":
            # nor may a preset's value_fit (value baseline only) stay with a sampled baseline without a network
            hyperparams["value_fit"] = None
        if hyperparams["baseline"] == "leave_one_out" and hyperparams.get("n_episodes", 2) < 2:
            # a batch of one episode has no other episode to take the baseline from (with one env)
            hyperparams["n_episodes"] = 2
    if hyperparams.get("group_size", 1) > 1:
        # whole groups; and every episode of a group starts from a seeded reset: a preset's carry_episodes cannot stay
        hyperparams["n_episodes"] = math.lcm(hyperparams.get("n_episodes", 8), hyperparams["group_size"])
        hyperparams["carry_episodes"] = None
    if not hyperparams.get("use_baseline", True) or hyperparams.get("baseline", "value") != "value":
        # a preset's bootstrap_truncated (Pendulum-v1) needs a value network: without one there is nothing to
        # bootstrap from, so a trial without a baseline must not inherit it
        hyperparams["bootstrap_truncated"] = False
    return hyperparams


def sample_reinforce_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Sampler for REINFORCE hyperparameters (same signature as rl-zoo3's samplers).

    :param trial: Optuna trial
    :param n_actions: Number of continuous actions (unused)
    :param n_envs: Number of envs (unused: REINFORCE itself rounds ``n_episodes`` up to a multiple of it, and plays
        grouped rollouts in waves)
    :param additional_args: rl-zoo3's extra arguments (HER settings, unused)
    :return: REINFORCE constructor arguments
    """
    learning_rate = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    one_minus_gamma = trial.suggest_float("one_minus_gamma", 0.0001, 0.03, log=True)
    # The same choices whatever n_envs, so that runs with different n_envs can share one study (Optuna rejects a
    # categorical whose choices change); REINFORCE rounds n_episodes up to a multiple of n_envs itself
    n_episodes = trial.suggest_categorical("n_episodes", [1, 2, 4, 8, 16, 32])
    net_arch = trial.suggest_categorical("net_arch", ["tiny", "small", "medium"])
    activation_fn = trial.suggest_categorical("activation_fn", ["tanh", "relu"])
    # "none", "value" (a learned value network) or "leave_one_out" (the batch's other episodes, no network)
    baseline = trial.suggest_categorical("baseline", list(BASELINES))
    normalize_advantage = trial.suggest_categorical("normalize_advantage", [False, True])
    ent_coef = trial.suggest_float("ent_coef", 1e-8, 0.1, log=True)
    # up to 10: with a value baseline fitted jointly its loss dominates the gradient norm, and the presets that learn
    # use 10 with vf_coef 0.01
    max_grad_norm = trial.suggest_float("max_grad_norm", 0.3, 10.0, log=True)

    sampled_params: dict[str, Any] = {
        "learning_rate": learning_rate,
        "one_minus_gamma": one_minus_gamma,
        "n_episodes": n_episodes,
        "net_arch": net_arch,
        "activation_fn": activation_fn,
        "baseline": baseline,
        "normalize_advantage": normalize_advantage,
        "ent_coef": ent_coef,
        "max_grad_norm": max_grad_norm,
    }
    if baseline == "value":
        # "separate": V fitted after the policy step by its own optimizer; "joint": one step with the policy's loss
        value_fit = trial.suggest_categorical("value_fit", ["separate", "joint"])
        sampled_params["value_fit"] = value_fit
        if value_fit == "joint":
            # vf_coef only weighs the baseline's loss in the joint step: sampled only then
            # log scale down to 1e-3: Monte Carlo returns make the value gradient 100-1000x the policy's
            sampled_params["vf_coef"] = trial.suggest_float("vf_coef", 1e-3, 1.0, log=True)
        else:
            sampled_params["vf_learning_rate"] = trial.suggest_float("vf_learning_rate", 1e-4, 3e-2, log=True)
            sampled_params["vf_n_epochs"] = trial.suggest_categorical("vf_n_epochs", [1, 5, 10, 20])
            sampled_params["vf_batch_size"] = trial.suggest_categorical("vf_batch_size", [64, 256, 1024])

    # groups of episodes that start from one reset seed (the converter makes n_episodes a multiple of the size)
    group_size = trial.suggest_categorical("group_size", [1, 2, 4, 8])
    sampled_params["group_size"] = group_size
    if group_size > 1 and baseline == "leave_one_out":
        sampled_params["group_std_scaling"] = trial.suggest_categorical("group_std_scaling", [False, True])

    # Display true values
    trial.set_user_attr("gamma", 1 - one_minus_gamma)

    return convert_reinforce_params(sampled_params)


def register() -> None:
    """
    Add ``reinforce`` and ``reinforce_lstm`` to rl-zoo3's algorithm, sampler and converter tables, and let presets
    write a :class:`~sb3_reinforce.schedules.StepsLinearSchedule` learning rate as
    ``steps_lin_<initial>_<final>_<steps>``. Calling it again changes nothing.

    ``rl_zoo3`` itself is left as it is until this is called: ``import rl_zoo3`` never registers REINFORCE. The
    package's example envs (``ReverseDigits-v0``, ``StartStateBandit-v0``, ``TSP20-v0``, ``TSP50-v0``) are registered
    with Gymnasium too.
    """
    import sb3_reinforce.envs  # noqa: F401  (registers the example envs)

    zoo_utils.ALGOS.update(ALGORITHMS)
    hyperparams_opt.HYPERPARAMS_SAMPLER[ALGO_NAME] = sample_reinforce_params
    hyperparams_opt.HYPERPARAMS_CONVERTER[ALGO_NAME] = convert_reinforce_params
    hyperparams_opt.HYPERPARAMS_SAMPLER[LSTM_ALGO_NAME] = sample_reinforce_lstm_params
    hyperparams_opt.HYPERPARAMS_CONVERTER[LSTM_ALGO_NAME] = convert_reinforce_lstm_params
    read_steps_schedules()


def convert_reinforce_lstm_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """:func:`convert_reinforce_params` for ``reinforce_lstm``: the LSTM's size joins ``policy_kwargs``, and
    episodes are not carried (RecurrentREINFORCE does not carry them)."""
    sampled_params = dict(sampled_params)
    lstm_hidden_size = sampled_params.pop("lstm_hidden_size", None)
    hyperparams = convert_reinforce_params(sampled_params)
    if lstm_hidden_size is not None:
        hyperparams["policy_kwargs"] = {**hyperparams.get("policy_kwargs", {}), "lstm_hidden_size": lstm_hidden_size}
    hyperparams["carry_episodes"] = False
    hyperparams["bootstrap_truncated"] = False
    return hyperparams


def sample_reinforce_lstm_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """:func:`sample_reinforce_params`, plus the LSTM's size (same signature as rl-zoo3's samplers)."""
    sample_reinforce_params(trial, n_actions, n_envs, additional_args)
    trial.suggest_categorical("lstm_hidden_size", [16, 32, 64, 128, 256])
    return convert_reinforce_lstm_params(dict(trial.params))


def _run_train() -> None:
    from rl_zoo3.train import train

    args, heartbeat_interval = split_heartbeat_interval(sys.argv[1:])
    args, retry_seconds = split_storage_retry_seconds(args)
    sys.argv[1:] = args
    try:
        with database_storages(heartbeat_interval, retry_seconds), trial_zero_loaded():
            train()
    except Exception as e:
        given_up = storage_given_up(e)
        if given_up is None:
            raise
        # one line: the storage and what to do; a trial left running is run again by the next worker (heartbeat)
        raise SystemExit(str(given_up)) from None


def _run_enjoy() -> None:
    from rl_zoo3.enjoy import enjoy

    enjoy()


def _run_record_video() -> None:
    # rl-zoo3's record_video is a script (its code sits under ``if __name__ == "__main__"``)
    runpy.run_module("rl_zoo3.record_video", run_name="__main__", alter_sys=True)


def _run_record_training() -> None:
    # rl-zoo3's record_training is a script, like record_video
    with registered_record_video(), ffmpeg_on_path():
        runpy.run_module("rl_zoo3.record_training", run_name="__main__", alter_sys=True)


def _run_plot_train() -> None:
    from rl_zoo3.plots import plot_train

    plot_train()


def _run_plot_from_file() -> None:
    from rl_zoo3.plots import plot_from_file

    plot_from_file()


def _run_all_plots() -> None:
    from rl_zoo3.plots import all_plots

    all_plots()


SCRIPTS: dict[str, Callable[[], None]] = {
    "train": _run_train,
    "enjoy": _run_enjoy,
    "record_video": _run_record_video,
    "record_training": _run_record_training,
    "plot_train": _run_plot_train,
    "plot_from_file": _run_plot_from_file,
    "all_plots": _run_all_plots,
}


def with_default_config(args: Sequence[str]) -> list[str]:
    """
    Arguments of ``train`` with ``--conf-file`` added, this package's file of the algorithm (:data:`HYPERPARAMS_PATHS`),
    when the algorithm is ``reinforce`` or ``reinforce_lstm`` and no ``-conf``/``--conf-file`` was given (rl-zoo3
    would look for ``hyperparams/<algo>.yml`` in its own package).
    """
    # parsed the way rl-zoo3's parser will parse them (same option names, prefixes allowed)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("-conf", "--conf-file", default=None)
    known, _ = parser.parse_known_args(args)
    if known.algo in HYPERPARAMS_PATHS and known.conf_file is None:
        return [*args, "--conf-file", str(HYPERPARAMS_PATHS[known.algo])]
    return list(args)


def main(argv: Sequence[str] | None = None) -> None:
    """
    ``sb3-reinforce-zoo <script> [args...]``: register REINFORCE, then run rl-zoo3's ``script`` with ``args``.

    :param argv: Command line without the program name (``sys.argv[1:]`` by default)
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: sb3-reinforce-zoo {{{','.join(SCRIPTS)}}} [rl-zoo3 arguments ...]"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        print("Runs rl-zoo3's script with the 'reinforce' algorithm registered; '<script> -h' lists its arguments.")
        print(
            f"train also takes --heartbeat-interval SECONDS (default {HEARTBEAT_INTERVAL}; 0: off): the heartbeat of "
            "the trials in a --storage database, by which a killed worker's trial is marked failed and run again;"
        )
        print(
            f"and --storage-retry-seconds SECONDS (default {STORAGE_RETRY_SECONDS}): how long a --storage database "
            "that stopped answering is retried before train stops (run the same command again to resume)."
        )
        return
    script, args = argv[0], argv[1:]
    if script not in SCRIPTS:
        raise SystemExit(f"{usage}\nunknown script {script!r}")

    register()
    if script == "train":
        args = with_default_config(args)
    # rl-zoo3's scripts parse sys.argv themselves
    sys.argv = [f"sb3-reinforce-zoo {script}", *args]
    SCRIPTS[script]()


if __name__ == "__main__":
    main()
