"""
The travelling salesman benchmark: REINFORCE with the attention policy (groups, or the batch baseline), a plain
MlpPolicy, and sb3-contrib's MaskablePPO with the same network, each trained for the same wall-clock budget on this
machine, against near-optimal tours (LKH-3 through the ``elkai`` package), nearest neighbour and farthest insertion.

    python -m scripts.benchmarks.routing references --num-nodes 20            # the reference tours of the test set
    python -m scripts.benchmarks.routing train --method reinforce-groups --seed 0 --minutes 6
    python -m scripts.benchmarks.routing cost --num-nodes 20                  # seconds per step, where they go
    python -m scripts.benchmarks.routing report                               # the table and figure from the records
    python -m scripts.benchmarks.routing instances --out /tmp/tsp20           # the instances, for rl4co_tsp.py

The test set is 10,000 instances (``--n-test``) drawn from a fixed seed (instance ``i`` is what ``TSPEnv`` draws
with reset seed ``TEST_SEED + i``); a validation set of 1,000 other instances tracks training. The figure of merit
is the optimality gap: the mean tour length over the reference's mean tour length, minus one. A trained policy is
evaluated greedily (one tour per instance, the most likely node at each step), greedily from every start node
(POMO's multi-start decoding: N tours per instance, the shortest kept) and by best-of-k sampling (k tours per
instance, the shortest kept). The training clock stops while the validation set is evaluated. Each run is a
JSON record in ``docs/benchmark/routing/runs/`` (committed); its model is saved under ``--models`` (not committed).
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_reinforce.routing import solve
from scripts.common import REPO_ROOT, markdown_table

RECORDS = REPO_ROOT / "docs" / "benchmark" / "routing"
TEST_SEED = 1_000_000
VALIDATION_SEED = 2_000_000
METHODS = ("reinforce-groups", "reinforce-pomo", "reinforce-batch", "reinforce-mlp", "maskableppo")
#: The methods the report shows, in order: this script's, then RL4CO's (scripts/benchmarks/rl4co_tsp.py)
REPORTED = (*METHODS, "rl4co-am", "rl4co-pomo")
#: The network of every attention run: Kool et al.'s shape, smaller (a CPU budget)
NETWORK = dict(embed_dim=64, n_heads=4, n_layers=2, ff_hidden=256)
N_ENVS = 64
EPISODES_PER_UPDATE = 512
GROUP_SIZE = 8
LEARNING_RATE = 3e-4
#: POMO's groups: one episode from each start node, about POMO_EPISODES episodes per update (one wave): 32 instances
#: of TSP20, 12 of TSP50
POMO_EPISODES = 640


# ---------------------------------------------------------------------------------------------------------------
# Instances, references and decoding


def instances(num_nodes: int, n: int, seed: int) -> np.ndarray:
    from sb3_reinforce.routing import random_instances

    return random_instances(n, num_nodes, seed)


def lkh_tour(locs: np.ndarray) -> np.ndarray:
    """A near-optimal tour from LKH-3 (the elkai package, one run)."""
    import elkai

    # LKH works on integer distances: in the unit square they would all round to 0 or 1
    scaled = {index: (float(x) * 1e6, float(y) * 1e6) for index, (x, y) in enumerate(locs)}
    tour = elkai.Coordinates2D(scaled).solve_tsp(runs=1)
    return np.array(tour[:-1])  # elkai repeats the first node at the end


def reference_lengths(num_nodes: int, n: int, seed: int) -> dict[str, dict[str, float]]:
    """Mean tour lengths and seconds of LKH-3, farthest insertion and nearest neighbour on ``n`` instances."""
    from sb3_reinforce.routing import farthest_insertion_tour, nearest_neighbour_tour, tour_length

    solvers = {
        "LKH-3 (elkai)": lkh_tour,
        "farthest insertion": farthest_insertion_tour,
        "nearest neighbour": nearest_neighbour_tour,
    }
    results = {}
    for name, solver in solvers.items():
        start = time.perf_counter()
        lengths = [tour_length(locs, solver(locs)) for locs in instances(num_nodes, n, seed)]
        results[name] = {"mean_length": float(np.mean(lengths)), "seconds": time.perf_counter() - start}
        print(f"{name}: mean tour length {np.mean(lengths):.4f} in {results[name]['seconds']:.1f} s", flush=True)
    return results


def references(records: Path, num_nodes: int, n: int, seed: int, name: str) -> dict[str, Any]:
    """The reference record of a set of instances, computed once and kept in ``records``."""
    path = records / f"references_TSP{num_nodes}_{name}_n{n}.json"
    if path.exists():
        return json.loads(path.read_text())
    record = {"num_nodes": num_nodes, "n_instances": n, "seed": seed, "solvers": reference_lengths(num_nodes, n, seed)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


# ---------------------------------------------------------------------------------------------------------------
# Training for a wall-clock budget


def maskable_attention_policy() -> type:
    """sb3-contrib's MaskableActorCriticPolicy with the attention network and pointer head of AttentionPolicy."""
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    from sb3_reinforce.attention import attention_policy_kwargs, pointer_latents, use_pointer_head

    class MaskableAttentionPolicy(MaskableActorCriticPolicy):
        def __init__(self, observation_space: Any, action_space: Any, lr_schedule: Any, **kwargs: Any) -> None:
            super().__init__(observation_space, action_space, lr_schedule, **attention_policy_kwargs(action_space, kwargs))

        def _build_mlp_extractor(self) -> None:
            self.mlp_extractor = pointer_latents(self)

        def _build(self, lr_schedule: Any) -> None:
            super()._build(lr_schedule)
            use_pointer_head(self, lr_schedule)

    return MaskableAttentionPolicy


def build_model(method: str, num_nodes: int, seed: int) -> Any:
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_reinforce import REINFORCE
    from sb3_reinforce.routing import TSPEnv

    common = dict(gamma=1.0, learning_rate=LEARNING_RATE, max_grad_norm=1.0, seed=seed, device="cpu")
    reinforce = dict(n_episodes=EPISODES_PER_UPDATE, reward_to_go=False, normalize_advantage=False, **common)
    attention = dict(features_extractor_kwargs=NETWORK)
    if method == "reinforce-pomo":
        # every group plays each start node once (the env reads the episode's index in its group), in one wave
        reinforce["n_episodes"] = max(1, POMO_EPISODES // num_nodes) * num_nodes
        env_kwargs = dict(num_nodes=num_nodes, spread_starts=True)
        env = make_vec_env(TSPEnv, n_envs=reinforce["n_episodes"], seed=seed, env_kwargs=env_kwargs)
        return REINFORCE("AttentionPolicy", env, group_size=num_nodes, policy_kwargs=attention, **reinforce)
    env = make_vec_env(TSPEnv, n_envs=N_ENVS, seed=seed, env_kwargs=dict(num_nodes=num_nodes))
    if method == "reinforce-groups":
        return REINFORCE("AttentionPolicy", env, group_size=GROUP_SIZE, policy_kwargs=attention, **reinforce)
    if method == "reinforce-batch":
        return REINFORCE("AttentionPolicy", env, baseline="leave_one_out", policy_kwargs=attention, **reinforce)
    if method == "reinforce-mlp":
        return REINFORCE("MlpPolicy", env, group_size=GROUP_SIZE, policy_kwargs=dict(net_arch=[256, 256]), **reinforce)
    if method == "maskableppo":
        from sb3_contrib import MaskablePPO

        steps_per_env = EPISODES_PER_UPDATE * num_nodes // N_ENVS
        return MaskablePPO(
            maskable_attention_policy(),
            env,
            n_steps=steps_per_env,
            batch_size=2048,
            n_epochs=4,
            gae_lambda=1.0,
            ent_coef=0.0,
            policy_kwargs=dict(net_arch=dict(pi=[], vf=[128]), **attention),
            **common,
        )
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


class Budget(BaseCallback):
    """Stop after ``seconds`` of training; evaluate the validation set every ``every`` seconds, off the clock."""

    def __init__(self, seconds: float, every: float, validation: np.ndarray, reference: float) -> None:
        super().__init__()
        self.seconds, self.every = seconds, every
        self.validation, self.reference = validation, reference
        self.curve: list[dict[str, float]] = []
        self.trained = 0.0

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()
        self.next_eval = 0.0
        self._evaluate()

    def _evaluate(self) -> None:
        paused = time.perf_counter()
        self.trained += paused - self.started
        gap = float(np.mean(solve(self.model.policy, self.validation)[0]) / self.reference - 1)
        self.curve.append({"train_seconds": self.trained, "env_steps": self.num_timesteps, "validation_gap": gap})
        print(f"  {self.trained:6.0f} s, {self.num_timesteps:>9,} steps: validation greedy gap {100 * gap:.2f} %", flush=True)
        self.model.policy.set_training_mode(False)
        self.next_eval = self.trained + self.every
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        now = self.trained + time.perf_counter() - self.started
        if now >= self.seconds:
            self._evaluate()
            return False
        if now >= self.next_eval:
            self._evaluate()
        return True


def train(args: argparse.Namespace) -> None:
    th.set_num_threads(1)
    name = f"TSP{args.num_nodes}_{args.method}_seed{args.seed}_{args.minutes:g}min"
    path = args.records / "runs" / f"{name}.json"
    if path.exists() and not args.force:
        print(f"{path} exists (--force to run again)")
        return
    validation_ref = references(args.records, args.num_nodes, 1000, VALIDATION_SEED, "validation")["solvers"]["LKH-3 (elkai)"]
    test_ref = references(args.records, args.num_nodes, args.n_test, TEST_SEED, "test")["solvers"]
    validation = instances(args.num_nodes, 1000, VALIDATION_SEED)
    model = build_model(args.method, args.num_nodes, args.seed)
    budget = Budget(60 * args.minutes, args.eval_every, validation, validation_ref["mean_length"])
    print(f"{name}: training for {args.minutes:g} min", flush=True)
    model.learn(10**10, callback=budget)
    test = instances(args.num_nodes, args.n_test, TEST_SEED)
    lkh = test_ref["LKH-3 (elkai)"]["mean_length"]
    result: dict[str, Any] = {}
    decodings = (("greedy", 1, False), ("greedy_all_starts", 1, True), (f"best_of_{args.samples}", args.samples, False))
    for label, k, all_starts in decodings:
        start = time.perf_counter()
        mean_length = float(np.mean(solve(model.policy, test, n_samples=k, all_starts=all_starts)[0]))
        result[label] = {"mean_length": mean_length, "gap": mean_length / lkh - 1, "seconds": time.perf_counter() - start}
        print(f"  test {label}: mean tour length {mean_length:.4f}, gap {100 * (mean_length / lkh - 1):.2f} %", flush=True)
    record = {
        "num_nodes": args.num_nodes,
        "method": args.method,
        "seed": args.seed,
        "minutes": args.minutes,
        "env_steps": int(model.num_timesteps),
        "updates": int(model._n_updates),
        "curve": budget.curve,
        "test": result,
        "n_test": args.n_test,
        "network": NETWORK if args.method != "reinforce-mlp" else {"net_arch": [256, 256]},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "torch_threads": 1},
        "command": f"python -m scripts.benchmarks.routing train --method {args.method} --seed {args.seed} "
        f"--minutes {args.minutes:g} --num-nodes {args.num_nodes} --n-test {args.n_test}",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    if args.models:
        model.save(Path(args.models) / name)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------------------------
# The cost of a step, and the report


def cost(args: argparse.Namespace) -> None:
    """Seconds per env step of the env, of the attention policy's forward pass and of a whole update, by part."""
    th.set_num_threads(1)
    from sb3_reinforce.routing import TSPEnv

    model = build_model("reinforce-groups", args.num_nodes, 0)
    env = TSPEnv(num_nodes=args.num_nodes)
    env.reset(seed=0)
    start, steps = time.perf_counter(), 0
    for episode in range(200):
        env.reset(seed=episode)
        for action in np.random.default_rng(episode).permutation(args.num_nodes):
            env.step(action)
            steps += 1
    env_us = 1e6 * (time.perf_counter() - start) / steps
    # the env stack training steps: SB3's DummyVecEnv of N_ENVS envs (Monitor, info copies) and the masks
    from sb3_contrib.common.maskable.utils import get_action_masks

    vec_env = model.get_env()
    vec_env.reset()
    start, vec_steps = time.perf_counter(), 0
    for _ in range(10 * args.num_nodes):
        masks = get_action_masks(vec_env)
        vec_env.step(masks.argmax(axis=1))
        vec_steps += N_ENVS
    vec_env_us = 1e6 * (time.perf_counter() - start) / vec_steps
    extractor = model.policy.features_extractor
    locs = instances(args.num_nodes, N_ENVS, 0)
    obs = np.zeros((N_ENVS, 5 * args.num_nodes), dtype=np.float32)
    obs[:, : 2 * args.num_nodes] = locs.reshape(N_ENVS, -1)
    tensor = th.as_tensor(obs)
    extractor.eval()
    timings = {}
    with th.no_grad():
        for label, clear in (("kept encodings", False), ("encoder every step", True)):
            extractor(tensor)
            start = time.perf_counter()
            for _ in range(50):
                if clear:
                    extractor.train(False)
                extractor(tensor)
            timings[label] = 1e6 * (time.perf_counter() - start) / 50 / N_ENVS
    model.set_env(build_model("reinforce-groups", args.num_nodes, 0).get_env())
    start = time.perf_counter()
    model.learn(2 * EPISODES_PER_UPDATE * args.num_nodes)
    training_us = 1e6 * (time.perf_counter() - start) / model.num_timesteps
    rows = [
        ["`TSPEnv.step`", f"{env_us:.1f}"],
        [f"SB3's `DummyVecEnv` of {N_ENVS} `TSPEnv`, with `action_masks()`", f"{vec_env_us:.1f}"],
        ["the policy's forward pass, encodings kept (while collecting)", f"{timings['kept encodings']:.1f}"],
        ["the policy's forward pass, the encoder run every step", f"{timings['encoder every step']:.1f}"],
        ["training, all told (2 updates of the preset: rollouts and updates)", f"{training_us:.1f}"],
    ]
    command = f"python -m scripts.benchmarks.routing cost --num-nodes {args.num_nodes}"
    text = (
        f"% Generated by {command}: do not edit.\n\n"
        + markdown_table(["part", "µs per env step"], rows)
        + f"\n\nTSP{args.num_nodes}, batches of {N_ENVS} envs, one torch thread.\n"
    )
    args.records.mkdir(parents=True, exist_ok=True)
    (args.records / f"cost_TSP{args.num_nodes}.md").write_text(text)
    print(text)


def report(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(path.read_text()) for path in sorted((args.records / "runs").glob(f"TSP{args.num_nodes}_*.json"))]
    if not runs:
        raise SystemExit(f"no records in {args.records / 'runs'}: run python -m scripts.benchmarks.routing train first")
    n_tests = {run["n_test"] for run in runs}
    if len(n_tests) != 1:
        raise SystemExit(f"the TSP{args.num_nodes} records were evaluated on test sets of different sizes: {n_tests}")
    n_test = n_tests.pop()
    test_ref = references(args.records, args.num_nodes, n_test, TEST_SEED, "test")["solvers"]
    lkh = test_ref["LKH-3 (elkai)"]["mean_length"]
    rows = []
    # one row per method and budget, the shorter budgets first
    by_method: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for run in runs:
        by_method.setdefault((run["method"], run["minutes"]), []).append(run)
    keys = sorted(by_method, key=lambda key: (key[1], REPORTED.index(key[0])))
    sample_key = next(key for run in runs for key in run["test"] if key.startswith("best_of"))
    for method, minutes in keys:
        group = by_method[method, minutes]
        gaps = []
        for decoding in ("greedy", "greedy_all_starts", sample_key):
            values = [100 * run["test"][decoding]["gap"] for run in group if decoding in run["test"]]
            gaps.append(f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "-")
        steps = f"{int(np.median([run['env_steps'] for run in group])):,}"
        rows.append([method, len(group), f"{minutes:g}", steps, *gaps])
    for name, solver in test_ref.items():
        rows.append([name, "-", "-", "-", f"{100 * (solver['mean_length'] / lkh - 1):.2f}", "-", "-"])
    k = sample_key.split("_")[-1]
    headers = ["method", "seeds", "minutes", "env steps", "greedy gap (%)", "greedy from every start (%)"]
    table = markdown_table([*headers, f"best-of-{k} gap (%)"], rows)
    text = (
        f"% Generated by python -m scripts.benchmarks.routing report --num-nodes {args.num_nodes}: do not edit.\n\n"
        f"{table}\n\nGaps on {n_test:,} test instances, mean and standard deviation over seeds; "
        f"the LKH-3 row is the reference (mean tour length {lkh:.4f}).\n\n"
        f"![Greedy gap while training](TSP{args.num_nodes}.png)\n"
    )
    page = args.records / f"TSP{args.num_nodes}.md"
    if args.check:
        if not page.exists() or page.read_text() != text:
            raise SystemExit(f"{page} is out of date: run python -m scripts.benchmarks.routing report")
        print(f"{page} is up to date")
        return
    figure = args.records / f"TSP{args.num_nodes}.png"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for color, (method, minutes) in zip(plt.cm.tab10.colors, keys, strict=False):
        for index, run in enumerate(by_method[method, minutes]):
            curve = run["curve"]
            gaps = [100 * point["validation_gap"] for point in curve]
            label = f"{method} ({minutes:g} min)" if index == 0 else None
            axes[0].plot([point["train_seconds"] / 60 for point in curve], gaps, color=color, label=label, alpha=0.8)
            axes[1].plot([point["env_steps"] for point in curve], gaps, color=color, alpha=0.8)
    axes[0].set_xlabel("training minutes (one CPU thread)")
    axes[1].set_xlabel("env steps")
    axes[0].set_ylabel("greedy gap to LKH-3 on the validation set (%)")
    for axis in axes:
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"TSP{args.num_nodes}: each seed's greedy optimality gap while training")
    fig.tight_layout()
    fig.savefig(figure, dpi=110)
    page.write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function in (("references", None), ("instances", None), ("train", train), ("cost", cost), ("report", report)):
        command = commands.add_parser(name)
        command.add_argument("--num-nodes", type=int, default=20)
        command.add_argument("--n-test", type=int, default=10_000)
        command.add_argument("--records", type=Path, default=RECORDS, help="where the records are read and written")
        command.set_defaults(main=function)
    commands.choices["report"].add_argument("--check", action="store_true", help="exit 1 if the table is out of date")
    commands.choices["instances"].add_argument("--out", type=Path, required=True, help="folder for the .npy files")
    train_parser = commands.choices["train"]
    train_parser.add_argument("--method", choices=METHODS, required=True)
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.add_argument("--minutes", type=float, default=6.0, help="training wall-clock budget")
    train_parser.add_argument("--eval-every", type=float, default=30.0, help="seconds of training between validations")
    train_parser.add_argument("--samples", type=int, default=16, help="k of the best-of-k sampling evaluation")
    train_parser.add_argument("--models", default="logs/routing", help="where the trained models are saved")
    train_parser.add_argument("--force", action="store_true", help="run again when the record exists")
    args = parser.parse_args()
    if args.command == "instances":
        args.out.mkdir(parents=True, exist_ok=True)
        np.save(args.out / "validation.npy", instances(args.num_nodes, 1000, VALIDATION_SEED))
        np.save(args.out / "test.npy", instances(args.num_nodes, args.n_test, TEST_SEED))
        print(f"wrote {args.out / 'validation.npy'} and {args.out / 'test.npy'}")
        return
    if args.command == "references":
        for name, seed, n in (("validation", VALIDATION_SEED, 1000), ("test", TEST_SEED, args.n_test)):
            print(json.dumps(references(args.records, args.num_nodes, n, seed, name), indent=2))
        return
    args.main(args)


if __name__ == "__main__":
    main()
