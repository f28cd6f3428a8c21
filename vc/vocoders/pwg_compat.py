"""The one place that imports parallel-wavegan.

parallel-wavegan 0.6.1 does ``from scipy.signal import kaiser``; SciPy 1.13 removed that alias (the
window lives in ``scipy.signal.windows``). We restore it before the import, here and nowhere else.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vc.errors import VCError


def import_pwg(submodule: str = "") -> ModuleType:
    """Import ``parallel_wavegan[.submodule]`` with the SciPy alias in place."""
    import scipy.signal
    import scipy.signal.windows

    if not hasattr(scipy.signal, "kaiser"):
        scipy.signal.kaiser = scipy.signal.windows.kaiser
    name = "parallel_wavegan" + (f".{submodule}" if submodule else "")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise VCError(
            f"{name} could not be imported ({exc}); install it with "
            "`pip install --no-build-isolation parallel-wavegan` (make venv does this)"
        ) from None
