# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test venv clean demo-data bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[test,export]' $(TORCH_PINS)
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m tlstudio.cli scan resources/demo_data

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

demo-data: $(STAMP)
	$(PY) resources/make_demo_data.py

bench: $(STAMP)
	$(PY) benchmarks/bench_feature_cache.py

clean:
	rm -rf $(VENV) build dist *.egg-info
