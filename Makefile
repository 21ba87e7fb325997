# Two commands: `make run` and `make test`. Both create .venv and install everything from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set (this machine, CI) every
# process would compile sentence-transformers, sklearn, peft, ... from source again: a tuned triage build in a fresh
# process took 56 s without the .pyc files and 30 s with them; the suite starts hundreds of processes.
UV := $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python

.PHONY: run test install clean

# torch first, pinned, through pip: pip reads the machine's own configuration (find-links to a local CPU
# wheel, constraints), and an unpinned torch pulls a multi-GB CUDA build (see ../shared/STACK-NOTES.md).
# uv installs the rest: measured 14 s against pip's 120 s for the same packages (bench/RESULTS.md, "Install and the default run").
$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0 uv

# `make run` needs the package only; `make test` adds the test tools (TRL, Playwright, schemathesis, ...).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/uv
	$(UV) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/uv
	$(UV) -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-test

run: $(VENV)/.installed-run
	$(BIN)/rungs run $(ARGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) artifacts
