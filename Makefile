# hopdb: two commands for a newcomer.
#   make demo   build, create a fresh store, import the 619 DFT hops, query them, print results
#   make test   build and run the whole test suite
SHELL := /bin/bash
DATA ?= ../shared/data/devi2025
DEMO_DB ?= demo-store
CARGO ?= cargo
BIN := target/release/hopdb
# libtorch for the graph networks (feature `gnn`): a Python venv with torch, one per machine and
# torch version (not per clone), used by torch-sys (the tch crate) to build. The binaries get
# an rpath to its lib directory, so no LD_LIBRARY_PATH is needed.
TORCH_VERSION ?= 2.13.0
TORCH_VENV ?= $(HOME)/.cache/hopdb/torch-$(TORCH_VERSION)
TORCH_PY := $(TORCH_VENV)/bin/python
# torch-sys (tch) finds libtorch through the venv's python: LIBTORCH_USE_PYTORCH with the venv
# first on PATH and VIRTUAL_ENV set; build.rs adds an rpath to torch's lib directory.
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(TORCH_VENV)
export PATH := $(TORCH_VENV)/bin:$(PATH)
FEATURES ?= --features gnn
# The Python package (python/): a venv per machine and pinned requirements (not per clone),
# keyed by the hash of python/requirements-test.txt, with pytest, pyarrow, pandas, ase,
# pymatgen and maturin; the package is built into it without libtorch. PYPROFILE=release
# builds an optimised extension (the benchmark does); dev reuses `cargo test`'s dependencies.
PYREQ := python/requirements-test.txt
PYENV ?= $(HOME)/.cache/hopdb/pyenv-$(shell sha256sum $(PYREQ) | cut -c1-12)
PYENV_PY := $(PYENV)/bin/python
PYPROFILE ?= dev

.PHONY: all build demo test bench clean check-data torch pyenv pydeps pytest pybench

all: build

# Create the torch venv when missing (or when torch cannot be imported from it).
torch:
	@if ! $(TORCH_PY) -c "import torch" >/dev/null 2>&1; then \
		echo "== installing torch==$(TORCH_VERSION) into $(TORCH_VENV) (once per machine) =="; \
		mkdir -p $(dir $(TORCH_VENV)) && python3 -m venv $(TORCH_VENV) && \
		$(TORCH_VENV)/bin/pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION); \
	fi
	@$(TORCH_PY) -c "import torch; print('torch', torch.__version__, 'at', torch.__file__)"

# Create the Python venv when missing or incomplete.
pydeps:
	@if ! $(PYENV_PY) -c "import pytest, pyarrow, pandas, ase, pymatgen, distributed" >/dev/null 2>&1 || ! test -x $(PYENV)/bin/maturin; then \
		echo "== installing the Python test environment into $(PYENV) (once per machine) =="; \
		mkdir -p $(dir $(PYENV)) && python3 -m venv $(PYENV) && \
		$(PYENV)/bin/pip install --quiet --disable-pip-version-check -r $(PYREQ); \
	fi

# Build the package (maturin, profile $(PYPROFILE)) and install it into the venv.
pyenv: pydeps
	@echo "== building and installing the hopdb Python package ($(PYPROFILE)) into $(PYENV) =="
	env -u VIRTUAL_ENV PATH=$(PYENV)/bin:$$PATH MATURIN_PEP517_ARGS="--profile $(PYPROFILE) --locked" \
		$(PYENV)/bin/pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall ./python
	@$(PYENV_PY) -c "import hopdb; print('hopdb', hopdb.__version__, 'for Python at', hopdb.__file__)"

# The Python tests, through the installed package (needs target/debug/hopdb for the CLI comparisons).
pytest: pyenv
	HOPDB_BIN=$(CURDIR)/target/debug/hopdb HOPDB_DATA=$(DATA) $(PYENV_PY) -m pytest -q -p no:cacheprovider python/tests

build: torch
	$(CARGO) build --release --locked $(FEATURES)

check-data:
	@test -f $(DATA)/band_train.json || { echo "error: dataset not found at $(DATA) (set DATA=/path/to/devi2025)"; exit 1; }

demo: build check-data
	@rm -rf $(DEMO_DB)
	@echo "== hopdb init + import of the devi2025 dataset =="
	$(BIN) --db $(DEMO_DB) init
	$(BIN) --db $(DEMO_DB) import devi $(DATA)
	@echo "== importing the same files again: every hop is a duplicate =="
	$(BIN) --db $(DEMO_DB) import devi $(DATA) | head -9
	@echo "== store statistics =="
	$(BIN) --db $(DEMO_DB) stats
	@if $(BIN) query --help >/dev/null 2>&1; then \
		echo "== HopQL queries =="; \
		$(BIN) --db $(DEMO_DB) query "SELECT sys_name, ion, em FROM hops WHERE fidelity = 'dft' AND ion IN ('Mg','Ca') AND em < 0.65 ORDER BY em LIMIT 10"; \
		$(BIN) --db $(DEMO_DB) query "SELECT group, COUNT(*) AS hops, AVG(em), MIN(em), MAX(em) FROM hops WHERE elements HAS ALL 'Li','O' GROUP BY group ORDER BY hops DESC"; \
	fi
	@echo "== reproducible splits: the paper's partition, a stratified split, scenarios =="
	$(BIN) --db $(DEMO_DB) query "CREATE SPLIT paper FROM PARTITION" | tail -4
	$(BIN) --db $(DEMO_DB) query "CREATE SPLIT s1 FROM (SELECT * FROM hops WHERE fidelity = 'dft') STRATIFIED BY group TEST 10% SEED 42" | head -1
	$(BIN) --db $(DEMO_DB) query "CREATE SPLIT cv FROM (SELECT * FROM hops WHERE fidelity = 'dft') GROUPED KFOLD 5 SEED 1" | head -1
	$(BIN) --db $(DEMO_DB) query "SCENARIOS OF SPLIT paper" | head -14
	@echo "== models trained in place: tune boosted trees inside the 559 training hops, evaluate on the 60 test hops =="
	$(BIN) --db $(DEMO_DB) query "TUNE gbt AS boosted_trees ON SPLIT paper" | head -8
	$(BIN) --db $(DEMO_DB) query "EVALUATE gbt ON SPLIT paper"
	$(BIN) --db $(DEMO_DB) query "EVALUATE gbt ON SPLIT paper BY scenario"
	$(BIN) --db $(DEMO_DB) query "CROSS VALIDATE boosted_trees ON SPLIT cv"
	$(BIN) --db $(DEMO_DB) report gbt --out demo-report
	@echo "== BVSE: a bond-valence (softBV) NEB barrier for every DFT hop that can be computed, against DFT =="
	$(BIN) --db $(DEMO_DB) bvse compute --skip-failed | head -18
	$(BIN) --db $(DEMO_DB) bvse compare
	@echo "== why a hop got its BVSE barrier: oxidation states of a mixed-valence cobalt oxide =="
	$(BIN) --db $(DEMO_DB) bvse explain Co2O4_Mg
	@echo "== graph network (tch/libtorch, CPU): band input trained from scratch on the paper split (about a minute) =="
	@ldd $(BIN) | grep -E 'libtorch_cpu|not found' || true
	$(BIN) --db $(DEMO_DB) query "TRAIN g1 AS gnn(band) ON SPLIT paper WITH epochs = 60, hidden = 32, max_neighbors = 8, target = 'log1p', seed = 1"
	$(BIN) --db $(DEMO_DB) query "EVALUATE g1 ON SPLIT paper" | head -8
	@echo "== the paper benchmark (about a minute): hopdb's models beside the published ones =="
	$(BIN) bench paper --data $(DATA) --seeds 5
	@echo "== Python: the same store from a notebook (query into pandas, a hop as ase.Atoms, an ALIGNN export) =="
	$(MAKE) --no-print-directory pyenv
	$(PYENV_PY) python/examples/demo.py $(DEMO_DB) demo-report

test: torch
	$(CARGO) test --locked $(FEATURES)
	$(CARGO) check --locked --benches $(FEATURES)
	$(CARGO) check --locked --lib --bins
	$(MAKE) pytest

bench: build
	$(BIN) bench import --devi $(DATA) --synthetic 120000 --runs 3

clean:
	rm -rf $(DEMO_DB) demo-report
	$(CARGO) clean
