# jaxsnn — `make run` runs the main job, `make test` the test suite, `make bench` the benchmarks.
# Each sets up a virtual environment (.venv) with a Python >= 3.12 on first use.

SHELL := /bin/bash
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

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

.PHONY: run test test-slow bench venv clean

$(STAMP): pyproject.toml
	@py=$$($(find_python)) || { echo "error: jaxsnn needs Python >= 3.12, and none was found (tried PYTHON=$(PYTHON), python3.13, python3.12, python3, pyenv versions). Install one, or run: make PYTHON=/path/to/python3.12 ..." >&2 ; exit 1 ; } ; \
	if [ -x $(VPY) ] && ! $(VPY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' ; then rm -rf $(VENV) ; fi ; \
	if [ ! -x $(VPY) ] ; then echo "creating $(VENV) with $$py" ; "$$py" -m venv $(VENV) ; fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev,peers]'
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

clean:
	rm -rf $(VENV) results .pytest_cache
