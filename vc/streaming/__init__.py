"""Real-time conversion block by block: :class:`Stream` (``vc-convert --stream`` on the command line).

    conv = vc.load(ckpt)
    stream = Stream(conv, target="p225")          # or ref="clip.wav"; latency_ms=180 by default
    for block in blocks:                            # float32 samples at conv.sample_rate, any size
        play(stream.feed(block))
    play(stream.flush())
"""

from vc.streaming.stream import Stream, StreamPlan, make_plan

__all__ = ["Stream", "StreamPlan", "make_plan"]
