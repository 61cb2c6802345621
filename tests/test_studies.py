"""The study scripts' --quick modes: they run end to end, write their figure and table, and resume from cache."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"study_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the worker processes unpickle the script's functions by module name
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", ["variance", "ablation", "sweep"])
def test_quick_mode_writes_figure_and_table(script, tmp_path, capsys):
    argv = ["--quick", "--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    main = load_script(script).main
    main(argv)
    assert (tmp_path / "figures" / f"{script}_quick.png").stat().st_size > 1000
    assert "|" in (tmp_path / "figures" / f"{script}_quick.md").read_text()
    # a second run only reads the cache
    capsys.readouterr()
    main(argv)
    assert " 0 to run" in capsys.readouterr().out
