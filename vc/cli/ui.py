"""``vc-ui``: a web page to convert clips with a trained checkpoint (needs ``pip install '.[ui]'``).

    vc-ui [--ckpt PATH] [--host 127.0.0.1] [--port 7860] [--exp-root exp] [--device cpu]

``--ckpt`` defaults to $VC_CKPT, else the newest checkpoint under ./exp/ (as vc-convert). The page
also offers every experiment found under ``--exp-root``. It works offline; requests are queued and
run one at a time; sources longer than 60 s are refused.
"""

from __future__ import annotations

import argparse
import signal
import sys

from vc.cli.common import die, user_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vc-ui", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--ckpt", help="checkpoint selected at start (default: $VC_CKPT, else the newest under ./exp/)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--exp-root", default="exp", help="folder searched for experiments (default ./exp)")
    p.add_argument("--vocoder", help="world, griffinlim or pwg:<dir> (default: each experiment's own)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        die(f"--port must be between 1 and 65535, got {args.port}")
    import importlib.util

    # Only look for gradio here: vc.ui.app must be the first to import it (it turns analytics off).
    if importlib.util.find_spec("gradio") is None:
        die("vc-ui needs gradio: pip install '.[ui]' (or pip install gradio)")

    from vc.convert.converter import resolve_checkpoint
    from vc.ui import jobs
    from vc.ui.app import build_app, launch

    ckpt = resolve_checkpoint(args.ckpt)
    # A plain `kill` (SIGTERM) should stop the server as Ctrl-C does, removing the request files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    workspace = jobs.Workspace()
    try:
        demo = build_app(ckpt, exp_root=args.exp_root,
                         cache=jobs.ConverterCache(device=args.device, vocoder=args.vocoder), workspace=workspace)
        print(f"vc-ui: {ckpt} on http://{args.host}:{args.port} (Ctrl-C to stop)")
        launch(demo, host=args.host, port=args.port)
    finally:
        workspace.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
