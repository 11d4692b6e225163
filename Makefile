# hopdb: two commands for a newcomer.
#   make demo   build, create a fresh store, import the 619 DFT hops, query them, print results
#   make test   build and run the whole test suite
SHELL := /bin/bash
DATA ?= ../shared/data/devi2025
DEMO_DB ?= demo-store
CARGO ?= cargo
BIN := target/release/hopdb

.PHONY: all build demo test bench clean check-data

all: build

build:
	$(CARGO) build --release --locked

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
	@echo "== models trained in place: tune boosted trees inside the 559 training hops, evaluate on the 60 test hops =="
	$(BIN) --db $(DEMO_DB) query "TUNE gbt AS boosted_trees ON SPLIT paper" | head -8
	$(BIN) --db $(DEMO_DB) query "EVALUATE gbt ON SPLIT paper"
	$(BIN) --db $(DEMO_DB) query "EVALUATE gbt ON SPLIT paper BY scenario"
	$(BIN) --db $(DEMO_DB) query "CROSS VALIDATE boosted_trees ON SPLIT cv"
	$(BIN) --db $(DEMO_DB) report gbt --out demo-report
	@echo "== the paper benchmark (about a minute): hopdb's models beside the published ones =="
	$(BIN) bench paper --data $(DATA) --seeds 5

test:
	$(CARGO) test --locked
	$(CARGO) check --locked --benches

bench: build
	$(BIN) bench import --devi $(DATA) --synthetic 120000 --runs 3

clean:
	rm -rf $(DEMO_DB) demo-report
	$(CARGO) clean
