"""modelplane: declarative config-as-code for ML infrastructure."""

__version__ = "0.1.0"
