"""How sensitive is REINFORCE to the learning rate and the discount? A grid on CartPole-v1.

Learning rate {1e-4, 1e-3, 1e-2, 1e-1} x gamma {0.9, 0.95, 0.99}, several seeds each, everything else fixed
(returns-to-go, normalised advantages, no baseline, no clipping, Adam, 8 episodes per update). Heatmaps of the
final return (mean of the last 25 training episodes, averaged over seeds) and of the steps to solve (median over
the seeds that solved; the cell says how many did). A run diverges when its loss becomes NaN (REINFORCE stops
it) or when its policy collapses: final return below 20, i.e. episodes about as short as CartPole allows.

    python -m scripts.studies.sweep                                        # 3 seeds, 100k steps per run
    python -m scripts.studies.sweep --seeds 2 --steps 50000                # reduced
    python -m scripts.studies.sweep --quick --results /tmp/s --figures /tmp/s   # smoke run, seconds

Finished runs are cached under --results (one JSON per cell, seed and length): rerunning resumes.
"""

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common import SOLVED, markdown_table, run_cached, train_run

ENV_ID = "CartPole-v1"
LEARNING_RATES = (1e-4, 1e-3, 1e-2, 1e-1)
GAMMAS = (0.9, 0.95, 0.99)
# Pinned (the library defaults may change)
BASE = dict(
    n_episodes=8,
    reward_to_go=True,
    normalize_advantage=True,
    use_baseline=False,
    ent_coef=0.0,
    max_grad_norm=math.inf,
    batch_size=None,
)
COLLAPSED = 20.0


def status(run: dict[str, Any]) -> str:
    if run["nan"]:
        return "NaN"
    if run["final_return"] < COLLAPSED:
        return "collapsed"
    if run["steps_to_solve"] is not None and run["final_return"] < 0.5 * SOLVED[ENV_ID]:
        return "solved then lost"
    return "ok"


def plot(results: dict[tuple[float, float], list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    final = np.array([[np.mean([r["final_return"] for r in results[lr, g]]) for lr in LEARNING_RATES] for g in GAMMAS])
    solve = np.full(final.shape, np.nan)
    notes = np.empty(final.shape, dtype=object)
    for i, gamma in enumerate(GAMMAS):
        for j, lr in enumerate(LEARNING_RATES):
            runs = results[lr, gamma]
            solved = [r["steps_to_solve"] for r in runs if r["steps_to_solve"] is not None]
            if solved:
                solve[i, j] = np.median(solved)
            bad = sum(status(r) in ("NaN", "collapsed") for r in runs)
            notes[i, j] = f"{len(solved)}/{len(runs)} solved" + (f"\n{bad} diverged" if bad else "")

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    panels = [
        (final, "final return (mean over seeds)", "viridis", "{:.0f}"),
        (solve, "median steps to solve", "magma_r", "{:.0f}"),
    ]
    for ax, (values, title, cmap, fmt) in zip(axes, panels, strict=True):
        image = ax.imshow(values, cmap=cmap, aspect="auto")
        ax.set_facecolor("lightgrey")  # cells with no value (no seed solved)
        fig.colorbar(image, ax=ax)
        for i in range(len(GAMMAS)):
            for j in range(len(LEARNING_RATES)):
                missing = math.isnan(values[i, j])
                text = "not solved" if missing else fmt.format(values[i, j])
                outline = [] if missing else [patheffects.withStroke(linewidth=2, foreground="k")]
                ax.text(
                    j,
                    i,
                    f"{text}\n{notes[i, j]}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="k" if missing else "w",
                    path_effects=outline,
                )
        ax.set_xticks(range(len(LEARNING_RATES)), [f"{lr:g}" for lr in LEARNING_RATES])
        ax.set_yticks(range(len(GAMMAS)), [f"{g:g}" for g in GAMMAS])
        ax.set_xlabel("learning rate")
        ax.set_ylabel("gamma")
        ax.set_title(title)
    runs = next(iter(results.values()))
    fig.suptitle(f"{ENV_ID}: {len(runs)} seeds x {runs[0]['timesteps']} steps per cell")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(results: dict[tuple[float, float], list[dict[str, Any]]]) -> str:
    rows = []
    for (lr, gamma), runs in results.items():
        solved = [r["steps_to_solve"] for r in runs if r["steps_to_solve"] is not None]
        rows.append(
            [
                f"{lr:g}",
                f"{gamma:g}",
                f"{len(solved)}/{len(runs)}",
                f"{np.median(solved):.0f}" if solved else "not solved",
                " ".join(f"{r['final_return']:.0f}" for r in runs),
                ", ".join(status(r) for r in runs),
            ]
        )
    header = ["learning rate", "gamma", "solved", "median steps to solve", "final return per seed", "status per seed"]
    runs = next(iter(results.values()))
    return (
        f"{ENV_ID}, {len(runs)} seeds x {runs[0]['timesteps']} steps per cell. Status: NaN = the loss became "
        f"non-finite; collapsed = final return < {COLLAPSED:g}; solved then lost = solved, then final return < "
        f"{0.5 * SOLVED[ENV_ID]:g}.\n\n" + markdown_table(header, rows)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 500 steps: for the tests")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--results", type=Path, default=Path("results/sweep"), help="cache of finished runs")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"), help="where the PNG and table go")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps = 1, 500
    args.figures.mkdir(parents=True, exist_ok=True)

    def key(lr: float, gamma: float, seed: int) -> str:
        return f"lr{lr:g}_gamma{gamma:g}_t{args.steps}_s{seed}"

    jobs = {
        key(lr, gamma, seed): (train_run, (ENV_ID, seed, args.steps, {**BASE, "learning_rate": lr, "gamma": gamma}))
        for seed in range(args.seeds)  # seed-major: an interrupted sweep has covered the whole grid at least once
        for lr in LEARNING_RATES
        for gamma in GAMMAS
    }
    done = run_cached(jobs, args.results, workers=args.workers)
    results = {
        (lr, gamma): [done[key(lr, gamma, seed)] for seed in range(args.seeds)] for lr in LEARNING_RATES for gamma in GAMMAS
    }
    suffix = "_quick" if args.quick else ""
    plot(results, args.figures / f"sweep{suffix}.png")
    (args.figures / f"sweep{suffix}.md").write_text(table(results))
    print(f"Wrote {args.figures / f'sweep{suffix}.png'} and .md", flush=True)


if __name__ == "__main__":
    main()
