"""Feature extraction: log-mel (parallel-wavegan compatible) and WORLD, plus their statistics."""

from vc.features.config import FeatureConfig, check_fingerprint

__all__ = ["FeatureConfig", "check_fingerprint"]
