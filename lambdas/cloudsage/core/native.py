"""Optional compiled kernels: plain C loaded through :mod:`ctypes`, with the pure-Python code as the reference.

A kernel replaces one hot Python loop and gives the same results to the last bit (each has a test that runs both
and compares them). When its shared library is missing, stale or switched off, the Python code runs instead,
only slower: nothing else changes.

Where the library is looked up, for this CPU (``libcloudsage-<machine>.so``, e.g. ``-x86_64`` or ``-aarch64``):

1. ``cloudsage/core/_native/``, where ``make native`` (a prerequisite of ``make run`` and ``make test``) builds it
   for this machine;
2. ``cloudsage_native/`` under any ``sys.path`` entry: the science layer (``make layer``) carries it there, built
   for the Lambda architecture, and Lambda puts the layer's ``/opt/python`` on ``sys.path``.

``CLOUDSAGE_NATIVE=0`` switches the kernels off (the pure-Python reference runs).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ABI", "CFLAGS", "LAYOUT", "LIBRARY_NAME", "SOURCES", "build", "library", "library_path"]

ABI = 1
"""Bumped with every change of a kernel's signature or meaning; a library with another ABI is not used."""
LAYOUT = 12 * 1000000 + 12 * 10000 + 21 * 100 + 6
"""The state and parameter array sizes the anomaly kernel was built with (its ``cs_layout()``)."""
LIBRARY_NAME = f"libcloudsage-{platform.machine()}.so"
HERE = Path(__file__).resolve().parent / "_native"
SOURCES = (HERE / "anomaly.c",)
CFLAGS = ("-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra")
"""``-ffp-contract=off``: no fused multiply-add (arm64 compilers fuse by default), which would round differently
from Python; never ``-ffast-math``. These make the kernels' results equal to the Python code's to the last bit."""


def _candidates() -> list[Path]:
    return [HERE / LIBRARY_NAME, *(Path(p) / "cloudsage_native" / LIBRARY_NAME for p in sys.path if p)]


def library_path() -> Path | None:
    """The library that :func:`library` loads, or None (missing, stale, or ``CLOUDSAGE_NATIVE=0``)."""
    return None if library() is None else _loaded[0]


_loaded: list[Path] = []


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels for this CPU, or None when there are none to use (the Python code runs)."""
    if os.environ.get("CLOUDSAGE_NATIVE", "1") == "0":
        return None
    for path in _candidates():
        if not path.is_file():
            continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        try:
            if lib.cs_abi() != ABI or lib.cs_layout() != LAYOUT:
                continue  # built from another version of the source
            ptr, i64 = ctypes.c_void_p, ctypes.c_int64
            lib.cs_anomaly_run.restype = i64
            lib.cs_anomaly_run.argtypes = [ptr, i64, i64, *[ptr] * 25]
            lib.cs_drift_run.restype = None
            lib.cs_drift_run.argtypes = [ptr] * 13
            lib.cs_quiet_run.restype = None
            lib.cs_quiet_run.argtypes = [ptr, i64, i64, ctypes.c_double, ptr, ptr, ptr, ptr]
            lib.cs_credit_empty.restype = i64
            lib.cs_season_acf.restype = None
            lib.cs_season_acf.argtypes = [ptr, i64, i64, i64, ptr, ptr]
            lib.cs_credit_empty.argtypes = [ptr, i64, ctypes.c_double, ctypes.c_double]
        except AttributeError:
            continue  # an older build without one of the kernels
        _loaded[:] = [path]
        return lib
    return None


def build(out: Path | None = None, cc: str = "cc") -> Path:
    """Compile the kernels into ``out`` (default: this machine's library in ``_native/``) with ``cc``.

    Raises
    ------
    FileNotFoundError
        ``cc`` is not on PATH.
    subprocess.CalledProcessError
        The compiler failed.
    """
    out = out or HERE / LIBRARY_NAME
    compiler = shutil.which(cc)
    if compiler is None:
        raise FileNotFoundError(f"C compiler {cc!r} not on PATH")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    subprocess.run([compiler, *CFLAGS, "-o", str(tmp), *map(str, SOURCES), "-lm"], check=True)
    tmp.replace(out)  # never a half-written library
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build CloudSage's compiled kernels for this machine (make native).")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"), help="C compiler (default: $CC or cc)")
    ap.add_argument("--out", type=Path, default=None, help=f"output library (default: _native/{LIBRARY_NAME})")
    args = ap.parse_args(argv)
    try:
        path = build(args.out, args.cc)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        print(f"warning: kernels not built ({exc}); the Python code runs instead: same results, slower")
        return 0
    print(f"built {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
