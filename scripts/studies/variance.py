"""How noisy is each policy-gradient estimator? Gradient diagnostics at three points of a CartPole-v1 run.

Trains REINFORCE on CartPole-v1 once, saving the parameters at the start, in the middle (mean of the last 25
training episodes first >= 200) and when solved (first >= 475), then runs
``sb3_reinforce.diagnostics.gradient_statistics`` at each: the variance, cosine similarity to a reference
gradient and signal-to-noise ratio of the estimate of every estimator, on batches of 8 episodes.

    python -m scripts.studies.variance                 # full study (a few minutes on 2 cores)
    python -m scripts.studies.variance --quick --results /tmp/v --figures /tmp/v   # smoke run, seconds

Finished runs are cached under --results: rerunning resumes, delete the folder to start again.
"""

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common import EpisodeRecorder, markdown_table, run_cached

ENV_ID = "CartPole-v1"
# The training run the checkpoints come from (pinned: the library defaults may change)
TRAIN_KWARGS = dict(
    learning_rate=1e-2,
    n_episodes=8,
    gamma=0.99,
    reward_to_go=True,
    normalize_advantage=True,
    use_baseline=False,
    ent_coef=0.0,
    max_grad_norm=math.inf,
    batch_size=None,
)
CHECKPOINTS = {"start": -math.inf, "middle": 200.0, "solved": 475.0}
ESTIMATORS = ("return", "reward_to_go", "batch_baseline", "normalized", "value_baseline", "leave_one_out")
LABELS = {
    "return": "R(tau)",
    "reward_to_go": "G_t",
    "batch_baseline": "G_t - mean",
    "normalized": "normalised G_t",
    "value_baseline": "G_t - V(s)",
    "leave_one_out": "G_t - leave-one-out",
}
FULL = dict(timesteps=150_000, n_batches=100, n_reference_batches=100, n_value_batches=20, value_fit_steps=1000)
QUICK = dict(timesteps=500, n_batches=2, n_reference_batches=2, n_value_batches=1, value_fit_steps=10)
# Batch-size study, at the "middle" checkpoint: episodes per batch, and its own (smaller) settings; the value
# network is fitted on value_episodes episodes whatever the batch size, and there is no reference gradient.
BATCH_SIZES = {"full": (2, 4, 8, 16, 32), "quick": (2, 4)}
BATCH_ESTIMATORS = ("reward_to_go", "batch_baseline", "value_baseline", "leave_one_out")
BATCH_FULL = dict(n_batches=50, n_reference_batches=0, value_fit_steps=1000, value_episodes=160)
BATCH_QUICK = dict(n_batches=2, n_reference_batches=0, value_fit_steps=10, value_episodes=4)


class CheckpointSaver(EpisodeRecorder):
    """Save the model when the running mean of the training returns first reaches each checkpoint's threshold."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.saved: dict[str, dict[str, Any]] = {}

    def _save(self, name: str) -> None:
        path = self.folder / f"checkpoint_{name}.zip"
        self.model.save(path)
        self.saved[name] = {"path": str(path), "num_timesteps": self.num_timesteps, "running_mean": self.running_mean()}

    def _on_training_start(self) -> None:
        self._save("start")

    def _on_rollout_end(self) -> None:
        # called before the update: the saved parameters are the ones that played these episodes
        for name, threshold in CHECKPOINTS.items():
            if name not in self.saved and self.running_mean() >= threshold:
                self._save(name)

    def _on_step(self) -> bool:
        super()._on_step()
        return len(self.saved) < len(CHECKPOINTS)


def train(folder: str, timesteps: int, seed: int) -> dict[str, Any]:
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_reinforce import REINFORCE

    torch.set_num_threads(1)
    model = REINFORCE("MlpPolicy", make_vec_env(ENV_ID, n_envs=1, seed=seed), seed=seed, device="cpu", **TRAIN_KWARGS)
    saver = CheckpointSaver(Path(folder))
    model.learn(timesteps, callback=saver)
    for name in CHECKPOINTS:  # a threshold never reached: fall back on the last parameters, and say so
        if name not in saver.saved:
            saver._save(name)
            saver.saved[name]["not_reached"] = True
    return {"checkpoints": saver.saved, "episodes": saver.episodes}


def diagnose(
    checkpoint: dict[str, Any],
    seed: int,
    settings: dict[str, int],
    n_episodes: int = 8,
    estimators: tuple[str, ...] = ESTIMATORS,
) -> dict[str, Any]:
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_reinforce import REINFORCE
    from sb3_reinforce.diagnostics import gradient_statistics

    torch.set_num_threads(1)
    model = REINFORCE.load(checkpoint["path"], device="cpu")
    stats = gradient_statistics(
        model,
        n_batches=settings["n_batches"],
        estimators=estimators,
        n_episodes=n_episodes,
        n_reference_batches=settings["n_reference_batches"],
        reference_estimator="value_baseline",
        env=make_vec_env(ENV_ID, n_envs=min(n_episodes, 8), seed=seed),
        n_value_batches=settings["n_value_batches"],
        value_fit_steps=settings["value_fit_steps"],
        seed=seed,
    )
    return {**checkpoint, **stats.summary(), "settings": settings}


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("variance", "variance of the estimate\n(trace of covariance, log scale)", True),
        ("cosine_similarity", "mean cosine similarity\nto the reference gradient", False),
        ("snr", "signal-to-noise ratio\n||mean|| / sqrt(variance)", False),
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4.2))
    width = 0.8 / len(ESTIMATORS)
    x = np.arange(len(results))
    for ax, (key, title, log) in zip(axes, metrics, strict=True):
        for i, name in enumerate(ESTIMATORS):
            values = [result["estimators"][name][key] for result in results.values()]
            ax.bar(x + (i - (len(ESTIMATORS) - 1) / 2) * width, values, width, label=LABELS[name])
        ax.set_xticks(x, [f"{name}\n(return {r['mean_episode_return']:.0f})" for name, r in results.items()])
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[0].text(0.01, 0.01, "normalised G_t: other scale", transform=axes[0].transAxes, fontsize=7)
    fig.suptitle(f"{ENV_ID}: policy-gradient estimators on batches of 8 episodes, at three points of one run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(results: dict[str, dict[str, Any]], settings: dict[str, int]) -> str:
    rows = []
    for checkpoint, result in results.items():
        where = f"{checkpoint} ({result['num_timesteps']} steps, return {result['mean_episode_return']:.0f})"
        if result.get("not_reached"):
            where += " NOT REACHED"
        for name in ESTIMATORS:
            stats = result["estimators"][name]
            rows.append(
                [
                    where,
                    LABELS[name],
                    f"{stats['variance']:.3g}",
                    f"{stats['cosine_similarity']:.3f}",
                    f"{stats['snr']:.3f}",
                    f"{stats['mean_cosine_similarity']:.3f}",
                ]
            )
    text = markdown_table(["checkpoint", "estimator", "variance", "cosine to reference", "SNR", "cos(mean, ref)"], rows)
    evs = ", ".join(f"{c}: {r['value_explained_variance']:.2f}" for c, r in results.items())
    return (
        f"{settings['n_batches']} batches of 8 episodes per checkpoint; reference gradient: G_t - V(s) over "
        f"{settings['n_reference_batches']} further batches; V(s) fitted on {settings['n_value_batches']} other batches "
        f"(explained variance on the measured batches: {evs}).\n\n{text}"
    )


def plot_batch_size(results: dict[int, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = np.array(list(results))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in BATCH_ESTIMATORS:
        variance = np.array([results[n]["estimators"][name]["variance"] for n in sizes])
        snr = np.array([results[n]["estimators"][name]["snr"] for n in sizes])
        axes[0].plot(sizes, variance, "o-", label=LABELS[name])
        axes[1].plot(sizes, snr, "o-", label=LABELS[name])
    first = results[int(sizes[0])]["estimators"]["reward_to_go"]
    axes[0].plot(sizes, first["variance"] * sizes[0] / sizes, "k:", label="1/N from the first G_t point")
    axes[1].plot(sizes, first["snr"] * np.sqrt(sizes / sizes[0]), "k:", label="sqrt(N) from the first G_t point")
    for ax, title in zip(
        axes, ["variance of the estimate (trace of covariance)", "SNR ||mean|| / sqrt(variance)"], strict=True
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("episodes per batch N")
        ax.set_title(title)
        ax.legend(fontsize=8)
    middle = next(iter(results.values()))
    fig.suptitle(
        f"{ENV_ID}, middle checkpoint ({middle['num_timesteps']} steps): batch size, {middle['settings']['n_batches']} "
        "batches per point"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def batch_size_table(results: dict[int, dict[str, Any]]) -> str:
    rows = []
    for n, result in results.items():
        for name in BATCH_ESTIMATORS:
            stats = result["estimators"][name]
            rows.append(
                [
                    n,
                    LABELS[name],
                    f"{stats['variance']:.3g}",
                    f"{stats['snr']:.3f}",
                    f"{result['value_explained_variance']:.2f}",
                ]
            )
    middle = next(iter(results.values()))
    return (
        f"Middle checkpoint ({middle['num_timesteps']} steps); {middle['settings']['n_batches']} batches per batch size; "
        f"V(s) fitted on about {middle['settings']['value_episodes']} other episodes; "
        "V explained variance: on the measured batches.\n\n"
        + markdown_table(["episodes per batch", "estimator", "variance", "SNR", "V explained variance"], rows)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings, for the tests")
    parser.add_argument("--results", type=Path, default=Path("results/variance"), help="cache of finished runs")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"), help="where the PNG and table go")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    args.results.mkdir(parents=True, exist_ok=True)
    args.figures.mkdir(parents=True, exist_ok=True)

    print(f"Training {ENV_ID} to collect the checkpoints ({settings['timesteps']} steps at most)", flush=True)
    run = run_cached({"train": (train, (str(args.results), settings["timesteps"], args.seed))}, args.results, workers=1)
    checkpoints = run["train"]["checkpoints"]
    jobs = {f"diagnostics_{name}": (diagnose, (checkpoints[name], args.seed + 1, settings)) for name in CHECKPOINTS}
    diagnostics = run_cached(jobs, args.results, workers=args.workers)
    results = {name: diagnostics[f"diagnostics_{name}"] for name in CHECKPOINTS}

    batch_settings = BATCH_QUICK if args.quick else BATCH_FULL
    batch_sizes = BATCH_SIZES["quick" if args.quick else "full"]
    jobs = {
        f"batch_size_{n}": (
            diagnose,
            (
                checkpoints["middle"],
                args.seed + 2,
                {**batch_settings, "n_value_batches": max(1, batch_settings["value_episodes"] // n)},
                n,
                BATCH_ESTIMATORS,
            ),
        )
        for n in batch_sizes
    }
    by_size = run_cached(jobs, args.results, workers=args.workers)
    by_size = {n: by_size[f"batch_size_{n}"] for n in batch_sizes}

    suffix = "_quick" if args.quick else ""
    plot_batch_size(by_size, args.figures / f"variance_batch_size{suffix}.png")
    (args.figures / f"variance_batch_size{suffix}.md").write_text(batch_size_table(by_size))
    plot(results, args.figures / f"variance{suffix}.png")
    (args.figures / f"variance{suffix}.md").write_text(table(results, settings))
    (args.figures / f"variance{suffix}.json").write_text(json.dumps(results, indent=1))
    print(f"Wrote {args.figures / f'variance{suffix}.png'} and .md", flush=True)


if __name__ == "__main__":
    main()
