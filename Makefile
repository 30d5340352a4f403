# Lan Tỏa: `make run` serves the app; `make test` runs every test.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app app

.PHONY: run test install install-dev migrate seed lint bench clean translations

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Cần Python 3.11 ($(PYTHON))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# en: the whole UI; km: the public pages only (feedback form, summary, QR landing link)
LOCALES := en km
MO := $(foreach l,$(LOCALES),translations/$(l)/LC_MESSAGES/messages.mo)
translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(VENV)/bin/pybabel compile -f -d translations -D messages -l $* >/dev/null

# Re-extract the UI strings (babel.cfg) and merge them into the English
# catalogue, and the public pages' strings (translations/babel-public.cfg) into the
# Khmer one, then compile both. Translate the new empty msgstr entries in
# translations/{en,km}/LC_MESSAGES/messages.po and run it again.
translations: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext --project=lantoa --version=0.1.0 --no-wrap \
		-o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations -D messages -l en \
		--no-fuzzy-matching --no-wrap
	$(VENV)/bin/pybabel extract -F translations/babel-public.cfg -k lazy_gettext --project=lantoa \
		--version=0.1.0 --no-wrap -o translations/public.pot .
	$(VENV)/bin/pybabel update -i translations/public.pot -d translations -D messages -l km \
		--no-fuzzy-matching --no-wrap
	$(foreach l,$(LOCALES),$(VENV)/bin/pybabel compile -f -d translations -D messages -l $(l) &&) true

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# axe-core (the accessibility test) from npm, pinned in package-lock.json. Without npm
# the test is skipped with the reason (a failure in CI, where .ci/run installs npm).
AXE := $(if $(shell command -v npm 2>/dev/null),node_modules/axe-core/axe.min.js,)
node_modules/axe-core/axe.min.js: package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed $(MO)

install-dev: $(VENV)/.installed-dev $(MO) $(AXE)

migrate: install
	$(FLASK) db upgrade

run: migrate
	@$(FLASK) ensure-admin
	$(FLASK) serve

seed: migrate
	$(FLASK) seed-demo

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy channels scheduler

bench: install-dev
	$(PY) bench/dispatch.py && $(PY) bench/media.py && $(PY) bench/sms_batches.py && $(PY) bench/kits.py

clean:
	rm -rf $(VENV) .pytest_cache
