# hopdb: two commands for a newcomer.
#   make demo   build, create a fresh store, import the 619 DFT hops, query them, print results
#   make test   build and run the whole test suite
SHELL := /bin/bash
DATA ?= ../shared/data/devi2025
DEMO_DB ?= demo-store
CARGO ?= cargo
BIN := target/release/hopdb
# libtorch for the graph networks (feature `gnn`): a Python venv with torch, one per machine and
# torch version (not per clone), found by build.rs through HOPDB_TORCH_PYTHON. The binaries get
# an rpath to its lib directory, so no LD_LIBRARY_PATH is needed.
TORCH_VERSION ?= 2.13.0
TORCH_VENV ?= $(HOME)/.cache/hopdb/torch-$(TORCH_VERSION)
TORCH_PY := $(TORCH_VENV)/bin/python
export HOPDB_TORCH_PYTHON := $(TORCH_PY)
FEATURES ?= --features gnn

.PHONY: all build demo test bench clean check-data torch

all: build

# Create the torch venv when missing (or when torch cannot be imported from it).
torch:
	@if ! $(TORCH_PY) -c "import torch" >/dev/null 2>&1; then \
		echo "== installing torch==$(TORCH_VERSION) into $(TORCH_VENV) (once per machine) =="; \
		mkdir -p $(dir $(TORCH_VENV)) && python3 -m venv $(TORCH_VENV) && \
		$(TORCH_VENV)/bin/pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION); \
	fi
	@$(TORCH_PY) -c "import torch; print('torch', torch.__version__, 'at', torch.__file__)"

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
	$(BIN) --db $(DEMO_DB) query "CREATE SPLIT cv FROM (SELECT * FROM hops) GROUPED KFOLD 5 SEED 1" | head -1
	$(BIN) --db $(DEMO_DB) query "SCENARIOS OF SPLIT paper" | head -14
	@echo "== graph network (libtorch, CPU): a short band-input run on the paper split =="
	@ldd $(BIN) | grep -E 'libtorch_cpu|not found' || true
	$(BIN) --db $(DEMO_DB) gnn train demo-gnn --set epochs=2 --set hidden=16 --set layers=2 --set radius=4 --set max_neighbors=6 --no-save

test: torch
	$(CARGO) test --locked $(FEATURES)
	$(CARGO) check --locked --benches $(FEATURES)
	$(CARGO) check --locked --lib --bins

bench: build
	$(BIN) bench import --devi $(DATA) --synthetic 120000 --runs 3

clean:
	rm -rf $(DEMO_DB)
	$(CARGO) clean
