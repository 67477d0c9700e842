"""A run directory: the names of its files, what a run records about itself, and its lock.

The files (written by :class:`tinyrpn.train.Trainer`; every write atomic, see
:func:`tinyrpn.serialization.atomic_write`):

- ``config.yaml`` (:data:`CONFIG`), ``history.json`` (:data:`HISTORY`),
  ``results.json`` (:data:`RESULTS`), ``checkpoint.npz`` (:data:`CHECKPOINT`), ``.lock``.

``results.json`` records how the run was started (:func:`run_command`) and the process's
peak memory (:func:`peak_memory_mb`).

One run at a time in a run directory: the lock file ``RUN_DIR/.lock``.

Two processes that train into the same run directory would overwrite each other's
checkpoint, history and results. :func:`run_lock` makes the second one refuse at once::

    with run_lock("runs/mlp_small"):       # RunDirectoryInUse if another run holds it
        ...                                # write the run's files

The rule. The lock is an operating-system lock (``flock`` on Linux and macOS,
``msvcrt.locking`` on Windows) held on the open file ``.lock``, not the mere existence of
the file. The system releases it when the process that holds it ends, however it ends
(SIGKILL, a crash, a power cut: after a reboot nobody holds it), so a crashed run never
leaves the directory locked, and there is no process id to check: a reused PID cannot make
a dead run look alive. While it is held, the file says who holds it (PID, host, start time,
command), so the refusal can name the other run. It is removed when the holder releases it.

On a network file system the lock is only as good as the server's locking (NFS's is
usually fine); two hosts that do not share locks would not see each other.

Within one process the lock is re-entrant: the command line takes it before loading the
data (so that a second run refuses at once), and ``Trainer.fit`` takes it again.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tinyrpn.history import HISTORY

__all__ = ["CHECKPOINT", "CONFIG", "HISTORY", "LOCK", "RESULTS", "RunDirectoryInUse",
           "SaveError", "peak_memory_mb", "run_command", "run_lock"]

CHECKPOINT = "checkpoint.npz"
RESULTS = "results.json"
CONFIG = "config.yaml"
LOCK = ".lock"

# run directory (resolved) -> [open lock file descriptor, depth]
_HELD: dict[str, list[int]] = {}


class RunDirectoryInUse(RuntimeError):
    """Another process holds the run directory's lock; ``holder`` is what its lock file says."""

    def __init__(self, message: str, run_dir: str, holder: dict[str, Any]) -> None:
        super().__init__(message, run_dir, holder)  # all in args, so it pickles
        self.message, self.run_dir, self.holder = message, run_dir, holder

    def __str__(self) -> str:
        return self.message


class SaveError(OSError):
    """A run file could not be written (disk full, read-only folder); the old one is intact."""

    def __str__(self) -> str:
        return str(self.args[0])


def run_command() -> dict[str, Any]:
    """How this process was started, for results.json: the command line, or, in a notebook,
    that (a kernel's argv names its connection file, a path that tells a reader nothing)."""
    from tinyrpn.display import in_notebook

    if in_notebook():
        return {"argv": [], "command": "(a Jupyter notebook)"}
    return {"argv": list(sys.argv), "command": shlex.join(sys.argv)}


def peak_memory_mb() -> float | None:
    """This process's peak resident memory so far, in MiB (``getrusage``'s maximum RSS:
    everything the process ever held at once, interpreter and libraries included); None
    where the platform has no ``resource`` module (Windows)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB else


# -- the lock ---------------------------------------------------------------------------------


def _try_lock(fd: int) -> bool:
    """Take the lock on ``fd`` without waiting; False if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_holder(fd: int) -> dict[str, Any]:
    """What the holder wrote into the lock file ({} if nothing readable yet)."""
    try:
        holder = json.loads(os.read(fd, 1 << 16).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder_text(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (its lock file does not say which yet)"
    return (f"process {holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started')}: {holder.get('command')}")


def _acquire(run_dir: Path) -> int:
    lock_path = run_dir / LOCK
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise RunDirectoryInUse(
                f"the run directory {run_dir} is in use by another run ("
                f"{_holder_text(holder)}); wait for it to end, stop it, or train into "
                f"another run directory (--out) (the lock, {lock_path}, is released when "
                "that process ends, even if it is killed)", str(run_dir), holder)
        # The holder before us removes the file when it lets go; if it did so between our
        # open and our lock, we hold a lock on a file nobody else will see: open again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
          "command": shlex.join(sys.argv)}
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode())
    except OSError:
        _release(run_dir, fd)
        raise
    return fd


def _release(run_dir: Path, fd: int) -> None:
    # Remove the file while still holding the lock, then let go (closing releases it).
    with contextlib.suppress(OSError):
        os.unlink(run_dir / LOCK)
    os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``run_dir``'s lock (creating the directory) for the ``with`` block.

    Raises :class:`RunDirectoryInUse` naming the other run when another process holds it.
    See the module docstring for the rule.
    """
    run_dir = Path(run_dir)
    key = str(run_dir.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
    else:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = _acquire(run_dir)
        except OSError as e:
            raise SaveError(
                f"could not lock the run directory: cannot create {run_dir / LOCK}: "
                f"{e.strerror or e}; make {run_dir} writable, or train into another directory"
            ) from e
        _HELD[key] = [fd, 1]
    try:
        yield run_dir
    finally:
        held = _HELD[key]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            _release(run_dir, held[0])
