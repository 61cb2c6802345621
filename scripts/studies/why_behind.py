"""Where REINFORCE and A2C differ on continuous control: updates, exploration, gradient signal.

Reads the runs that ``scripts.benchmarks.zoo_benchmark`` cached for an env (``--cache``, one seed) and loads the final
models of REINFORCE and A2C from the run's zoo logs (``log_path``: relative to the repository, on the machine that ran
it) the way rl-zoo3's ``enjoy`` does (saved config and ``VecNormalize`` statistics). For each:

- **updates**: the gradient steps of the whole run (the saved ``_n_updates``) and the env steps per update;
- **exploration**: the policy's action standard deviation, averaged over the action dimensions and over the states
  of 5 episodes of the final policy (state-dependent with gSDE), and the deterministic and stochastic evaluations
  the benchmark recorded;
- **gradient signal** (REINFORCE only): :func:`sb3_reinforce.diagnostics.gradient_statistics` at the final model,
  on batches of the preset's episodes per update and of 4 times as many: signal-to-noise ratio and cosine
  similarity of one batch's estimate with a reference (the mean of 32 further batches' estimates with the fitted
  value baseline, unbiased as V is fitted on other batches), for returns-to-go with and without that baseline.

    python -m scripts.studies.why_behind --cache docs/benchmark/runs/HalfCheetah-v5 --seed 0 \
        --output docs/benchmark/why_behind_HalfCheetah-v5.md
"""

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from scripts.common import REPO_ROOT, load_final_model, markdown_table


def load(run: dict[str, Any], n_envs: int) -> tuple[Any, Any]:
    """The run's final model and a test env (``n_envs`` envs)."""
    # relative to the repository; an absolute path (runs cached before it was made relative) stays as it is
    log_path = REPO_ROOT / run["log_path"]
    if not log_path.is_dir():
        sys.exit(f"The zoo logs of the {run['algo']} run are not on this machine ({log_path}): rerun it with benchmark.py")
    return load_final_model(run["algo"], run["env"], log_path, n_envs, seed=run["seed"] + 2000)


def action_std(model: Any, env: Any, episodes: int = 5) -> float:
    """Mean action standard deviation of the policy over the states of ``episodes`` deterministic episodes."""
    observations = []
    obs = env.reset()
    finished = 0
    while finished < episodes:
        observations.append(obs)
        action, _ = model.predict(obs, deterministic=True)
        obs, _, dones, _ = env.step(action)
        finished += int(np.sum(dones))
    with th.no_grad():
        obs_tensor, _ = model.policy.obs_to_tensor(np.concatenate(observations))
        distribution = model.policy.get_distribution(obs_tensor)
        return float(distribution.distribution.stddev.mean())


def measure(
    run: dict[str, Any], n_batches: int, seed: int, reference_batches: int = 32, value_batches: int = 16
) -> dict[str, Any]:
    n_envs = int(run["hyperparams"].get("n_envs", 1))
    model, env = load(run, n_envs)
    result: dict[str, Any] = {
        "algo": run["algo"],
        "n_updates": int(model._n_updates),
        "steps_per_update": run["num_timesteps"] / max(int(model._n_updates), 1),
        "action_std": action_std(model, env),
        "eval": float(np.mean(run["eval_rewards"])),
        "stochastic_eval": float(np.mean(run["stochastic_eval_rewards"])),
    }
    if run["algo"] == "reinforce":
        from sb3_reinforce.diagnostics import gradient_statistics

        for factor in (1, 4):
            n_episodes = model.n_episodes * factor
            stats = gradient_statistics(
                model,
                n_batches=n_batches,
                estimators=("reward_to_go", "value_baseline"),
                n_episodes=n_episodes,
                n_reference_batches=reference_batches,
                reference_estimator="value_baseline",
                n_value_batches=value_batches,
                env=env,
                seed=seed,
            )
            result[f"gradient_{n_episodes}"] = stats.summary()
    env.close()
    return result


def report(env_id: str, results: list[dict[str, Any]], command: str) -> str:
    rows = [
        [
            r["algo"],
            f"{r['n_updates']:,}",
            f"{r['steps_per_update']:,.0f}",
            f"{r['action_std']:.3f}",
            f"{r['eval']:.1f}",
            f"{r['stochastic_eval']:.1f}",
        ]
        for r in results
    ]
    text = [
        f"# {env_id}: where REINFORCE and A2C differ\n",
        "Written by `scripts/studies/why_behind.py` from the final models of `scripts/benchmarks/zoo_benchmark.py`'s runs "
        "(action std: mean over the action dimensions and the states of 5 greedy episodes):\n",
        f"```bash\n{command}\n```\n",
        markdown_table(
            ["algo", "updates", "env steps per update", "action std (final policy)", "eval, det.", "eval, stoch."], rows
        ),
    ]
    grad_rows = []
    for r in results:
        for key, stats in r.items():
            if not key.startswith("gradient_"):
                continue
            for name, est in stats["estimators"].items():
                grad_rows.append(
                    [
                        key.split("_")[1],
                        name,
                        f"{est['snr']:.3f}",
                        f"{est['cosine_similarity']:.3f}",
                        f"{stats['value_explained_variance']:.2f}" if name == "value_baseline" else "-",
                    ]
                )
    if grad_rows:
        text.append(
            "\nREINFORCE's gradient estimate at its final model (`gradient_statistics`): signal-to-noise ratio of one "
            "batch's estimate and its cosine similarity with a reference (the mean of further batches' estimates with "
            "a fitted value baseline)\n"
        )
        text.append(
            markdown_table(
                ["episodes per batch", "estimator", "SNR", "cosine with reference", "V's explained variance"], grad_rows
            )
        )
    return "\n".join(text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True, help="zoo_benchmark's cache folder of one env")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algos", nargs="+", default=["reinforce", "a2c"])
    parser.add_argument("--n-batches", type=int, default=16, help="batches the SNR and cosines are measured on")
    parser.add_argument("--reference-batches", type=int, default=32, help="batches averaged into the reference")
    parser.add_argument("--value-batches", type=int, default=16, help="batches the value baseline is fitted on")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    th.set_num_threads(1)
    results = []
    env_id = None
    for algo in args.algos:
        # the run without hyperparameter overrides: <algo>_seed<N>_n<steps>.json
        files = sorted(path for path in args.cache.glob(f"{algo}_seed{args.seed}_n*.json") if path.stem.count("=") == 0)
        if not files:
            sys.exit(f"No cached {algo} run for seed {args.seed} in {args.cache}")
        run = json.loads(files[0].read_text())
        env_id = run["env"]
        print(f"measuring {files[0]}", flush=True)
        results.append(measure(run, args.n_batches, args.seed, args.reference_batches, args.value_batches))
    command = "python -m scripts.studies.why_behind " + shlex.join(sys.argv[1:])
    args.output.write_text(report(str(env_id), results, command))
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(args.output.read_text())


if __name__ == "__main__":
    main()
