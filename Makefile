# jaxsnn — `make run` runs the main job, `make test` the test suite, `make bench` the benchmarks,
# `make docs` the documentation (HTML in docs/_build/html, warnings as errors).
# Each sets up a virtual environment (.venv) with a Python >= 3.12 on first use, with the locked
# versions of requirements/lock-py3.X.txt for its Python (3.12 and 3.13 are locked); `make lock`
# rewrites that file from the newest versions pyproject admits.

SHELL := /bin/bash
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
LOCKS := $(wildcard requirements/lock-py*.txt)
# The lock of the Python that runs "$$1" (shell function; prints requirements/lock-py3.X.txt).
define lock_of
lock_of() { echo "requirements/lock-py$$("$$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])').txt" ; }
endef

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

.PHONY: run test test-slow bench venv lock clean docs

$(STAMP): pyproject.toml $(LOCKS)
	@py=$$($(find_python)) || { $(NO_PYTHON) ; } ; \
	if [ -x $(VPY) ] && ! $(VPY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' ; then rm -rf $(VENV) ; fi ; \
	if [ ! -x $(VPY) ] ; then echo "creating $(VENV) with $$py" ; "$$py" -m venv $(VENV) ; fi
	@$(lock_of) ; lock=$$(lock_of $(VPY)) ; \
	if [ ! -f "$$lock" ] ; then echo "error: no locked versions for $$($(VPY) --version) ($$lock); locked: $(LOCKS). Use one of those Pythons (make clean; make PYTHON=/path/to/python3.13 ...), or write a lock for this one with make lock" >&2 ; exit 1 ; fi ; \
	echo "installing the locked versions of $$lock" ; \
	$(VPY) -m pip install --quiet -c "$$lock" pip && \
	$(VPY) -m pip install --quiet -c "$$lock" -e '.[dev,peers]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VPY) -m jaxsnn.cli run

test: $(STAMP)
	$(VPY) -m pytest -q

test-slow: $(DOCS_STAMP)
	$(VPY) -m pytest -q -m slow

bench: $(STAMP)
	$(VPY) benchmarks/coba_vs_brian2.py

# The docs group (Sphinx, myst-nb, furo) from the same lock, on top of the test environment.
$(DOCS_STAMP): $(STAMP)
	@$(lock_of) ; lock=$$(lock_of $(VPY)) ; \
	echo "installing the docs group with the locked versions of $$lock" ; \
	$(VPY) -m pip install --quiet -c "$$lock" -e '.[dev,peers,docs]'
	@touch $(DOCS_STAMP)

# HTML documentation in docs/_build/html; any warning fails the build. The tutorials are shown, not run
# (the slow tests run them); JAXSNN_DOCS_EXECUTE=cache make docs runs them into the pages.
docs: $(DOCS_STAMP)
	$(VPY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "documentation in docs/_build/html/index.html"

# Rewrite the lock of one Python (PYTHON=..., else the one `make test` would pick) from the newest
# versions pyproject.toml admits, in a throw-away environment. Then `make clean test test-slow` with
# that Python before committing it; see README, "Locked versions".
lock:
	@py=$$($(find_python)) || { $(NO_PYTHON) ; } ; \
	$(lock_of) ; lock=$$(lock_of "$$py") ; \
	rm -rf .venv-lock && "$$py" -m venv .venv-lock && \
	.venv-lock/bin/python -m pip install --quiet --upgrade pip && \
	.venv-lock/bin/python -m pip install --quiet -e '.[dev,peers,docs]' && \
	{ echo "# The versions the test suite passed with on this Python (x86-64 CPU), installed by the Makefile as" ; \
	  echo "# pip constraints. pyproject.toml keeps the honest ranges; make lock rewrites this file (README)." ; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable ; } > "$$lock.new" && \
	mv "$$lock.new" "$$lock" && rm -rf .venv-lock && echo "$$lock rewritten with $$py; now run make clean test test-slow with it"

clean:
	rm -rf $(VENV) results .pytest_cache docs/_build
