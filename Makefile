# jaxsnn — `make run` runs the main job, `make test` the test suite, `make bench` the benchmarks.
# Each sets up a virtual environment (.venv) with a Python >= 3.12 on first use, with the locked
# versions of constraints.txt; `make lock` rewrites that file from the newest versions pyproject admits.

SHELL := /bin/bash
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := constraints.txt

# A Python >= 3.12: PYTHON=... if given, else python3.13 / python3.12 / python3 that really run,
# else pyenv's installed versions.
define find_python
for c in "$(PYTHON)" python3.13 python3.12 python3 ; do \
  [ -n "$$c" ] || continue ; \
  if "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1 ; then command -v "$$c" || echo "$$c" ; exit 0 ; fi ; \
done ; \
root=$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv") ; \
for p in $$(ls -d "$$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV) ; do \
  for exe in "$$p"/bin/python3.1[2-9] "$$p"/bin/python3 ; do \
    if [ -x "$$exe" ] && "$$exe" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1 ; then echo "$$exe" ; exit 0 ; fi ; \
  done ; \
done ; \
exit 1
endef

NO_PYTHON := echo "error: jaxsnn needs Python >= 3.12, and none was found (tried PYTHON=$(PYTHON), python3.13, python3.12, python3, pyenv versions). Install one, or run: make PYTHON=/path/to/python3.12 ..." >&2 ; exit 1

.PHONY: run test test-slow bench venv lock clean

$(STAMP): pyproject.toml $(LOCK)
	@py=$$($(find_python)) || { $(NO_PYTHON) ; } ; \
	if [ -x $(VPY) ] && ! $(VPY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' ; then rm -rf $(VENV) ; fi ; \
	if [ ! -x $(VPY) ] ; then echo "creating $(VENV) with $$py" ; "$$py" -m venv $(VENV) ; fi
	$(VPY) -m pip install --quiet -c $(LOCK) pip
	$(VPY) -m pip install --quiet -c $(LOCK) -e '.[dev,peers]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VPY) -m jaxsnn.cli run

test: $(STAMP)
	$(VPY) -m pytest -q

test-slow: $(STAMP)
	$(VPY) -m pytest -q -m slow

bench: $(STAMP)
	$(VPY) benchmarks/coba_vs_brian2.py

# Rewrite the lock from the newest versions pyproject.toml admits, in a throw-away environment. Then run
# `make test` and `make test-slow` (with PYTHON= each of 3.12 and 3.13) before committing it.
lock:
	@py=$$($(find_python)) || { $(NO_PYTHON) ; } ; \
	rm -rf .venv-lock && "$$py" -m venv .venv-lock && \
	.venv-lock/bin/python -m pip install --quiet --upgrade pip && \
	.venv-lock/bin/python -m pip install --quiet -e '.[dev,peers]' && \
	{ sed -n '/^#/p' $(LOCK) ; .venv-lock/bin/python -m pip freeze --all --exclude-editable ; } > $(LOCK).new && \
	mv $(LOCK).new $(LOCK) && rm -rf .venv-lock && echo "$(LOCK) rewritten with $$py; now run make test and make test-slow"

clean:
	rm -rf $(VENV) results .pytest_cache
