"""Run a fresh, real closed-loop load test on this machine, then fit the capacity model and predict.

A benchmark, not a CI test: shared machines are noisy. Usage (from the repository root, as root for the
package install and the priority boost)::

    PYTHONPATH=lambdas:. python -m benchmarks.perf.live_loadtest --reps 3 --duration 3 --max-minutes 5

What it does, bounded in time (``--max-minutes``; steps that would overrun are skipped):

1. Makes sure ``gunicorn`` and ``wrk`` (Debian packages) are installed (``apt-get update`` then
   ``apt-get install -y gunicorn wrk`` when missing and ``--install`` is given).
2. Starts ``gunicorn`` with ``--workers`` sync workers on ``127.0.0.1`` only, serving a CPU-bound WSGI handler
   (a fixed ``--iters`` loop, about 2 ms of CPU at 20,000). When run as root the server gets its own autogroup
   with nice -10, so that neighbours mostly soak up idle CPU instead of taking it from the server.
3. For every repetition (at least 3) and every concurrency ``N`` (up and down, alternating), runs
   ``wrk -c N`` for ``--duration`` seconds and records throughput, Little's-law mean response time, the CPU used by
   the server's process group, by wrk, by the whole machine and by *everything else* (``other_busy_cores``).
4. Rejects contaminated steps: other processes used more than ``--max-other-cores`` beyond what the workload left
   idle (the workload can use at most ``min(N, workers, cores)`` cores plus wrk's). Writes the raw and the clean
   CSVs (same columns as ``../shared/data/loadtest/loadtest.csv``).
5. Fits on ``N <= 8`` of the clean steps (medians over repetitions), predicts the rest, and prints the same table
   as ``benchmarks.perf.run``, ending with ``PERF-LIVE plateau_err_pct=.. thr_mape_pct=.. lat_mape_pct=..
   usl_thr_mape_pct=..``.

Only processes this script started are stopped (by process-group id).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "out" / "perf_live"
CLK = os.sysconf("SC_CLK_TCK")
APP = """
def app(environ, start_response):
    x = 0
    for i in range({iters}):
        x += i * i
    body = str(x % 1000).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
COLUMNS = [
    "started_utc",
    "host_cpus",
    "workers",
    "work_iters",
    "rep",
    "concurrency",
    "wrk_threads",
    "duration_s",
    "requests",
    "throughput_rps",
    "resp_mean_littles_ms",
    "err_connect",
    "err_read",
    "err_write",
    "err_status",
    "err_timeout",
    "wrk_lat_mean_ms",
    "wrk_lat_p50_ms",
    "wrk_lat_p99_ms",
    "server_cpu_cores",
    "wrk_cpu_cores",
    "machine_busy_cores",
    "other_busy_cores",
    "pre_run_busy_cores",
    "autogroup",
    "contaminated",
]


def ensure_tools(install: bool) -> None:
    """Install gunicorn and wrk from Debian when missing (``apt-get update`` first)."""
    missing = [t for t in ("gunicorn", "wrk") if shutil.which(t) is None]
    if not missing:
        return
    if not install:
        sys.exit(f"missing {missing}: run with --install (apt-get install -y gunicorn wrk)")
    if os.geteuid() != 0:
        sys.exit("installing packages needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "gunicorn", "wrk"], check=True, env=env, timeout=900)


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        parts = [int(v) for v in fh.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


def group_cpu_ticks(pgid: int) -> int:
    """utime + stime (plus reaped children's) of every process in process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp) is index 2 after the command
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on 127.0.0.1:{port}")


def parse_wrk(out: str) -> dict[str, float]:
    """Requests, duration, errors and (coordinated-omission-corrected, not raw) latencies from wrk's output."""

    def ms(text: str) -> float:
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]

    res: dict[str, float] = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if not m:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    res["requests"] = float(m.group(1))
    res["duration_s"] = float(m.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    for i, k in enumerate(("err_connect", "err_read", "err_write", "err_timeout")):
        res[k] = float(m.group(i + 1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["err_status"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Latency\s+(\S+)", out)
    res["wrk_lat_mean_ms"] = ms(m.group(1)) if m else float("nan")
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+(\S+)", out)
        res[f"wrk_lat_p{pct}_ms"] = ms(m.group(1)) if m else float("nan")
    return res


class Server:
    """A gunicorn process group we started (and only that one is ever stopped)."""

    def __init__(self, workers: int, iters: int, port: int, workdir: Path) -> None:
        (workdir / "cs_app.py").write_text(APP.format(iters=iters))
        cmd = ["gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(workdir), "cs_app:app"]
        self.proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pgid = self.proc.pid
        self.autogroup = ""
        if os.geteuid() == 0:
            try:  # own session = own autogroup; raise its weight so neighbours soak idle CPU only
                with open(f"/proc/{self.proc.pid}/autogroup", "w", encoding="ascii") as fh:
                    fh.write("-10")
            except OSError:
                pass
        try:
            with open(f"/proc/{self.proc.pid}/autogroup", encoding="ascii") as fh:
                self.autogroup = fh.read().strip().replace(" nice ", ":")
        except OSError:
            pass
        wait_for(port)

    def stop(self) -> None:
        try:
            os.killpg(self.pgid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_step(server: Server, port: int, n: int, duration: float, cores: int) -> dict[str, Any]:
    """One wrk step with CPU accounting for the server group, wrk and the rest of the machine."""
    b0, t0 = machine_busy_ticks()
    time.sleep(0.5)
    b1, t1 = machine_busy_ticks()
    pre_busy = cores * (b1 - b0) / max(t1 - t0, 1)
    threads = min(2, n)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(n),
        "-d",
        f"{max(1, round(duration))}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
    ]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = group_cpu_ticks(server.pgid)
    m0, mt0 = machine_busy_ticks()
    w0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    wall = time.monotonic() - w0
    m1, mt1 = machine_busy_ticks()
    s1 = group_cpu_ticks(server.pgid)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = parse_wrk(out)
    server_cores = (s1 - s0) / CLK / wall
    wrk_cores = ((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) / wall
    machine = cores * (m1 - m0) / max(mt1 - mt0, 1)
    thr = res["requests"] / res["duration_s"]
    return {
        **res,
        "concurrency": n,
        "wrk_threads": threads,
        "throughput_rps": thr,
        "resp_mean_littles_ms": 1000.0 * n / thr if thr > 0 else float("nan"),
        "server_cpu_cores": server_cores,
        "wrk_cpu_cores": wrk_cores,
        "machine_busy_cores": machine,
        "other_busy_cores": machine - server_cores - wrk_cores,
        "pre_run_busy_cores": pre_busy,
    }


def contaminated(row: dict[str, Any], workers: int, cores: int, max_other: float) -> bool:
    """Others took CPU the workload could have used: more than ``max_other`` beyond what it left idle."""
    potential = min(row["concurrency"], workers, cores) + row["wrk_cpu_cores"]
    spare = max(cores - potential, 0.0)
    return bool(row["other_busy_cores"] > spare + max_other)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test, write the CSVs, fit and predict."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,2,4,8,16,32,64", help="concurrency levels")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (>= 3)")
    ap.add_argument("--duration", type=int, default=3, help="whole seconds per step (wrk -d)")
    ap.add_argument("--workers", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20_000, help="loop iterations per request (CPU per request)")
    ap.add_argument("--max-minutes", type=float, default=6.0, help="hard bound on the whole run")
    ap.add_argument("--max-other-cores", type=float, default=0.25, help="contamination threshold")
    ap.add_argument("--install", action="store_true", help="apt-get install gunicorn and wrk when missing")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    ap.add_argument("--from-csv", type=Path, help="skip the measurement: re-fit a raw CSV written by an earlier run")
    args = ap.parse_args(argv)
    if args.reps < 3:
        ap.error("--reps must be >= 3 (medians over repetitions)")
    if args.from_csv:
        with open(args.from_csv, newline="", encoding="utf-8") as fh:
            rows = [
                {**r, "concurrency": int(r["concurrency"]), "contaminated": int(r["contaminated"])}
                for r in csv.DictReader(fh)
            ]
        return fit_and_report(rows, args.out)
    rows = measure(args)
    return fit_and_report(rows, args.out)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start the server, run every step, stop the server; rows with CPU accounting and a contamination flag."""
    levels = [int(v) for v in args.levels.split(",")]
    ensure_tools(args.install)
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + 60.0 * args.max_minutes
    port = free_port()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(args.workers, args.iters, port, Path(tmp))
        try:
            for rep in range(1, args.reps + 1):
                order = levels if rep % 2 else levels[::-1]
                for n in order:
                    if time.monotonic() + args.duration + 2.0 > deadline:
                        print(f"time bound reached: skipping rep {rep} N={n}", file=sys.stderr)
                        continue
                    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    row = run_step(server, port, n, args.duration, cores)
                    row.update(
                        started_utc=started,
                        host_cpus=cores,
                        workers=args.workers,
                        work_iters=args.iters,
                        rep=rep,
                        autogroup=server.autogroup,
                    )
                    row["contaminated"] = int(contaminated(row, args.workers, cores, args.max_other_cores))
                    rows.append(row)
                    print(
                        f"rep {rep} N={n:>3} X={row['throughput_rps']:7.1f} req/s R={row['resp_mean_littles_ms']:7.2f} "
                        f"ms server={row['server_cpu_cores']:.2f} wrk={row['wrk_cpu_cores']:.2f} "
                        f"other={row['other_busy_cores']:.2f}{' CONTAMINATED' if row['contaminated'] else ''}",
                        flush=True,
                    )
        finally:
            server.stop()
    return rows


def fit_and_report(rows: list[dict[str, Any]], out: Path) -> int:
    """Write the raw and clean CSVs, fit on the clean steps with N <= 8, predict the rest, print the table."""
    out.mkdir(parents=True, exist_ok=True)
    raw, clean = out / "loadtest_live_raw.csv", out / "loadtest_live.csv"
    for path, keep in ((raw, rows), (clean, [r for r in rows if not r["contaminated"]])):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in keep:
                w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    n_bad = sum(r["contaminated"] for r in rows)
    print(f"\n{len(rows)} steps, {n_bad} rejected as contaminated; wrote {raw} and {clean}")
    from benchmarks.perf.run import _print_closed, closed_run

    clean_rows = [r for r in rows if not r["contaminated"]]
    fit_levels = {r["concurrency"] for r in clean_rows if r["concurrency"] <= 8}
    held_levels = {r["concurrency"] for r in clean_rows if r["concurrency"] > 8}
    source, flag = clean, 0
    if len(fit_levels) < 2 or not held_levels:
        print(
            "too few clean steps to fit and test (the machine is busy): fitting ALL steps, results are contaminated",
            file=sys.stderr,
        )
        source, flag = raw, 1
    try:
        res = closed_run(source, 8.0)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could not do
        print(f"could not fit: {exc}", file=sys.stderr)
        return 1
    _print_closed(res)
    print(
        f"PERF-LIVE plateau_err_pct={abs(res['plateau_err']):.1f} thr_mape_pct={res['thr_mape']:.1f} "
        f"lat_mape_pct={res['lat_mape']:.1f} usl_thr_mape_pct={res['usl_thr_mape']:.1f} contaminated={flag} "
        f"rejected_steps={n_bad}/{len(rows)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
