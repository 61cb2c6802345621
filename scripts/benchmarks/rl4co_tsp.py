"""
RL4CO's attention model (Kool et al.'s, with its greedy-rollout baseline) and POMO on the routing benchmark's
instances, for the same wall-clock budget as ``scripts.benchmarks.routing``. RL4CO is not a dependency of this
package: this script runs in an environment of its own, and imports nothing of sb3-reinforce or SB3.

    python -m scripts.benchmarks.routing instances --out /tmp/tsp20        # the validation and test instances
    python3 -m venv .rl4co && .rl4co/bin/pip install torch==2.13.0 rl4co==0.7.0
    .rl4co/bin/python -m scripts.benchmarks.rl4co_tsp --model am --seed 0 --minutes 6 --instances /tmp/tsp20

RL4CO's defaults are kept (the attention model: 128-dimensional embeddings, 3 encoder layers, batch normalisation,
batches of 512, Adam at 1e-4; POMO: 6 encoder layers, instance normalisation, batches of 64 instances with every
node as a start), with one torch thread. Every epoch is 25,600 instances. The record, in the routing benchmark's
format, goes to ``docs/benchmark/routing/runs/``. Each model is evaluated as in its paper: the attention model by its
single greedy tour (``greedy``) and the shortest of k sampled tours (``best_of_k``), POMO by the shortest of its
greedy tours from every start node (``greedy_all_starts``; its validation curve too).
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDS = REPO_ROOT / "docs" / "benchmark" / "routing"
EPOCH_INSTANCES = 25_600


def tour_lengths(model: Any, env: Any, locs: np.ndarray, decode_type: str, samples: int = 1) -> np.ndarray:
    """(n,) the tour length of every instance: greedy, multi-start greedy, or the shortest of ``samples`` samples."""
    from tensordict import TensorDict

    policy = model.policy.eval()
    lengths = []
    per_batch = max(1, 2048 // samples)
    with torch.inference_mode():
        for first in range(0, len(locs), per_batch):
            batch = torch.as_tensor(locs[first : first + per_batch]).repeat_interleave(samples, dim=0)
            td = env.reset(TensorDict({"locs": batch}, batch_size=[len(batch)]))
            kwargs: dict[str, Any] = {"decode_type": decode_type}
            if decode_type == "multistart_greedy":
                kwargs["num_starts"] = locs.shape[1]
            reward = policy(td, env, phase="test", **kwargs)["reward"]
            # multi-start: the rewards are start-major, (num_starts * batch,)
            per_instance = -reward.view(-1, len(batch)).max(dim=0).values if decode_type == "multistart_greedy" else -reward
            lengths.append(per_instance.view(-1, samples).min(dim=1).values.numpy())
    return np.concatenate(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["am", "pomo"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--instances", type=Path, required=True, help="the folder of routing's instances command")
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--eval-every", type=float, default=30.0)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args()

    import lightning
    from lightning.pytorch.callbacks import Callback
    from rl4co.envs import TSPEnv
    from rl4co.models import POMO, AttentionModel
    from rl4co.utils import RL4COTrainer

    torch.set_num_threads(1)
    lightning.seed_everything(args.seed, verbose=False)
    validation = np.load(args.instances / "validation.npy")
    test = np.load(args.instances / "test.npy")
    num_nodes = validation.shape[1]
    lkh = {
        name: json.loads((args.records / f"references_TSP{num_nodes}_{name}_n{len(data)}.json").read_text())["solvers"][
            "LKH-3 (elkai)"
        ]["mean_length"]
        for name, data in (("validation", validation), ("test", test))
    }
    env = TSPEnv(generator_params=dict(num_loc=num_nodes))
    if args.model == "am":
        # the rollout baseline is evaluated on val_data_size instances (Kool et al.: 10,000) at the end of every epoch
        model = AttentionModel(env, baseline="rollout", batch_size=512, train_data_size=EPOCH_INSTANCES, val_data_size=10_000)
        greedy, steps_per_instance = "greedy", num_nodes
    else:
        model = POMO(env, batch_size=64, train_data_size=EPOCH_INSTANCES, val_data_size=0)
        greedy, steps_per_instance = "multistart_greedy", num_nodes * num_nodes

    class Budget(Callback):
        """Stop after the budget of training time; evaluate the validation set every eval_every s, off the clock."""

        def __init__(self) -> None:
            self.trained, self.instances, self.curve = 0.0, 0, []
            self.started = time.perf_counter()
            self.next_eval = 0.0

        def evaluate(self, module: Any) -> None:
            self.trained += time.perf_counter() - self.started
            gap = float(np.mean(tour_lengths(module, env, validation, greedy)) / lkh["validation"] - 1)
            steps = self.instances * steps_per_instance
            self.curve.append({"train_seconds": self.trained, "env_steps": steps, "validation_gap": gap})
            print(f"  {self.trained:6.0f} s, {steps:>9,} steps: validation greedy gap {100 * gap:.2f} %", flush=True)
            module.policy.train()
            self.next_eval = self.trained + args.eval_every
            self.started = time.perf_counter()

        def on_train_start(self, trainer: Any, module: Any) -> None:
            self.started = time.perf_counter()
            self.evaluate(module)

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.instances += len(batch)
            now = self.trained + time.perf_counter() - self.started
            if now >= 60 * args.minutes:
                self.evaluate(module)
                trainer.should_stop = True
            elif now >= self.next_eval:
                self.evaluate(module)

    budget = Budget()
    trainer = RL4COTrainer(
        max_epochs=10_000,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[budget],
    )
    trainer.fit(model)
    result: dict[str, Any] = {}
    decodings = [("greedy", "greedy", 1), (f"best_of_{args.samples}", "sampling", args.samples)]
    if args.model == "pomo":
        decodings = [("greedy_all_starts", "multistart_greedy", 1)]
    for label, decode_type, samples in decodings:
        start = time.perf_counter()
        mean_length = float(np.mean(tour_lengths(model, env, test, decode_type, samples)))
        gap = mean_length / lkh["test"] - 1
        result[label] = {"mean_length": mean_length, "gap": gap, "seconds": time.perf_counter() - start}
        print(f"  test {label}: mean tour length {mean_length:.4f}, gap {100 * gap:.2f} %", flush=True)
    method = f"rl4co-{args.model}"
    record = {
        "num_nodes": num_nodes,
        "method": method,
        "seed": args.seed,
        "minutes": args.minutes,
        "env_steps": budget.instances * steps_per_instance,
        "updates": int(trainer.global_step),
        "curve": budget.curve,
        "test": result,
        "n_test": len(test),
        "network": "RL4CO's defaults",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "torch_threads": 1},
        "command": f"python -m scripts.benchmarks.rl4co_tsp --model {args.model} --seed {args.seed} "
        f"--minutes {args.minutes:g} --instances <folder>",
    }
    path = args.records / "runs" / f"TSP{num_nodes}_{method}_seed{args.seed}_{args.minutes:g}min.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
