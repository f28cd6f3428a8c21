"""The web page (``vc-ui``): a gradio front end over :func:`vc.load` and its converter.

:mod:`vc.ui.jobs` holds the work as plain functions (no gradio); :mod:`vc.ui.app` builds the page
with ``build_app(ckpt) -> gradio.Blocks`` and serves it with ``launch``. gradio is an optional extra
(``pip install '.[ui]'``), imported only by :mod:`vc.ui.app`. No other room imports this one.
"""
