# Two commands on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev

.PHONY: install demo test bench lint clean

install: $(STAMP)

# torch goes in first, pinned, so that pip takes the CPU wheel instead of resolving a CUDA build.
# Elsewhere: `pip install torch --index-url https://download.pytorch.org/whl/cpu` for a CPU-only
# build, plain `pip install torch` for the CUDA build (several GB), then `pip install -e .`.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m kexue reproduce --budget quick --out runs/demo
	@echo "report: runs/demo/report.html (and runs/demo/report.md)"

# One test process per core (pytest-xdist; at most 4: each holds torch and transformers).
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[dev,bench]"
	for f in benchmarks/*.py; do $(PY) $$f || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check kexue tests benchmarks
	$(VENV)/bin/ruff format --check kexue tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
