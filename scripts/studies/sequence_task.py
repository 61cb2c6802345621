"""
The verifiable-reward sequence task (``ReverseDigits-v0``): success rate against env steps for grouped
leave-one-out (RLOO), grouped with std scaling (GRPO), the batch leave-one-out, a value baseline and no baseline.

python -m scripts.studies.sequence_task                      # 5 seeds x 5 baselines, records in docs/benchmark/sequence/
python -m scripts.studies.sequence_task --plot-only          # the table and the figure from the records
python -m scripts.studies.sequence_task --quick --cache /tmp/seq   # a few thousand steps per run (the test)

Each run's record (JSON) is written as soon as it ends and never rerun; the table and figure are written from the
records: ``docs/benchmark/sequence/sequence_task.md`` and ``sequence_task.png``.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common import REPO_ROOT, markdown_table, mean_std, run_cached

ENV_ID = "ReverseDigits-v0"
N_ENVS = 16
N_EPISODES = 64
GROUP_SIZE = 8
# name: REINFORCE arguments beside the common ones
VARIANTS: dict[str, dict[str, Any]] = {
    "grouped leave-one-out (RLOO)": dict(group_size=GROUP_SIZE),
    "grouped, std-scaled (GRPO)": dict(group_size=GROUP_SIZE, group_std_scaling=True),
    "batch leave-one-out": dict(baseline="leave_one_out"),
    "value baseline": dict(baseline="value"),
    "no baseline": dict(baseline="none"),
}
OUTPUT = REPO_ROOT / "docs" / "benchmark" / "sequence"


def run(variant: str, seed: int, timesteps: int, eval_prompts: int) -> dict[str, Any]:
    """Train one variant on one seed; record the success rate of every update's episodes and a greedy evaluation."""
    import gymnasium as gym
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import sb3_reinforce.envs  # noqa: F401  (registers ReverseDigits-v0)
    from sb3_reinforce import REINFORCE

    th.set_num_threads(1)
    curve: list[tuple[int, float]] = []

    class SuccessRate(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            infos = self.model.rollout_buffer.used_episode_infos()
            curve.append((self.num_timesteps, float(np.mean([info["is_success"] for info in infos]))))

    env = make_vec_env(ENV_ID, n_envs=N_ENVS, seed=seed)
    model = REINFORCE("MlpPolicy", env, n_episodes=N_EPISODES, seed=seed, device="cpu", **VARIANTS[variant])
    model.learn(timesteps, callback=SuccessRate())
    # the evaluation's prompts: a seeded sequence, the same for every baseline of a seed
    eval_env = gym.make(ENV_ID)
    eval_env.reset(seed=10_000 + seed)
    successes = []
    for _ in range(eval_prompts):
        obs, _ = eval_env.reset()
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = eval_env.step(action)
            done = terminated or truncated
        successes.append(bool(info["is_success"]))
    return {
        "variant": variant,
        "seed": seed,
        "timesteps": timesteps,
        "curve": curve,
        "greedy_success": float(np.mean(successes)),
        "eval_prompts": eval_prompts,
    }


def steps_to(curve: list[list[float]], level: float, window: int = 5) -> float | None:
    """Env steps at which the mean success rate of the last ``window`` updates first reaches ``level``."""
    rates = np.array([rate for _, rate in curve])
    for index in range(window - 1, len(rates)):
        if rates[index - window + 1 : index + 1].mean() >= level:
            return float(curve[index][0])
    return None


def report(records: dict[str, dict[str, Any]], output: Path, command: str) -> str:
    """Write the table (markdown) and the figure from the records; return the table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, figure = [], plt.figure(figsize=(7, 4))
    for variant in VARIANTS:
        runs = [record for record in records.values() if record["variant"] == variant]
        if not runs:
            continue
        timesteps = runs[0]["timesteps"]
        final = [np.mean([rate for steps, rate in run["curve"] if steps > 0.9 * timesteps]) for run in runs]
        to_half = [steps_to(run["curve"], 0.5) for run in runs]
        reached = [steps for steps in to_half if steps is not None]
        rows.append(
            [
                variant,
                mean_std([100 * value for value in final], 1),
                mean_std([100 * run["greedy_success"] for run in runs], 1),
                f"{len(reached)} of {len(runs)}",
                f"{np.median(reached):,.0f}" if reached else "n/a",
            ]
        )
        grid = np.linspace(0, timesteps, 101)
        curves = np.array([np.interp(grid, *np.array(run["curve"]).T) for run in runs])
        (line,) = plt.plot(grid, curves.mean(axis=0), label=variant)
        plt.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=0.15)
    plt.xlabel("env steps")
    plt.ylabel("success rate of the update's episodes")
    plt.title(f"{ENV_ID}: mean and min-max over {len(runs)} seeds")
    plt.legend(fontsize=8)
    plt.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    figure.savefig(output / "sequence_task.png", dpi=100)
    header = [
        "baseline",
        "training success, last 10 % (%)",
        f"greedy success, {runs[0]['eval_prompts']:,} prompts (%)",
        "seeds reaching 50 %",
        "median steps to 50 %",
    ]
    table = markdown_table(header, rows)
    (output / "sequence_task.md").write_text(
        f"<!-- generated by {command}: do not edit -->\n\n{table}\nMean +/- std over seeds. Generated by `{command}`.\n"
    )
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--timesteps", type=int, default=150_000)
    parser.add_argument("--eval-prompts", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="folder of the records, table and figure")
    parser.add_argument("--plot-only", action="store_true", help="only write the table and figure from the records")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3,000 steps, 20 prompts: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.timesteps, args.eval_prompts = [0, 1], 3_000, 20
    jobs = {
        f"{variant.split(' (')[0].replace(' ', '_').replace(',', '')}_seed{seed}": (
            run,
            (variant, seed, args.timesteps, args.eval_prompts),
        )
        for variant in VARIANTS
        for seed in args.seeds
    }
    runs_folder = args.output / "runs"
    if args.plot_only:
        records = {path.stem: json.loads(path.read_text()) for path in sorted(runs_folder.glob("*.json"))}
    else:
        records = run_cached(jobs, runs_folder, workers=args.workers)
    print(report(records, args.output, "python -m scripts.studies.sequence_task --plot-only"))


if __name__ == "__main__":
    main()
