# The targets people reach for. PYTHON may point at a virtual environment's interpreter.
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: install install-test install-demo test lint bench demo clean

install:
	$(PIP) -e .

install-test:
	$(PIP) -e '.[test]'

install-demo:
	$(PIP) -e '.[demo]'

# Installs what the tests need, then runs them (the README's test command; .ci/run calls it). The tests
# marked `numerics` (float results compared across batch sizes, kernels or code paths) run a second time
# with oneDNN, MKL and ATen held to AVX2 and torch on one thread: other kernels and summation orders, so a
# tolerance that only holds on this CPU fails here rather than on a user's machine (about a minute more).
NUMERICS_ENV = ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 \
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 STYLEGAN_INVERT_TEST_THREADS=1

test: install-test
	$(PYTHON) -m pytest -q
	$(NUMERICS_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider -m numerics

# pyflakes (unused names, undefined names) and vermin (no construct newer than setup.cfg's Python floor).
lint:
	$(PYTHON) -m pyflakes invert tests bench examples
	$(PYTHON) -c "import sys; from vermin.main import main; sys.exit(main())" --quiet --no-tips --violations --eval-annotations --feature union-types -t=3.9- \
		invert tests bench examples

# Projection speed benchmark; BENCH_ARGS e.g. "--device cuda --full" on a GPU.
bench: install
	$(PYTHON) bench/bench_projection.py $(BENCH_ARGS)

# Installs, then projects an example photo (official FFHQ checkpoint when online, else random weights).
demo: install-demo
	$(PYTHON) examples/demo.py

clean:
	rm -rf build dist *.egg-info .pytest_cache out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
