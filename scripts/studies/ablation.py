"""Which of REINFORCE's variance-reduction tricks matter? Learning curves of cumulative variants.

From the lecture's vanilla REINFORCE (whole-episode return R(tau), no normalisation) add, one at a time and
keeping the previous ones: returns-to-go, advantage normalisation, a learned baseline V(s), an entropy bonus.
Every variant trains on CartPole-v1 and Acrobot-v1 over several seeds; the figure shows the mean (line) and
the min-max (band) over seeds of the mean return of the last 25 training episodes.

    python -m scripts.studies.ablation                                  # 5 seeds, 100k / 200k steps
    python -m scripts.studies.ablation --seeds 3 --steps-cartpole 60000 --steps-acrobot 100000   # reduced
    python -m scripts.studies.ablation --quick --results /tmp/a --figures /tmp/a                 # smoke run, seconds

Finished runs are cached under --results (one JSON per env, variant, seed and length): rerunning resumes.
"""

import argparse
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common import SOLVED, learning_curve, markdown_table, mean_std, run_variants

# Shared by every variant (pinned: the library defaults may change). No gradient clipping, so that each
# variant is the lecture's estimator followed by Adam.
BASE = dict(learning_rate=3e-3, n_episodes=8, gamma=0.99, max_grad_norm=math.inf, batch_size=None, vf_coef=0.5)
VARIANTS: dict[str, dict[str, Any]] = {
    "vanilla": dict(reward_to_go=False, normalize_advantage=False, use_baseline=False, ent_coef=0.0),
    "+ returns-to-go": dict(reward_to_go=True, normalize_advantage=False, use_baseline=False, ent_coef=0.0),
    "+ normalisation": dict(reward_to_go=True, normalize_advantage=True, use_baseline=False, ent_coef=0.0),
    # the joint value step, which this study compares (value_fit="separate" is the separate fit)
    "+ learned baseline": dict(
        reward_to_go=True, normalize_advantage=True, use_baseline=True, value_fit="joint", ent_coef=0.0
    ),
    "+ entropy bonus": dict(reward_to_go=True, normalize_advantage=True, use_baseline=True, value_fit="joint", ent_coef=0.01),
}
SLUGS = {name: name.strip("+ ").replace(" ", "-").replace("-to-", "to") for name in VARIANTS}


def plot(results: dict[str, dict[str, list[dict[str, Any]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5), squeeze=False)
    for ax, (env_id, by_variant) in zip(axes[0], results.items(), strict=True):
        timesteps = next(iter(by_variant.values()))[0]["timesteps"]
        grid = np.linspace(0, timesteps, 200)
        for name, runs in by_variant.items():
            curves = np.array([learning_curve(run["episodes"], grid) for run in runs])
            with warnings.catch_warnings():  # NaN before the first WINDOW episodes of every seed
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, low, high = np.nanmean(curves, axis=0), np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
            ax.plot(grid, mean, label=name)
            ax.fill_between(grid, low, high, alpha=0.15)
        ax.axhline(SOLVED[env_id], color="grey", linestyle=":", linewidth=1)
        n_seeds = len(next(iter(by_variant.values())))
        ax.set_title(f"{env_id} ({n_seeds} seeds: mean, band = min-max)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean return of the last 25 training episodes")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    rows = []
    for env_id, by_variant in results.items():
        for name, runs in by_variant.items():
            solved = [run["steps_to_solve"] for run in runs if run["steps_to_solve"] is not None]
            rows.append(
                [
                    env_id,
                    name,
                    f"{len(solved)}/{len(runs)}",
                    mean_std(solved) if solved else "not solved",
                    mean_std([run["final_return"] for run in runs], digits=1),
                    runs[0]["timesteps"],
                ]
            )
    header = ["env", "variant", "solved", "steps to solve (solved seeds)", "final return", "steps per run"]
    return (
        "Steps to solve: env steps when the mean return of the last 25 training episodes first reaches the threshold "
        f"({', '.join(f'{k}: {v:g}' for k, v in SOLVED.items())}); final return: mean of the last 25 training "
        "episodes; mean +/- std over seeds.\n\n" + markdown_table(header, rows)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 500 steps: for the tests")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps-cartpole", type=int, default=100_000)
    parser.add_argument("--steps-acrobot", type=int, default=200_000)
    parser.add_argument("--results", type=Path, default=Path("results/ablation"), help="cache of finished runs")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"), help="where the PNG and table go")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps_cartpole, args.steps_acrobot = 1, 500, 500
    steps = {"CartPole-v1": args.steps_cartpole, "Acrobot-v1": args.steps_acrobot}
    args.figures.mkdir(parents=True, exist_ok=True)

    results = run_variants(steps, VARIANTS, BASE, SLUGS, args.seeds, args.results, workers=args.workers)
    suffix = "_quick" if args.quick else ""
    plot(results, args.figures / f"ablation{suffix}.png")
    (args.figures / f"ablation{suffix}.md").write_text(table(results))
    print(f"Wrote {args.figures / f'ablation{suffix}.png'} and .md", flush=True)


if __name__ == "__main__":
    main()
