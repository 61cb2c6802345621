"""
Optuna studies on a real PostgreSQL server (``train -optimize --storage postgresql://...``): workers that share a
study, workers started together on an empty database, a worker killed in the middle of a trial, a server that
restarts or stops under running workers, and storages that cannot be opened.

Each pytest process (each xdist worker) starts its own throwaway server with ``initdb`` and ``pg_ctl`` in a temporary
folder, listening on a free loopback port, and removes it at the end; each test gets a database of its own. A test
that stops the server starts it again before it ends.
"""

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("rl_zoo3")
yaml = pytest.importorskip("yaml")

from optuna.trial import TrialState  # noqa: E402

from sb3_reinforce import storage, zoo  # noqa: E402
from tests.test_zoo import ENV_ID, run_zoo_in_process, zoo_env  # noqa: E402

STUDY = "reinforce-cartpole"
# seconds: a killed worker's trial is marked failed 2 heartbeats after its last one. Not shorter: a live worker
# training on a loaded 2-core machine can miss a 1-second heartbeat by 2 seconds, and then its own trial is failed
# (seen once with the full suite beside two training runs)
HEARTBEAT = 4


def skip_or_fail(reason: str) -> None:
    """Skip, except in CI, which installs the server (``.ci/run``): there these tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
    pytest.skip(reason)


def postgres_bin_dir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, or where Debian's ``postgresql`` package puts them."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).parent] if on_path else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("[0-9]*/bin"), key=lambda folder: int(folder.parent.name))[::-1]
    return next((folder for folder in candidates if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file()), None)


def free_port() -> int:
    """A loopback TCP port that nothing listens on (the OS does not hand it out again right away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    port: int
    #: ``pg_ctl`` with the server's data folder, run as the server's user: ``pg_ctl("stop", "-m", "fast")``
    pg_ctl: Callable[..., None] = field(repr=False, compare=False)
    #: Options of ``pg_ctl start``: the ones the fixture started the server with
    start_args: tuple[str, ...] = field(repr=False, compare=False)

    def url(self, database: str = "postgres") -> str:
        # initdb made "postgres" the superuser, trusted on the loopback interface
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server as an administrator would: open connections are ended, without waiting for clients."""
        self.pg_ctl("stop", "-m", "fast", "-w")

    def start(self) -> None:
        """Start the server again, on the same port and data, and wait until it accepts connections."""
        self.pg_ctl("start", *self.start_args)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this pytest process: fsync off, data and Unix socket in a temporary folder."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        skip_or_fail("initdb and pg_ctl not found (Debian: apt-get install postgresql)")
    as_server_user: dict = {}
    if os.geteuid() == 0:
        # the server refuses to run as root: run it as the system user Debian's package makes for it
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root, and there is no 'postgres' user to run the server as")
        as_server_user = dict(user="postgres", group="postgres", extra_groups=[])
    folder = Path(tempfile.mkdtemp(prefix="sb3-reinforce-postgres-"))
    data = folder / "data"

    def pg(*command: str | Path) -> None:
        result = subprocess.run(
            [str(bin_dir / str(command[0])), *map(str, command[1:])],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            **as_server_user,
        )
        log = folder / "server.log"
        assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}\n" + (
            log.read_text() if log.is_file() else ""
        )

    try:
        if as_server_user:
            shutil.chown(folder, "postgres", "postgres")
        pg("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={shlex.quote(str(folder))}"
        options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        start_args = ("-l", str(folder / "server.log"), "-w", "-t", "60", "-o", options)
        pg("pg_ctl", "start", "-D", data, *start_args)
        try:
            yield PostgresServer(port, lambda *args: pg("pg_ctl", *args[:1], "-D", data, *args[1:]), start_args)
        finally:
            pg("pg_ctl", "stop", "-D", data, "-m", "immediate", "-w")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the server, dropped after the test."""
    try:
        import psycopg
    except ImportError:
        skip_or_fail("the PostgreSQL driver is missing: pip install 'sb3-reinforce[postgres]'")
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as connection:
        # FORCE: also ends the connections of killed workers and of this process's Optuna storage
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def create_study(url: str) -> optuna.Study:
    """Create the study (and Optuna's tables) once, with Optuna's command line as the README does."""
    optuna_cli = Path(sys.executable).with_name("optuna")
    command = [str(optuna_cli) if optuna_cli.is_file() else "optuna", "create-study"]
    command += ["--storage", url, "--study-name", STUDY, "--direction", "maximize"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return optuna.load_study(study_name=STUDY, storage=url)


def worker_args(url: str, log_folder: Path, seed: int, n_timesteps: int, n_trials: int) -> list[str]:
    """``train`` arguments of one tuning worker: tiny trials, none pruned, one heartbeat a second, one torch thread."""
    args = ["train", "--algo", "reinforce", "--env", ENV_ID, "-f", str(log_folder), "--seed", str(seed), "--num-threads", "1"]
    args += ["--storage", url, "--study-name", STUDY, "--heartbeat-interval", str(HEARTBEAT)]
    args += ["-optimize", "-n", str(n_timesteps), "--n-trials", str(n_trials), "--eval-episodes", "2"]
    return [*args, "--n-evaluations", "1", "--sampler", "random", "--pruner", "none", "--no-optim-plots"]


# Runs sb3_reinforce.zoo.main(sys.argv[3:]) once sys.argv[2] processes running this program have imported rl-zoo3
# (and torch) and each left a file in the folder sys.argv[1]: workers that reach the storage at the same moment
BARRIER_PROGRAM = """
import os, sys, time
from pathlib import Path
import rl_zoo3.train
from sb3_reinforce.zoo import main
barrier, n_workers = Path(sys.argv[1]), int(sys.argv[2])
(barrier / str(os.getpid())).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < n_workers and time.monotonic() < deadline:
    time.sleep(0.005)
main(sys.argv[3:])
"""


def start_worker(folder: Path, *args: str, barrier: tuple[Path, int] | None = None, stderr: bool = True) -> subprocess.Popen:
    """
    Start ``python -m sb3_reinforce.zoo *args`` in ``folder``, its output in ``folder/output.txt``.

    :param barrier: A folder and a number of workers: wait until that many workers started with it are ready
    :param stderr: Whether the error output goes to ``output.txt`` too, else to ``folder/errors.txt``
    """
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "sb3_reinforce.zoo"]
    if barrier is not None:
        command = [sys.executable, "-c", BARRIER_PROGRAM, str(barrier[0]), str(barrier[1])]
    with open(folder / "output.txt", "w") as output, open(folder / "errors.txt", "w") as errors:
        return subprocess.Popen(
            [*command, *args], cwd=folder, env=zoo_env(), stdout=output, stderr=output if stderr else errors
        )


def wait_for(worker: subprocess.Popen, folder: Path, timeout: float = 240) -> None:
    """Wait for a worker started by :func:`start_worker` to succeed."""
    returncode = worker.wait(timeout=timeout)
    assert returncode == 0, f"worker in {folder} failed:\n{(folder / 'output.txt').read_text()[-3000:]}"


def poll(condition: Callable[[], bool], what: str, worker: subprocess.Popen, folder: Path, timeout: float = 120) -> None:
    """Wait until ``condition()`` holds, failing if ``worker`` stops first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.poll() is None, f"worker stopped before {what}:\n{(folder / 'output.txt').read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


def test_workers_share_a_study(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = create_study(postgres_url)
    folders = [tmp_path / f"worker_{seed}" for seed in (1, 2)]
    workers = [
        start_worker(folder, *worker_args(postgres_url, folder / "logs", seed, n_timesteps=1000, n_trials=3))
        for seed, folder in zip((1, 2), folders, strict=True)
    ]
    for worker, folder in zip(workers, folders, strict=True):
        wait_for(worker, folder)

    trials = study.get_trials()
    # the sum of both workers' trials, each with a number of its own, all finished with a value
    assert sorted(trial.number for trial in trials) == list(range(6))
    assert all(trial.state == TrialState.COMPLETE for trial in trials)

    # retrain the best trial (trial 0 included)
    best = max(trials, key=lambda trial: trial.value)
    args = ["train", "--algo", "reinforce", "--env", ENV_ID, "-f", str(tmp_path / "retrain"), "--storage", postgres_url]
    args += ["--study-name", STUDY, "--trial-id", str(best.number), "-n", "500", "--eval-freq", "-1", "--seed", "0"]
    run_zoo_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch)
    config_file = tmp_path / "retrain" / "reinforce" / f"{ENV_ID}_1" / ENV_ID / "config.yml"
    config = dict(yaml.load(config_file.read_text(), Loader=yaml.UnsafeLoader))
    assert config["learning_rate"] == pytest.approx(best.params["learning_rate"])
    # as the sampler gave them (with groups, n_episodes is made a multiple of the group size)
    assert config["n_episodes"] == zoo.convert_reinforce_params(dict(best.params))["n_episodes"]


def test_workers_started_together_on_an_empty_database(postgres_url: str, tmp_path: Path) -> None:
    # nothing in the database yet: the workers make Optuna's tables and the study, all at the same moment
    n_workers, n_trials = 4, 2
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    folders = [tmp_path / f"worker_{seed}" for seed in range(1, n_workers + 1)]
    workers = [
        start_worker(folder, *worker_args(postgres_url, folder / "logs", seed, 500, n_trials), barrier=(barrier, n_workers))
        for seed, folder in enumerate(folders, start=1)
    ]
    for worker, folder in zip(workers, folders, strict=True):
        wait_for(worker, folder)

    trials = optuna.load_study(study_name=STUDY, storage=postgres_url).get_trials()
    assert sorted(trial.number for trial in trials) == list(range(n_workers * n_trials))
    assert all(trial.state == TrialState.COMPLETE for trial in trials)
    # rl-zoo3 records the command of the worker that made the study, once
    assert "command" in optuna.load_study(study_name=STUDY, storage=postgres_url).user_attrs


def test_tables_created_together_without_the_lock(postgres_url: str) -> None:
    """Another program (e.g. Optuna's command line) may create the tables at the same moment: opening is tried again."""
    n_threads = 4
    barrier = threading.Barrier(n_threads)

    def open_storage(_: int) -> optuna.storages.RDBStorage:
        barrier.wait()
        return storage._create_storage(postgres_url, heartbeat_interval=0, retry_seconds=0)

    with ThreadPoolExecutor(n_threads) as pool:
        storages = list(pool.map(open_storage, range(n_threads)))
    study = optuna.create_study(storage=storages[0], study_name=STUDY)
    assert optuna.load_study(storage=storages[-1], study_name=STUDY).study_name == study.study_name == STUDY
    for opened in storages:
        opened.engine.dispose()


def test_killed_worker(postgres_url: str, tmp_path: Path) -> None:
    study = create_study(postgres_url)
    # a trial far too long to finish: killed in the middle
    victim_folder = tmp_path / "victim"
    victim = start_worker(victim_folder, *worker_args(postgres_url, victim_folder / "logs", 1, 10**7, n_trials=1))
    try:
        poll(lambda: len(study.get_trials(states=(TrialState.RUNNING,))) == 1, "running trial", victim, victim_folder)
        (killed,) = study.get_trials()
        other_folder = tmp_path / "other"
        other = start_worker(other_folder, *worker_args(postgres_url, other_folder / "logs", 2, 1000, n_trials=3))
        # the other worker is at work: its first trial is over
        poll(lambda: len(study.get_trials(states=(TrialState.COMPLETE,))) > 0, "completed trial", other, other_folder)
        assert study.get_trials()[killed.number].state == TrialState.RUNNING
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    killed_at = time.monotonic()
    wait_for(other, other_folder)

    # whoever starts a trial once the heartbeat is 2 intervals old marks the killed trial failed and runs it again: the
    # other worker if it was still at work then, else this worker started again
    time.sleep(max(0.0, killed_at + 2 * HEARTBEAT + 1 - time.monotonic()))
    again_folder = tmp_path / "again"
    wait_for(start_worker(again_folder, *worker_args(postgres_url, again_folder / "logs", 3, 1000, n_trials=1)), again_folder)

    trials = study.get_trials()
    assert sorted(trial.number for trial in trials) == list(range(5))
    assert trials[killed.number].state == TrialState.FAIL
    (retry,) = (trial for trial in trials if trial.system_attrs.get("failed_trial") == killed.number)
    assert retry.state == TrialState.COMPLETE
    # the killed trial as stored now: when it was first seen RUNNING, it may not have sampled all its parameters yet
    assert retry.params == trials[killed.number].params
    # the other worker's 3 trials and the new one are all there
    assert [trial.state for trial in trials].count(TrialState.COMPLETE) == 4


def test_server_restart(postgres_server: PostgresServer, postgres_url: str, tmp_path: Path) -> None:
    study = create_study(postgres_url)
    n_trials = 4
    folders = [tmp_path / f"worker_{seed}" for seed in (1, 2)]
    workers = [
        start_worker(
            folder, *worker_args(postgres_url, folder / "logs", seed, 1000, n_trials), "--storage-retry-seconds", "120"
        )
        for seed, folder in zip((1, 2), folders, strict=True)
    ]
    poll(lambda: len(study.get_trials(states=(TrialState.COMPLETE,))) > 0, "completed trial", workers[0], folders[0])
    postgres_server.stop()
    try:
        # down until a worker finds it gone (a running trial's heartbeat comes every HEARTBEAT seconds)
        deadline = time.monotonic() + 60
        while not any("retrying" in (folder / "output.txt").read_text() for folder in folders):
            for worker, folder in zip(workers, folders, strict=True):
                assert worker.poll() is None, f"worker stopped:\n{(folder / 'output.txt').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no worker noticed that the server stopped"
            time.sleep(0.1)
    finally:
        postgres_server.start()
    for worker, folder in zip(workers, folders, strict=True):
        wait_for(worker, folder)

    # this process's connections ended with the server: a new storage
    trials = optuna.load_study(study_name=STUDY, storage=postgres_url).get_trials()
    # each worker's trials once, all finished with a value: none lost, none recorded twice
    assert sorted(trial.number for trial in trials) == list(range(2 * n_trials))
    assert all(trial.state == TrialState.COMPLETE for trial in trials)
    assert len({tuple(sorted(trial.params.items())) for trial in trials}) == 2 * n_trials


def test_server_gone_for_longer_than_the_retry_time(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    study = create_study(postgres_url)
    # the server trusts the loopback interface: the password is not checked, and must not be printed
    url = postgres_url.replace("postgres@", "postgres:secret@")
    folder = tmp_path / "worker"
    args = [*worker_args(url, folder / "logs", 1, 1000, n_trials=100), "--storage-retry-seconds", "2"]
    worker = start_worker(folder, *args, stderr=False)
    try:
        poll(lambda: len(study.get_trials(states=(TrialState.COMPLETE,))) > 0, "completed trial", worker, folder)
        postgres_server.stop()
        try:
            returncode = worker.wait(timeout=60)
        finally:
            postgres_server.start()
    finally:
        worker.kill()
        worker.wait()
    errors = (folder / "errors.txt").read_text()
    assert returncode == 1, errors
    assert "Traceback" not in errors, errors
    masked = url.replace("secret", "***")
    last_line = errors.strip().splitlines()[-1]
    assert last_line.startswith(f"lost the Optuna storage {masked}: "), errors
    assert "run the same command again" in last_line
    assert "secret" not in errors + (folder / "output.txt").read_text()


def test_unreachable_server(tmp_path: Path) -> None:
    # a loopback port nothing listens on, and a password that must not be printed
    port = free_port()
    url = f"postgresql://optuna:secret@127.0.0.1:{port}/optuna"
    args = worker_args(url, tmp_path / "logs", 0, 1000, n_trials=1)
    result = subprocess.run(
        [sys.executable, "-m", "sb3_reinforce.zoo", *args], cwd=tmp_path, env=zoo_env(), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error = f"cannot open the Optuna storage postgresql://optuna:***@127.0.0.1:{port}/optuna: "
    assert result.stderr.strip().startswith(error), result.stderr
    assert "Connection refused" in result.stderr
    assert "secret" not in result.stdout + result.stderr


@pytest.mark.parametrize("trial_id", [None, "1"])
def test_storage_that_cannot_be_opened(
    trial_id: str | None, postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # -optimize opens the storage with optuna.create_study, --trial-id with optuna.load_study
    for url, reason in [
        ("notadialect://x", "Can't load plugin: sqlalchemy.dialects:notadialect"),
        (postgres_server.url("no_such_database"), 'database "no_such_database" does not exist'),
    ]:
        args = worker_args(url, tmp_path / "logs", 0, 1000, n_trials=1)
        if trial_id is not None:
            args = [arg for arg in args if arg != "-optimize"] + ["--trial-id", trial_id]
        with pytest.raises(SystemExit) as error:
            run_zoo_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch)
        message = str(error.value.code)
        assert message.startswith(f"cannot open the Optuna storage {url}: ") and reason in message, message
        assert "\n" not in message
