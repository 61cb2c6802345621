"""Measure how REINFORCE solves CartPole-v1: steps-to-solve and stability over seeds.

Steps-to-solve is the number of env steps when the mean return of the last 25 training episodes first reaches
475; "still solved" means the last 25 training episodes of the run average >= 475.

    python scripts/solve_cartpole.py --seeds 0 1 2 3 4                     # library defaults
    python scripts/solve_cartpole.py --seeds 0 1 2 --kwargs '{"n_episodes": 4}' --timesteps 100000
    python scripts/solve_cartpole.py --seeds 0 1 2 3 4 --calls 10   # 10 x learn(10_000, reset_num_timesteps=False)
"""

import argparse
import json
import multiprocessing as mp
import time
from typing import Any

import numpy as np
from _studies import WINDOW, EpisodeRecorder, ExplainedVariance, steps_to_solve
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule

SOLVED = 475.0


class UsedSteps(BaseCallback):
    """Count the env steps the updates used (every other step was dropped, or is still carried at the end)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.steps += self.model.rollout_buffer.n_used_steps


def run(seed: int, timesteps: int, n_envs: int, kwargs: dict[str, Any], calls: int = 1) -> dict[str, Any]:
    import torch

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
    final = float(np.mean([r for _, r in recorder.episodes[-WINDOW:]]))
    eval_mean, _ = evaluate_policy(model, make_vec_env("CartPole-v1", seed=seed + 1000), 10, deterministic=True)
    return {
        "seed": seed,
        "steps_to_solve": steps_to_solve(recorder.episodes, SOLVED),
        "final_mean_25": final,
        "eval_mean": float(eval_mean),
        "steps": model.num_timesteps,
        "steps_per_s": model.num_timesteps / elapsed,
        "unused_fraction": 1 - used_steps.steps / model.num_timesteps,
        # mean over the second half of the updates (None without a value baseline)
        "explained_variance": explained.second_half_mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--n-envs", type=int, default=1)
    parser.add_argument(
        "--kwargs",
        type=json.loads,
        default={},
        help='REINFORCE arguments as JSON; "learning_rate": "lin_X" decays X to 0 over each learn() call, '
        '{"initial": X, "final": Y, "decay_steps": N} is a StepsLinearSchedule',
    )
    parser.add_argument("--calls", type=int, default=1, help="split the budget over this many learn() calls")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = pool.starmap(run, [(seed, args.timesteps, args.n_envs, args.kwargs, args.calls) for seed in args.seeds])
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
    still = sum(r["final_mean_25"] >= SOLVED for r in results)
    median = int(np.median(solved)) if solved else None
    evs = [r["explained_variance"] for r in results if r["explained_variance"] is not None]
    print(
        f"solved {len(solved)}/{len(results)}, still solved at the end {still}/{len(results)}, median steps-to-solve {median}"
        + (f", mean explained variance {np.mean(evs):.2f}" if evs else "")
    )


if __name__ == "__main__":
    main()
