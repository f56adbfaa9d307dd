"""One settings model per Lambda. Fields are exactly the env vars ``infra/`` sets on that function."""

from __future__ import annotations

import os
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "low", "medium", "high", "critical"]


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PlanSettings(_Settings):
    BUCKET_NAME: str = Field(min_length=3)
    LOOKBACK_DAYS: int = Field(default=14, ge=1, le=455)


class CollectSettings(_Settings):
    BUCKET_NAME: str = Field(min_length=3)


class ModelSettings(_Settings):
    BUCKET_NAME: str = Field(min_length=3)
    MODEL_NAME: str = Field(min_length=1)
    PRICE_SOURCE: Literal["live", "snapshot"] = "snapshot"  # set on price-aware models only (ModelSpec.uses_prices)
    AWS_REGION: str = "us-east-1"


class AggregateSettings(_Settings):
    BUCKET_NAME: str = Field(min_length=3)
    TABLE_NAME: str = Field(min_length=3)


class PublishSettings(_Settings):
    BUCKET_NAME: str = Field(min_length=3)
    TABLE_NAME: str = Field(min_length=3)
    TOPIC_ARN: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")
    MIN_ALERT_SEVERITY: Severity = "medium"


S = TypeVar("S", bound=_Settings)


def get_settings(model: type[S]) -> S:
    """Read ``model``'s fields from the environment; a missing or bad variable fails here, naming it.

    Not cached: the local run invokes several functions, each with its own environment, in one process.
    """
    return model.model_validate({name: os.environ[name] for name in model.model_fields if name in os.environ})
