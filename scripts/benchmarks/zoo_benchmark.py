"""
Benchmark REINFORCE against SB3's A2C and PPO through rl-zoo3, with each algorithm's zoo hyperparameters.

Every run goes through rl-zoo3's ``ExperimentManager`` (the code behind ``python -m sb3_reinforce.zoo train``):
``reinforce`` reads this package's ``hyperparams/reinforce.yml``, ``a2c`` and ``ppo`` rl-zoo3's own files. Each run
is a fresh process, with one torch thread, and is cached as JSON: an interrupted benchmark resumes where it stopped.
The JSON records go to ``--cache`` (default ``docs/benchmark/runs/``, committed: every table can be rewritten with
``--report-only`` on any machine, and a benchmark left unfinished on one machine resumes on another); the zoo's
logs and saved models go to ``--logs`` (default ``scripts/results/cache/``, not committed).

Per run it records every training episode (env steps so far, return), the wall-clock time of ``learn()`` and, at
the end, a deterministic evaluation of the final model on ``--eval-episodes`` episodes, loaded as ``enjoy`` loads it
(saved config and ``VecNormalize`` statistics). It writes ``benchmark.md`` (table) and one learning-curve PNG per env.

    python -m scripts.benchmarks.zoo_benchmark --envs CartPole-v1 --seeds 0 1 2 3 4
    python -m scripts.benchmarks.zoo_benchmark --envs CartPole-v1 Acrobot-v1 --seeds 0 1 2 --n-timesteps Acrobot-v1=200000
"""

import argparse
import json
import multiprocessing as mp
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scripts.common import REPO_ROOT, WINDOW, EpisodeRecorder, load_final_model, steps_to_solve


def run_one(
    algo: str,
    env_id: str,
    seed: int,
    n_timesteps: int,
    eval_episodes: int,
    log_folder: str,
    hyperparams: dict[str, Any],
    config: str | None = None,
) -> dict[str, Any]:
    """
    Train one agent through rl-zoo3's ExperimentManager and evaluate its final model (runs in a fresh process).
    ``config``: the YAML file of hyperparameters (default: this package's for reinforce, rl-zoo3's own for the others).
    """
    import torch as th
    from rl_zoo3.exp_manager import ExperimentManager
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.utils import set_random_seed

    from sb3_reinforce.zoo import HYPERPARAMS_PATHS, register

    register()
    th.set_num_threads(1)
    set_random_seed(seed)
    args = argparse.Namespace(algo=algo, env=env_id, seed=seed, n_timesteps=n_timesteps, env_kwargs=None)
    manager = ExperimentManager(
        args,
        algo,
        env_id,
        log_folder,
        n_timesteps=n_timesteps,
        eval_freq=-1,  # the final model is evaluated below
        seed=seed,
        log_interval=-2,  # no stdout logging
        hyperparams=dict(hyperparams) or None,
        verbose=0,
        device="cpu",
        config=config or (str(HYPERPARAMS_PATHS[algo]) if algo in HYPERPARAMS_PATHS else None),
    )
    results = manager.setup_experiment()
    assert results is not None
    model, saved_hyperparams = results
    recorder = EpisodeRecorder()
    manager.callbacks.append(recorder)
    start = time.perf_counter()
    manager.learn(model)
    elapsed = time.perf_counter() - start
    manager.save_trained_model(model)

    loaded, eval_env = load_final_model(algo, env_id, manager.save_path, n_envs=1, seed=seed + 1000)
    rewards, _ = evaluate_policy(
        loaded, eval_env, n_eval_episodes=eval_episodes, deterministic=True, return_episode_rewards=True
    )
    # the policy REINFORCE optimises is the stochastic one: report it too (zoo's `enjoy --stochastic`)
    stochastic_rewards, _ = evaluate_policy(
        loaded, eval_env, n_eval_episodes=eval_episodes, deterministic=False, return_episode_rewards=True
    )
    eval_env.close()
    return {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "n_timesteps": manager.n_timesteps,
        "num_timesteps": model.num_timesteps,
        "n_envs": manager.n_envs,
        "train_seconds": elapsed,
        "steps_per_s": model.num_timesteps / elapsed,
        "eval_rewards": [float(r) for r in rewards],
        "stochastic_eval_rewards": [float(r) for r in stochastic_rewards],
        "episodes": recorder.episodes,
        "hyperparams": {key: str(value) for key, value in saved_hyperparams.items()},
        "log_path": _relative(Path(manager.save_path).resolve()),
    }


def cache_file(cache: Path, algo: str, env_id: str, seed: int, n_timesteps: int, hyperparams: dict[str, Any]) -> Path:
    budget = "zoo" if n_timesteps <= 0 else str(n_timesteps)
    overrides = "".join(f"_{key}={value}" for key, value in sorted(hyperparams.items()))
    return cache / env_id / f"{algo}_seed{seed}_n{budget}{overrides}.json"


def smoothed_curve(episodes: list[tuple[int, float]], grid: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Mean return of the last ``window`` training episodes, as a function of env steps, sampled on ``grid``."""
    steps = np.array([s for s, _ in episodes], dtype=float)
    returns = np.array([r for _, r in episodes], dtype=float)
    kernel = np.ones(window) / window
    if len(returns) < window:
        return np.full(len(grid), np.nan)
    rolling = np.convolve(returns, kernel, mode="valid")
    steps = steps[window - 1 :]
    curve = np.interp(grid, steps, rolling, left=np.nan, right=np.nan)
    curve[grid > steps[-1]] = rolling[-1]
    return curve


def plot_env(env_id: str, runs: dict[str, list[dict[str, Any]]], threshold: float | None, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    any_curve = False
    for algo, algo_runs in runs.items():
        max_steps = max(run["num_timesteps"] for run in algo_runs)
        grid = np.linspace(0, max_steps, 300)
        curves = np.array([smoothed_curve(run["episodes"], grid) for run in algo_runs])
        any_curve |= bool(np.isfinite(curves).any())
        mean = np.nanmean(curves, axis=0) if np.isfinite(curves).any() else np.full(len(grid), np.nan)
        ax.plot(grid, mean, label=f"{algo} ({len(algo_runs)} seeds)")
        ax.fill_between(grid, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
    if any_curve:  # a run too short for one window of episodes has no curve to scale
        ax.set_xscale("log")
    ax.set_xlabel("Env steps (log scale)")
    ax.set_ylabel(f"Training return (mean of last {WINDOW} episodes)")
    ax.set_title(f"{env_id}: mean over seeds, shaded min-max")
    ax.legend()
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)


def write_report(
    results: list[dict[str, Any]],
    output: Path,
    plots: dict[str, Path],
    command: str,
    overrides: dict[str, Any],
    reinforce_overrides: dict[str, Any] | None = None,
) -> str:
    import gymnasium as gym

    algos = list(dict.fromkeys(r["algo"] for r in results))
    lines = [
        f"# Benchmark: {' vs '.join(algos)} (rl-zoo3 hyperparameters)",
        "",
        f"Written by `{command}`. Every run trains through rl-zoo3's `ExperimentManager` with the algorithm's zoo",
        "hyperparameters (`hyperparams/<algo>.yml` of this package for reinforce and reinforce_lstm, rl-zoo3's own",
        "files for the others), on CPU with one torch thread.",
        "",
        *([f"Hyperparameters overridden for every algo: `{overrides}`.", ""] if overrides else []),
        *([f"Hyperparameters overridden for reinforce only: `{reinforce_overrides}`.", ""] if reinforce_overrides else []),
        "- **Final eval**: mean +/- std over seeds of each seed's mean return over the deterministic evaluation",
        "  episodes of its final model (loaded as `enjoy` loads it).",
        f"- **Steps-to-solve**: env steps when the mean return of the last {WINDOW} training episodes first reaches the",
        "  env's reward threshold (median over the seeds that reach it); **still solved**: seeds whose last"
        f" {WINDOW} training",
        "  episodes average at least the threshold. Env steps include REINFORCE's unused steps.",
        "- **Steps/s**: env steps of training divided by the wall-clock time of `learn()` (median over seeds), measured",
        "  on a shared 2-core machine while other jobs ran: compare within a table, not across machines.",
        "",
        "- **Stochastic eval**: the same with actions sampled from the policy (rl-zoo3's `enjoy --stochastic`): the",
        "  policy REINFORCE optimises; `-` for runs cached before it was recorded.",
        "",
        "| Env | Algo | Final eval | Stochastic eval | Timesteps | Seeds | n_envs | Steps-to-solve | Still solved | Steps/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id in dict.fromkeys(r["env"] for r in results):
        threshold = gym.spec(env_id).reward_threshold
        for algo in dict.fromkeys(r["algo"] for r in results if r["env"] == env_id):
            runs = [r for r in results if r["env"] == env_id and r["algo"] == algo]
            seed_means = np.array([np.mean(r["eval_rewards"]) for r in runs])
            n_eval = len(runs[0]["eval_rewards"])
            solve = "-"
            still = "-"
            if threshold is not None:
                solved = [s for s in (steps_to_solve(r["episodes"], threshold) for r in runs) if s is not None]
                solve = f"{int(np.median(solved)):,} ({len(solved)}/{len(runs)})" if solved else f"never (0/{len(runs)})"
                n_still = sum(np.mean([ret for _, ret in r["episodes"][-WINDOW:]]) >= threshold for r in runs)
                still = f"{n_still}/{len(runs)}"
            stochastic = "-"
            if all("stochastic_eval_rewards" in r for r in runs):
                stochastic_means = np.array([np.mean(r["stochastic_eval_rewards"]) for r in runs])
                stochastic = f"{stochastic_means.mean():.1f} +/- {stochastic_means.std():.1f}"
            lines.append(
                f"| {env_id} | {algo} | {seed_means.mean():.1f} +/- {seed_means.std():.1f} ({n_eval} ep.) | {stochastic} "
                f"| {runs[0]['n_timesteps']:,} | {len(runs)} | {runs[0]['n_envs']} | {solve} | {still} "
                f"| {np.median([r['steps_per_s'] for r in runs]):,.0f} |"
            )
    for env_id in dict.fromkeys(r["env"] for r in results):
        env_runs = {algo: [r for r in results if r["env"] == env_id and r["algo"] == algo] for algo in ("reinforce", "a2c")}
        if all(env_runs.values()):
            speed = {algo: np.median([r["steps_per_s"] for r in runs]) for algo, runs in env_runs.items()}
            n_envs = {algo: runs[0]["n_envs"] for algo, runs in env_runs.items()}
            lines.append(
                f"\n{env_id}: REINFORCE trains at {speed['reinforce'] / speed['a2c']:.2f}x A2C's env steps per second "
                f"(median steps/s; n_envs: REINFORCE {n_envs['reinforce']}, A2C {n_envs['a2c']})."
            )
    lines += ["", "Per seed (final eval mean, stochastic eval mean, steps-to-solve, steps/s):", ""]
    for r in results:
        threshold = gym.spec(r["env"]).reward_threshold
        solve = steps_to_solve(r["episodes"], threshold) if threshold is not None else None
        stochastic = f"{np.mean(r['stochastic_eval_rewards']):.1f}" if "stochastic_eval_rewards" in r else "-"
        lines.append(
            f"- {r['env']} {r['algo']} seed {r['seed']}: {np.mean(r['eval_rewards']):.1f}, {stochastic}, "
            f"{'not solved' if solve is None else f'{solve:,}'}, {r['steps_per_s']:,.0f}"
        )
    lines += ["", "## Learning curves", ""]
    for env_id, path in plots.items():
        lines.append(f"![{env_id}]({Path(os.path.relpath(path, output.parent)).as_posix()})")
        lines.append("")
    lines += ["## How to replicate", "", "```bash", "pip install -e '.[zoo,box2d]'", command, "```", ""]
    text = "\n".join(lines)
    output.write_text(text)
    return text


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    parser.add_argument("--algos", nargs="+", default=["reinforce", "a2c", "ppo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "-n",
        "--n-timesteps",
        nargs="*",
        default=[],
        metavar="ENV=N",
        help="Same budget of N env steps for every algo on ENV (default: each zoo's own n_timesteps)",
    )
    parser.add_argument(
        "-params",
        "--hyperparams",
        nargs="*",
        default=[],
        metavar="KEY:VALUE",
        help="Hyperparameters overridden for every algo, as rl-zoo3's -params (e.g. n_envs:8)",
    )
    parser.add_argument(
        "--reinforce-hyperparams",
        nargs="*",
        default=[],
        metavar="KEY:VALUE",
        help="Hyperparameters overridden for reinforce only (e.g. a candidate preset against the zoo's A2C and PPO)",
    )
    parser.add_argument(
        "--zoo-presets",
        nargs="*",
        default=[],
        metavar="ENV=ZOO_ENV",
        help="For the algos other than reinforce on ENV, use rl-zoo3's preset for ZOO_ENV (e.g. HalfCheetah-v5="
        "HalfCheetah-v4: rl-zoo3 has presets for the -v4 MuJoCo envs only)",
    )
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="Runs in parallel (one process each)")
    parser.add_argument(
        "--cache", type=Path, default=REPO_ROOT / "docs" / "benchmark" / "runs", help="JSON record of each finished run"
    )
    parser.add_argument(
        "--logs", type=Path, default=REPO_ROOT / "scripts" / "results" / "cache", help="zoo logs and saved models"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "benchmark.md")
    parser.add_argument("--plots", type=Path, default=REPO_ROOT / "docs" / "benchmark")
    parser.add_argument("--report-only", action="store_true", help="Write the report from the cached runs only")
    args = parser.parse_args()
    args.output, args.plots = args.output.resolve(), args.plots.resolve()
    budgets = {env_id: int(float(n)) for env_id, n in (item.split("=") for item in args.n_timesteps)}
    overrides = {key: yaml.safe_load(value) for key, value in (item.split(":", 1) for item in args.hyperparams)}
    reinforce_overrides = {
        key: yaml.safe_load(value) for key, value in (item.split(":", 1) for item in args.reinforce_hyperparams)
    }

    def job_overrides(algo: str) -> dict[str, Any]:
        return {**overrides, **reinforce_overrides} if algo.startswith("reinforce") else overrides

    zoo_presets = dict(item.split("=", 1) for item in args.zoo_presets)

    def job_config(algo: str, env_id: str) -> str | None:
        """A YAML file giving ENV rl-zoo3's preset of ZOO_ENV (--zoo-presets), or None for the usual file."""
        if algo.startswith("reinforce") or env_id not in zoo_presets:
            return None
        from rl_zoo3 import __file__ as zoo_init

        with open(Path(zoo_init).parent / "hyperparams" / f"{algo}.yml") as file:
            preset = yaml.safe_load(file)[zoo_presets[env_id]]
        path = args.logs / env_id / f"{algo}_preset_of_{zoo_presets[env_id]}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({env_id: preset}))
        return str(path)

    command = "python -m scripts.benchmarks.zoo_benchmark " + shlex.join(
        ["--envs", *args.envs, "--algos", *args.algos, "--seeds", *map(str, args.seeds)]
        + (["--n-timesteps", *args.n_timesteps] if args.n_timesteps else [])
        + (["--hyperparams", *args.hyperparams] if args.hyperparams else [])
        + (["--reinforce-hyperparams", *args.reinforce_hyperparams] if args.reinforce_hyperparams else [])
        + (["--zoo-presets", *args.zoo_presets] if args.zoo_presets else [])
        + (["--eval-episodes", str(args.eval_episodes)] if args.eval_episodes != 10 else [])
        + ([f"--output={_relative(args.output)}"] if args.output != REPO_ROOT / "benchmark.md" else [])
    )
    print(f"Replicate with: {command}")

    jobs = [(algo, env_id, seed) for env_id in args.envs for algo in args.algos for seed in args.seeds]
    todo = [job for job in jobs if not cache_file(args.cache, *job, budgets.get(job[1], -1), job_overrides(job[0])).is_file()]
    print(f"{len(jobs) - len(todo)} runs cached, {len(todo)} to run")
    if todo and not args.report_only:
        # spawn: every run starts from a fresh interpreter (no state shared between runs)
        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=1) as pool:
            pending = {}
            for algo, env_id, seed in todo:
                log_folder = str(args.logs / env_id / "logs" / f"seed{seed}")
                pending[(algo, env_id, seed)] = pool.apply_async(
                    run_one,
                    (
                        algo,
                        env_id,
                        seed,
                        budgets.get(env_id, -1),
                        args.eval_episodes,
                        log_folder,
                        job_overrides(algo),
                        job_config(algo, env_id),
                    ),
                )
            # records are written in the order the runs finish, so that a run that ends while an earlier one is
            # still going is kept if the benchmark is stopped then
            while pending:
                finished = [job for job, handle in pending.items() if handle.ready()]
                if not finished:
                    time.sleep(1.0)
                    continue
                algo, env_id, seed = finished[0]
                result = pending.pop(finished[0]).get()
                path = cache_file(args.cache, algo, env_id, seed, budgets.get(env_id, -1), job_overrides(algo))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(result))
                print(
                    f"{env_id} {algo} seed {seed}: eval {np.mean(result['eval_rewards']):.1f} "
                    f"(stochastic {np.mean(result['stochastic_eval_rewards']):.1f}), "
                    f"{result['steps_per_s']:.0f} steps/s ({result['train_seconds']:.0f} s)",
                    flush=True,
                )

    results = []
    for job in jobs:
        path = cache_file(args.cache, *job, budgets.get(job[1], -1), job_overrides(job[0]))
        if path.is_file():
            results.append(json.loads(path.read_text()))
    if not results:
        sys.exit("no finished runs")

    import gymnasium as gym
    import rl_zoo3.import_envs  # noqa: F401  (rl-zoo3's envs, e.g. CartPoleNoVel-v1: their reward thresholds)

    plots = {}
    for env_id in dict.fromkeys(r["env"] for r in results):
        runs = {algo: [r for r in results if r["env"] == env_id and r["algo"] == algo] for algo in args.algos}
        runs = {algo: algo_runs for algo, algo_runs in runs.items() if algo_runs}
        plots[env_id] = args.plots / f"{args.output.stem}_{env_id}.png"
        plot_env(env_id, runs, gym.spec(env_id).reward_threshold, plots[env_id])
    print(write_report(results, args.output, plots, command, overrides, reinforce_overrides))


if __name__ == "__main__":
    main()
