"""x86_64 vs aarch64: the ``results.json`` of ``arm64_compare.py run`` on each machine, bit for bit.

usage: python compare_hosts.py A/results.json B/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

PARTS = ("input", "trace_native", "trace_python", "state_native", "state_python")


def main(a_path: Path, b_path: Path) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    ia, ib = a["info"], b["info"]
    print(f"A: {ia['machine']} numpy {ia['numpy']} | B: {ib['machine']} numpy {ib['numpy']}")
    assert ia["inputs_sha256"] == ib["inputs_sha256"], "the two runs read different inputs"
    ra, rb = {r["key"]: r for r in a["results"]}, {r["key"]: r for r in b["results"]}
    assert ra.keys() == rb.keys()
    bad = []
    for key in ra:
        for part in PARTS:
            x, y = ra[key][part], rb[key][part]
            if x != y:
                bad.append((key, part, [f for f in x if x[f] != y[f]] if isinstance(x, dict) else "input"))
    n_fields = sum(len(r["trace_native"]) + len(r["state_native"]) for r in ra.values())
    differ = len({item[0] for item in bad})
    print(
        f"{len(ra)} cases, {n_fields} kernel trace/state fields a side: {len(ra) - differ} identical, {differ} differ"
    )
    for item in bad:
        print("DIFF", *item)
    if not bad:
        za = np.load(a_path.parent / "native_traces.npz")
        zb = np.load(b_path.parent / "native_traces.npz")
        assert sorted(za.files) == sorted(zb.files)
        same = all(za[f].dtype == zb[f].dtype and za[f].tobytes() == zb[f].tobytes() for f in za.files)
        print(f"saved kernel arrays: {len(za.files)}, byte-identical: {same}")
        return 0 if same else 1
    return 1


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
