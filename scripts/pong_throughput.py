"""Agent steps per second of Karpathy Pong: random actions (the env's ceiling) and REINFORCE training, same wrappers.

    python scripts/pong_throughput.py                           # both, 2 envs in SubprocVecEnv, ~1 minute each
    python scripts/pong_throughput.py --mode random --steps 50000

Both runs use ``make_pong_env`` (SubprocVecEnv, one process per env) with per-point episodes. The training run is
the preset of ``pong_hyperparameters()`` (rollouts and updates, as in ``scripts/train_pong.py``). Also reported:
the peak resident memory (VmHWM) of the main process and of every env worker, and the number of processors
the machine shows with its load average, since other jobs on the machine slow both runs down.
"""

import argparse
import json
import os
import time

import numpy as np


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size (VmHWM) of a process in MiB, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(env) -> list[int]:
    return [process.pid for process in getattr(env, "processes", [])]


def random_run(env_id: str, n_envs: int, steps: int, seed: int) -> dict:
    from sb3_reinforce.atari import make_pong_env

    env = make_pong_env(env_id, n_envs=n_envs, seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    scores = []
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        _, _, _, infos = env.step(rng.integers(0, 2, size=(n_envs, 1)))
        scores += [info["episode"]["r"] for info in infos if "episode" in info]
    elapsed = time.perf_counter() - start
    workers = [peak_rss_mb(pid) for pid in worker_pids(env)]
    env.close()
    return {
        "mode": "random",
        "agent_steps": steps // n_envs * n_envs,
        "steps_per_s": round(steps // n_envs * n_envs / elapsed, 1),
        "games": len(scores),
        "mean_game_score": round(float(np.mean(scores)), 2) if scores else None,
        "main_peak_rss_mb": round(peak_rss_mb() or 0, 1),
        "worker_peak_rss_mb": [round(w or 0, 1) for w in workers],
    }


def train_run(env_id: str, n_envs: int, steps: int, seed: int) -> dict:
    import torch as th

    from sb3_reinforce import REINFORCE
    from sb3_reinforce.atari import make_pong_env, pong_hyperparameters

    th.set_num_threads(1)
    env = make_pong_env(env_id, n_envs=n_envs, seed=seed)
    model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", **pong_hyperparameters())
    start = time.perf_counter()
    model.learn(steps)  # whole rollouts: may run past `steps`
    elapsed = time.perf_counter() - start
    workers = [peak_rss_mb(pid) for pid in worker_pids(env)]
    buffer = model.rollout_buffer
    env.close()
    return {
        "mode": "train",
        "agent_steps": model.num_timesteps,
        "updates": model._n_updates,
        "steps_per_s": round(model.num_timesteps / elapsed, 1),
        "buffer_obs_dtype": str(buffer.observations.dtype),
        "buffer_obs_mb": round(buffer.observations.nbytes / 2**20, 1),
        "main_peak_rss_mb": round(peak_rss_mb() or 0, 1),
        "worker_peak_rss_mb": [round(w or 0, 1) for w in workers],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="PongNoFrameskip-v4")
    parser.add_argument("--mode", choices=["random", "train", "both"], default="both")
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--n-envs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    machine = {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    runs = []
    if args.mode in ("random", "both"):
        runs.append(random_run(args.env_id, args.n_envs, args.steps, args.seed))
        print(json.dumps(runs[-1]), flush=True)
    if args.mode in ("train", "both"):
        runs.append(train_run(args.env_id, args.n_envs, args.steps, args.seed))
        print(json.dumps(runs[-1]), flush=True)
    machine["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"env_id": args.env_id, "n_envs": args.n_envs, "machine": machine, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
