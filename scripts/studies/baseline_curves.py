"""Do REINFORCE's baselines pay off in training? Learning curves of the four baselines, everything else pinned.

Variants: no baseline; the leave-one-out baseline (the batch's other episodes, no network); a value
network V(s) fitted jointly (one step of ``vf_coef`` times its loss inside the policy's step, A2C's way); the same
network fitted on its own after the policy's step (``value_fit="separate"``, its own Adam optimizer, several
minibatch passes). Each trains on CartPole-v1, Acrobot-v1 and LunarLander-v3 (1 env) over several seeds; the figure
shows the mean (line) and the min-max (band) over seeds of the mean return of the last 25 training episodes, the
table steps-to-solve, the final return and V's explained variance of the returns in the second half of training.

    python -m scripts.studies.baseline_curves                                   # 5 seeds; 100k / 300k / 1M steps
    python -m scripts.studies.baseline_curves --envs CartPole-v1 Acrobot-v1     # the short envs only
    python -m scripts.studies.baseline_curves --quick --results /tmp/b --figures /tmp/b   # smoke run, seconds

Finished runs are cached under --results (one JSON per env, variant, seed and length): rerunning resumes, and the
runs go seed by seed, so an interrupted study has every variant on its first seeds. The default cache,
docs/figures/baselines_runs/, is committed: the table and figure can be rebuilt from it without a run, and a study
left unfinished on one machine resumes on another.
"""

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common import SOLVED, markdown_table, mean_std, run_variants
from scripts.studies.ablation import plot

# Shared by every variant (pinned: the library defaults may change): the ablation's settings (no gradient clipping,
# so the joint value step is not scaled down by the value loss's gradient) with returns-to-go and normalisation.
BASE = dict(
    learning_rate=3e-3,
    n_episodes=8,
    gamma=0.99,
    max_grad_norm=math.inf,
    batch_size=None,
    reward_to_go=True,
    normalize_advantage=True,
    ent_coef=0.0,
)
VARIANTS: dict[str, dict[str, Any]] = {
    "none": dict(baseline="none"),
    "leave-one-out": dict(baseline="leave_one_out"),
    "value, joint step": dict(baseline="value", value_fit="joint", vf_coef=0.5),
    "value, fitted separately": dict(
        baseline="value", value_fit="separate", vf_learning_rate=1e-2, vf_n_epochs=5, vf_batch_size=256
    ),
}
SLUGS = {name: name.replace(", ", "-").replace(" ", "-") for name in VARIANTS}
STEPS = {"CartPole-v1": 100_000, "Acrobot-v1": 300_000, "LunarLander-v3": 1_000_000}


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    rows = []
    for env_id, by_variant in results.items():
        for name, runs in by_variant.items():
            solved = [run["steps_to_solve"] for run in runs if run["steps_to_solve"] is not None]
            evs = [run["explained_variance"] for run in runs if run.get("explained_variance") is not None]
            rows.append(
                [
                    env_id,
                    name,
                    f"{len(solved)}/{len(runs)}",
                    mean_std(solved) if solved else "not solved",
                    mean_std([run["final_return"] for run in runs], digits=1),
                    f"{np.mean(evs):.2f}" if evs else "-",
                    runs[0]["timesteps"],
                ]
            )
    header = ["env", "baseline", "solved", "steps to solve (solved seeds)", "final return", "V's EV", "steps per run"]
    return (
        "Steps to solve: env steps when the mean return of the last 25 training episodes first reaches the threshold "
        f"({', '.join(f'{k}: {v:g}' for k, v in SOLVED.items())}); final return: mean of the last 25 training "
        "episodes; mean +/- std over seeds. V's EV: explained variance of each batch's returns by the V its "
        "advantages used, averaged over the second half of the updates and the seeds.\n\n" + markdown_table(header, rows)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 500 steps: for the tests")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--envs", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument(
        "--results", type=Path, default=Path("docs/figures/baselines_runs"), help="cache of finished runs (committed)"
    )
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"), help="where the PNG and table go")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    steps = {env_id: STEPS[env_id] for env_id in args.envs}
    if args.quick:
        args.seeds, steps = 1, {env_id: 500 for env_id in steps}
    args.figures.mkdir(parents=True, exist_ok=True)

    results = run_variants(steps, VARIANTS, BASE, SLUGS, args.seeds, args.results, workers=args.workers)
    suffix = "_quick" if args.quick else ""
    plot(results, args.figures / f"baselines{suffix}.png")
    command = f"python -m scripts.studies.baseline_curves --seeds {args.seeds} --envs {' '.join(args.envs)}"
    (args.figures / f"baselines{suffix}.md").write_text(table(results) + f"\n\n```bash\n{command}\n```\n")
    print(f"Wrote {args.figures / f'baselines{suffix}.png'} and .md", flush=True)


if __name__ == "__main__":
    main()
