"""Training throughput against the env stack's own limit: REINFORCE, A2C and PPO side by side, interleaved.

    python -m scripts.speed.throughput                                   # CartPole-v1 (1 and 8 envs) and Pong (2 envs)
    python -m scripts.speed.throughput --settings cartpole-1 cartpole-8 --steps 30000 --repeats 3
    python -m scripts.speed.throughput --quick                           # a few thousand steps, to check the script
    python -m scripts.speed.throughput --settings pong-2 --algos random reinforce --pong-steps 60000

For every setting, "random" steps the same vectorised env stack with random actions and nothing else: the
ceiling any learner can reach on it. Each algorithm then trains for ``--steps`` env steps with its defaults
(REINFORCE on Pong: the Karpathy preset, ``pong_hyperparameters()``) and its steps per second is
``num_timesteps / wall-clock time of learn()``. Runs are interleaved (repeat 1 of every algorithm, then repeat 2,
...) so that the machine's load hits them alike; the table reports the median over repeats and its ratio to the
median random-action rate. torch uses one thread, as the env steps do.

Pong's envs run in subprocesses (``make_pong_env``): for them the script also reports the peak resident memory
(VmHWM) of each env worker, the main process's peak over the whole script, and the mean game score of the
random-action runs (the Monitor's games: the floor of the Pong learning curves).
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SETTINGS = ("cartpole-1", "cartpole-8", "pong-2")
ALGOS = ("random", "reinforce", "a2c", "ppo")


def make_env(setting: str, seed: int) -> Any:
    """The vectorised env of a setting: CartPole-v1 through make_vec_env, or Karpathy Pong in SubprocVecEnv."""
    if setting.startswith("cartpole"):
        from stable_baselines3.common.env_util import make_vec_env

        return make_vec_env("CartPole-v1", n_envs=int(setting.split("-")[1]), seed=seed)
    from sb3_reinforce.atari import make_pong_env

    return make_pong_env("PongNoFrameskip-v4", n_envs=int(setting.split("-")[1]), seed=seed)


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size (VmHWM) of a process in MiB, from /proc (Linux; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def workers_peak_mb(env: Any) -> float | None:
    """The largest peak resident memory of an env's worker processes (None without subprocesses)."""
    peaks = [peak_rss_mb(process.pid) for process in getattr(env, "processes", [])]
    peaks = [peak for peak in peaks if peak is not None]
    return max(peaks) if peaks else None


def random_steps_per_s(setting: str, steps: int, seed: int, measures: dict[str, list[float]]) -> float:
    env = make_env(setting, seed)
    env.reset()
    rng = np.random.default_rng(seed)
    space = env.action_space
    n_envs = env.num_envs
    actions: Callable[[], np.ndarray]
    if setting.startswith("pong"):
        actions = lambda: rng.integers(0, 2, size=(n_envs, *space.shape))  # noqa: E731  MultiBinary(1)
    else:
        actions = lambda: rng.integers(0, space.n, size=n_envs)  # noqa: E731
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        _, _, _, infos = env.step(actions())
        measures["returns"] += [float(info["episode"]["r"]) for info in infos if "episode" in info]
    elapsed = time.perf_counter() - start
    _record_peak(env, measures)
    env.close()
    return steps // n_envs * n_envs / elapsed


def _record_peak(env: Any, measures: dict[str, list[float]]) -> None:
    peak = workers_peak_mb(env)
    if peak is not None:
        measures["worker_peak_mb"].append(peak)


def train_steps_per_s(setting: str, algo: str, steps: int, seed: int, measures: dict[str, list[float]]) -> float:
    from stable_baselines3 import A2C, PPO

    from sb3_reinforce import REINFORCE
    from sb3_reinforce.atari import pong_hyperparameters

    env = make_env(setting, seed)
    kwargs: dict[str, Any] = {}
    if algo == "reinforce" and setting.startswith("pong"):
        kwargs = pong_hyperparameters()
    model_class = {"reinforce": REINFORCE, "a2c": A2C, "ppo": PPO}[algo]
    model = model_class("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
    start = time.perf_counter()
    model.learn(steps)
    elapsed = time.perf_counter() - start
    _record_peak(env, measures)
    env.close()
    return model.num_timesteps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    parser.add_argument("--steps", type=int, default=30_000, help="env steps per CartPole run")
    parser.add_argument("--pong-steps", type=int, default=20_000, help="env steps per Pong run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny runs (2,000 steps, 1 repeat), to test the script")
    parser.add_argument("--output", help="also write the results as JSON to this file")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.pong_steps, args.repeats = 2_000, 2_000, 1

    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rates: dict[tuple[str, str], list[float]] = {}
    measures: dict[tuple[str, str], dict[str, list[float]]] = {}
    for repeat in range(args.repeats):
        for setting in args.settings:
            steps = args.pong_steps if setting.startswith("pong") else args.steps
            for algo in args.algos:
                seed = args.seed + repeat
                run_measures = measures.setdefault((setting, algo), {"returns": [], "worker_peak_mb": []})
                if algo == "random":
                    rate = random_steps_per_s(setting, steps, seed, run_measures)
                else:
                    rate = train_steps_per_s(setting, algo, steps, seed, run_measures)
                rates.setdefault((setting, algo), []).append(rate)
                print(f"repeat {repeat} {setting} {algo}: {rate:,.0f} steps/s", flush=True)

    command = "python -m scripts.speed.throughput " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k not in ("quick", "output") and v is not None
    )
    print(f"\n{command}")
    print(f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before and {os.getloadavg()[0]:.2f} after\n")
    print("| setting | " + " | ".join(args.algos) + " |")
    print("|---|" + "---:|" * len(args.algos))
    results = []
    for setting in args.settings:
        limit = float(np.median(rates[(setting, "random")])) if "random" in args.algos else None
        cells = []
        for algo in args.algos:
            median = float(np.median(rates[(setting, algo)]))
            ratio = f" ({median / limit:.2f})" if limit and algo != "random" else ""
            cells.append(f"{median:,.0f}{ratio}")
            results.append({"setting": setting, "algo": algo, "steps_per_s": rates[(setting, algo)], "median": median})
        print(f"| {setting} | " + " | ".join(cells) + " |")
    print("\nsteps/s, median over repeats; in brackets: the ratio to the random-action rate (the env stack's limit)")
    for (setting, algo), run_measures in measures.items():
        if run_measures["worker_peak_mb"]:
            peak = max(run_measures["worker_peak_mb"])
            print(f"{setting} {algo}: env workers' peak resident memory {peak:.0f} MiB", end="")
            if algo == "random" and setting.startswith("pong") and run_measures["returns"]:
                returns = run_measures["returns"]
                print(f", random actions' mean game score {np.mean(returns):.2f} over {len(returns)} games", end="")
            print()
    main_peak = peak_rss_mb()
    if main_peak is not None:
        print(f"main process's peak resident memory over the script: {main_peak:.0f} MiB")
    if args.output:
        with open(args.output, "w") as file:
            json.dump({"command": command, "results": results}, file, indent=2)


if __name__ == "__main__":
    main()
