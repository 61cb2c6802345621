"""The study scripts' --quick modes: they run end to end, write their figure and table, and resume from cache."""

import importlib
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script, figure",
    [("variance", "variance"), ("ablation", "ablation"), ("sweep", "sweep"), ("baseline_curves", "baselines")],
)
def test_quick_mode_writes_figure_and_table(script, figure, tmp_path, capsys):
    argv = ["--quick", "--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    main = importlib.import_module(f"scripts.studies.{script}").main
    main(argv)
    assert (tmp_path / "figures" / f"{figure}_quick.png").stat().st_size > 1000
    assert "|" in (tmp_path / "figures" / f"{figure}_quick.md").read_text()
    # a second run only reads the cache
    capsys.readouterr()
    main(argv)
    assert " 0 to run" in capsys.readouterr().out


def test_benchmark_writes_table_and_curves(tmp_path):
    """zoo_benchmark on a tiny budget: one row per algo, both evaluations, a curve, and a cached rerun."""
    import subprocess

    output = tmp_path / "bench.md"
    command = [
        sys.executable,
        "-m",
        "scripts.benchmarks.zoo_benchmark",
        "--envs",
        "CartPole-v1",
        "--algos",
        "reinforce",
        "a2c",
        "--seeds",
        "0",
        "--n-timesteps",
        "CartPole-v1=1500",
        "--eval-episodes",
        "2",
        "--cache",
        str(tmp_path / "cache"),
        "--logs",
        str(tmp_path / "logs"),
        "--output",
        str(output),
        "--plots",
        str(tmp_path / "plots"),
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert first.returncode == 0, first.stderr
    assert "0 runs cached, 2 to run" in first.stdout
    table = [line for line in output.read_text().splitlines() if line.startswith("| CartPole-v1 |")]
    assert [line.split("|")[2].strip() for line in table] == ["reinforce", "a2c"]
    for line in table:
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert cells[2].endswith("(2 ep.)")  # deterministic eval
        assert "+/-" in cells[3]  # stochastic eval was recorded
        assert int(cells[4].replace(",", "")) == 1500
    assert "CartPole-v1: REINFORCE trains at" in output.read_text()
    assert (tmp_path / "plots" / "bench_CartPole-v1.png").stat().st_size > 1000
    # the JSON records (committed by default) and the zoo's logs and models (not committed) go to their own folders
    assert sorted(path.name for path in (tmp_path / "cache").rglob("*") if path.is_file()) == [
        "a2c_seed0_n1500.json",
        "reinforce_seed0_n1500.json",
    ]
    assert len(list((tmp_path / "logs").rglob("CartPole-v1.zip"))) == 2
    second = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert second.returncode == 0, second.stderr
    assert "2 runs cached, 0 to run" in second.stdout


def test_throughput_quick_prints_the_table_and_writes_json(tmp_path, monkeypatch, capsys):
    """scripts/speed/throughput.py --quick on CartPole: one row per setting, a rate and a ratio per algorithm."""
    import json

    output = tmp_path / "throughput.json"
    monkeypatch.setattr(
        sys, "argv", ["throughput.py", "--quick", "--settings", "cartpole-1", "cartpole-8", "--output", str(output)]
    )
    from scripts.speed import throughput

    throughput.main()
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| cartpole-")]
    assert len(rows) == 2 and all(line.count("(") == 3 for line in rows)  # three ratios: reinforce, a2c, ppo
    results = json.loads(output.read_text())["results"]
    assert {(r["setting"], r["algo"]) for r in results} == {
        (setting, algo) for setting in ("cartpole-1", "cartpole-8") for algo in ("random", "reinforce", "a2c", "ppo")
    }
    assert all(r["median"] > 0 for r in results)


def test_why_behind_reads_benchmark_runs(tmp_path):
    """scripts/studies/why_behind.py on zoo_benchmark's cache: updates, steps per update and action std of both algos, and
    REINFORCE's gradient statistics at two batch sizes."""
    import json
    import subprocess

    cache = tmp_path / "cache"
    bench = [sys.executable, "-m", "scripts.benchmarks.zoo_benchmark", "--envs", "Pendulum-v1", "--algos", "reinforce", "a2c"]
    bench += ["--seeds", "0", "--n-timesteps", "Pendulum-v1=1600", "--eval-episodes", "1", "--cache", str(cache)]
    bench += ["--logs", str(tmp_path / "logs")]
    bench += ["--output", str(tmp_path / "bench.md"), "--plots", str(tmp_path / "plots")]
    done = subprocess.run(bench, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    output = tmp_path / "why.md"
    why = [sys.executable, "-m", "scripts.studies.why_behind", "--cache", str(cache / "Pendulum-v1"), "--seed", "0"]
    why += ["--n-batches", "2", "--reference-batches", "2", "--value-batches", "1", "--output", str(output)]
    done = subprocess.run(why, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    results = json.loads(output.with_suffix(".json").read_text())
    reinforce, a2c = results
    assert (reinforce["algo"], a2c["algo"]) == ("reinforce", "a2c")
    # the preset's n_episodes whole 200-step episodes per update; A2C's zoo preset: 8 envs x 8 steps per update
    with open(REPO_ROOT / "hyperparams" / "reinforce.yml") as file:
        n_episodes = yaml.safe_load(file)["Pendulum-v1"]["n_episodes"]
    steps_per_update = 200 * n_episodes
    assert reinforce["n_updates"] == 1600 // steps_per_update and reinforce["steps_per_update"] == steps_per_update
    assert a2c["n_updates"] == 1600 // 64 and a2c["steps_per_update"] == 64
    assert 0 < reinforce["action_std"] < 10 and 0 < a2c["action_std"] < 10
    keys = {f"gradient_{n_episodes}", f"gradient_{4 * n_episodes}"}
    assert set(reinforce) >= keys and not keys & set(a2c)
    for key in keys:
        assert reinforce[key]["n_episodes"] == int(key.split("_")[1])
        assert set(reinforce[key]["estimators"]) == {"reward_to_go", "value_baseline"}
    assert f"| reinforce | {1600 // steps_per_update} | {steps_per_update} |" in output.read_text()


def test_sequence_task_quick_mode_writes_table_and_figure_and_resumes(tmp_path, capsys):
    from scripts.studies.sequence_task import main

    argv = ["--quick", "--output", str(tmp_path)]
    main(argv)
    table = (tmp_path / "sequence_task.md").read_text()
    for variant in ("grouped leave-one-out (RLOO)", "grouped, std-scaled (GRPO)", "batch leave-one-out", "no baseline"):
        assert f"| {variant} |" in table
    assert (tmp_path / "sequence_task.png").stat().st_size > 1000
    assert len(list((tmp_path / "runs").glob("*.json"))) == 10
    capsys.readouterr()
    main(argv)
    assert " 0 to run" in capsys.readouterr().out


def test_solve_cartpole_times_runs_and_reports_seeds(monkeypatch, capsys):
    """solve_cartpole's two commands on a tiny budget: a row per run, and a row per seed with its summary."""
    from scripts.benchmarks import solve_cartpole

    monkeypatch.setattr(
        sys, "argv", ["solve_cartpole", "time", "--seeds", "0", "--budget", "2000", "--runs", "reinforce-defaults"]
    )
    solve_cartpole.main()
    out = capsys.readouterr().out
    assert "python -m scripts.benchmarks.solve_cartpole time --seeds 0 --budget 2000" in out
    assert "| reinforce-defaults | 0/1 | - | not solved | - |" in out  # 2,000 steps do not solve CartPole

    monkeypatch.setattr(sys, "argv", ["solve_cartpole", "seeds", "--seeds", "0", "--timesteps", "2000", "--workers", "1"])
    solve_cartpole.main()
    out = capsys.readouterr().out
    assert out.count("| 0 | not solved |") == 1
    assert "solved 0/1, still solved at the end 0/1" in out


def test_routing_benchmark_trains_evaluates_and_reports(tmp_path, monkeypatch, capsys):
    """The routing benchmark on a tiny budget: references, a run's record (curve, greedy and best-of-k gaps) and the
    report's table; the REINFORCE runs use the TSP20-v0 preset's settings."""
    import json

    from scripts.benchmarks import routing

    records = tmp_path / "routing"
    for method in ("reinforce-groups", "reinforce-pomo", "maskableppo"):
        argv = ["routing", "train", "--method", method, "--minutes", "0.02", "--eval-every", "0.5", "--n-test", "40"]
        monkeypatch.setattr(sys, "argv", [*argv, "--samples", "2", "--records", str(records), "--models", ""])
        routing.main()
    run = json.loads((records / "runs" / "TSP20_reinforce-groups_seed0_0.02min.json").read_text())
    assert run["env_steps"] > 0 and len(run["curve"]) >= 2
    assert run["curve"][-1]["train_seconds"] >= 0.02 * 60
    assert run["test"]["best_of_2"]["mean_length"] > 0 and run["test"]["greedy"]["mean_length"] > 0
    references = json.loads((records / "references_TSP20_test_n40.json").read_text())["solvers"]
    lkh = references["LKH-3 (elkai)"]["mean_length"]
    # LKH-3 is within a percent of optimal on TSP20: the heuristics are longer, a barely trained policy much longer
    assert lkh < references["farthest insertion"]["mean_length"] < references["nearest neighbour"]["mean_length"]
    assert run["test"]["greedy"]["gap"] == pytest.approx(run["test"]["greedy"]["mean_length"] / lkh - 1)
    pomo = json.loads((records / "runs" / "TSP20_reinforce-pomo_seed0_0.02min.json").read_text())
    for record in (run, pomo):
        # the greedy tour from the start the policy picks is one of the greedy tours from every start
        assert record["test"]["greedy_all_starts"]["mean_length"] <= record["test"]["greedy"]["mean_length"]
    capsys.readouterr()
    # the report reads the test set's size from the records
    monkeypatch.setattr(sys, "argv", ["routing", "report", "--records", str(records)])
    routing.main()
    table = (records / "TSP20.md").read_text()
    assert "| reinforce-groups | 1 |" in table and "| maskableppo | 1 |" in table and "| LKH-3 (elkai) |" in table
    assert "| reinforce-pomo | 1 |" in table
    assert (records / "TSP20.png").stat().st_size > 1000


def test_routing_benchmark_runs_the_tsp_preset():
    """reinforce-groups is the TSP20-v0 preset of hyperparams/reinforce.yml."""
    from scripts.benchmarks import routing

    preset = yaml.safe_load((REPO_ROOT / "hyperparams" / "reinforce.yml").read_text())["TSP20-v0"]
    model = routing.build_model("reinforce-groups", 20, seed=0)
    assert preset["policy"] == "AttentionPolicy" and preset["n_envs"] == model.n_envs
    for key in ("n_episodes", "group_size", "gamma", "reward_to_go", "normalize_advantage", "learning_rate", "max_grad_norm"):
        assert getattr(model, key) == preset[key], key
    extractor = model.policy.features_extractor
    network = {key: getattr(extractor, key, None) for key in ("embed_dim", "n_heads")}
    assert f"embed_dim={network['embed_dim']}, n_heads={network['n_heads']}" in preset["policy_kwargs"]
    assert (
        preset["policy_kwargs"]
        == f"dict(features_extractor_kwargs=dict({', '.join(f'{k}={v}' for k, v in routing.NETWORK.items())}))"
    )


def test_routing_cost_writes_its_table(tmp_path, monkeypatch, capsys):
    """The per-step cost table: the env, and the policy with its encodings kept and recomputed (the slower)."""
    from scripts.benchmarks import routing

    monkeypatch.setattr(sys, "argv", ["routing", "cost", "--num-nodes", "10", "--records", str(tmp_path)])
    routing.main()
    rows = [line.split("|") for line in (tmp_path / "cost_TSP10.md").read_text().splitlines() if line.startswith("| ")]
    microseconds = {cells[1].strip(): float(cells[2]) for cells in rows[1:]}
    assert len(microseconds) == 5 and all(value > 0 for value in microseconds.values())
    kept = microseconds["the policy's forward pass, encodings kept (while collecting)"]
    assert kept < microseconds["the policy's forward pass, the encoder run every step"]  # the encoder's cost saved


def test_the_committed_routing_table_is_what_the_committed_records_give(monkeypatch):
    from scripts.benchmarks import routing

    monkeypatch.setattr(sys, "argv", ["routing", "report", "--check"])
    routing.main()  # SystemExit when the table differs
