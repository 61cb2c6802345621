"""
Invalid-action masking: REINFORCE against sb3-contrib's MaskablePPO on sb3-contrib's invalid-action env.

The env is ``InvalidActionEnvDiscrete(dim=70, n_invalid_actions=55)``, the one of sb3-contrib's own masking test: the
observation names the correct action (reward 1, else 0), 100 steps per episode, and at every step 55 of the 70
actions are invalid (the correct one never is). Each algorithm trains with ``gamma=0.4`` (as in that test) for each
budget and seed, then plays 20 episodes with masks (sb3-contrib's maskable ``evaluate_policy``, deterministic). A
callback counts the invalid actions sent during training. Runs are cached as JSON in ``--cache`` (committed), so
``--report-only`` rewrites the table anywhere.

    python -m scripts.benchmarks.masking
    python -m scripts.benchmarks.masking --budgets 3000 10000 --seeds 0 1 2 3 4 --report-only
"""

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common import REPO_ROOT

ENV_KWARGS = dict(dim=70, n_invalid_actions=55)
GAMMA = 0.4
# REINFORCE: one episode (100 steps) per update, a large step, no clipping and one hidden layer of 128: the budgets
# allow 30 to 100 updates
ALGOS: dict[str, dict[str, Any]] = {
    "REINFORCE": dict(n_episodes=1, learning_rate=0.03, max_grad_norm=math.inf, policy_kwargs=dict(net_arch=[128])),
    "MaskablePPO": dict(),
}


def run_one(algo: str, budget: int, seed: int) -> dict[str, Any]:
    import torch as th
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.envs import InvalidActionEnvDiscrete
    from sb3_contrib.common.maskable.evaluation import evaluate_policy
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor

    from sb3_reinforce import REINFORCE

    th.set_num_threads(1)

    class InvalidActions(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.invalid = 0

        def _on_step(self) -> bool:
            # both algorithms keep the masks their actions were sampled under in ``action_masks``
            for mask, action in zip(self.locals["action_masks"], self.locals["actions"], strict=True):
                self.invalid += not mask[int(np.asarray(action).item())]
            return True

    env = InvalidActionEnvDiscrete(**ENV_KWARGS)
    algo_class = REINFORCE if algo == "REINFORCE" else MaskablePPO
    model = algo_class("MlpPolicy", env, gamma=GAMMA, seed=seed, device="cpu", **ALGOS[algo])
    counter = InvalidActions()
    start = time.perf_counter()
    model.learn(budget, callback=counter)
    seconds = time.perf_counter() - start
    eval_env = Monitor(InvalidActionEnvDiscrete(**ENV_KWARGS))
    eval_env.reset(seed=seed + 1000)
    rewards, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True, return_episode_rewards=True)
    return dict(
        algo=algo,
        budget=budget,
        seed=seed,
        num_timesteps=model.num_timesteps,
        eval_rewards=[float(r) for r in rewards],
        invalid_actions=counter.invalid,
        train_seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=int, nargs="+", default=[3000, 10000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "docs" / "benchmark" / "masking" / "runs")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmark" / "masking.md")
    parser.add_argument("--report-only", action="store_true", help="Write the table from the cached runs only")
    args = parser.parse_args()
    command = "python -m scripts.benchmarks.masking " + shlex.join(
        ["--budgets", *map(str, args.budgets), "--seeds", *map(str, args.seeds)]
    )
    print(f"Replicate with: {command}")
    records = []
    for budget in args.budgets:
        for algo in ALGOS:
            for seed in args.seeds:
                path = args.cache / f"{algo}_{budget}_seed{seed}.json"
                if not path.is_file():
                    if args.report_only:
                        continue
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(run_one(algo, budget, seed)))
                    print(f"{algo} {budget} seed {seed} done", flush=True)
                records.append(json.loads(path.read_text()))
    if not records:
        sys.exit("no finished runs")
    lines = [
        f"Written by `{command}`. Mean +/- std over seeds of each seed's mean return over 20 deterministic episodes",
        "with masks (maximum 100); steps played: `learn(budget)` plays whole rollouts (MaskablePPO's have 2,048",
        "steps) or whole episodes (REINFORCE's have 100); invalid actions: those sent to the env during training,",
        "summed over seeds.",
        "",
        "| Algo | Budget | Steps played | Seeds | Return | Invalid actions | Training time (s, median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for budget in args.budgets:
        for algo in ALGOS:
            runs = [r for r in records if r["algo"] == algo and r["budget"] == budget]
            if not runs:
                continue
            means = np.array([np.mean(r["eval_rewards"]) for r in runs])
            lines.append(
                f"| {algo} | {budget:,} | {int(np.median([r['num_timesteps'] for r in runs])):,} | {len(runs)} "
                f"| {means.mean():.1f} +/- {means.std():.1f} "
                f"| {sum(r['invalid_actions'] for r in runs)} | {np.median([r['train_seconds'] for r in runs]):.1f} |"
            )
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
