"""The Price List Query API adapter, offline: botocore's Stubber answers ``GetProducts`` page by page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cloudsage.adapters.pricing import live_or_snapshot, parse_ec2_item, refresh_snapshot, shared_live_prices
from cloudsage.core.catalog import load_prices, snapshot_path
from cloudsage.core.errors import InputValidationError

EC2_FILTERS = [
    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
    {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
    {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
    {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
    {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
    {"Type": "TERM_MATCH", "Field": "licenseModel", "Value": "No License required"},
]
STORAGE_FILTERS = [
    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
    {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "Storage"},
]


def ec2_item(itype: str, usd: str, family: str = "Compute Instance", unit: str = "Hrs") -> str:
    """One PriceList entry as the API returns it: a JSON string."""
    return json.dumps(
        {
            "product": {
                "productFamily": family,
                "attributes": {"instanceType": itype, "regionCode": "us-east-1", "operatingSystem": "Linux"},
                "sku": f"SKU{itype}",
            },
            "terms": {
                "OnDemand": {
                    f"SKU{itype}.T": {
                        "priceDimensions": {f"SKU{itype}.T.D": {"unit": unit, "pricePerUnit": {"USD": usd}}},
                        "effectiveDate": "2026-11-01T00:00:00Z",
                    }
                }
            },
            "publicationDate": "2026-11-20T00:00:00Z",
        }
    )


def storage_item(api_name: str, usd: str) -> str:
    return json.dumps(
        {
            "product": {"productFamily": "Storage", "attributes": {"volumeApiName": api_name}},
            "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"unit": "GB-Mo", "pricePerUnit": {"USD": usd}}}}}},
        }
    )


def params(filters: list[dict[str, str]], token: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": filters, "FormatVersion": "aws_v1", "MaxResults": 100}
    if token:
        p["NextToken"] = token
    return p


@pytest.fixture
def pricing(aws_credentials: None) -> Any:
    return boto3.client("pricing", region_name="us-east-1")


def test_refresh_snapshot_paginates_and_parses_json_strings(pricing: Any, tmp_path: Path) -> None:
    # Given two pages of EC2 products (JSON strings, one unknown type, one non-hourly fee) and one storage page
    out = tmp_path / "prices.json"
    with Stubber(pricing) as stub:
        page1 = [ec2_item("m5.large", "0.0960000000"), ec2_item("zz9.mega", "9.99")]
        stub.add_response(
            "get_products", {"PriceList": page1, "NextToken": "p2", "FormatVersion": "aws_v1"}, params(EC2_FILTERS)
        )
        page2 = [ec2_item("c6i.xlarge", "0.1700000000"), ec2_item("m5.xlarge", "0.01", unit="Quantity")]
        stub.add_response("get_products", {"PriceList": page2, "FormatVersion": "aws_v1"}, params(EC2_FILTERS, "p2"))
        stub.add_response(
            "get_products",
            {"PriceList": [storage_item("gp3", "0.0800000000"), storage_item("gp2", "0.1000000000")]},
            params(STORAGE_FILTERS),
        )
        # When the snapshot is refreshed
        snap = refresh_snapshot("us-east-1", out, pricing)
        stub.assert_no_pending_responses()

    # Then both pages were read, only catalog types with hourly prices kept, every entry sourced and dated
    assert snap["ec2"] == {
        "c6i.xlarge": {**snap["ec2"]["c6i.xlarge"], "usd_per_hour": 0.17},
        "m5.large": {**snap["ec2"]["m5.large"], "usd_per_hour": 0.096},
    }
    assert all("Price List Query API" in e["source"] and e["as_of"] == snap["as_of"] for e in snap["ec2"].values())
    assert snap["ebs"]["gp3"]["usd_per_gb_month"] == 0.08 and snap["ebs"]["gp3"]["included_iops"] == 3000
    # And the core reads the file back, naming its origin
    book = load_prices(path=out)
    assert book.origin.startswith("live api") and book.hourly("m5.large") == 0.096
    assert book.lambda_["x86_64"]["usd_per_gb_s"] == 0.0000166667  # carried over


def test_refresh_snapshot_no_prices_raises_naming_region(pricing: Any, tmp_path: Path) -> None:
    # Given an API answer without any EC2 price / When refreshed / Then InputValidationError names the region
    with Stubber(pricing) as stub:
        stub.add_response("get_products", {"PriceList": []}, params(EC2_FILTERS))
        with pytest.raises(InputValidationError) as err:
            refresh_snapshot("us-east-1", tmp_path / "p.json", pricing)
    assert err.value.field == "region"
    assert not (tmp_path / "p.json").exists()


def test_live_or_snapshot_api_error_falls_back_to_snapshot(pricing: Any, tmp_path: Path) -> None:
    # Given an API that refuses (no permission) / When prices are asked for / Then the packaged snapshot is used
    with Stubber(pricing) as stub:
        stub.add_client_error("get_products", service_error_code="AccessDeniedException", http_status_code=403)
        book = live_or_snapshot("us-east-1", tmp_path / "cache.json", client=pricing)
    assert book.origin.startswith("snapshot")
    assert book.hourly("m5.large") == 0.096


def test_live_or_snapshot_fresh_cache_used_without_api_call(pricing: Any, tmp_path: Path) -> None:
    # Given a fresh cached refresh / When prices are asked for / Then no API call is made and the cache is read
    cache = tmp_path / "cache.json"
    data = json.loads(snapshot_path().read_text())
    data.update({"origin_kind": "live api", "as_of": "2026-12-01"})
    data["ec2"]["m5.large"]["usd_per_hour"] = 0.1
    cache.write_text(json.dumps(data))
    with Stubber(pricing) as stub:  # no responses queued: any call would fail
        book = live_or_snapshot("us-east-1", cache, client=pricing)
        stub.assert_no_pending_responses()
    assert book.origin == "live api 2026-12-01" and book.hourly("m5.large") == 0.1


def test_parse_ec2_item_skips_non_instance_products() -> None:
    assert parse_ec2_item(json.loads(ec2_item("m5.large", "0.096", family="Dedicated Host"))) is None
    assert parse_ec2_item(json.loads(ec2_item("m5.large", "0.0"))) is None
    assert parse_ec2_item(json.loads(ec2_item("m5.large", "0.096"))) == ("m5.large", 0.096)


def test_shared_live_prices_path_feeds_cost_model_and_origin_says_live(pricing: Any, tmp_path: Path) -> None:
    # Given a fresh live cache with a different m5.2xlarge price
    from cloudsage.core.models.cost import analyze
    from cloudsage.local.demo import build_demo_fleet

    cache = tmp_path / "cache.json"
    data = json.loads(snapshot_path().read_text())
    data.update({"origin_kind": "live api", "as_of": "2026-12-05"})
    data["ec2"]["m5.2xlarge"]["usd_per_hour"] = 0.4
    cache.write_text(json.dumps(data))
    # When its path is handed to the cost model
    path = shared_live_prices("us-east-1", cache_path=cache, client=pricing)
    idle = build_demo_fleet().to_resource_metrics()[-1]
    first = analyze(idle, price_path=path).insights[0]
    # Then the dollar figures use it and say so
    assert path == str(cache)
    assert first.evidence["price_origin"] == "live api 2026-12-05"
    assert first.evidence["monthly_savings_usd"] == pytest.approx(0.4 * 730)


# ---------------------------------------------------------------- shared live prices (the Lambda run-time path)
def _full_refresh_responses(stub: Stubber, m5_large: str = "0.0990000000") -> None:
    stub.add_response("get_products", {"PriceList": [ec2_item("m5.large", m5_large)]}, params(EC2_FILTERS))
    stub.add_response("get_products", {"PriceList": [storage_item("gp3", "0.08")]}, params(STORAGE_FILTERS))


@pytest.fixture
def bucket(moto_aws: None) -> Any:
    from cloudsage.adapters.snapshots import SnapshotStore

    boto3.client("s3").create_bucket(Bucket="snapshots")
    return SnapshotStore("snapshots")


@pytest.fixture(autouse=True)
def _no_remembered_failures() -> Any:
    from cloudsage.adapters import pricing as module

    module._failed_at.clear()
    yield
    module._failed_at.clear()


def test_shared_live_prices_one_refresh_serves_every_container(bucket: Any, tmp_path: Path) -> None:
    from cloudsage.adapters.pricing import SHARED_PRICES_KEY

    client = boto3.client("pricing", region_name="us-east-1")
    # Given no shared copy yet / When the first container asks / Then it refreshes and shares the file
    with Stubber(client) as stub:
        _full_refresh_responses(stub)
        path = shared_live_prices("us-east-1", bucket, cache_path=tmp_path / "c1" / "p.json", client=client)
        stub.assert_no_pending_responses()
    assert path is not None and load_prices(path=path).hourly("m5.large") == 0.099
    shared = bucket.get_json(SHARED_PRICES_KEY.format(region="us-east-1"))
    assert shared["origin_kind"] == "live api" and shared["ec2"]["m5.large"]["usd_per_hour"] == 0.099
    # When another container (empty /tmp) asks / Then it reads the shared copy and makes no API call
    with Stubber(client) as stub:  # nothing queued: any call would fail
        path2 = shared_live_prices("us-east-1", bucket, cache_path=tmp_path / "c2" / "p.json", client=client)
    assert path2 is not None and load_prices(path=path2).origin.startswith("live api")


def test_shared_live_prices_api_refused_means_snapshot_and_no_retry_within_the_hour(
    bucket: Any, tmp_path: Path
) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_products", service_error_code="AccessDeniedException", http_status_code=403)
        assert shared_live_prices("us-east-1", bucket, cache_path=tmp_path / "p.json", client=client) is None
        stub.assert_no_pending_responses()
    with Stubber(client):  # a second invocation in the same container does not ask again
        assert shared_live_prices("us-east-1", bucket, cache_path=tmp_path / "p.json", client=client) is None


def test_shared_live_prices_corrupt_shared_copy_is_refreshed(bucket: Any, tmp_path: Path) -> None:
    from cloudsage.adapters.pricing import SHARED_PRICES_KEY

    key = SHARED_PRICES_KEY.format(region="us-east-1")
    bucket.client.put_object(Bucket="snapshots", Key=key, Body=b'{"ec2": "truncated')
    client = boto3.client("pricing", region_name="us-east-1")
    with Stubber(client) as stub:
        _full_refresh_responses(stub, m5_large="0.1010000000")
        path = shared_live_prices("us-east-1", bucket, cache_path=tmp_path / "p.json", client=client)
        stub.assert_no_pending_responses()
    assert path is not None and load_prices(path=path).hourly("m5.large") == 0.101
    assert bucket.get_json(key)["ec2"]["m5.large"]["usd_per_hour"] == 0.101
