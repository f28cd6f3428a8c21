"""The gradio page: convert one clip (upload or record) or a batch, with any experiment under ./exp/.

Layout only: the work is done by :mod:`vc.ui.jobs`. Every handler turns a :class:`VCError` into a
``gr.Error`` (a one-line message on the page, no traceback) and the server carries on. The page is
built to run with no internet: analytics off, system fonts, no share link, no server-side rendering
(which would need node).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

# Must be set before gradio is imported: it reads the variable at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from vc.errors import VCError  # noqa: E402
from vc.ui import jobs  # noqa: E402

REF_MODE = "reference clip (its voice)"
VOICE_MODE = "training voice"
#: System fonts only: a theme naming a web font would make the browser fetch it from the internet.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])
#: Requests waiting beyond this many are refused (gradio says the queue is full).
QUEUE_SIZE = 16

_INTRO = f"""# vc — voice conversion
Upload or record a clip, choose a target voice of the model, and press **Convert**. Sources up to
{jobs.MAX_SOURCE_SECONDS:g} s; requests run one at a time, in order. A *reference clip* gives its own
voice on a model trained with a shared style head (any speaker; docs/any_to_any.md), else the style
of the training voice closest to it."""


def _page_errors(fn):
    """Show a user mistake as a message on the page instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except VCError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise gr.Error(text, print_exception=False) from None

    return wrapper


def build_app(ckpt: str | os.PathLike, exp_root: str | os.PathLike = "exp",
              cache: jobs.ConverterCache | None = None, workspace: jobs.Workspace | None = None) -> gr.Blocks:
    """The page, with ``ckpt`` selected and every experiment's newest checkpoint under ``exp_root``
    offered in a dropdown. Loads ``ckpt`` now, so a bad checkpoint fails before the server starts.

    The returned Blocks carries its :class:`jobs.Workspace` as ``demo.vc_workspace``; start it with
    :func:`launch`, which serves files from there.
    """
    cache = cache or jobs.ConverterCache()
    workspace = workspace or jobs.Workspace()
    ckpt = str(Path(ckpt))
    conv = cache.get(ckpt)
    choices = [(jobs.checkpoint_label(p, exp_root), str(p)) for p in jobs.find_checkpoints(exp_root)]
    if not any(Path(v).resolve() == Path(ckpt).resolve() for _, v in choices):
        choices.insert(0, (jobs.checkpoint_label(Path(ckpt), exp_root), ckpt))
    else:
        ckpt = next(v for _, v in choices if Path(v).resolve() == Path(ckpt).resolve())

    @_page_errors
    def load_experiment(path: str):
        domains = cache.get(path).domains
        return (gr.Dropdown(choices=domains, value=domains[0]), gr.Dropdown(choices=domains, value=domains[0]))

    @_page_errors
    def convert(path: str, src: str | None, mode: str, target: str | None, ref: str | None,
                seed: float | None, num_styles: float):
        use_ref = mode == REF_MODE
        if use_ref and not ref:
            raise VCError("no reference clip: upload one, or choose 'training voice'")
        res = jobs.convert_clip(cache.get(path), workspace.request_dir(), src, target=None if use_ref else target,
                                ref=ref if use_ref else None, seed=int(seed or 0), num_styles=int(num_styles))
        return str(res.wavs[0]), [str(p) for p in res.wavs], str(res.plot), res.message

    @_page_errors
    def convert_many(path: str, files: list[str] | None, target: str | None, seed: float | None):
        zip_path, msg = jobs.convert_batch(cache.get(path), workspace.request_dir(), list(files or []),
                                           target, seed=int(seed or 0))
        return str(zip_path), msg

    def switch_mode(mode: str):
        return gr.Dropdown(visible=mode != REF_MODE), gr.Audio(visible=mode == REF_MODE)

    # delete_cache: gradio keeps its own copies of uploads and results; drop those older than an hour.
    with gr.Blocks(title="vc: voice conversion", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown(_INTRO)
        experiment = gr.Dropdown(choices=choices, value=ckpt, label="experiment (newest checkpoint under ./exp/)")
        with gr.Tab("Convert"):
            with gr.Row():
                with gr.Column():
                    src = gr.Audio(sources=["upload", "microphone"], type="filepath", label="source clip",
                                   elem_id="source")
                    mode = gr.Radio([VOICE_MODE, REF_MODE], value=VOICE_MODE, label="convert to")
                    # Custom values allowed so that the converter itself checks the name (and lists the
                    # voices) whichever experiment is loaded; gradio would check the first one's list.
                    target = gr.Dropdown(choices=conv.domains, value=conv.domains[0], label="target voice",
                                         allow_custom_value=True, elem_id="target")
                    ref = gr.Audio(sources=["upload"], type="filepath", label=REF_MODE, visible=False)
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, label="seed")
                        styles = gr.Slider(1, jobs.MAX_STYLES, value=1, step=1,
                                           label="number of styles (seeds seed, seed+1, ...)")
                    button = gr.Button("Convert", variant="primary", elem_id="convert")
                with gr.Column():
                    result = gr.Audio(type="filepath", label="result", interactive=False, elem_id="result")
                    status = gr.Markdown(elem_id="status")
                    downloads = gr.File(label="all results", file_count="multiple", interactive=False)
                    picture = gr.Image(type="filepath", label="spectrogram and F0: source and result",
                                       interactive=False, elem_id="picture")
        with gr.Tab("Batch"):
            with gr.Row():
                with gr.Column():
                    batch_files = gr.File(file_count="multiple", file_types=["audio"], label="source files")
                    batch_target = gr.Dropdown(choices=conv.domains, value=conv.domains[0], label="target voice",
                                               allow_custom_value=True)
                    batch_seed = gr.Number(value=0, precision=0, label="seed")
                    batch_button = gr.Button("Convert all", variant="primary")
                with gr.Column():
                    batch_zip = gr.File(label="conversions (zip)", interactive=False)
                    batch_status = gr.Markdown()

        mode.change(switch_mode, mode, [target, ref], api_name=False, queue=False)
        experiment.change(load_experiment, experiment, [target, batch_target], api_name="load_experiment")
        button.click(convert, [experiment, src, mode, target, ref, seed, styles],
                     [result, downloads, picture, status], api_name="convert")
        batch_button.click(convert_many, [experiment, batch_files, batch_target, batch_seed],
                           [batch_zip, batch_status], api_name="convert_batch")
    # One request at a time: conversion already uses every core, and a queue keeps memory bounded.
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    demo.vc_workspace = workspace
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, prevent_thread_lock: bool = False,
           quiet: bool = False) -> str:
    """Serve ``demo`` (from :func:`build_app`) offline; returns the local URL. Blocks unless
    ``prevent_thread_lock`` (then stop it with ``demo.close()``)."""
    workspace: jobs.Workspace = demo.vc_workspace
    try:
        _, url, _ = demo.launch(
            server_name=host, server_port=port, prevent_thread_lock=prevent_thread_lock, quiet=quiet,
            share=False, inbrowser=False, max_file_size=jobs.MAX_FILE_SIZE, allowed_paths=[str(workspace.root)],
            theme=THEME, ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
        )
    except OSError as exc:  # port taken, host unknown: a user mistake, not a bug
        raise VCError(f"cannot serve on {host}:{port} ({str(exc).splitlines()[0]})") from None
    return url
