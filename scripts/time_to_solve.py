"""Wall-clock time to solve CartPole-v1: REINFORCE's defaults against the zoo presets, interleaved in one process.

    python scripts/time_to_solve.py                       # seeds 0 1 2, the four runs below
    python scripts/time_to_solve.py --seeds 0 --budget 20000   # a quick check

Runs: ``REINFORCE("MlpPolicy", "CartPole-v1").learn()`` as a newcomer writes it (the library defaults, 1 env);
REINFORCE with its rl-zoo3 preset (``hyperparams/reinforce.yml``); SB3's PPO and A2C with rl-zoo3's own presets.
Each run trains until the mean return of its last 25 training episodes first reaches 475 (or ``--budget`` env
steps) and reports the wall-clock seconds since ``learn()`` started; the env and model are built before the clock
starts. The runs are interleaved (seed 0 of every run, then seed 1, ...) so that the machine's load hits them
alike, and torch uses one thread. The table gives the median over seeds and every seed's time.
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _studies import WINDOW

THRESHOLD = 475.0
RUNS = ("reinforce-defaults", "reinforce-zoo", "ppo-zoo", "a2c-zoo")


class StopWhenSolved(BaseCallback):
    """Stop training when the mean return of the last WINDOW training episodes reaches THRESHOLD; time it."""

    def __init__(self) -> None:
        super().__init__()
        self.returns: list[float] = []
        self.start = time.perf_counter()
        self.seconds: float | None = None
        self.steps: int | None = None

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
        if len(self.returns) >= WINDOW and np.mean(self.returns[-WINDOW:]) >= THRESHOLD:
            self.seconds = time.perf_counter() - self.start
            self.steps = self.num_timesteps
            return False
        return True


def build(run: str, seed: int, folder: str) -> Any:
    """The model of a run, ready to learn (built before the clock starts)."""
    if run == "reinforce-defaults":
        from sb3_reinforce import REINFORCE

        return REINFORCE("MlpPolicy", "CartPole-v1", seed=seed)
    import argparse as _argparse

    import rl_zoo3
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_reinforce.zoo import HYPERPARAMS_PATH, register

    register()
    algo = run.split("-")[0]
    config = HYPERPARAMS_PATH if algo == "reinforce" else Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"
    manager = ExperimentManager(
        _argparse.Namespace(),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--budget", type=int, default=300_000, help="most env steps per run")
    parser.add_argument("--folder", default="/tmp/time_to_solve", help="rl-zoo3's log folder for the preset runs")
    args = parser.parse_args()

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

    print(f"\npython scripts/time_to_solve.py --seeds {' '.join(map(str, args.seeds))} --budget {args.budget}\n")
    print("| run | solved | median seconds | seconds per seed | env steps per seed |")
    print("|---|---:|---:|---|---|")
    for run, runs in results.items():
        seconds = [s for s, _ in runs if s is not None]
        median = f"{np.median(seconds):.1f}" if len(seconds) == len(runs) else "-"
        per_seed = ", ".join(f"{s:.1f}" if s is not None else "not solved" for s, _ in runs)
        steps = ", ".join(f"{n:,}" if n is not None else "-" for _, n in runs)
        print(f"| {run} | {len(seconds)}/{len(runs)} | {median} | {per_seed} | {steps} |")


if __name__ == "__main__":
    main()
