"""Numenta Anomaly Benchmark (NAB) scorer, baseline detectors and runner (``python -m benchmarks.nab.run``)."""
