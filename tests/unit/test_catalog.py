"""Unit tests of the instance catalog and the packaged price snapshot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.catalog import (
    GRAVITON_EQUIVALENT,
    HOURS_PER_MONTH,
    SPECS_FILE,
    build_specs,
    instance_spec,
    instance_specs,
    load_prices,
    snapshot_path,
)
from cloudsage.core.errors import InputValidationError

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ec2" / "benchmarks.json"
ANCHORS = {
    "m5.large": 0.096,
    "m6i.large": 0.096,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "m7g.large": 0.0816,
    "c6i.xlarge": 0.17,
    "r6i.large": 0.126,
}
REQUIRED_FAMILIES = (
    "t3",
    "t4g",
    "m5",
    "m6i",
    "m6g",
    "m7i",
    "m7g",
    "c5",
    "c6i",
    "c6g",
    "c7g",
    "r5",
    "r6i",
    "r6g",
    "r7g",
)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def test_snapshot_anchor_prices_exact() -> None:
    # Given the packaged us-east-1 snapshot
    book = load_prices()
    # When the anchor types are read / Then each is the quoted list price exactly
    for itype, price in ANCHORS.items():
        assert book.hourly(itype) == price, itype


def test_snapshot_required_families_and_sizes_present() -> None:
    # Given the snapshot and the specs / When every required family is looked up
    book = load_prices()
    for fam in REQUIRED_FAMILIES:
        sizes = ("large", "xlarge") if fam in ("t3", "t4g") else ("large", "xlarge", "2xlarge", "4xlarge")
        for size in sizes:
            # Then a price and a spec exist for sizes large to 4xlarge (t3/t4g: to 2xlarge, their largest)
            assert book.has(f"{fam}.{size}"), f"{fam}.{size}"
            assert instance_spec(f"{fam}.{size}").vcpu > 0


def test_snapshot_size_doubling_doubles_price() -> None:
    # Given every family in the snapshot
    book = load_prices()
    specs = instance_specs()
    # When prices are compared per vCPU within a family
    by_family: dict[str, set[float]] = {}
    for itype in book.ec2:
        spec = specs[itype]
        if spec.burstable:
            continue
        by_family.setdefault(spec.family, set()).add(round(book.hourly(itype) / spec.vcpu, 9))
    # Then price per vCPU is constant within each family (doubling the size doubles the price)
    for fam, per_vcpu in by_family.items():
        assert len(per_vcpu) == 1, (fam, per_vcpu)
    assert book.hourly("m5.2xlarge") == pytest.approx(2 * book.hourly("m5.xlarge"))
    assert book.hourly("t3.large") == pytest.approx(2 * book.hourly("t3.medium"))


def test_snapshot_every_price_has_source_and_date() -> None:
    # Given the raw snapshot file
    data = json.loads(snapshot_path().read_text())
    # When every price entry is inspected / Then it names its source and an ISO date
    entries = list(data["ec2"].values()) + list(data["ebs"].values()) + list(data["lambda"].values())
    entries += list(data["fargate"].values())
    for entry in entries:
        assert entry["source"], entry
        assert DATE.match(entry["as_of"]), entry
    assert DATE.match(data["as_of"])


def test_snapshot_non_ec2_anchor_prices_exact() -> None:
    # Given the snapshot / When EBS, Lambda and Fargate prices are read / Then they match the anchors
    book = load_prices()
    assert book.ebs["gp2"]["usd_per_gb_month"] == 0.10
    assert book.ebs["gp3"]["usd_per_gb_month"] == 0.08
    assert (book.ebs["gp3"]["included_iops"], book.ebs["gp3"]["included_mbps"]) == (3000, 125)
    assert book.lambda_["x86_64"]["usd_per_gb_s"] == 0.0000166667
    assert book.lambda_["arm64"]["usd_per_gb_s"] == 0.0000133334
    assert book.lambda_["requests"]["usd_per_million"] == 0.20
    assert book.fargate["x86_64"] == {
        **book.fargate["x86_64"],
        "usd_per_vcpu_hour": 0.04048,
        "usd_per_gb_hour": 0.004445,
    }
    assert "arm64" in book.fargate


def test_snapshot_file_small() -> None:
    # Given the package data files / Then each stays under 300 KB
    for path in (snapshot_path(), SPECS_FILE):
        assert path.stat().st_size < 300_000, path


def test_price_book_monthly_uses_730_hours() -> None:
    # Given m5.large at 0.096 $/h / When priced per month / Then 730 hours are used
    assert HOURS_PER_MONTH == 730.0
    assert load_prices().monthly("m5.large") == pytest.approx(70.08)


def test_price_book_gp3_addons_priced_above_baseline() -> None:
    # Given a 100 GB gp3 volume with 6,000 IOPS and 250 MB/s
    book = load_prices()
    # When priced / Then storage + 3,000 extra IOPS x 0.005 + 125 extra MB/s x 0.04
    assert book.ebs_monthly("gp3", 100, 6000, 250) == pytest.approx(8.0 + 15.0 + 5.0)
    assert book.ebs_monthly("gp3", 100, 3000, 125) == pytest.approx(8.0)


def test_price_book_io2_iops_tiers_applied() -> None:
    # Given io2 with 40,000 IOPS / When priced / Then the first 32,000 at 0.065 and the rest at 0.0455
    book = load_prices()
    assert book.ebs_monthly("io2", 100, 40_000) == pytest.approx(12.5 + 32_000 * 0.065 + 8_000 * 0.0455)


def test_price_book_lambda_and_fargate_formulas() -> None:
    # Given 1M requests of 1 GB-s each / When priced / Then GB-s plus request charge
    book = load_prices()
    assert book.lambda_monthly(1e6, 1e6) == pytest.approx(16.6667 + 0.20)
    assert book.fargate_hourly(1, 2) == pytest.approx(0.04048 + 2 * 0.004445)


def test_price_book_unknown_type_raises_naming_field() -> None:
    # Given the book / When an unknown or RDS type is priced / Then InputValidationError names instance_type
    book = load_prices()
    for itype in ("x9.huge", "db.r6g.large"):
        with pytest.raises(InputValidationError) as err:
            book.hourly(itype)
        assert err.value.field == "instance_type"


def test_load_prices_unknown_region_raises_naming_region() -> None:
    with pytest.raises(InputValidationError) as err:
        load_prices("xx-nowhere-1")
    assert err.value.field == "region"


def test_price_book_negative_volume_size_raises() -> None:
    with pytest.raises(InputValidationError) as err:
        load_prices().ebs_monthly("gp3", -1)
    assert err.value.field == "size_gb"


def test_instance_spec_db_prefix_maps_to_ec2_hardware() -> None:
    # Given an RDS type / When its spec is read / Then it is the EC2 type of the same hardware
    assert instance_spec("db.r6g.large") == instance_spec("r6g.large")
    assert instance_spec("cache.r6g.large").memory_gib == 16.0


def test_instance_spec_unknown_raises_naming_field() -> None:
    with pytest.raises(InputValidationError) as err:
        instance_spec("m5.gigantic")
    assert err.value.field == "instance_type"


def test_capacity_reference_and_graviton_factor() -> None:
    # Given the specs / Then m5.large is the unit and m7g.large is about 1.8x (the README's CoreMark figure)
    assert instance_spec("m5.large").capacity == 1.0
    assert 1.6 < instance_spec("m7g.large").capacity < 2.0
    assert instance_spec("m5.2xlarge").capacity == pytest.approx(4.0)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(instance_specs())))
def test_capacity_scales_with_vcpu_within_family(itype: str) -> None:
    # Given any type / When compared with another size of its family / Then capacity per vCPU is the same
    spec = instance_spec(itype)
    siblings = [s for s in instance_specs().values() if s.family == spec.family]
    for other in siblings:
        assert other.capacity / other.vcpu == pytest.approx(spec.capacity / spec.vcpu, rel=1e-3)


def test_graviton_equivalents_are_arm64_and_priced() -> None:
    book = load_prices()
    for fam, arm in GRAVITON_EQUIVALENT.items():
        assert instance_spec(f"{arm}.large").arch == "arm64", fam
        assert book.has(f"{arm}.large")


@pytest.mark.skipif(not BENCHMARKS.exists(), reason="shared CoreMark data not present")
def test_build_specs_reproduces_packaged_file() -> None:
    # Given the CoreMark source data / When the specs are rebuilt / Then they equal the packaged file
    rebuilt = build_specs(BENCHMARKS)
    packaged = json.loads(SPECS_FILE.read_text())
    assert rebuilt["types"] == packaged["types"]
    assert "ec2instances.info" in packaged["source"]
