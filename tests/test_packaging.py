"""
Packaging: the wheel and the sdist as a new user builds them (``python -m build``), checked by ``twine check
--strict``, and the wheel installed in a virtualenv of its own, where it trains and its zoo command finds the presets
the wheel installed.

The build runs in build's isolated environment, so it downloads setuptools from the package index.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("build")
pytest.importorskip("twine")
yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "sb3_reinforce"
ENV_ID = "CartPole-v1"

# Messages setuptools logs at warning level without the word "warning" (MANIFEST.in lines that matched nothing)
SILENT_WARNINGS = re.compile(r"no previously-included|no files found matching|no directories found matching", re.IGNORECASE)


def source_version() -> str:
    """``__version__`` as written in the checkout's ``sb3_reinforce/__init__.py`` (the one place it is written)."""
    tree = ast.parse((REPO_ROOT / PACKAGE / "__init__.py").read_text())
    (version,) = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["__version__"]
    ]
    return version


def expected_package_files() -> set[str]:
    """What the wheel must hold of the package: every module of the checkout, the presets and ``py.typed``."""
    modules = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / PACKAGE).rglob("*.py")
        if "__pycache__" not in path.parts and path.parent.name != "hyperparams"
    }
    # sb3_reinforce/hyperparams is a symlink to the top-level hyperparams/ folder: the wheel holds copies
    presets = {f"{PACKAGE}/hyperparams/{path.name}" for path in (REPO_ROOT / "hyperparams").glob("*.yml")}
    return modules | presets | {f"{PACKAGE}/py.typed"}


def clean_copy(destination: Path) -> Path:
    """
    The checkout as a clone of it would be, with the working tree's changes: the files git tracks or would track
    (symlinks kept as links), without ignored ones such as the ``sb3_reinforce.egg-info`` of an editable install,
    whose file list setuptools would otherwise add to the sdist (hiding, e.g., presets missing from package-data).
    """
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("builds a copy of the git checkout's files")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = REPO_ROOT / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree, or a submodule
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``python -m build`` of a clean copy of the checkout: the wheel, the sdist and everything the build printed."""
    source = clean_copy(tmp_path_factory.mktemp("source"))
    outdir = tmp_path_factory.mktemp("dist")
    env = dict(os.environ)
    # Set in some sandboxes, not in a user's shell: setuptools then prints "warning: ... byte-compiling is disabled"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    version = source_version()
    (wheel,) = outdir.glob("*.whl")
    (sdist,) = outdir.glob("*.tar.gz")
    assert wheel.name == f"{PACKAGE}-{version}-py3-none-any.whl"
    assert sdist.name == f"{PACKAGE}-{version}.tar.gz"
    return wheel, sdist, output


def test_build_prints_no_warning(built: tuple[Path, Path, str]) -> None:
    _, _, output = built
    warnings = [line for line in output.splitlines() if "warn" in line.lower() or SILENT_WARNINGS.search(line)]
    assert not warnings, "\n".join(warnings)


def test_twine_check_strict(built: tuple[Path, Path, str]) -> None:
    wheel, sdist, _ = built
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_contents(built: tuple[Path, Path, str]) -> None:
    wheel, _, _ = built
    dist_info = f"{PACKAGE}-{source_version()}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    package_files = {name for name in names if not name.startswith(f"{dist_info}/")}
    # the package whole (modules, presets, py.typed) and nothing else: no docs/, scripts/, tests/, no bytecode
    assert f"{PACKAGE}/hyperparams/reinforce.yml" in package_files
    assert package_files == expected_package_files()
    assert f"{dist_info}/licenses/LICENSE" in names
    assert f"{dist_info}/entry_points.txt" in names
    assert "License-Expression: MIT" in metadata.splitlines()


def test_sdist_contents(built: tuple[Path, Path, str]) -> None:
    _, sdist, _ = built
    root = f"{PACKAGE}-{source_version()}"
    with tarfile.open(sdist) as archive:
        members = {member.name.removeprefix(f"{root}/"): member for member in archive.getmembers()}
    for name in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO"):
        assert name in members
    assert expected_package_files() <= set(members)
    # the presets as files (the symlink followed), so that the wheel built from the sdist has them
    assert members[f"{PACKAGE}/hyperparams/reinforce.yml"].isfile()
    # the tests stay in the repository (they need scripts/, tests/data/ and the repository's layout): none shipped
    assert not [name for name in members if name.split("/")[0] in ("tests", "docs", "scripts", "hyperparams")]


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel_venv(built: tuple[Path, Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    A new virtualenv (no system site-packages) with the wheel installed in it, and this environment's
    dependencies visible after it.

    Installing torch and the rest from the index would take minutes: instead a ``.pth`` file appends this
    interpreter's site-packages folders to the new one's path. Lines of a ``.pth`` file only add folders, the
    ``.pth`` files inside them are not read, so the editable install of the checkout (a ``.pth`` file and its import
    hook) stays out; and the new venv's own site-packages, where the wheel is, comes first.
    """
    wheel, _, _ = built
    venv = tmp_path_factory.mktemp("venv").resolve()
    cwd = tmp_path_factory.mktemp("cwd")
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=cwd)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    # this environment's pip, run by the new interpreter: before the .pth file, so that it sees no other install
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=cwd)
    site_packages = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=cwd).stdout.strip()
    )
    visible = [entry for entry in sys.path if entry and Path(entry).name in ("site-packages", "dist-packages")]
    assert visible
    (site_packages / "_dependencies_under_test.pth").write_text("".join(f"{entry}\n" for entry in visible))
    return venv


CHECK_AND_TRAIN = """
import importlib.metadata, importlib.resources, json, sys
from pathlib import Path

import torch as th

th.set_num_threads(1)

import sb3_reinforce
from sb3_reinforce import REINFORCE
from sb3_reinforce.zoo import HYPERPARAMS_PATH

model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu").learn(3000)
print(json.dumps({
    "file": sb3_reinforce.__file__,
    "version": sb3_reinforce.__version__,
    "metadata_version": importlib.metadata.version("sb3-reinforce"),
    "py_typed": importlib.resources.files("sb3_reinforce").joinpath("py.typed").is_file(),
    "hyperparams": str(HYPERPARAMS_PATH),
    "num_timesteps": model.num_timesteps,
}))
"""


def test_wheel_installed_trains(wheel_venv: Path, tmp_path: Path) -> None:
    python = wheel_venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    result = run(python, "-c", CHECK_AND_TRAIN, cwd=tmp_path)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # the wheel's copy of the package, not the checkout's
    assert Path(found["file"]).resolve().is_relative_to(wheel_venv), found["file"]
    assert found["version"] == found["metadata_version"] == source_version()
    assert found["py_typed"]
    assert Path(found["hyperparams"]).resolve().is_relative_to(wheel_venv), found["hyperparams"]
    assert Path(found["hyperparams"]).is_file()
    assert found["num_timesteps"] >= 3000


def test_wheel_installed_zoo_command_finds_presets(wheel_venv: Path, tmp_path: Path) -> None:
    # the console script the wheel installed, from a folder far from the checkout
    command = wheel_venv / ("Scripts" if os.name == "nt" else "bin") / "sb3-reinforce-zoo"
    log_folder = tmp_path / "logs"
    run(
        command,
        "train",
        "--algo",
        "reinforce",
        "--env",
        ENV_ID,
        "-n",
        "2000",
        "--seed",
        "0",
        "-f",
        log_folder,
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    run_dir = log_folder / "reinforce" / f"{ENV_ID}_1"
    assert (run_dir / f"{ENV_ID}.zip").is_file()
    args = yaml.load((run_dir / ENV_ID / "args.yml").read_text(), Loader=yaml.UnsafeLoader)
    conf_file = Path(args["conf_file"])
    # the presets the wheel installed, not the checkout's hyperparams/
    assert conf_file.resolve().is_relative_to(wheel_venv), conf_file
    assert conf_file.name == "reinforce.yml"
    presets = yaml.load(conf_file.read_text(), Loader=yaml.UnsafeLoader)
    config = yaml.load((run_dir / ENV_ID / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(config) == presets[ENV_ID]
