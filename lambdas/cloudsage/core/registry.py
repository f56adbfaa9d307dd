"""The model registry: the one list that drives the local pipeline, the handlers and the CDK app.

Plain data only (dotted paths, not imports), so that ``infra/`` can read it without importing numpy.
Adding a model means adding one :class:`ModelSpec` to :data:`MODEL_SPECS`; the CDK app creates its function
and its state-machine branch, the local run provisions and invokes it, and the generic model handler
(``cloudsage.handlers.model.lambda_handler``) dispatches on ``MODEL_NAME``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from cloudsage.core.errors import UnknownModelError

MODEL_HANDLER = "cloudsage.handlers.model.lambda_handler"

RUNTIME_ONLY_PARAMS = frozenset({"price_path"})
"""Model parameters the platform sets (a file path in the function's sandbox); task and API input may not."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One registered model.

    Parameters
    ----------
    name : str
        Short id used in task input, insight records, function names and state names.
    estimator : str
        ``module:Class`` of the scikit-learn-style estimator.
    analyze : str
        ``module:function`` taking ``(ResourceMetrics, **params)`` and returning ``ModelOutput``.
    defaults : dict
        Default hyperparameters; explicit arguments win over settings, settings over these.
    memory_mb, timeout_s : int
        Lambda sizing for the model's function.
    uses_prices : bool
        The model takes ``price_path``: its function may refresh list prices from the Price List Query API
        (``pricing:GetProducts``) and share them under ``prices/`` in the snapshot bucket.
    """

    name: str
    estimator: str
    analyze: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    memory_mb: int = 1024
    timeout_s: int = 120
    uses_prices: bool = False
    handler: str = MODEL_HANDLER

    @property
    def state_name(self) -> str:
        """Name of the model's task state in the workflow."""
        return f"Model-{self.name}"

    @property
    def function_id(self) -> str:
        """CDK construct id (and local function-name suffix) of the model's function."""
        return "Model" + "".join(part.capitalize() for part in self.name.split("_"))

    def load_estimator(self) -> Any:
        return _load(self.estimator)

    def load_analyze(self) -> Any:
        return _load(self.analyze)


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="anomaly",
        estimator="cloudsage.core.models.anomaly:AnomalyDetector",
        analyze="cloudsage.core.models.anomaly:analyze",
        description="Causal, seasonality-aware anomaly detection: severity, grouped findings, likely cause",
        defaults={},
        memory_mb=512,
        timeout_s=120,
    ),
    ModelSpec(
        name="scaling",
        estimator="cloudsage.core.models.scaling:ScalingForecaster",
        analyze="cloudsage.core.models.scaling:analyze",
        description="Calibrated load forecasts, capacity plan and proactive scaling insights",
        defaults={},
        memory_mb=1024,
        timeout_s=120,
        uses_prices=True,
    ),
    ModelSpec(
        name="cost",
        estimator="cloudsage.core.models.cost:CostOptimizer",
        analyze="cloudsage.core.models.cost:analyze",
        description="Rightsizing, idle resources, Graviton, spot and gp2 to gp3 with $/month from a dated snapshot",
        defaults={"strategy": "balanced"},
        memory_mb=512,
        timeout_s=60,
        uses_prices=True,
    ),
    ModelSpec(
        name="performance",
        estimator="cloudsage.core.models.performance:PerformancePredictor",
        analyze="cloudsage.core.models.performance:analyze",
        description="Capacity model: utilisation-law ceiling, MVA and Erlang C latency, knee, virtual load test, SLA",
        defaults={"p95_target_s": 0.5, "horizon_days": 7.0},
        memory_mb=1024,
        timeout_s=120,
    ),
    ModelSpec(
        name="resources",
        estimator="cloudsage.core.models.resources:ResourceRecommender",
        analyze="cloudsage.core.models.resources:analyze",
        description="Workload classification from metrics; instance family, size and autoscaling policy",
        defaults={},
        memory_mb=512,
        timeout_s=60,
    ),
)


def get_spec(name: str) -> ModelSpec:
    """Return the spec named ``name``.

    Raises
    ------
    UnknownModelError
        When no model of that name is registered.
    """
    for spec in MODEL_SPECS:
        if spec.name == name:
            return spec
    raise UnknownModelError(f"unknown model {name!r}; registered: {[s.name for s in MODEL_SPECS]}")


def model_names() -> list[str]:
    return [s.name for s in MODEL_SPECS]


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
