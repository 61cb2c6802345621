"""Train REINFORCE on Pong from pixels (Karpathy's preset), with checkpoints, resume and a learning curve.

    python -m scripts.pong.train_pong --log-dir logs/pong                    # trains; run it again to resume
    python -m scripts.pong.train_pong --log-dir logs/pong --plot-only        # curve + summary from what was played
    python -m scripts.pong.train_pong --plot-only --compare seed0=docs/pong/seed0 seed1=docs/pong/seed1   # runs side by side
    python -m scripts.pong.train_pong --log-dir logs/pong --evaluate 20      # 20 games, stochastic and greedy

Writes to ``--log-dir``:
- ``checkpoints/reinforce_pong_<steps>_steps.zip``: every ``--checkpoint-freq`` agent steps; a new run with the
  same ``--log-dir`` resumes from the latest one (optimizer state included);
- ``monitor/<i>.monitor.csv``: SB3 Monitor files, one per env (whole games: score ``r``, emulator frames ``l``);
- ``games.csv``: every finished game as Monitor reports it (``info["episode"]``), stamped with the agent steps so
  far, so the curve's x-axis is exact across envs and resumes;
- ``learning_curve.png`` and ``summary.json``: game score vs agent steps and vs games, with Karpathy's running
  mean (0.99 decay) and the mean of the last 100 games, next to the random policy's score.
"""

import argparse
import csv
import glob
import itertools
import json
import os
import re
import time
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.logger import configure

RANDOM_SCORE = -20.3  # mean game score of a random UP/DOWN policy (python -m scripts.speed.throughput --settings pong-2)
KARPATHY_EPISODES = 8000  # games Karpathy's pg-pong.py needed to play slightly better than the built-in AI
GAMES_FIELDS = ["steps", "game", "score", "frames", "wall_s"]


class GameLogger(BaseCallback):
    """Append every game Monitor reports (``info["episode"]``) to a CSV file, with the agent steps so far.

    Stops training once the mean of the last 100 games reaches ``stop_mean`` or ``max_games`` games were played
    (both counted over the whole run, resumes included: ``scores`` holds the games kept from before).
    """

    def __init__(
        self,
        path: str,
        scores: list[float] | None = None,
        wall_offset: float = 0.0,
        stop_mean: float | None = None,
        max_games: int | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.scores = list(scores or [])
        self.wall_offset = wall_offset
        self.stop_mean = stop_mean
        self.max_games = max_games
        self.start = time.time()

    @property
    def n_games(self) -> int:
        return len(self.scores)

    def should_stop(self) -> bool:
        if self.max_games is not None and self.n_games >= self.max_games:
            return True
        return self.stop_mean is not None and self.n_games >= 100 and float(np.mean(self.scores[-100:])) >= self.stop_mean

    def _on_training_start(self) -> None:
        new = not os.path.exists(self.path)
        self.file = open(self.path, "a", newline="")  # noqa: SIM115 - closed in _on_training_end
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(GAMES_FIELDS)

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.scores.append(float(info["episode"]["r"]))
                wall = self.wall_offset + time.time() - self.start
                self.writer.writerow(
                    [self.num_timesteps, self.n_games, info["episode"]["r"], info["episode"]["l"], f"{wall:.1f}"]
                )
                self.file.flush()
        if self.should_stop():
            print(f"Stopping after {self.n_games} games: last-100 mean {np.mean(self.scores[-100:]):.2f}")
            return False
        return True

    def _on_training_end(self) -> None:
        self.file.close()


def latest_checkpoint(checkpoint_dir: str) -> tuple[str, int] | None:
    """Path and step count of the newest ``*_<steps>_steps.zip`` checkpoint, or None."""
    found = []
    for path in glob.glob(os.path.join(checkpoint_dir, "*_steps.zip")):
        match = re.search(r"_(\d+)_steps\.zip$", path)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        return None
    steps, path = max(found)
    return path, steps


def read_games(path: str) -> dict[str, np.ndarray]:
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: np.array([float(row[key]) for row in rows]) for key in GAMES_FIELDS}


def truncate_games(path: str, max_steps: int) -> tuple[list[float], float]:
    """Drop the games logged after the checkpoint we resume from; return the scores and wall time kept."""
    if not os.path.exists(path):
        return [], 0.0
    with open(path, newline="") as file:
        rows = [row for row in csv.DictReader(file) if int(row["steps"]) <= max_steps]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=GAMES_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return [float(row["score"]) for row in rows], float(rows[-1]["wall_s"]) if rows else 0.0


def running_mean(scores: np.ndarray, decay: float = 0.99) -> np.ndarray:
    """Karpathy's ``running_reward = running_reward * 0.99 + reward_sum * 0.01``, started at the first game."""
    out = np.empty_like(scores)
    value = scores[0] if len(scores) else 0.0
    for i, score in enumerate(scores):
        value = value * decay + score * (1 - decay) if i else score
        out[i] = value
    return out


def window_mean(scores: np.ndarray, window: int = 100) -> np.ndarray:
    cumsum = np.concatenate([[0.0], np.cumsum(scores)])
    idx = np.arange(1, len(scores) + 1)
    start = np.maximum(idx - window, 0)
    return (cumsum[idx] - cumsum[start]) / (idx - start)


def first_game_reaching(last100: np.ndarray, threshold: float) -> int | None:
    """
    Index of the first game after which the mean of the last 100 games is at least ``threshold``, or None; the
    first 99 games (fewer than 100 in the window) never count.

    :param last100: ``window_mean(scores)``, shape (n_games,)
    """
    reached = np.flatnonzero(last100[99:] >= threshold)
    return int(reached[0]) + 99 if len(reached) else None


def summarise_and_plot(log_dir: str, env_id: str) -> dict[str, Any]:
    games = read_games(os.path.join(log_dir, "games.csv"))
    scores, steps = games["score"], games["steps"]
    if len(scores) == 0:
        raise SystemExit(f"No finished game in {log_dir}/games.csv yet")
    running, last100 = running_mean(scores), window_mean(scores)
    summary: dict[str, Any] = {
        "env_id": env_id,
        "games": len(scores),
        "agent_steps": int(steps[-1]),
        "wall_hours": round(float(games["wall_s"][-1]) / 3600, 2),
        "steps_per_s": round(float(steps[-1] / max(games["wall_s"][-1], 1e-9)), 1),
        "first_100_games_mean": round(float(scores[:100].mean()), 2),
        "last_100_games_mean": round(float(last100[-1]), 2),
        "best_100_games_mean": round(float(last100[99:].max()), 2) if len(scores) >= 100 else None,
        "running_mean_0.99": round(float(running[-1]), 2),
        "random_policy_score": RANDOM_SCORE,
        "karpathy_games": KARPATHY_EPISODES,
    }
    for threshold in (-19, -17, -15, -10, 0, 15):
        index = first_game_reaching(last100, threshold)
        summary[f"games_to_mean100_{threshold}"] = index + 1 if index is not None else None
        summary[f"steps_to_mean100_{threshold}"] = int(steps[index]) if index is not None else None
    with open(os.path.join(log_dir, "summary.json"), "w") as file:
        json.dump(summary, file, indent=2)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    game_idx = np.arange(1, len(scores) + 1)
    for ax, x, label in ((axes[0], steps / 1e6, "agent steps (millions)"), (axes[1], game_idx, "games (episodes)")):
        ax.plot(x, scores, ".", ms=2, alpha=0.3, color="grey", label="game score")
        ax.plot(x, last100, lw=1.5, label="mean of last 100 games")
        ax.plot(x, running, lw=1.5, label="running mean (0.99, Karpathy)")
        ax.axhline(RANDOM_SCORE, ls="--", color="red", lw=1, label=f"random policy ({RANDOM_SCORE})")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("game score (-21..21)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(
        f"REINFORCE, Karpathy preset, {env_id}: {len(scores)} games, {steps[-1] / 1e6:.2f}M agent steps, "
        f"last-100 mean {last100[-1]:.1f} (Karpathy: ~{KARPATHY_EPISODES} games to ~0)"
    )
    fig.tight_layout()
    fig.savefig(os.path.join(log_dir, "learning_curve.png"), dpi=100)
    plt.close(fig)
    return summary


def evaluate_final_policy(log_dir: str, env_id: str, n_games: int, seed: int) -> dict[str, Any]:
    """
    Play ``n_games`` whole games against the built-in AI with the run's latest checkpoint, once sampling the
    actions (the policy REINFORCE trains) and once greedily (P(UP) > 0.5); write ``evaluation.json``. Both the
    env and the action sampling are seeded with ``seed``, so a rerun gives the same games.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_reinforce import REINFORCE
    from sb3_reinforce.atari import make_pong_env

    found = latest_checkpoint(os.path.join(log_dir, "checkpoints"))
    if found is None:
        raise SystemExit(f"No checkpoint in {log_dir}/checkpoints")
    path, steps = found
    model = REINFORCE.load(path, device="cpu")
    result: dict[str, Any] = {"checkpoint": os.path.basename(path), "agent_steps": steps, "games": n_games}
    for mode, deterministic in (("stochastic", False), ("greedy", True)):
        model.set_random_seed(seed)  # torch's sampling too: a rerun plays the same games
        # whole games (no per-point episodes), one env: Monitor's episodes are games
        env = make_pong_env(env_id, n_envs=1, seed=seed, per_point=False, vec_env_cls=None)
        scores, lengths = evaluate_policy(
            model, env, n_eval_episodes=n_games, deterministic=deterministic, return_episode_rewards=True
        )
        env.close()
        # PongNoFrameskip-v4 has no randomness of its own: greedy games there can be one game played n times
        distinct = len(set(zip(scores, lengths, strict=True)))
        result[mode] = {
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
            "scores": [float(s) for s in scores],
            "frames": [int(n) for n in lengths],
            "distinct_games": distinct,
        }
        print(
            f"{mode}: {np.mean(scores):+.2f} +/- {np.std(scores):.2f} over {n_games} games ({distinct} distinct "
            "score-length pairs)",
            flush=True,
        )
    with open(os.path.join(log_dir, "evaluation.json"), "w") as file:
        json.dump(result, file, indent=2)
    return result


COMPARE_THRESHOLDS = (-15, -10, 0, 15)


def run_env_id(folder: str) -> str:
    """The env id in a run folder's ``summary.json`` (written by ``--plot-only``), or "?" when it has none."""
    path = os.path.join(folder, "summary.json")
    if not os.path.exists(path):
        return "?"
    with open(path) as file:
        return str(json.load(file).get("env_id", "?"))


def min_max_bands(curves: list[np.ndarray], env_ids: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """
    The min and max of the 100-game means over the runs of each env that has more than one run, up to the
    shortest of those runs: runs of different games (sticky actions or not) never share a band.

    :param curves: one 100-game mean per run, shape (n_games_of_the_run,)
    :param env_ids: the env of each run
    :return: env id -> (min, max), each of shape (shortest run of that env,)
    """
    bands = {}
    for env_id in dict.fromkeys(env_ids):
        group = [curve for curve, other in zip(curves, env_ids, strict=True) if other == env_id]
        n_games = min(len(curve) for curve in group)
        if len(group) > 1 and n_games > 0:
            stacked = np.array([curve[:n_games] for curve in group])  # (n_runs, n_games)
            bands[env_id] = (stacked.min(axis=0), stacked.max(axis=0))
    return bands


def compare_runs(runs: list[str], output: str) -> str:
    """
    One figure with every run's 100-game mean against games played (and, for each env with several runs, the
    min-max band over them), and a markdown table with a row per run: its env, the games and agent steps to each
    of COMPARE_THRESHOLDS, wall-clock hours, agent steps/s and the final 100-game mean. The numbers come from each
    run's ``games.csv``, the env from its ``summary.json``.

    :param runs: ``LABEL=DIR`` (or ``DIR``): a run's label and its log folder (or any folder with its games.csv)
    :param output: path of the PNG
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, curves, env_ids = [], [], []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        label, _, folder = run.rpartition("=")
        label = label or folder
        env_id = run_env_id(folder)
        games = read_games(os.path.join(folder, "games.csv"))
        scores, steps, wall = games["score"], games["steps"], games["wall_s"]
        last100 = window_mean(scores)
        curves.append(last100)
        env_ids.append(env_id)
        ax.plot(np.arange(1, len(scores) + 1), last100, lw=1.2, label=f"{label} ({env_id})")
        cells = [label, env_id]
        for threshold in COMPARE_THRESHOLDS:
            index = first_game_reaching(last100, threshold)
            if index is not None:
                cells.append(f"{index + 1:,} / {steps[index] / 1e6:.2f}M")
            else:
                cells.append(f"not in {len(scores):,}")
        cells += [
            f"{len(scores):,} / {steps[-1] / 1e6:.2f}M",
            f"{wall[-1] / 3600:.2f}",
            f"{steps[-1] / max(wall[-1], 1e-9):,.0f}",
            f"{last100[-1]:+.1f}",
        ]
        rows.append(cells)
    band_colours = itertools.cycle(("grey", "tab:olive", "tab:cyan"))
    for (env_id, (low, high)), colour in zip(min_max_bands(curves, env_ids).items(), band_colours, strict=False):
        x = np.arange(1, len(low) + 1)
        ax.fill_between(x, low, high, alpha=0.15, color=colour, label=f"min-max, {env_id}")
    ax.axhline(RANDOM_SCORE, ls="--", color="red", lw=1, label=f"random policy ({RANDOM_SCORE})")
    ax.axhline(0, ls=":", color="black", lw=1)
    ax.set_xlabel("games played")
    ax.set_ylabel("mean score of the last 100 games")
    ax.set_title(f"REINFORCE, Karpathy preset: {len(runs)} runs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    header = (
        ["run", "env"]
        + [f"games / steps to {t:+d}" for t in COMPARE_THRESHOLDS]
        + ["games / steps played", "wall hours", "agent steps/s", "final 100-game mean"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="PongNoFrameskip-v4")
    parser.add_argument("--log-dir", default="logs/pong")
    parser.add_argument("--timesteps", type=float, default=20e6, help="total agent steps, resumes included")
    parser.add_argument("--n-envs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-freq", type=float, default=250_000, help="agent steps between checkpoints")
    parser.add_argument("--whole-games", action="store_true", help="one episode per game (default: per point)")
    parser.add_argument("--kwargs", type=json.loads, default={}, help="JSON overrides of the preset hyperparameters")
    parser.add_argument("--stop-mean", type=float, default=15.0, help="stop once the last-100-game mean reaches it")
    parser.add_argument("--max-games", type=int, default=3000, help="stop after this many games")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=DIR",
        help="with --plot-only: one figure and one table over these runs (their games.csv), written to --output",
    )
    parser.add_argument("--output", default="docs/pong/seeds.png", help="the PNG of --compare")
    parser.add_argument(
        "--evaluate", type=int, default=0, metavar="N", help="play N whole games with the latest checkpoint, then stop"
    )
    args = parser.parse_args()

    if args.evaluate:
        evaluate_final_policy(args.log_dir, args.env_id, args.evaluate, seed=10_000 + args.seed)
        return
    if args.plot_only and args.compare:
        print(compare_runs(args.compare, args.output))
        return
    if args.plot_only:
        print(json.dumps(summarise_and_plot(args.log_dir, args.env_id), indent=2))
        return

    import torch as th

    from sb3_reinforce import REINFORCE
    from sb3_reinforce.atari import make_pong_env, pong_hyperparameters

    th.set_num_threads(1)  # the two env processes need the other cores
    os.makedirs(args.log_dir, exist_ok=True)
    checkpoint_dir = os.path.join(args.log_dir, "checkpoints")
    games_path = os.path.join(args.log_dir, "games.csv")
    resume = latest_checkpoint(checkpoint_dir)

    env = make_pong_env(
        args.env_id,
        n_envs=args.n_envs,
        # a resumed run must not replay the games of the first one
        seed=args.seed + (resume[1] if resume else 0),
        per_point=not args.whole_games,
        monitor_dir=os.path.join(args.log_dir, "monitor"),
        # append to the Monitor files when resuming (without rewriting their header)
        monitor_kwargs=dict(override_existing=resume is None),
    )
    if resume is None:
        if os.path.exists(games_path):
            os.remove(games_path)
        hyperparams = {**pong_hyperparameters(), **args.kwargs}
        model = REINFORCE("MlpPolicy", env, seed=args.seed, device="cpu", verbose=1, **hyperparams)
        scores, wall_offset = [], 0.0
    else:
        path, steps = resume
        print(f"Resuming from {path}")
        model = REINFORCE.load(path, env=env, device="cpu")
        scores, wall_offset = truncate_games(games_path, steps)
    model.set_logger(configure(os.path.join(args.log_dir, f"sb3_log_{model.num_timesteps}"), ["stdout", "csv"]))

    game_logger = GameLogger(games_path, scores, wall_offset, stop_mean=args.stop_mean, max_games=args.max_games)
    if game_logger.should_stop() or model.num_timesteps >= int(args.timesteps):
        print(f"Already done: {game_logger.n_games} games, {model.num_timesteps} agent steps")
        env.close()
        print(json.dumps(summarise_and_plot(args.log_dir, args.env_id), indent=2))
        return
    callbacks = CallbackList(
        [
            CheckpointCallback(max(int(args.checkpoint_freq) // args.n_envs, 1), checkpoint_dir, name_prefix="reinforce_pong"),
            game_logger,
        ]
    )
    try:
        model.learn(int(args.timesteps) - model.num_timesteps, callback=callbacks, reset_num_timesteps=False)
    finally:
        model.save(os.path.join(checkpoint_dir, f"reinforce_pong_{model.num_timesteps}_steps"))
        env.close()
    print(json.dumps(summarise_and_plot(args.log_dir, args.env_id), indent=2))


if __name__ == "__main__":
    main()
