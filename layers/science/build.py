"""Build the science layer for the Lambda runtime and architecture, slim it, and check its size.

    python layers/science/build.py [--python-version 3.14] [--arch arm64] [--limit-mb 200]

Steps: ``pip install --platform ... --only-binary=:all: --no-compile --target build/python``; remove test
suites, caches and build sources; strip debug symbols from extension modules (never from the vendored
``*.libs`` folders: stripping those breaks OpenBLAS); compile ``.pyc`` when the target interpreter is on PATH;
compile CloudSage's C kernels (:mod:`cloudsage.core.native`) for the target architecture into
``cloudsage_native/`` when its C compiler is on PATH (Debian: ``gcc-aarch64-linux-gnu`` for arm64); without it
the functions run the same Python code, slower.
Prints the unzipped size of layer plus function code and exits 1 above the limit (Lambda's hard limit is
262,144,000 bytes for function plus layers).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FUNCTION_CODE = ROOT / "lambdas" / "cloudsage"
LAMBDA_HARD_LIMIT = 262_144_000
PLATFORMS = {
    "arm64": ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"],
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"],
}
REMOVE_DIRS = {"tests", "__pycache__"}
REMOVE_SUFFIXES = {".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".hpp", ".f", ".f90"}


# C compilers for the target architecture; the kernels are plain C (no Python headers), so one build serves any
# Python version
CC_TOOLS = {"arm64": ("aarch64-linux-gnu-gcc", "aarch64"), "x86_64": ("x86_64-linux-gnu-gcc", "x86_64")}


def build_kernels(target: Path, arch: str) -> str:
    sys.path.insert(0, str(ROOT / "lambdas"))
    from cloudsage.core import native

    cc, machine = CC_TOOLS[arch]
    if shutil.which(cc) is None and platform.machine() == machine:
        cc = "cc"  # building for this machine
    out = target / "cloudsage_native" / f"libcloudsage-{machine}.so"
    try:
        native.build(out, cc)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        return f"C kernels NOT built ({exc}; Debian: gcc-aarch64-linux-gnu): the functions run the Python code, slower"
    return f"C kernels built with {cc}: {out.relative_to(target)}"


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def install(target: Path, python_version: str, arch: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--target",
        str(target),
        "-r",
        str(HERE / "requirements.txt"),
    ]
    for plat in PLATFORMS[arch]:
        cmd += ["--platform", plat]
    subprocess.run(cmd, check=True)


def slim(target: Path) -> int:
    removed = 0
    for d in sorted((p for p in target.rglob("*") if p.is_dir() and p.name in REMOVE_DIRS), reverse=True):
        if d.exists():
            removed += tree_bytes(d)
            shutil.rmtree(d)
    for f in list(target.rglob("*")):
        if f.is_file() and f.suffix in REMOVE_SUFFIXES:
            removed += f.stat().st_size
            f.unlink()
    return removed


# GNU strip for the target architecture. llvm-strip was tried and breaks numpy's extension modules
# ("ELF load command address/offset not page-aligned"), so it is not used.
STRIP_TOOLS = {"arm64": "aarch64-linux-gnu-strip", "x86_64": "x86_64-linux-gnu-strip"}


def strip_extensions(target: Path, arch: str) -> tuple[int, str]:
    tool = shutil.which(STRIP_TOOLS[arch])
    if tool is None:
        return 0, f"{STRIP_TOOLS[arch]} not on PATH (Debian: binutils-aarch64-linux-gnu): left unstripped"
    before = tree_bytes(target)
    for so in target.rglob("*.so*"):
        if any(part.endswith(".libs") for part in so.relative_to(target).parts):
            continue  # vendored OpenBLAS/gfortran: stripping breaks them
        subprocess.run([tool, "--strip-unneeded", str(so)], check=False, capture_output=True)
    return before - tree_bytes(target), f"stripped with {Path(tool).name}"


def compile_pyc(target: Path, python_version: str) -> str:
    interpreter = shutil.which(f"python{python_version}")
    if interpreter is None:
        return f"python{python_version} not on PATH: .pyc not precompiled (Lambda compiles on first import)"
    subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0", str(target)], check=False)
    return f"precompiled .pyc with {interpreter}"


SMOKE = """
import time
t = time.process_time()
import importlib
from cloudsage.core.registry import MODEL_SPECS
for spec in MODEL_SPECS:
    spec.load_analyze()
import cloudsage.handlers.model, cloudsage.handlers.collect, cloudsage.handlers.aggregate, cloudsage.handlers.publish
import numpy as np, scipy.stats
assert np.allclose(np.linalg.solve(np.eye(3) * 2, np.ones(3)), 0.5)  # BLAS works after stripping
assert abs(scipy.stats.norm.sf(3) - 0.0013499) < 1e-6
print(f"smoke: every handler and model imported from the layer ({time.process_time() - t:.2f} s CPU, cold)")
"""


def smoke(target: Path) -> int:
    """Import the handlers with the layer first on the path, as Lambda puts /opt/python."""
    import os
    import site

    runtime = [p for p in site.getsitepackages() if "site-packages" in p]  # boto3 comes with the runtime
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(target), str(ROOT / "lambdas"), *runtime]),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    return subprocess.run([sys.executable, "-S", "-c", SMOKE], env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python-version", default="3.14")
    ap.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    ap.add_argument("--limit-mb", type=float, default=200.0)
    ap.add_argument("--out", type=Path, default=HERE / "build")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="after building, import every model handler from the layer in a clean interpreter "
        "(only meaningful when --arch/--python-version match this machine)",
    )
    args = ap.parse_args(argv)

    target = args.out / "python"
    if args.out.exists():
        shutil.rmtree(args.out)
    print(f"building the science layer for Python {args.python_version} on {args.arch} into {target}")
    install(target, args.python_version, args.arch)
    raw = tree_bytes(target)
    slimmed = slim(target)
    stripped, strip_note = strip_extensions(target, args.arch)
    pyc_note = compile_pyc(target, args.python_version)
    kernel_note = build_kernels(target, args.arch)
    layer = tree_bytes(target)
    code = tree_bytes(FUNCTION_CODE)
    total = layer + code
    mb = 1_000_000
    print(f"  installed      {raw / mb:8.1f} MB")
    print(f"  tests/sources  {-slimmed / mb:8.1f} MB")
    print(f"  strip          {-stripped / mb:8.1f} MB  ({strip_note})")
    print(f"  {pyc_note}")
    print(f"  {kernel_note}")
    print(f"  layer          {layer / mb:8.1f} MB unzipped")
    print(f"  function code  {code / mb:8.1f} MB unzipped")
    hard = LAMBDA_HARD_LIMIT / mb
    print(f"  total          {total / mb:8.1f} MB of Lambda's {hard:.1f} MB (limit here {args.limit_mb} MB)")
    print(f"LAYER layer_mb={layer / mb:.1f} total_mb={total / mb:.1f} limit_mb={args.limit_mb:.0f}")
    if args.smoke and smoke(target) != 0:
        print("FAIL: the layer does not import cleanly", file=sys.stderr)
        return 1
    if total > args.limit_mb * mb:
        print(f"FAIL: layer + function code is {total / mb:.1f} MB, above {args.limit_mb} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
