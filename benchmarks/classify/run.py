"""Workload classification benchmark: accuracy and confusion matrix on a labelled fleet the rules were not written on.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.classify.run --data ../shared/data

The fleet comes from :mod:`benchmarks.classify.fleet` (seed 777 by default, 30 resources per class, names
neutral); it shares no seed or shape with the demo fleet. Side by side, in the same process:

* ``cloudsage`` - :func:`cloudsage.core.models.resources.classify_resource`, names ignored;
* ``cloudsage+names`` - the same with telling names as a hint (a second fleet, same seed, names added);
* ``cloudsage(sparse)`` - the same on a stripped copy of every resource: only CPU (else requests or invocations)
  and the resource type, a stress test of how much the other metrics carry;
* ``tree(other seed)`` - a depth-5 decision tree on the same features, trained on a fleet generated with another
  seed (a small learned model, for comparison);
* ``resource_type`` - rds -> database, cache -> cache, lambda -> microservice, asg -> web, ec2 -> batch;
* ``majority`` - always the most common class.

Also printed: the demo fleet's five labelled resources. ``--data`` is accepted for symmetry with the other
benchmarks (nothing is read from it). The last line is ``CLASSIFY accuracy=..``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.classify.fleet import CLASSES, Labelled, generate
from cloudsage.core.models.resources import classify_resource, workload_features
from cloudsage.core.resource import ResourceMetrics

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
TYPE_RULE = {"rds": "database", "cache": "cache", "lambda": "microservice", "asg": "web", "ec2": "batch"}
DEMO_LABELS = {
    "web-api-asg": "web",
    "i-0b7c1d2e3f4a5b6c7": "batch",
    "orders-db": "database",
    "sessions-cache-001": "cache",
    "orders-processor": "microservice",
}


def _vector(f: dict[str, float], keys: list[str]) -> list[float]:
    return [v if math.isfinite(v := float(f.get(k, math.nan))) else -1.0 for k in keys]


def _tree(train: list[Labelled], seed: int) -> tuple[object, list[str]]:
    from sklearn.tree import DecisionTreeClassifier

    feats = [workload_features(x.resource) for x in train]
    keys = sorted(feats[0])
    X = np.array([_vector(f, keys) for f in feats])
    y = np.array([x.label for x in train])
    return DecisionTreeClassifier(max_depth=5, random_state=seed).fit(X, y), keys


def _sparse(res: ResourceMetrics) -> ResourceMetrics:
    """The resource with only its driving metric (CPU, else requests/invocations): a stress test of generalisation."""
    keep = next((m for m in ("CPUUtilization", "RequestCount", "Invocations") if m in res.series), None)
    series = {keep: res.series[keep]} if keep else dict(res.series)
    return ResourceMetrics(res.resource_id, res.resource_type, series, dict(res.attributes))


def _accuracy(pred: list[str], truth: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(pred, truth, strict=True)]))


def _confusion(pred: list[str], truth: list[str]) -> None:
    width = max(len(c) for c in CLASSES) + 2
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(f"{c[:10]:>12}" for c in CLASSES) + f"{'recall':>9}")
    for t in CLASSES:
        row = [sum(1 for p, tt in zip(pred, truth, strict=True) if tt == t and p == c) for c in CLASSES]
        total = sum(row)
        print(
            f"{t:<{width}}"
            + "".join(f"{n:>12d}" for n in row)
            + f"{(row[CLASSES.index(t)] / total if total else 0):>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="unused; accepted like the other benchmarks")
    ap.add_argument("--per-class", type=int, default=30)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--train-seed", type=int, default=4_242)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    fleet = generate(args.per_class, args.seed)
    named = generate(args.per_class, args.seed, names=True)
    truth = [x.label for x in fleet]

    t = time.perf_counter()
    cs = [classify_resource(x.resource, use_name=False) for x in fleet]
    per_resource_ms = 1000 * (time.perf_counter() - t) / len(fleet)
    pred_cs = [c.workload for c in cs]
    pred_named = [classify_resource(x.resource).workload for x in named]
    tree, keys = _tree(generate(args.per_class, args.train_seed), args.train_seed)
    X = np.array([_vector(c.features, keys) for c in cs])
    pred_tree = [str(p) for p in tree.predict(X)]  # type: ignore[attr-defined]
    pred_sparse = [classify_resource(_sparse(x.resource), use_name=False).workload for x in fleet]
    pred_type = [TYPE_RULE.get(x.resource.resource_type, "batch") for x in fleet]
    majority = Counter(truth).most_common(1)[0][0]
    pred_major = [majority] * len(truth)

    print(
        f"Workload classification: {len(fleet)} generated resources ({args.per_class} per class, seed {args.seed}; "
        f"tree trained on seed {args.train_seed}); {per_resource_ms:.1f} ms per resource"
    )
    header = f"{'classifier':<20}{'accuracy':>10}" + "".join(f"{c[:10]:>12}" for c in CLASSES)
    print(header)
    print("-" * len(header))
    results = {
        "cloudsage": pred_cs,
        "cloudsage+names": pred_named,
        "cloudsage(sparse)": pred_sparse,
        "tree(other seed)": pred_tree,
        "resource_type": pred_type,
        "majority": pred_major,
    }
    for name, pred in results.items():
        recalls = []
        for c in CLASSES:
            idx = [i for i, tt in enumerate(truth) if tt == c]
            recalls.append(np.mean([pred[i] == c for i in idx]) if idx else float("nan"))
        print(f"{name:<20}{_accuracy(pred, truth):>10.3f}" + "".join(f"{r:>12.2f}" for r in recalls))
    print()
    _confusion(pred_cs, truth)
    conf = np.array([c.confidence for c in cs])
    right = np.array([p == t for p, t in zip(pred_cs, truth, strict=True)])
    print(
        f"\nmedian confidence: correct {np.median(conf[right]):.2f}, "
        f"wrong {np.median(conf[~right]) if (~right).any() else float('nan'):.2f}"
    )
    from cloudsage.local.demo import build_demo_fleet

    demo = {r.resource_id: r for r in build_demo_fleet().to_resource_metrics()}
    hits = []
    for rid, label in DEMO_LABELS.items():
        got = classify_resource(demo[rid], use_name=False)
        hits.append(got.workload == label)
        print(f"demo {rid:<22} true {label:<13} predicted {got.workload:<13} ({got.confidence:.2f})")
    print(f"demo fleet: {sum(hits)}/{len(hits)} correct; elapsed {time.perf_counter() - t0:.1f} s")
    print(f"CLASSIFY accuracy={_accuracy(pred_cs, truth):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
