"""Paired speed check of this checkout against a git ref: time for REINFORCE's defaults to solve CartPole-v1.

    python -m scripts.speed.speed_vs_ref --ref main                         # 1 and 8 envs, seeds 0-5
    python -m scripts.speed.speed_vs_ref --ref ab417c6 --n-envs 1 --seeds 0 1 2 3 4 5 6 7
    python -m scripts.speed.speed_vs_ref --ref HEAD~1 --quick                # a few seconds, to check the script

The ref is checked out in a temporary git worktree. Every run is a fresh Python process, started outside both
trees with ``PYTHONPATH`` pointing at the tree it measures (the process prints which ``sb3_reinforce`` it imported),
with one torch thread. It builds ``REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=N, seed=s), seed=s)``
and trains until the mean return of the last 25 training episodes reaches 475 (or ``--budget`` env steps); the clock
runs from ``learn()`` to that step. For each seed the two trees run one after the other, alternating which goes
first, so that the machine's load hits them alike. Both trees play the same steps when the change keeps the
same-seed behaviour; the table says so per seed.

The figure is the median over seeds of the paired ratio ``time(ref) / time(this checkout)``: above 1, this checkout
is faster. Wall-clock and CPU seconds are both reported.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
THRESHOLD = 475.0
WINDOW = 25


def worker(seed: int, n_envs: int, budget: int) -> dict[str, Any]:
    """One run, in this process: time to solve CartPole-v1 with REINFORCE's defaults."""
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import sb3_reinforce
    from sb3_reinforce import REINFORCE

    th.set_num_threads(1)

    class StopWhenSolved(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.returns: list[float] = []
            self.solved_at: int | None = None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    if len(self.returns) >= WINDOW and np.mean(self.returns[-WINDOW:]) >= THRESHOLD:
                        self.solved_at = self.num_timesteps
            return self.solved_at is None

    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed), seed=seed)
    callback = StopWhenSolved()
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(budget, callback=callback)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "package": str(Path(sb3_reinforce.__file__).parent),
        "seconds": wall,
        "cpu_seconds": cpu,
        "steps": callback.solved_at if callback.solved_at is not None else model.num_timesteps,
        "solved": callback.solved_at is not None,
    }


def run_in(tree: Path, seed: int, n_envs: int, budget: int, cwd: str) -> dict[str, Any]:
    """One run in a fresh process that imports the package of ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(seed), "--n-envs", str(n_envs)]
    command += ["--budget", str(budget)]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"run in {tree} failed:\n{result.stderr[-3000:]}")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    expected = (tree / "sb3_reinforce").resolve()
    if Path(record["package"]).resolve() != expected:
        raise RuntimeError(f"the run imported {record['package']}, not {expected}: is the package installed non-editable?")
    return record


def compare(ref_tree: Path, seeds: list[int], n_envs: int, budget: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as cwd:  # outside both trees
        for index, seed in enumerate(seeds):
            trees = {"ref": ref_tree, "this": REPO_ROOT}
            order = ["ref", "this"] if index % 2 == 0 else ["this", "ref"]
            records = {name: run_in(trees[name], seed, n_envs, budget, cwd) for name in order}
            row = {"seed": seed, "first": order[0]}
            row.update({f"{name}_{key}": value for name in order for key, value in records[name].items()})
            rows.append(row)
            print(
                f"  n_envs={n_envs} seed={seed}: ref {row['ref_seconds']:.2f} s, this {row['this_seconds']:.2f} s, "
                f"ratio {row['ref_seconds'] / row['this_seconds']:.3f}, steps {row['ref_steps']} / {row['this_steps']}",
                flush=True,
            )
    return rows


def table(ref: str, results: dict[int, list[dict[str, Any]]]) -> str:
    lines = [
        f"| n_envs | seeds | same steps | median time {ref} (s) | median time this (s) | median paired ratio (wall) "
        "| median paired ratio (CPU) | this faster |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n_envs, rows in results.items():
        wall = [row["ref_seconds"] / row["this_seconds"] for row in rows]
        cpu = [row["ref_cpu_seconds"] / row["this_cpu_seconds"] for row in rows]
        same = sum(row["ref_steps"] == row["this_steps"] for row in rows)
        lines.append(
            f"| {n_envs} | {len(rows)} | {same} of {len(rows)} | {np.median([r['ref_seconds'] for r in rows]):.2f} "
            f"| {np.median([r['this_seconds'] for r in rows]):.2f} | {np.median(wall):.3f} | {np.median(cpu):.3f} "
            f"| {sum(r > 1 for r in wall)} of {len(rows)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="main", help="The git ref to compare against")
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--budget", type=int, default=200_000, help="Env steps at most per run")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 1 env, 2,000 steps: checks the script")
    parser.add_argument("--output", type=Path, help="Also write the records and the table here (JSON)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.seed, args.n_envs[0], args.budget)))
        return
    if args.quick:
        args.n_envs, args.seeds, args.budget = [1], [0, 1], 2_000

    sha = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    ref_sha = sha.stdout.strip()
    command = f"python -m scripts.speed.speed_vs_ref --ref {shlex.quote(args.ref)}"
    command += f" --n-envs {' '.join(map(str, args.n_envs))} --seeds {' '.join(map(str, args.seeds))}"
    command += "" if args.budget == 200_000 else f" --budget {args.budget}"
    print(f"Replicate with: {command}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        ref_tree = Path(folder) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(ref_tree), ref_sha], cwd=REPO_ROOT, check=True)
        try:
            results = {n_envs: compare(ref_tree, args.seeds, n_envs, args.budget) for n_envs in args.n_envs}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=REPO_ROOT, check=False)
    report = table(ref_sha, results)
    print(f"\nThis checkout against {args.ref} ({ref_sha}): ratio = time({ref_sha}) / time(this checkout)\n\n{report}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"command": command, "ref": ref_sha, "runs": results, "table": report}, indent=1))


if __name__ == "__main__":
    main()
