"""
Optuna storages in a database for the zoo's ``train`` (``--storage``), made reliable for several workers:

- running trials send a heartbeat, so that the trial of a worker that died is marked failed and run again;
- workers started together on an empty PostgreSQL database take turns to create Optuna's tables and the study (an
  advisory lock), so that they all join the same study;
- a database that goes away while a worker runs (server restarted, connection dropped) is retried with a growing
  pause for up to ``--storage-retry-seconds`` (default :data:`STORAGE_RETRY_SECONDS`); if it is still gone then,
  the command stops with one line naming the storage, and the same command run again resumes the study;
- a storage that cannot be opened stops the command at once, with one line naming it.
"""

import argparse
import contextlib
import functools
import logging
import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import optuna
import sqlalchemy

#: Seconds between two heartbeats of a running trial in a database storage (``train --heartbeat-interval``).
#: A trial without a heartbeat for twice as long is marked failed by the next worker that starts a trial.
HEARTBEAT_INTERVAL = 60
#: How many times a trial whose worker died is queued again (with the same hyperparameters)
MAX_RETRY = 3
#: Seconds a database storage that stopped answering (server restarted or down, connection dropped) is retried,
#: each operation from its first failure on, before ``train`` stops (``train --storage-retry-seconds``)
STORAGE_RETRY_SECONDS = 300
# First pause between two tries of a storage operation, in seconds: doubled after each failure, up to the longest one
# (short, so that the heartbeat of a running trial comes back soon after the server does)
_RETRY_FIRST_PAUSE = 0.25
_RETRY_LONGEST_PAUSE = 2.0
# How many times a storage is opened again when making Optuna's tables collided with another process doing it
_OPEN_ATTEMPTS = 5
# PostgreSQL advisory lock (one number, per database) held by a worker while it creates or loads the tables and study
_SCHEMA_LOCK_KEY = 0x5B3_0E1F_0C7A
# PostgreSQL error codes of an object created twice: unique_violation, duplicate_object, duplicate_table
_DUPLICATE_SQLSTATES = {"23505", "42710", "42P07"}

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")


def hide_password(url: str) -> str:
    """
    :param url: A database URL
    :return: The URL with the password, if any, replaced by ``***``
    """
    return re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)


class StorageUnavailableError(optuna.exceptions.StorageInternalError):
    """A database storage that did not answer for the retry time: the message says which one and what to do."""


def _connection_failure(error: BaseException) -> BaseException | None:
    # The SQLAlchemy error of a lost or refused connection behind ``error`` (Optuna wraps errors in the commit in
    # StorageInternalError; a statement that follows a failed one fails with an error whose context is the failure).
    # None for an operation that already gave up (one storage method may call another)
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, StorageUnavailableError):
        if isinstance(cause, sqlalchemy.exc.OperationalError) or (
            isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated
        ):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _one_line(error: BaseException) -> str:
    # The driver's own error (e.g. "connection refused") on one line, without SQLAlchemy's link to its docs
    return " ".join(str(getattr(error, "orig", None) or error).split())


def _retried(method: Callable[..., _T], quiet: bool = False) -> Callable[..., _T]:
    # ``method`` of RDBStorage, tried again by RetryingRDBStorage._retry while the database does not answer
    @functools.wraps(method)
    def retried(self: "RetryingRDBStorage", *args: Any, **kwargs: Any) -> _T:
        return self._retry(lambda: method(self, *args, **kwargs), quiet=quiet)

    return retried


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """
    Optuna's RDB storage, with each database operation tried again while the database does not answer.

    An operation that fails with SQLAlchemy's ``OperationalError`` (connection refused or closed by the server, server
    shutting down or starting up, too many connections, SQLite's "database is locked", ...) or on a connection found
    closed is tried again after a pause of 0.25 s, doubled after each failure up to 2 s, until ``retry_seconds``
    have passed since its first failure. Then the storage gives up: that operation and every later one raise
    :class:`StorageUnavailableError`, whose message names the storage (password hidden) and what to do. A heartbeat
    that cannot be recorded within that time is skipped instead, and the next one tries again. The first failure
    and the first answer after it are logged as warnings. Pooled connections are checked before use
    (``pool_pre_ping``), so that those the server closed are replaced without an error.

    Each operation is one transaction. Tried again after a connection lost while the database committed it (the
    answer lost on the way), most operations change nothing more: attributes, parameters, intermediate values and
    heartbeats are written again with the same values, and a study created twice is found to exist and loaded. The
    others are handled so:

    - a trial being marked ``COMPLETE`` or ``PRUNED`` (``set_trial_state_values``; only the trial's own worker does
      that) that is found finished on the next try counts as written when its stored state and values are the ones
      being written. A trial found ``FAIL`` is reported as finished by another worker, as Optuna does: a stale trial
      is then not queued again by this worker, and never twice;
    - a trial created twice: the first stays ``RUNNING`` without parameters, value or heartbeat (no worker runs it,
      none marks it failed), as with Optuna's own retry of trial creation. A queued trial taken from the queue by
      such a write stays ``RUNNING`` likewise, and is not run.

    After the database answers again, this storage does not mark trials stale for one heartbeat grace period, so
    that the heartbeats of running trials, interrupted as well, have time to resume.

    :param url: SQLAlchemy database URL
    :param retry_seconds: Seconds an operation is tried again before giving up (0: never tried again)
    :param kwargs: Keyword arguments of :class:`optuna.storages.RDBStorage`
    """

    def __init__(self, url: str, retry_seconds: float = STORAGE_RETRY_SECONDS, **kwargs: Any) -> None:
        self.retry_seconds = retry_seconds
        self._shown_url = hide_password(url)
        self._init_retry_state()
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, **(kwargs.get("engine_kwargs") or {})}
        super().__init__(url, **kwargs)

    def _init_retry_state(self) -> None:
        self._given_up = threading.Event()
        self._given_up_message = ""
        self._state_lock = threading.Lock()
        self._down_since: float | None = None  # monotonic time of the first failure of the current outage
        self._back_at: float | None = None  # monotonic time the database answered again after the last outage

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for name in ("_given_up", "_given_up_message", "_state_lock", "_down_since", "_back_at"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        self._init_retry_state()
        super().__setstate__(state)

    def _retry(self, operation: Callable[[], _T], quiet: bool = False) -> _T:
        first_failure: float | None = None
        pause = _RETRY_FIRST_PAUSE
        while True:
            if self._given_up.is_set():
                if quiet:
                    return None  # type: ignore[return-value]  # quiet: the caller discards the result
                raise StorageUnavailableError(self._given_up_message)
            try:
                result = operation()
            except Exception as error:
                failure = _connection_failure(error)
                if failure is None:
                    raise
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                    self._went_down(failure, now)
                left = first_failure + self.retry_seconds - now
                if left <= 0:
                    if quiet:
                        return None  # type: ignore[return-value]  # quiet: the caller discards the result
                    self._give_up(failure)
                    raise StorageUnavailableError(self._given_up_message) from None
                self._given_up.wait(min(pause, left))
                pause = min(2 * pause, _RETRY_LONGEST_PAUSE)
                continue
            if self._down_since is not None:
                self._came_back()
            return result

    def _went_down(self, failure: BaseException, now: float) -> None:
        with self._state_lock:
            if self._down_since is not None:
                return
            self._down_since = now
        _logger.warning(
            f"Optuna storage {self._shown_url} not answering ({_one_line(failure)}): retrying for up to "
            f"{self.retry_seconds:g} s"
        )

    def _came_back(self) -> None:
        with self._state_lock:
            if self._down_since is None:
                return
            now = time.monotonic()
            down_for, self._down_since, self._back_at = now - self._down_since, None, now
        _logger.warning(f"Optuna storage {self._shown_url} answering again after {down_for:.1f} s")

    def _give_up(self, failure: BaseException) -> None:
        with self._state_lock:
            if not self._given_up.is_set():
                self._given_up_message = (
                    f"lost the Optuna storage {self._shown_url}: no answer for {self.retry_seconds:g} s "
                    f"({_one_line(failure)}); check that the database server is up and reachable, then run the same "
                    "command again to resume the study"
                )
                self._given_up.set()

    create_new_study = _retried(optuna.storages.RDBStorage.create_new_study)
    delete_study = _retried(optuna.storages.RDBStorage.delete_study)
    set_study_user_attr = _retried(optuna.storages.RDBStorage.set_study_user_attr)
    set_study_system_attr = _retried(optuna.storages.RDBStorage.set_study_system_attr)
    get_study_id_from_name = _retried(optuna.storages.RDBStorage.get_study_id_from_name)
    get_study_name_from_id = _retried(optuna.storages.RDBStorage.get_study_name_from_id)
    get_study_directions = _retried(optuna.storages.RDBStorage.get_study_directions)
    get_study_user_attrs = _retried(optuna.storages.RDBStorage.get_study_user_attrs)
    get_study_system_attrs = _retried(optuna.storages.RDBStorage.get_study_system_attrs)
    get_trial_user_attrs = _retried(optuna.storages.RDBStorage.get_trial_user_attrs)
    get_trial_system_attrs = _retried(optuna.storages.RDBStorage.get_trial_system_attrs)
    get_all_studies = _retried(optuna.storages.RDBStorage.get_all_studies)
    # create_new_trial, set_trial_param and get_all_trials go through these three
    _create_new_trial = _retried(optuna.storages.RDBStorage._create_new_trial)
    _set_trial_param = _retried(optuna.storages.RDBStorage._set_trial_param)
    _get_trials = _retried(optuna.storages.RDBStorage._get_trials)
    get_trial_param = _retried(optuna.storages.RDBStorage.get_trial_param)
    set_trial_intermediate_value = _retried(optuna.storages.RDBStorage.set_trial_intermediate_value)
    set_trial_user_attr = _retried(optuna.storages.RDBStorage.set_trial_user_attr)
    set_trial_system_attr = _retried(optuna.storages.RDBStorage.set_trial_system_attr)
    get_trial_id_from_study_id_trial_number = _retried(optuna.storages.RDBStorage.get_trial_id_from_study_id_trial_number)
    get_trial = _retried(optuna.storages.RDBStorage.get_trial)
    _get_best_trial_id = _retried(optuna.storages.RDBStorage._get_best_trial_id)
    record_heartbeat = _retried(optuna.storages.RDBStorage.record_heartbeat, quiet=True)

    def set_trial_state_values(
        self, trial_id: int, state: optuna.trial.TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """
        Optuna's ``set_trial_state_values``, tried again while the database does not answer (see the class).

        :param trial_id: The trial's id
        :param state: Its new state
        :param values: Its values
        :return: Whether the state was changed
        """
        tries = 0

        def write() -> bool:
            nonlocal tries
            tries += 1
            try:
                return optuna.storages.RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except optuna.exceptions.UpdateFinishedTrialError:
                # on a try after a lost connection, the previous try may have been committed
                if tries > 1 and state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
                    stored = optuna.storages.RDBStorage.get_trial(self, trial_id)
                    if stored.state == state and stored.values == (None if values is None else list(values)):
                        return True
                raise

        return self._retry(write)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = self._retry(lambda: optuna.storages.RDBStorage._get_stale_trial_ids(self, study_id))
        grace_period = self.grace_period or 2 * (self.heartbeat_interval or 0)
        back_at = self._back_at
        if back_at is not None and time.monotonic() - back_at < grace_period:
            # the database was down: the heartbeats of other workers' trials may not have resumed yet
            return []
        return stale


def _is_duplicate(error: sqlalchemy.exc.SQLAlchemyError) -> bool:
    # An object of Optuna's schema created by another process at the same moment
    if isinstance(error, sqlalchemy.exc.IntegrityError):
        return True
    original = getattr(error, "orig", None)
    return (getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)) in _DUPLICATE_SQLSTATES


def _create_storage(url: str, heartbeat_interval: int, retry_seconds: float) -> RetryingRDBStorage:
    # The storage, Optuna's tables made if missing; made again when another process made them at the same moment
    with warnings.catch_warnings():
        # the heartbeat and the retry callback are flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        heartbeat: dict[str, Any] = {}
        if heartbeat_interval > 0:
            heartbeat = dict(
                heartbeat_interval=heartbeat_interval,
                grace_period=2 * heartbeat_interval,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            )
        for attempt in range(1, _OPEN_ATTEMPTS + 1):
            try:
                return RetryingRDBStorage(url, retry_seconds=retry_seconds, **heartbeat)
            except sqlalchemy.exc.SQLAlchemyError as e:
                if attempt == _OPEN_ATTEMPTS or not _is_duplicate(e):
                    raise
                time.sleep(random.uniform(0.1, 0.5))
    raise AssertionError("not reached")


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    # PostgreSQL: hold an advisory lock (on a connection of its own) for the with block, so that workers started
    # together create Optuna's tables and the study one after the other. Other databases: nothing.
    if sqlalchemy.engine.make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            # released when the connection closes
            yield
    finally:
        engine.dispose()


@contextlib.contextmanager
def open_rdb_storage(
    url: str, heartbeat_interval: int = HEARTBEAT_INTERVAL, retry_seconds: float = STORAGE_RETRY_SECONDS
) -> Iterator[RetryingRDBStorage]:
    """
    Open the Optuna storage of a database URL (``--storage``), creating Optuna's tables if they are missing.

    With a heartbeat, each running trial records the time every ``heartbeat_interval`` seconds. A trial whose
    heartbeat is older than twice that (its worker was killed, or its machine lost) is marked ``FAIL`` by the next
    worker of the study that starts a trial, and queued again with the same parameters, at most :data:`MAX_RETRY`
    times (Optuna's ``RetryHeartbeatStaleTrialCallback``; the new trial's ``system_attrs["failed_trial"]`` is the
    number of the one it replaces).

    On PostgreSQL, the storage is opened, and the with block run (create or load the study there), under an advisory
    lock of the database: workers started at the same moment on an empty database take turns, instead of creating
    the same tables together. Should another process that does not take the lock create them at the same moment,
    opening is tried again a few times.

    Once open, the storage tries each operation again while the database does not answer, for up to
    ``retry_seconds`` (:class:`RetryingRDBStorage`). Opening is not tried again: a wrong URL is reported at once.

    :param url: SQLAlchemy database URL, e.g. ``postgresql://user:password@host/database`` or ``sqlite:///study.db``
    :param heartbeat_interval: Seconds between two heartbeats; 0 turns the heartbeat off
    :param retry_seconds: Seconds an operation of the open storage is tried again while the database does not answer
    :return: A context manager giving the storage
    :raises SystemExit: When the storage cannot be opened (bad URL, missing driver, unreachable server), with the
        URL (password hidden) and the reason on one line
    """
    failure = f"cannot open the Optuna storage {hide_password(url)}"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_schema_lock(url))
            storage = _create_storage(url, heartbeat_interval, retry_seconds)
        except ImportError as e:
            # Optuna's message is generic: the missing module is in the exception it wraps
            hint = " (pip install 'sb3-reinforce[postgres]')" if url.startswith("postgresql") else ""
            raise SystemExit(f"{failure}: {e.__cause__ or e}{hint}") from None
        except sqlalchemy.exc.SQLAlchemyError as e:
            raise SystemExit(f"{failure}: {_one_line(e)}") from None
        yield storage


def split_heartbeat_interval(args: Sequence[str]) -> tuple[list[str], int]:
    """
    Take ``--heartbeat-interval SECONDS`` out of the arguments of ``train`` (rl-zoo3 does not know it).

    :param args: Arguments of ``train``
    :return: The other arguments, in order, and the interval (:data:`HEARTBEAT_INTERVAL` when not given)
    """
    parser = argparse.ArgumentParser(prog="sb3-reinforce-zoo train", add_help=False, allow_abbrev=False)
    parser.add_argument("--heartbeat-interval", type=int, default=HEARTBEAT_INTERVAL)
    known, others = parser.parse_known_args(args)
    if known.heartbeat_interval < 0:
        parser.error("--heartbeat-interval must be >= 0 (0 turns the heartbeat off)")
    return others, known.heartbeat_interval


def split_storage_retry_seconds(args: Sequence[str]) -> tuple[list[str], float]:
    """
    Take ``--storage-retry-seconds SECONDS`` out of the arguments of ``train`` (rl-zoo3 does not know it).

    :param args: Arguments of ``train``
    :return: The other arguments, in order, and the seconds (:data:`STORAGE_RETRY_SECONDS` when not given)
    """
    parser = argparse.ArgumentParser(prog="sb3-reinforce-zoo train", add_help=False, allow_abbrev=False)
    parser.add_argument("--storage-retry-seconds", type=float, default=STORAGE_RETRY_SECONDS)
    known, others = parser.parse_known_args(args)
    if not known.storage_retry_seconds >= 0:
        parser.error("--storage-retry-seconds must be >= 0 (0: stop at the first failure)")
    return others, known.storage_retry_seconds


def storage_given_up(error: BaseException) -> StorageUnavailableError | None:
    # The StorageUnavailableError behind ``error``: Optuna and rl-zoo3 may raise others while handling it
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, StorageUnavailableError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None
