"""CloudSage: an open AI-ops layer for AWS.

Kept import-light on purpose: infra reads the model registry without importing numpy.
"""

__version__ = "0.1.0"
