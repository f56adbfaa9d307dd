"""Instance catalog and dated prices: what a type offers (vCPU, memory, architecture, burst, network, relative CPU
capacity) and what it costs.

Import-light on purpose (stdlib only): the registry, the CLI and the benchmarks read it without numpy.

* **Specs** (``data/instance_specs.json``): vCPU, memory, architecture, burstable baseline, network and a relative
  CPU-capacity factor per EC2 type, m5.large = 1.0. The factor comes from CoreMark iterations/s measured by the
  ec2instances.info project (vantage-sh/ec2instances.info, ``scraper/aws/ec2/extras/manually_fetched_data.json``,
  commit 4ef36cd2c986, 2026-07-20; MIT licence, Copyright (c) 2013 Garret Heaton). Single runs are noisy (c5.xlarge
  measured 2.6x c5.large with twice the vCPUs), so a type's factor is its family's median CoreMark per vCPU times its
  vCPU count; CoreMark is embarrassingly parallel and scales with vCPUs. :func:`build_specs` regenerates the file.
* **Prices** (``data/prices_us-east-1.json``): a dated snapshot of us-east-1 list prices (EC2 Linux On-Demand, EBS,
  Lambda, Fargate), every price with its ``source`` and ``as_of`` date. ``cloudsage prices refresh``
  (:func:`cloudsage.adapters.pricing.refresh_snapshot`) rebuilds it from the AWS Price List Query API.
  :func:`load_prices` returns a :class:`PriceBook`; every dollar figure a model reports names the book's ``origin``
  (``snapshot <date>`` or ``live api <date>``).

Monthly figures use :data:`HOURS_PER_MONTH` = 730 hours (AWS's own convention: 8,760 hours / 12).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cloudsage.core.errors import InputValidationError

__all__ = [
    "GRAVITON_EQUIVALENT",
    "HOURS_PER_MONTH",
    "InstanceSpec",
    "PriceBook",
    "build_specs",
    "family_of",
    "instance_spec",
    "instance_specs",
    "load_prices",
]

HOURS_PER_MONTH = 730.0
"""Hours in a billing month for every monthly figure (8,760 h / 12, the convention AWS's calculators use)."""

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SPECS_FILE = DATA_DIR / "instance_specs.json"
DEFAULT_REGION = "us-east-1"

COREMARK_SOURCE = (
    "CoreMark iterations/s from ec2instances.info (vantage-sh/ec2instances.info, "
    "scraper/aws/ec2/extras/manually_fetched_data.json, commit 4ef36cd2c986, 2026-07-20; MIT, (c) 2013 Garret Heaton)"
)

#: arm64 (Graviton) family that replaces an x86 family of the same class.
GRAVITON_EQUIVALENT: dict[str, str] = {
    "t3": "t4g",
    "m5": "m7g",
    "m6i": "m7g",
    "m7i": "m7g",
    "c5": "c7g",
    "c6i": "c7g",
    "c7i": "c7g",
    "r5": "r7g",
    "r6i": "r7g",
    "r7i": "r7g",
    "m6g": "m7g",
    "c6g": "c7g",
    "r6g": "r7g",
}

# --------------------------------------------------------------------------------------------- family tables
# (family, class, architecture, generation, network per size as "peak Gbps", burst-capable network)
# class: general / compute / memory / burstable.  memory GiB per vCPU: general 4, compute 2, memory 8.
_FAMILIES: dict[str, dict[str, Any]] = {
    "t3": {"class": "burstable", "arch": "x86_64", "mem_per_vcpu": None, "net": 5.0},
    "t4g": {"class": "burstable", "arch": "arm64", "mem_per_vcpu": None, "net": 5.0},
    "m5": {"class": "general", "arch": "x86_64", "mem_per_vcpu": 4, "net": 10.0},
    "m6i": {"class": "general", "arch": "x86_64", "mem_per_vcpu": 4, "net": 12.5},
    "m7i": {"class": "general", "arch": "x86_64", "mem_per_vcpu": 4, "net": 12.5},
    "m6g": {"class": "general", "arch": "arm64", "mem_per_vcpu": 4, "net": 10.0},
    "m7g": {"class": "general", "arch": "arm64", "mem_per_vcpu": 4, "net": 12.5},
    "c5": {"class": "compute", "arch": "x86_64", "mem_per_vcpu": 2, "net": 10.0},
    "c6i": {"class": "compute", "arch": "x86_64", "mem_per_vcpu": 2, "net": 12.5},
    "c7i": {"class": "compute", "arch": "x86_64", "mem_per_vcpu": 2, "net": 12.5},
    "c6g": {"class": "compute", "arch": "arm64", "mem_per_vcpu": 2, "net": 10.0},
    "c7g": {"class": "compute", "arch": "arm64", "mem_per_vcpu": 2, "net": 12.5},
    "r5": {"class": "memory", "arch": "x86_64", "mem_per_vcpu": 8, "net": 10.0},
    "r6i": {"class": "memory", "arch": "x86_64", "mem_per_vcpu": 8, "net": 12.5},
    "r7i": {"class": "memory", "arch": "x86_64", "mem_per_vcpu": 8, "net": 12.5},
    "r6g": {"class": "memory", "arch": "arm64", "mem_per_vcpu": 8, "net": 10.0},
    "r7g": {"class": "memory", "arch": "arm64", "mem_per_vcpu": 8, "net": 12.5},
}
_STANDARD_SIZES: dict[str, int] = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}
# burstable: size -> (vCPU, memory GiB, baseline CPU % per vCPU)
_BURSTABLE_SIZES: dict[str, tuple[int, float, float]] = {
    "nano": (2, 0.5, 5.0),
    "micro": (2, 1.0, 10.0),
    "small": (2, 2.0, 20.0),
    "medium": (2, 4.0, 20.0),
    "large": (2, 8.0, 30.0),
    "xlarge": (4, 16.0, 40.0),
    "2xlarge": (8, 32.0, 40.0),
}


def _sizes(family: str) -> dict[str, int]:
    sizes = dict(_STANDARD_SIZES)
    if _FAMILIES[family]["arch"] == "arm64":
        sizes = {"medium": 1, **sizes}
    if family == "c5":  # c5 has a 9xlarge (36 vCPU) instead of an 8xlarge
        sizes.pop("8xlarge")
        sizes["9xlarge"] = 36
    return sizes


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What one EC2 instance type offers.

    Parameters
    ----------
    instance_type : str
        e.g. ``m5.large``.
    family, size : str
        ``m5`` and ``large``.
    family_class : str
        ``general``, ``compute``, ``memory`` or ``burstable``.
    vcpu : int
        Number of vCPUs.
    memory_gib : float
        Memory in GiB.
    arch : str
        ``x86_64`` or ``arm64``.
    network_gbps : float
        Peak network bandwidth ("up to" figure for the smaller sizes).
    capacity : float
        Relative CPU capacity, m5.large = 1.0 (CoreMark, see module docstring).
    baseline_pct : float or None
        Burstable types only: sustained CPU % (of the whole instance) the credits pay for.
    """

    instance_type: str
    family: str
    size: str
    family_class: str
    vcpu: int
    memory_gib: float
    arch: str
    network_gbps: float
    capacity: float
    baseline_pct: float | None = None

    @property
    def burstable(self) -> bool:
        """True for t3/t4g (CPU credits)."""
        return self.baseline_pct is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "family": self.family,
            "size": self.size,
            "family_class": self.family_class,
            "vcpu": self.vcpu,
            "memory_gib": self.memory_gib,
            "arch": self.arch,
            "network_gbps": self.network_gbps,
            "capacity": self.capacity,
            "baseline_pct": self.baseline_pct,
        }


def family_of(instance_type: str) -> str:
    """``m5.large`` -> ``m5``; ``db.r6g.large`` -> ``r6g``; ``cache.r6g.large`` -> ``r6g``."""
    parts = str(instance_type).split(".")
    if parts and parts[0] in ("db", "cache"):
        parts = parts[1:]
    return parts[0] if parts else ""


def _strip_prefix(instance_type: str) -> str:
    parts = str(instance_type).split(".")
    return ".".join(parts[1:]) if parts and parts[0] in ("db", "cache") else str(instance_type)


# --------------------------------------------------------------------------------------------- specs
def build_specs(benchmarks_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Build the content of ``instance_specs.json`` from the family tables and CoreMark figures.

    Parameters
    ----------
    benchmarks_path : path-like
        ``benchmarks.json`` of ec2instances.info (``../shared/data/ec2/benchmarks.json``).

    Returns
    -------
    dict
        ``{"source", "reference", "types": {type: spec dict}}``.

    Raises
    ------
    InputValidationError
        When the reference type m5.large has no CoreMark figure.
    """
    with open(benchmarks_path, encoding="utf-8") as fh:
        bench: dict[str, Any] = json.load(fh)

    def coremark(t: str) -> float | None:
        entry = bench.get(t) or {}
        value = (entry.get("coremark") or {}).get("iterations_second")
        return float(value) if value else None

    def family_per_vcpu(family: str, sizes: dict[str, int]) -> float | None:
        per = sorted(c / v for s, v in sizes.items() if (c := coremark(f"{family}.{s}")) is not None)
        if not per:
            return None
        mid = len(per) // 2
        return per[mid] if len(per) % 2 else 0.5 * (per[mid - 1] + per[mid])

    ref_sizes = _sizes("m5")
    ref = family_per_vcpu("m5", ref_sizes)
    if ref is None:
        raise InputValidationError("no CoreMark figure for m5", field="benchmarks_path")
    ref_large = 2 * ref
    types: dict[str, Any] = {}
    for family, info in _FAMILIES.items():
        burst = info["class"] == "burstable"
        sizes = {s: v[0] for s, v in _BURSTABLE_SIZES.items()} if burst else _sizes(family)
        per_vcpu = family_per_vcpu(family, sizes)
        if per_vcpu is None:
            continue
        for size, vcpu in sizes.items():
            name = f"{family}.{size}"
            if info["class"] == "burstable":
                _, mem, base = _BURSTABLE_SIZES[size]
                baseline: float | None = base
            else:
                mem, baseline = float(vcpu * info["mem_per_vcpu"]), None
            raw = coremark(name)
            types[name] = {
                "vcpu": vcpu,
                "memory_gib": mem,
                "arch": info["arch"],
                "family_class": info["class"],
                "network_gbps": info["net"] if vcpu < 32 else max(info["net"], 12.0),
                "capacity": round(per_vcpu * vcpu / ref_large, 4),
                "coremark": round(raw, 1) if raw else None,
                "baseline_pct": baseline,
            }
    return {
        "source": COREMARK_SOURCE,
        "reference": "m5.large = 1.0; capacity = family median CoreMark per vCPU x vCPUs / m5.large's",
        "types": types,
    }


@lru_cache(maxsize=1)
def instance_specs() -> dict[str, InstanceSpec]:
    """All known EC2 instance types (``m5.large`` -> :class:`InstanceSpec`), from the packaged specs file."""
    with open(SPECS_FILE, encoding="utf-8") as fh:
        raw = json.load(fh)["types"]
    out: dict[str, InstanceSpec] = {}
    for name, d in raw.items():
        family, _, size = name.partition(".")
        out[name] = InstanceSpec(
            instance_type=name,
            family=family,
            size=size,
            family_class=d["family_class"],
            vcpu=int(d["vcpu"]),
            memory_gib=float(d["memory_gib"]),
            arch=d["arch"],
            network_gbps=float(d["network_gbps"]),
            capacity=float(d["capacity"]),
            baseline_pct=None if d["baseline_pct"] is None else float(d["baseline_pct"]),
        )
    return out


def instance_spec(instance_type: str) -> InstanceSpec:
    """Spec of one type; ``db.``/``cache.`` prefixes map to the EC2 type with the same hardware.

    Raises
    ------
    InputValidationError
        When the type is not in the catalog (names the field ``instance_type``).
    """
    specs = instance_specs()
    key = _strip_prefix(instance_type)
    if key not in specs:
        raise InputValidationError(f"unknown instance type {instance_type!r}", field="instance_type")
    return specs[key]


# --------------------------------------------------------------------------------------------- prices
@dataclass(frozen=True)
class PriceBook:
    """Prices of one region, with where they came from.

    Parameters
    ----------
    region : str
        AWS region code.
    origin : str
        ``snapshot <as_of>`` (the packaged file) or ``live api <as_of>``; every dollar figure quotes it.
    as_of : str
        ISO date the prices were recorded.
    ec2 : dict
        Instance type -> ``{"usd_per_hour", "source", "as_of"}`` (Linux, On-Demand, Shared tenancy).
    ebs, lambda_, fargate : dict
        EBS per volume type, Lambda and Fargate price entries (see the snapshot file).
    """

    region: str
    origin: str
    as_of: str
    ec2: dict[str, dict[str, Any]] = field(default_factory=dict)
    ebs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lambda_: dict[str, Any] = field(default_factory=dict)
    fargate: dict[str, dict[str, Any]] = field(default_factory=dict)

    def hourly(self, instance_type: str) -> float:
        """On-Demand $/hour of an EC2 type.

        Raises
        ------
        InputValidationError
            When the type has no price in this book (field ``instance_type``).
        """
        entry = None if instance_type.startswith(("db.", "cache.")) else self.ec2.get(instance_type)
        if entry is None:
            raise InputValidationError(f"no price for {instance_type!r} in {self.origin}", field="instance_type")
        return float(entry["usd_per_hour"])

    def has(self, instance_type: str) -> bool:
        """Whether the book prices this EC2 type (RDS and ElastiCache types are not priced)."""
        return not instance_type.startswith(("db.", "cache.")) and instance_type in self.ec2

    def monthly(self, instance_type: str) -> float:
        """On-Demand $/month (730 h) of an EC2 type."""
        return self.hourly(instance_type) * HOURS_PER_MONTH

    def ebs_monthly(self, volume_type: str, size_gb: float, iops: float = 0.0, throughput_mbps: float = 0.0) -> float:
        """$/month of one EBS volume.

        gp3: storage plus provisioned IOPS above 3,000 and throughput above 125 MB/s; gp2: storage only
        (IOPS come with size); io1/io2: storage plus every provisioned IOPS (io2 tiered at 32,000 and 64,000).

        Raises
        ------
        InputValidationError
            Unknown volume type or negative figures.
        """
        if size_gb < 0 or iops < 0 or throughput_mbps < 0:
            raise InputValidationError("size, IOPS and throughput must be >= 0", field="size_gb")
        p = self.ebs.get(volume_type)
        if p is None:
            raise InputValidationError(f"no EBS price for {volume_type!r}", field="volume_type")
        cost = size_gb * float(p["usd_per_gb_month"])
        if volume_type == "gp3":
            cost += max(0.0, iops - float(p["included_iops"])) * float(p["usd_per_iops_month"])
            cost += max(0.0, throughput_mbps - float(p["included_mbps"])) * float(p["usd_per_mbps_month"])
        elif "iops_tiers" in p:
            left, lower = iops, 0.0
            for upper, price in p["iops_tiers"]:
                span = (float(upper) if upper is not None else float("inf")) - lower
                take = min(left, span)
                cost += take * float(price)
                left -= take
                lower = float(upper) if upper is not None else lower
                if left <= 0:
                    break
        return cost

    def lambda_monthly(self, gb_seconds: float, requests: float, arch: str = "x86_64") -> float:
        """$ for ``gb_seconds`` of compute and ``requests`` invocations (no free tier)."""
        per_gb_s = float(self.lambda_[arch]["usd_per_gb_s"])
        return gb_seconds * per_gb_s + requests / 1e6 * float(self.lambda_["requests"]["usd_per_million"])

    def fargate_hourly(self, vcpu: float, memory_gb: float, arch: str = "x86_64") -> float:
        """$/hour of a Fargate task of that size."""
        p = self.fargate[arch]
        return vcpu * float(p["usd_per_vcpu_hour"]) + memory_gb * float(p["usd_per_gb_hour"])


def _book_from(data: dict[str, Any], origin_kind: str) -> PriceBook:
    as_of = str(data.get("as_of", "unknown"))
    return PriceBook(
        region=str(data.get("region", DEFAULT_REGION)),
        origin=f"{origin_kind} {as_of}",
        as_of=as_of,
        ec2=dict(data.get("ec2") or {}),
        ebs=dict(data.get("ebs") or {}),
        lambda_=dict(data.get("lambda") or {}),
        fargate=dict(data.get("fargate") or {}),
    )


@lru_cache(maxsize=8)
def _load_file(path: str, mtime_ns: int) -> dict[str, Any]:  # mtime in the key: a refreshed file is re-read
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def snapshot_path(region: str = DEFAULT_REGION) -> Path:
    """Path of the packaged snapshot of ``region``."""
    return DATA_DIR / f"prices_{region}.json"


def load_prices(region: str = DEFAULT_REGION, path: str | os.PathLike[str] | None = None) -> PriceBook:
    """Load a price book: ``path`` if given (e.g. a cache the live refresh wrote), else the packaged snapshot.

    Parameters
    ----------
    region : str
        Region code; only ``us-east-1`` ships in the package.
    path : path-like, optional
        A snapshot file in the same format (``origin`` in the file says whether it came from the live API).

    Returns
    -------
    PriceBook

    Raises
    ------
    InputValidationError
        When no snapshot exists for ``region`` (field ``region``).

    Examples
    --------
    >>> book = load_prices()
    >>> book.hourly("m5.large"), round(book.monthly("m5.large"), 2)
    (0.096, 70.08)
    """
    file = Path(path) if path is not None else snapshot_path(region)
    if not file.exists():
        raise InputValidationError(f"no price snapshot for region {region!r} ({file.name})", field="region")
    data = _load_file(str(file), file.stat().st_mtime_ns)
    return _book_from(data, str(data.get("origin_kind", "snapshot")))
