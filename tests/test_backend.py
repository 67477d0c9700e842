"""backend.keep_freed_memory, and the thread settings tinyrpn makes for Numba and OpenBLAS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import json, resource
    import numpy as np
    from tinyrpn import backend

    kept = backend.keep_freed_memory()

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    start = rss_mb()
    a = np.ones(16 * 1024 * 1024, np.float32)  # 64 MB, every page touched
    with_a = rss_mb()
    del a
    freed = rss_mb()
    b = np.ones(16 * 1024 * 1024, np.float32)  # same size again
    with_b = rss_mb()
    print(json.dumps({"kept": kept, "start": start, "with_a": with_a, "freed": freed,
                      "with_b": with_b}))
""")


def run_fresh(script: str, variable: str, value: str | None) -> str:
    """The output of ``script`` run by a new Python, with ``variable`` unset or = ``value``."""
    env = {k: v for k, v in os.environ.items() if k != variable}
    if value is not None:
        env[variable] = value
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _run(env_value: str | None) -> dict:
    out = run_fresh(_SCRIPT, "TINYRPN_KEEP_FREED_MEMORY", env_value)
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_big_array_stays_in_the_heap_and_the_next_one_reuses_it():
    r = _run(None)
    assert r["kept"] is True
    assert r["with_a"] - r["start"] > 60  # the array is resident
    assert r["freed"] - r["start"] > 60, r  # freeing it kept its pages in the process
    assert r["with_b"] - r["freed"] < 8, r  # and the next array of that size used them


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_environment_variable_switches_it_off():
    r = _run("0")
    assert r["kept"] is False
    assert r["with_a"] - r["start"] > 60
    assert r["freed"] - r["start"] < 8, r  # glibc's default: a big block is unmapped on free


def test_without_glibc_it_does_nothing_and_says_so():
    """Where there is no mallopt (macOS, Windows, musl), it returns False instead of failing."""
    script = textwrap.dedent("""
        import ctypes
        from tinyrpn import backend

        def no_libc(*args, **kwargs):
            raise OSError("no C library here")

        ctypes.CDLL = no_libc
        print(backend.keep_freed_memory())
    """)
    assert run_fresh(script, "TINYRPN_KEEP_FREED_MEMORY", None).strip() == "False"


_THREADING_SCRIPT = """
import numba, numpy as np
from tinyrpn import kernels
kernels.taylor2_forward(np.ones((2, 3)))  # a parallel kernel: the layer is chosen now
print(numba.config.THREADING_LAYER, numba.threading_layer())
"""


@pytest.mark.parametrize("user_choice", [None, "default"])
def test_parallel_kernels_run_on_sleeping_workqueue_threads_unless_the_user_chose(user_choice):
    """Spinning OpenMP workers slow the BLAS calls between kernels (kernels/_common.py)."""
    configured, running = run_fresh(_THREADING_SCRIPT, "NUMBA_THREADING_LAYER",
                                    user_choice).split()
    if user_choice is None:
        assert (configured, running) == ("workqueue", "workqueue")
    else:
        assert configured == "default"  # left to Numba, which prefers OpenMP or TBB


_OPENBLAS_SCRIPT = """
import os, sys
seen = []  # OPENBLAS_THREAD_TIMEOUT at the moment NumPy (and with it OpenBLAS) is imported


class WatchNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and not seen:
            seen.append(os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
        return None


sys.meta_path.insert(0, WatchNumpy())
import tinyrpn
print(seen[0])
"""


@pytest.mark.parametrize("user_choice", [None, "12"])
def test_importing_tinyrpn_first_makes_openblas_threads_sleep_soon_unless_the_user_chose(
        user_choice):
    """Spinning OpenBLAS threads slow the Numba kernels after a product (tinyrpn/__init__.py).

    The setting must be in place when NumPy is imported, which loads OpenBLAS.
    """
    seen = run_fresh(_OPENBLAS_SCRIPT, "OPENBLAS_THREAD_TIMEOUT", user_choice)
    assert seen.strip() == (user_choice or "4")
