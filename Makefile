# The two commands of the README. Each bootstraps .venv (python3 -m venv) and what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# The tests and benchmarks run with one BLAS thread: their matrices are small, and on a busy 2-core machine
# threaded BLAS spins against the other processes (a training step measured 40x slower). The demo
# picks its own count: the cores no other process is using (seqgrad/training/threads.py).
ONE_BLAS_THREAD := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m seqgrad demo

test: $(STAMP)
	$(PY) -m ruff check seqgrad tests benchmarks
	$(ONE_BLAS_THREAD) $(PY) -m pytest -q

bench: $(STAMP)
	$(ONE_BLAS_THREAD) $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
