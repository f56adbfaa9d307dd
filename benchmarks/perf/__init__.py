"""PerformancePredictor against real gunicorn + wrk load tests (``make bench-perf``)."""
