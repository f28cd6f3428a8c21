"""Model families and their networks.

``get_family(cfg.model.name)`` returns a :class:`ModelFamily` (see ``docs/architecture.md``); the
family modules (and torch) are imported on the first lookup, so importing this package is cheap.
"""

from vc.models.registry import ModelFamily, count_parameters, family_names, get_family, register_family

__all__ = ["ModelFamily", "count_parameters", "family_names", "get_family", "register_family"]
