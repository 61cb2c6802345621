"""How REINFORCE solves CartPole-v1: wall-clock time against the zoo presets, and steps-to-solve over seeds.

Solved means the mean return of the last 25 training episodes reaches 475.

``time``: ``REINFORCE("MlpPolicy", "CartPole-v1").learn()`` as a newcomer writes it (the library defaults, 1 env),
REINFORCE with its rl-zoo3 preset (``hyperparams/reinforce.yml``), and SB3's PPO and A2C with rl-zoo3's own presets.
Each run trains until solved (or ``--budget`` env steps) and reports the wall-clock seconds since ``learn()``
started; the env and model are built before the clock starts. The runs are interleaved in one process (seed 0 of
every run, then seed 1, ...) so that the machine's load hits them alike, and torch uses one thread.

    python -m scripts.benchmarks.solve_cartpole time                          # seeds 0 1 2, the four runs
    python -m scripts.benchmarks.solve_cartpole time --seeds 0 --budget 20000   # a quick check

``seeds``: one REINFORCE configuration (``--kwargs``) over seeds, in parallel workers: steps-to-solve, whether
the run is still solved at its end (the last 25 training episodes average >= 475), a deterministic evaluation,
the share of env steps no update used, steps per second and the value baseline's explained variance.

    python -m scripts.benchmarks.solve_cartpole seeds --seeds 0 1 2 3 4                     # library defaults
    python -m scripts.benchmarks.solve_cartpole seeds --seeds 0 1 2 --kwargs '{"n_episodes": 4}' --timesteps 100000
    python -m scripts.benchmarks.solve_cartpole seeds --calls 10   # 10 x learn(10_000, reset_num_timesteps=False)
"""

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from scripts.common import SOLVED, EpisodeRecorder, ExplainedVariance, steps_to_solve

THRESHOLD = SOLVED["CartPole-v1"]
RUNS = ("reinforce-defaults", "reinforce-zoo", "ppo-zoo", "a2c-zoo")


class StopWhenSolved(EpisodeRecorder):
    """Stop training when the mean return of the last WINDOW training episodes reaches THRESHOLD; time it."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()
        self.seconds: float | None = None
        self.steps: int | None = None

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        super()._on_step()
        if self.running_mean() >= THRESHOLD:
            self.seconds = time.perf_counter() - self.start
            self.steps = self.num_timesteps
            return False
        return True


class UsedSteps(BaseCallback):
    """Count the env steps the updates used (every other step was dropped, or is still carried at the end)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.steps += self.model.rollout_buffer.n_used_steps


# ---------------------------------------------------------------------------------------------------------------
# time: the wall-clock race against the zoo presets


def build(run: str, seed: int, folder: str) -> Any:
    """The model of a run, ready to learn (built before the clock starts)."""
    if run == "reinforce-defaults":
        from sb3_reinforce import REINFORCE

        return REINFORCE("MlpPolicy", "CartPole-v1", seed=seed)
    import rl_zoo3
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_reinforce.zoo import HYPERPARAMS_PATH, register

    register()
    algo = run.split("-")[0]
    config = HYPERPARAMS_PATH if algo == "reinforce" else Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"
    manager = ExperimentManager(
        argparse.Namespace(),
        algo,
        "CartPole-v1",
        folder,
        seed=seed,
        eval_freq=-1,
        log_interval=-1,
        verbose=0,
        device="cpu",
        config=str(config),
    )
    results = manager.setup_experiment()
    assert results is not None
    return results[0]


def time_runs(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    results: dict[str, list[tuple[float | None, int | None]]] = {run: [] for run in args.runs}
    for seed in args.seeds:
        for run in args.runs:
            model = build(run, seed, args.folder)
            timer = StopWhenSolved()
            model.learn(args.budget, callback=timer)
            model.get_env().close()
            results[run].append((timer.seconds, timer.steps))
            shown = f"{timer.seconds:.1f} s, {timer.steps:,} steps" if timer.seconds is not None else "not solved"
            print(f"seed {seed} {run}: {shown}", flush=True)

    seeds = " ".join(map(str, args.seeds))
    print(f"\npython -m scripts.benchmarks.solve_cartpole time --seeds {seeds} --budget {args.budget}\n")
    print("| run | solved | median seconds | seconds per seed | env steps per seed |")
    print("|---|---:|---:|---|---|")
    for run, runs in results.items():
        seconds = [s for s, _ in runs if s is not None]
        median = f"{np.median(seconds):.1f}" if len(seconds) == len(runs) else "-"
        per_seed = ", ".join(f"{s:.1f}" if s is not None else "not solved" for s, _ in runs)
        steps = ", ".join(f"{n:,}" if n is not None else "-" for _, n in runs)
        print(f"| {run} | {len(seconds)}/{len(runs)} | {median} | {per_seed} | {steps} |")


# ---------------------------------------------------------------------------------------------------------------
# seeds: one configuration over seeds


def seed_run(seed: int, timesteps: int, n_envs: int, kwargs: dict[str, Any], calls: int = 1) -> dict[str, Any]:
    """One seed of a REINFORCE configuration, in a worker process."""
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.utils import LinearSchedule

    from sb3_reinforce import REINFORCE, StepsLinearSchedule

    torch.set_num_threads(1)
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), str) and kwargs["learning_rate"].startswith("lin_"):
        # "lin_X": linear decay from X to 0 over the run, as in rl-zoo3's YAML files
        kwargs["learning_rate"] = LinearSchedule(float(kwargs["learning_rate"][4:]), 0.0, 1.0)
    elif isinstance(kwargs.get("learning_rate"), dict):
        # {"initial": X, "final": Y, "decay_steps": N}: a StepsLinearSchedule (decay over the model's env steps)
        kwargs["learning_rate"] = StepsLinearSchedule(**kwargs["learning_rate"])
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed)
    model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
    recorder = EpisodeRecorder()
    used_steps = UsedSteps()
    explained = ExplainedVariance()
    start = time.perf_counter()
    for _ in range(calls):
        # calls > 1: training in a loop, each call continuing the last (SB3's reset_num_timesteps=False)
        model.learn(timesteps // calls, callback=[recorder, used_steps, explained], reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    eval_mean, _ = evaluate_policy(model, make_vec_env("CartPole-v1", seed=seed + 1000), 10, deterministic=True)
    return {
        "seed": seed,
        "steps_to_solve": steps_to_solve(recorder.episodes, THRESHOLD),
        "final_mean_25": recorder.running_mean(),
        "eval_mean": float(eval_mean),
        "steps": model.num_timesteps,
        "steps_per_s": model.num_timesteps / elapsed,
        "unused_fraction": 1 - used_steps.steps / model.num_timesteps,
        # mean over the second half of the updates (None without a value baseline)
        "explained_variance": explained.second_half_mean(),
    }


def seed_runs(args: argparse.Namespace) -> None:
    with mp.get_context("spawn").Pool(args.workers) as pool:
        jobs = [(seed, args.timesteps, args.n_envs, args.kwargs, args.calls) for seed in args.seeds]
        results = pool.starmap(seed_run, jobs)
    print(f"kwargs={json.dumps(args.kwargs)} n_envs={args.n_envs} timesteps={args.timesteps} learn() calls={args.calls}")
    print(
        "| seed | steps-to-solve | last-25 mean | eval mean (10 ep, det.) | unused steps | steps/s "
        "| V's explained variance (2nd half) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ev = "-" if r["explained_variance"] is None else f"{r['explained_variance']:.2f}"
        print(
            f"| {r['seed']} | {r['steps_to_solve'] or 'not solved'} | {r['final_mean_25']:.1f} "
            f"| {r['eval_mean']:.1f} | {100 * r['unused_fraction']:.1f} % | {r['steps_per_s']:.0f} | {ev} |"
        )
    solved = [r["steps_to_solve"] for r in results if r["steps_to_solve"] is not None]
    still = sum(r["final_mean_25"] >= THRESHOLD for r in results)
    median = int(np.median(solved)) if solved else None
    evs = [r["explained_variance"] for r in results if r["explained_variance"] is not None]
    print(
        f"solved {len(solved)}/{len(results)}, still solved at the end {still}/{len(results)}, median steps-to-solve {median}"
        + (f", mean explained variance {np.mean(evs):.2f}" if evs else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    race = commands.add_parser("time", help="wall-clock time to solve: REINFORCE's defaults against the zoo presets")
    race.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    race.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    race.add_argument("--budget", type=int, default=300_000, help="most env steps per run")
    race.add_argument("--folder", default="/tmp/time_to_solve", help="rl-zoo3's log folder for the preset runs")
    race.set_defaults(main=time_runs)

    seeds = commands.add_parser("seeds", help="steps-to-solve and stability of one REINFORCE configuration over seeds")
    seeds.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    seeds.add_argument("--timesteps", type=int, default=100_000)
    seeds.add_argument("--n-envs", type=int, default=1)
    seeds.add_argument(
        "--kwargs",
        type=json.loads,
        default={},
        help='REINFORCE arguments as JSON; "learning_rate": "lin_X" decays X to 0 over each learn() call, '
        '{"initial": X, "final": Y, "decay_steps": N} is a StepsLinearSchedule',
    )
    seeds.add_argument("--calls", type=int, default=1, help="split the budget over this many learn() calls")
    seeds.add_argument("--workers", type=int, default=2)
    seeds.set_defaults(main=seed_runs)
    args = parser.parse_args()
    args.main(args)


if __name__ == "__main__":
    main()
