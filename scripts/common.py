"""Shared pieces of the scripts (the studies, solve_cartpole and zoo_benchmark): episode recording, steps-to-solve,
training runs, caching, tables."""

import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

# The repository: run records store their zoo logs' paths relative to it (zoo_benchmark writes, why_behind reads)
REPO_ROOT = Path(__file__).resolve().parent.parent

# Mean of the last WINDOW training episodes that counts as solved (gymnasium's reward_threshold for Acrobot)
SOLVED = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "LunarLander-v3": 200.0}
WINDOW = 25


class EpisodeRecorder(BaseCallback):
    """Record (env steps so far, undiscounted return) of every finished training episode."""

    def __init__(self) -> None:
        super().__init__()
        self.episodes: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.append((self.num_timesteps, float(info["episode"]["r"])))
        return True

    def running_mean(self) -> float:
        """Mean return of the last WINDOW episodes (NaN before WINDOW episodes)."""
        if len(self.episodes) < WINDOW:
            return float("nan")
        return float(np.mean([r for _, r in self.episodes[-WINDOW:]]))


class ExplainedVariance(BaseCallback):
    """Explained variance of each batch's returns by the value baseline V as the batch's advantages used it."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.model.rollout_buffer.has_values:
            self.values.append(float(self.model.rollout_buffer.explained_variance))

    def second_half_mean(self) -> float | None:
        """Mean over the second half of the updates (None without a value baseline)."""
        return float(np.mean(self.values[len(self.values) // 2 :])) if self.values else None


def steps_to_solve(episodes: Sequence[Sequence[float]], threshold: float) -> int | None:
    """Env steps at which the mean return of the last WINDOW training episodes first reaches ``threshold``."""
    returns = np.array([r for _, r in episodes])
    for i in range(WINDOW, len(returns) + 1):
        if returns[i - WINDOW : i].mean() >= threshold:
            return int(episodes[i - 1][0])
    return None


def train_run(env_id: str, seed: int, timesteps: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    Train REINFORCE (MlpPolicy, 1 env) and return its training episodes, steps-to-solve and final return (mean of
    the last WINDOW training episodes). A run whose loss or gradient becomes non-finite stops there and is
    marked ``"nan": true``.
    """
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_reinforce import REINFORCE

    torch.set_num_threads(1)
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
    recorder = EpisodeRecorder()
    explained = ExplainedVariance()
    nan = False
    try:
        model.learn(timesteps, callback=[recorder, explained])
    except ValueError as error:  # REINFORCE raises on a non-finite loss or gradient, before changing anything
        if "not finite" not in str(error) and "non-finite" not in str(error):
            raise
        nan = True
    episodes = recorder.episodes
    returns = [r for _, r in episodes]
    return {
        "env_id": env_id,
        "seed": seed,
        "timesteps": timesteps,
        "kwargs": kwargs,
        "episodes": episodes,
        "steps_to_solve": steps_to_solve(episodes, SOLVED[env_id]),
        "final_return": float(np.mean(returns[-WINDOW:])) if returns else float("nan"),
        "best_running_mean": max(
            (float(np.mean(returns[i - WINDOW : i])) for i in range(WINDOW, len(returns) + 1)), default=float("nan")
        ),
        "nan": nan,
        "num_timesteps": model.num_timesteps,
        "explained_variance": explained.second_half_mean(),
    }


def run_variants(
    steps: dict[str, int],
    variants: dict[str, dict[str, Any]],
    base: dict[str, Any],
    slugs: dict[str, str],
    n_seeds: int,
    cache: Path,
    workers: int = 2,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """
    :func:`train_run` every variant (``base`` updated with it) on every env for ``steps[env]`` env steps and seeds
    ``0 .. n_seeds - 1``, seed-major (an interrupted study has every variant on its first seeds), cached by
    :func:`run_cached` as ``<env>_<slug>_t<steps>_s<seed>``.

    :return: the runs by env, then by variant name, in seed order
    """
    jobs = {}
    for seed in range(n_seeds):
        for env_id, timesteps in steps.items():
            for name, variant in variants.items():
                key = f"{env_id}_{slugs[name]}_t{timesteps}_s{seed}"
                jobs[key] = (train_run, (env_id, seed, timesteps, {**base, **variant}))
    done = run_cached(jobs, cache, workers=workers)
    return {
        env_id: {name: [done[f"{env_id}_{slugs[name]}_t{timesteps}_s{seed}"] for seed in range(n_seeds)] for name in variants}
        for env_id, timesteps in steps.items()
    }


def load_final_model(algo: str, env_id: str, save_path: str | Path, n_envs: int, seed: int) -> tuple[Any, Any]:
    """
    The final model an rl-zoo3 run saved in ``save_path``, and a test env of ``n_envs`` envs seeded with ``seed``,
    loaded as rl-zoo3's ``enjoy`` loads them: the run's saved config and VecNormalize statistics.
    """
    from huggingface_sb3 import EnvironmentName
    from rl_zoo3.utils import ALGOS, create_test_env, get_saved_hyperparams

    from sb3_reinforce.zoo import register

    register()
    name = str(EnvironmentName(env_id))  # the zoo's file names: "ALE-Pong-v5" for "ALE/Pong-v5"
    hyperparams, stats_path = get_saved_hyperparams(str(Path(save_path) / name))
    env = create_test_env(
        env_id, n_envs=n_envs, stats_path=stats_path, seed=seed, hyperparams=hyperparams, should_render=False
    )
    model = ALGOS[algo].load(str(Path(save_path) / f"{name}.zip"), env=env, device="cpu")
    return model, env


def _call(job: tuple[Path, Callable[..., dict[str, Any]], tuple]) -> tuple[Path, dict[str, Any], float]:
    path, function, args = job
    start = time.time()
    result = function(*args)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)  # atomic: an interrupted study never leaves half a file
    return path, result, time.time() - start


def run_cached(
    jobs: dict[str, tuple[Callable[..., dict[str, Any]], tuple]], cache: Path, workers: int = 2
) -> dict[str, dict[str, Any]]:
    """
    Run ``function(*args)`` for every ``name: (function, args)`` whose result ``cache/name.json`` does not exist
    yet, ``workers`` at a time, printing progress; return every result by name. A finished run is never rerun.
    """
    results = {}
    todo = []
    for name, (function, args) in jobs.items():
        path = cache / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
        else:
            todo.append((path, function, args))
    print(f"{len(results)} of {len(jobs)} runs cached in {cache}, {len(todo)} to run on {workers} worker(s)", flush=True)
    start = time.time()
    if todo:
        with mp.get_context("fork").Pool(workers) as pool:
            for done, (path, result, seconds) in enumerate(pool.imap_unordered(_call, todo), 1):
                results[path.stem] = result
                summary = ", ".join(f"{k}={_fmt(v)}" for k, v in result.items() if k in _SUMMARY_KEYS)
                print(
                    f"[{done}/{len(todo)}] {path.stem} in {seconds:.0f} s ({summary}); {time.time() - start:.0f} s elapsed",
                    flush=True,
                )
    return {name: results[name] for name in jobs}


_SUMMARY_KEYS = ("steps_to_solve", "final_return", "nan", "mean_episode_return")


def _fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def learning_curve(episodes: Sequence[Sequence[float]], grid: np.ndarray) -> np.ndarray:
    """Running mean of the last WINDOW episode returns, as a step function of env steps, on ``grid`` (NaN before)."""
    if len(episodes) == 0:
        return np.full(len(grid), np.nan)
    steps = np.array([s for s, _ in episodes], dtype=float)
    returns = np.array([r for _, r in episodes], dtype=float)
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    index = np.arange(1, len(returns) + 1)
    first = np.maximum(index - WINDOW, 0)
    running = (cumulative[index] - cumulative[first]) / (index - first)
    position = np.searchsorted(steps, grid, side="right") - 1  # last episode finished by each grid step
    return np.where(position >= 0, running[np.clip(position, 0, None)], np.nan)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def mean_std(values: Sequence[float], digits: int = 0) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    return f"{np.mean(values):.{digits}f} +/- {np.std(values):.{digits}f}"
