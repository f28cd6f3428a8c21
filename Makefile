# Two entry points for a fresh machine:
#   make demo   set up .venv, then run the self-contained demo recipe (recipes/mini)
#   make test   set up .venv, then run the test suite
# Both create or update the same virtual environment in .venv.

PYTHON ?= python3
VENV ?= .venv
# CPU torch by default; GPU users: make TORCH=torch (or install their CUDA build into .venv first).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.vc-installed

.PHONY: venv test lint demo bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# setuptools<81 still ships pkg_resources, which pyworld and webrtcvad (resemblyzer's VAD) import.
	$(BIN)/pip install -q --upgrade pip 'setuptools<81' wheel
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	# Normal (isolated) builds: pyworld is a source distribution on some machines and its isolated
	# build environment brings the numpy it compiles against.
	$(BIN)/pip install -q -e '.[dev]'
	# parallel-wavegan's setup.py imports pip, so it alone is built without isolation.
	$(BIN)/python -c "import parallel_wavegan" 2>/dev/null || \
		$(BIN)/pip install -q --no-build-isolation parallel-wavegan
	touch $(STAMP)

# pytest-xdist: one worker per core; a test file stays on one worker, so its module fixtures are made once.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile tests

lint: $(STAMP)
	$(BIN)/ruff check vc tests benchmarks

# The demo's outputs go to ./exp/demo, so `vc-convert --src ... --target ...` run from here afterwards
# finds its checkpoint without --ckpt (the newest under ./exp/). DEMO_ARGS reach run.sh, e.g.
# make demo DEMO_ARGS="--set train.max_minutes=5".
DEMO_ARGS ?=
demo: $(STAMP)
	bash recipes/mini/local/install_espeak.sh
	@# Speaker similarity (resemblyzer, which ships its own weights) is one of the demo's headline scores.
	$(BIN)/python -c "import resemblyzer" 2>/dev/null || $(BIN)/pip install -q resemblyzer
	PATH="$(abspath $(BIN)):$$PATH" bash recipes/mini/run.sh --set train.out_dir="$(CURDIR)/exp/demo" $(DEMO_ARGS)
	@echo
	@echo "Try it on any voice of the demo (adam, bruce, clara, daisy):"
	@echo "  . $(BIN)/activate && vc-convert --src recipes/mini/data/mini/adam/adam_001.wav --target daisy"
	@echo "Or in a web page (http://127.0.0.1:7860), on the newest checkpoint under ./exp/:"
	@echo "  $(BIN)/pip install -q '.[ui]' && $(BIN)/vc-ui"

bench: $(STAMP)
	$(BIN)/python benchmarks/features.py

clean:
	rm -rf $(VENV) build *.egg-info
