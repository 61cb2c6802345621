"""scripts/docs/results_tables.py: the committed tables are what the committed run records give, and follow the records."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results_tables():
    from scripts.docs import results_tables

    return results_tables


def test_committed_tables_match_the_committed_records(results_tables, tmp_path):
    """Regenerating from the committed records gives the committed files, byte for byte, and README's table."""
    generated = results_tables.render(REPO_ROOT, plots=tmp_path)
    assert set(generated) == {
        results_tables.GENERATED / name
        for name in ("mujoco.md", "pendulum.md", "classic.md", "lunarlander.md", "groups.md", "baselines.md", "pong.md")
    }
    for path, text in generated.items():
        assert (REPO_ROOT / path).read_text() == text, f"{path} is out of date: run python -m scripts.docs.results_tables"
    for image in ("mujoco_3seeds_Hopper-v5.png", "mujoco_3seeds_HalfCheetah-v5.png", "baselines.png", "pong.png"):
        assert (tmp_path / image).stat().st_size > 10_000
        assert (REPO_ROOT / results_tables.GENERATED / image).is_file(), f"{image} is not committed"
    readme = (REPO_ROOT / "README.md").read_text()
    assert results_tables.with_headline(readme, results_tables.headline(REPO_ROOT)) == readme, (
        "README.md's results table is out of date: run python -m scripts.docs.results_tables"
    )


def _copy_mujoco_records(results_tables, root: Path) -> None:
    for path in results_tables.MUJOCO.record_paths(REPO_ROOT).values():
        target = root / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (root / "hyperparams").mkdir()
    shutil.copy(REPO_ROOT / "hyperparams" / "reinforce.yml", root / "hyperparams" / "reinforce.yml")


def test_a_changed_record_changes_the_table(results_tables, tmp_path):
    root = tmp_path / "repo"
    _copy_mujoco_records(results_tables, root)
    committed = (REPO_ROOT / results_tables.GENERATED / "mujoco.md").read_text()
    assert results_tables.benchmark_page(results_tables.MUJOCO, root, tmp_path) == committed

    record = results_tables.MUJOCO.record_paths(root)[("Hopper-v5", "reinforce", 0)]
    run = json.loads(record.read_text())
    run["eval_rewards"] = [reward + 100.0 for reward in run["eval_rewards"]]
    record.write_text(json.dumps(run))
    changed = results_tables.benchmark_page(results_tables.MUJOCO, root, tmp_path)
    assert changed != committed
    assert "1252.3, 1341.9, 1348.9" in changed  # seed 0's deterministic eval, 100 higher

    # a change the table does not show still changes the file, through the records' digest
    run["eval_rewards"] = [reward - 100.0 for reward in run["eval_rewards"]]
    record.write_text(json.dumps(run, indent=1))
    assert results_tables.benchmark_page(results_tables.MUJOCO, root, tmp_path) != committed


def test_a_changed_preset_marks_the_table_out_of_date(results_tables, tmp_path):
    root = tmp_path / "repo"
    _copy_mujoco_records(results_tables, root)
    path = root / "hyperparams" / "reinforce.yml"
    presets = yaml.safe_load(path.read_text())
    presets["HalfCheetah-v5"]["ent_coef"] = 0.01
    path.write_text(yaml.safe_dump(presets))
    page = results_tables.benchmark_page(results_tables.MUJOCO, root, tmp_path)
    assert "**Out of date:**" in page
    assert "`ent_coef` (recorded unset, now 0.01)" in page


def test_a_missing_record_names_the_file_and_the_command(results_tables, tmp_path):
    root = tmp_path / "repo"
    _copy_mujoco_records(results_tables, root)
    missing = results_tables.MUJOCO.record_paths(root)[("HalfCheetah-v5", "ppo", 2)]
    missing.unlink()
    with pytest.raises(SystemExit, match=re.escape("ppo_seed2_n1000000.json")) as error:
        results_tables.benchmark_page(results_tables.MUJOCO, root, tmp_path)
    assert "python -m scripts.benchmarks.zoo_benchmark" in str(error.value)
