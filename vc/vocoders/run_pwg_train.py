"""``python -m vc.vocoders.run_pwg_train ARGS``: parallel-wavegan's trainer (``parallel-wavegan-train``).

The console script would import parallel-wavegan without the SciPy ``kaiser`` alias it needs, so
``vc-train-vocoder`` runs the trainer through this wrapper, which imports it via
:func:`vc.vocoders.pwg_compat.import_pwg`. The arguments are the trainer's own.
"""

from __future__ import annotations

import sys

from vc.vocoders.pwg_compat import import_pwg


def main(argv: list[str] | None = None) -> None:
    trainer = import_pwg("bin.train")
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    sys.argv[0] = "parallel-wavegan-train"
    trainer.main()


if __name__ == "__main__":
    main()
