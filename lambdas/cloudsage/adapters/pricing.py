"""Price List Query API adapter: rebuild the price snapshot from ``pricing:GetProducts``.

:func:`refresh_snapshot` writes a file in the packaged snapshot's format (``cloudsage/data/prices_<region>.json``)
with ``origin_kind = "live api"`` and today's date on every refreshed price, so the core
(:func:`cloudsage.core.catalog.load_prices`) reads either without knowing which. What it refreshes:

* **EC2** Linux On-Demand hourly prices, filters ``regionCode``, ``operatingSystem=Linux``, ``tenancy=Shared``,
  ``capacitystatus=Used``, ``preInstalledSw=NA``, ``licenseModel=No License required`` (paginated; every PriceList
  item is a JSON *string*), for the types of the catalog (``all_types=True`` keeps every type);
* **EBS** storage $/GB-month for gp2, gp3 and io2 (``productFamily=Storage``).

Lambda, Fargate and the EBS IOPS/throughput add-ons are carried over from the previous snapshot, each keeping its
own ``source`` and ``as_of``; the file's ``note`` says so.

:func:`shared_live_prices` is the run-time path of price-aware model functions: a live refresh younger than
``max_age_days`` (this container's copy, else the one shared in the snapshot bucket), else a new refresh when
credentials work, else the packaged snapshot (its ``origin`` then says ``snapshot <date>``);
:func:`live_or_snapshot` is the same without a bucket, as a price book.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cloudsage.core.catalog import PriceBook, instance_specs, load_prices, snapshot_path
from cloudsage.core.errors import InputValidationError

__all__ = ["live_or_snapshot", "parse_ec2_item", "refresh_snapshot", "shared_live_prices"]

PRICING_REGION = "us-east-1"  # the Price List Query API lives in us-east-1 (and two other regions), not everywhere
SOURCE = "AWS Price List Query API (pricing:GetProducts, {service})"
EC2_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "capacitystatus": "Used",
    "preInstalledSw": "NA",
    "licenseModel": "No License required",
}
EBS_VOLUMES = {"gp2": "gp2", "gp3": "gp3", "io2": "io2"}


def _filters(region: str, extra: dict[str, str]) -> list[dict[str, str]]:
    items = {"regionCode": region, **extra}
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in items.items()]


def _products(client: Any, service: str, filters: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """Every product of a paginated ``GetProducts`` query, each PriceList string parsed."""
    paginator = client.get_paginator("get_products")
    for page in paginator.paginate(ServiceCode=service, Filters=filters, FormatVersion="aws_v1", MaxResults=100):
        for item in page.get("PriceList", []):
            yield json.loads(item) if isinstance(item, str) else item


def _on_demand_usd(product: dict[str, Any]) -> tuple[float, str] | None:
    """The On-Demand USD price per unit of a product and its unit, if it has exactly one non-zero dimension."""
    terms = (product.get("terms") or {}).get("OnDemand") or {}
    prices = []
    for term in terms.values():
        for dim in (term.get("priceDimensions") or {}).values():
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is None:
                continue
            value = float(usd)
            if value > 0:
                prices.append((value, str(dim.get("unit", ""))))
    return prices[0] if len(prices) == 1 else (min(prices) if prices else None)


def parse_ec2_item(product: dict[str, Any]) -> tuple[str, float] | None:
    """``(instance_type, $/hour)`` of one EC2 PriceList product, or None when it is not an hourly instance price.

    Examples
    --------
    >>> item = {"product": {"productFamily": "Compute Instance", "attributes": {"instanceType": "m5.large"}},
    ...         "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"unit": "Hrs",
    ...         "pricePerUnit": {"USD": "0.0960000000"}}}}}}}
    >>> parse_ec2_item(item)
    ('m5.large', 0.096)
    """
    prod = product.get("product") or {}
    attrs = prod.get("attributes") or {}
    itype = attrs.get("instanceType")
    if not itype or not str(prod.get("productFamily", "Compute Instance")).startswith("Compute Instance"):
        return None
    price = _on_demand_usd(product)
    if price is None or price[1] not in ("Hrs", "Hours", "hours"):
        return None
    return str(itype), round(price[0], 10)


def refresh_snapshot(
    region: str, out_path: str | os.PathLike[str], client: Any = None, *, all_types: bool = False
) -> dict[str, Any]:
    """Rebuild the price snapshot of ``region`` from the Price List Query API and write it to ``out_path``.

    Parameters
    ----------
    region : str
        Region code whose prices to fetch (``us-east-1``).
    out_path : path-like
        Where to write the JSON snapshot (created or replaced atomically).
    client : botocore client, optional
        A ``pricing`` client; default ``boto3.client("pricing", region_name="us-east-1")``.
    all_types : bool
        Keep every instance type the API returns, not only the catalog's.

    Returns
    -------
    dict
        The snapshot written.

    Raises
    ------
    InputValidationError
        When the API returned no EC2 price at all for ``region`` (field ``region``).
    botocore.exceptions.ClientError, NoCredentialsError
        From the API, unchanged.
    """
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name=PRICING_REGION)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    known = set(instance_specs())
    ec2: dict[str, dict[str, Any]] = {}
    source = SOURCE.format(service="AmazonEC2")
    for product in _products(client, "AmazonEC2", _filters(region, EC2_FILTERS)):
        parsed = parse_ec2_item(product)
        if parsed is None:
            continue
        itype, usd = parsed
        if all_types or itype in known:
            ec2[itype] = {
                "usd_per_hour": usd,
                "source": f"{source}, {region}, Linux, Shared, On-Demand",
                "as_of": today,
            }
    if not ec2:
        raise InputValidationError(
            f"the Price List API returned no EC2 Linux On-Demand price for {region}", field="region"
        )

    previous = _previous(region)
    ebs = {k: dict(v) for k, v in (previous.get("ebs") or {}).items()}
    for product in _products(client, "AmazonEC2", _filters(region, {"productFamily": "Storage"})):
        api_name = ((product.get("product") or {}).get("attributes") or {}).get("volumeApiName")
        price = _on_demand_usd(product)
        if api_name in EBS_VOLUMES and price is not None:
            entry = ebs.setdefault(EBS_VOLUMES[api_name], {})
            entry.update({"usd_per_gb_month": round(price[0], 10), "source": f"{source}, {region}", "as_of": today})
    snapshot = {
        "schema": 1,
        "region": region,
        "currency": "USD",
        "as_of": today,
        "origin_kind": "live api",
        "hours_per_month": 730,
        "note": (
            "EC2 and EBS storage prices refreshed from the AWS Price List Query API; Lambda, Fargate and EBS IOPS/"
            "throughput add-ons carried over from the previous snapshot (each keeps its own source and date)."
        ),
        "ec2": dict(sorted(ec2.items())),
        "ebs": ebs,
        "lambda": previous.get("lambda", {}),
        "fargate": previous.get("fargate", {}),
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(snapshot, indent=1), encoding="utf-8")
    tmp.replace(out)
    return snapshot


def _previous(region: str) -> dict[str, Any]:
    path = snapshot_path(region)
    if not path.exists():
        path = snapshot_path("us-east-1")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


SHARED_PRICES_KEY = "prices/live-{region}.json"
RETRY_AFTER_FAILURE_S = 3600.0  # a container that could not reach the API does not ask again within the hour
_failed_at: dict[str, float] = {}


def live_or_snapshot(
    region: str = "us-east-1",
    cache_path: str | os.PathLike[str] | None = None,
    *,
    max_age_days: float = 7.0,
    client: Any = None,
) -> PriceBook:
    """Prices for the run: a fresh cached live refresh, else a new refresh, else the packaged snapshot.

    :func:`shared_live_prices` without a bucket to share through, read as a :class:`PriceBook` (whose ``origin``
    says ``live api <date>`` or ``snapshot <date>``).
    """
    return load_prices(
        region, path=shared_live_prices(region, None, cache_path=cache_path, max_age_days=max_age_days, client=client)
    )


def shared_live_prices(
    region: str,
    store: Any = None,
    *,
    max_age_days: float = 7.0,
    cache_path: str | os.PathLike[str] | None = None,
    client: Any = None,
) -> str | None:
    """A price file refreshed from the live API (and shared through S3), or None for the packaged snapshot.

    The run-time path of price-aware model functions. In order: this container's copy when younger than
    ``max_age_days``; else, with a ``store``, the shared copy ``prices/live-<region>.json`` in its bucket when it
    is that young (one refresh serves every container and run); else a new refresh, written back to the bucket;
    else None, and no new attempt from this container for an hour (no pricing endpoint, no permission,
    throttled). A file that does not read as a price snapshot counts as missing. The caller passes the path as
    ``price_path``, and every dollar figure then says ``live api <date>``; None means the packaged snapshot, and
    the figures say so.

    Parameters
    ----------
    region : str
        Region code of the prices.
    store : SnapshotStore, optional
        The bucket adapter (its ``client`` and ``bucket``) to share the refresh through.
    max_age_days : float
        Older copies are refreshed.
    cache_path : path-like, optional
        This container's copy (default ``$TMPDIR/cloudsage-prices-<region>.json``, which survives warm Lambda
        invocations).
    client : botocore client, optional
        Injected ``pricing`` client.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    local = Path(cache_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"cloudsage-prices-{region}.json")
    local.parent.mkdir(parents=True, exist_ok=True)
    max_age = timedelta(days=max_age_days)
    if _usable(local, max_age):
        return str(local)
    key = SHARED_PRICES_KEY.format(region=region)
    if store is not None:
        try:
            obj = store.client.get_object(Bucket=store.bucket, Key=key)
            if datetime.now(UTC) - obj["LastModified"] < max_age:
                local.write_bytes(obj["Body"].read())
                stamp = obj["LastModified"].timestamp()
                os.utime(local, (stamp, stamp))  # its age is the shared copy's
                if _usable(local, max_age):
                    return str(local)
        except (BotoCoreError, ClientError, OSError):
            pass  # no shared copy yet, or unreadable: refresh below
    if time.monotonic() - _failed_at.get(region, -math.inf) < RETRY_AFTER_FAILURE_S:
        return None
    try:
        refresh_snapshot(region, local, client)
        if store is not None:
            store.client.put_object(
                Bucket=store.bucket, Key=key, Body=local.read_bytes(), ContentType="application/json"
            )
    except (BotoCoreError, ClientError, InputValidationError, OSError):
        _failed_at[region] = time.monotonic()
        return str(local) if _usable(local, max_age) else None  # refreshed, but not shared: still usable here
    return str(local)


def _usable(path: Path, max_age: timedelta) -> bool:
    """A price file younger than ``max_age`` that reads as a price snapshot."""
    if not path.exists() or datetime.now(UTC) - datetime.fromtimestamp(path.stat().st_mtime, UTC) >= max_age:
        return False
    try:
        load_prices("us-east-1", path=path)
    except (InputValidationError, ValueError, KeyError, TypeError, AttributeError, OSError):
        return False  # not a price snapshot (truncated, hand-edited, another format): treated as missing
    return True
