"""scripts/pong/train_pong.py's bookkeeping: the stopping rule, resuming the games log, and the per-seed table."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def train_pong():
    from scripts.pong import train_pong

    return train_pong


def write_games(path: Path, scores: list[float], steps_per_game: int = 1000, seconds_per_game: float = 2.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["steps", "game", "score", "frames", "wall_s"])
        for i, score in enumerate(scores, 1):
            writer.writerow([i * steps_per_game, i, score, 4 * steps_per_game, i * seconds_per_game])


def test_stops_at_the_mean_of_the_last_100_games_or_the_game_limit(train_pong):
    logger = train_pong.GameLogger("unused.csv", scores=[-21.0] * 50 + [15.0] * 99, stop_mean=15.0, max_games=3000)
    assert not logger.should_stop()  # 99 games at 15 and one at -21 in the last 100: 14.64
    logger.scores.append(15.0)
    assert logger.should_stop()
    assert not train_pong.GameLogger("u.csv", scores=[21.0] * 99, stop_mean=15.0).should_stop()  # fewer than 100
    assert train_pong.GameLogger("u.csv", scores=[-21.0] * 3000, stop_mean=15.0, max_games=3000).should_stop()
    assert not train_pong.GameLogger("u.csv", scores=[-21.0] * 2999, stop_mean=15.0, max_games=3000).should_stop()


def test_resume_keeps_the_games_played_up_to_the_checkpoint(train_pong, tmp_path):
    path = tmp_path / "games.csv"
    write_games(path, [-21.0, -20.0, -19.0, -18.0])  # at steps 1000 .. 4000
    scores, wall = train_pong.truncate_games(str(path), max_steps=2500)
    assert scores == [-21.0, -20.0] and wall == 4.0
    assert train_pong.read_games(str(path))["score"].tolist() == [-21.0, -20.0]
    assert train_pong.truncate_games(str(tmp_path / "missing.csv"), 100) == ([], 0.0)


def test_compare_table_reads_every_number_from_the_games(train_pong, tmp_path):
    # run a: 100 games at -21, then 100 at +21: the 100-game mean passes -15 at game 115 (15 wins: (-21*85 + 21*15)
    # / 100 = -14.7), -10 at game 127, 0 at game 150 and +15 at game 186
    write_games(tmp_path / "a" / "games.csv", [-21.0] * 100 + [21.0] * 100)
    write_games(tmp_path / "b" / "games.csv", [-21.0] * 150, steps_per_game=500, seconds_per_game=1.0)
    (tmp_path / "a" / "summary.json").write_text(json.dumps({"env_id": "ALE/Pong-v5"}))  # b has no summary
    png = tmp_path / "seeds.png"
    table = train_pong.compare_runs([f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}"], str(png))
    lines = table.splitlines()
    assert len(lines) == 4 and png.stat().st_size > 1000
    row_a = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert row_a == [
        "a",
        "ALE/Pong-v5",
        "115 / 0.12M",
        "127 / 0.13M",
        "150 / 0.15M",
        "186 / 0.19M",
        "200 / 0.20M",
        f"{400 / 3600:.2f}",
        "500",
        "+21.0",
    ]
    row_b = [cell.strip() for cell in lines[3].strip("|").split("|")]
    assert row_b[1] == "?" and row_b[2:6] == ["not in 150"] * 4 and row_b[-1] == "-21.0"
    np.testing.assert_allclose(float(row_b[-2]), 500.0)  # 0.075M steps in 150 s


def test_bands_never_mix_the_runs_of_two_envs(train_pong):
    # two NoFrameskip runs of 3 and 4 games, one Pong-v5 run: one band, over the NoFrameskip runs' first 3 games
    curves = [np.array([1.0, 5.0, 2.0]), np.array([3.0, 0.0, 4.0, 9.0]), np.array([-50.0, 50.0, -50.0])]
    bands = train_pong.min_max_bands(curves, ["NoFrameskip", "NoFrameskip", "v5"])
    assert list(bands) == ["NoFrameskip"]
    low, high = bands["NoFrameskip"]
    np.testing.assert_array_equal(low, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(high, [3.0, 5.0, 4.0])
    assert train_pong.min_max_bands(curves, ["a", "b", "c"]) == {}


def test_evaluation_plays_whole_games_with_the_latest_checkpoint(train_pong, tmp_path):
    """--evaluate: loads the newest checkpoint, plays whole games (scores -21..21, not points) both ways and
    records every game's score and length."""
    from sb3_reinforce import REINFORCE
    from sb3_reinforce.atari import make_pong_env, pong_hyperparameters

    env = make_pong_env("PongNoFrameskip-v4", n_envs=1, seed=0, vec_env_cls=None)
    model = REINFORCE("MlpPolicy", env, device="cpu", **pong_hyperparameters())
    (tmp_path / "checkpoints").mkdir()
    model.save(tmp_path / "checkpoints" / "reinforce_pong_100_steps.zip")
    model.policy.action_net.bias.data.fill_(-50.0)  # P(UP) ~ 0: a policy that only moves down
    model.save(tmp_path / "checkpoints" / "reinforce_pong_200_steps.zip")
    env.close()

    result = train_pong.evaluate_final_policy(str(tmp_path), "PongNoFrameskip-v4", n_games=1, seed=0)
    assert result["checkpoint"] == "reinforce_pong_200_steps.zip" and result["agent_steps"] == 200
    for mode in ("stochastic", "greedy"):
        # the paddle pinned at the bottom loses the whole game: 21 points, far more frames than one point
        assert result[mode]["scores"] == [-21.0]
        assert result[mode]["frames"][0] > 21 * 100
        assert result[mode]["distinct_games"] == 1
    assert json.loads((tmp_path / "evaluation.json").read_text()) == result


def test_evaluation_replays_the_same_games_when_run_again(train_pong, tmp_path):
    """The committed evaluations can be regenerated: sampling is seeded, not only the env."""
    from sb3_reinforce import REINFORCE
    from sb3_reinforce.atari import make_pong_env, pong_hyperparameters

    env = make_pong_env("PongNoFrameskip-v4", n_envs=1, seed=0, vec_env_cls=None)
    # no seed in the checkpoint (loading a seeded one reseeds torch): untrained, P(UP) ~ 0.5, random play
    model = REINFORCE("MlpPolicy", env, device="cpu", **pong_hyperparameters())
    (tmp_path / "checkpoints").mkdir()
    model.save(tmp_path / "checkpoints" / "reinforce_pong_100_steps.zip")
    env.close()

    first = train_pong.evaluate_final_policy(str(tmp_path), "PongNoFrameskip-v4", n_games=1, seed=3)
    second = train_pong.evaluate_final_policy(str(tmp_path), "PongNoFrameskip-v4", n_games=1, seed=3)
    assert first["stochastic"]["frames"] == second["stochastic"]["frames"]
    assert first == second
