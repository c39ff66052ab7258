# Pants (ARCHITECTURE.md section 8), included by the Makefile.
#
#   make pants            bootstrap Pants, then tailor --check, lint, check (mypy), the fast tests
#                         and one wheel per package in dist/
#   make pants-lockfile   regenerate 3rdparty/python/default.lock after changing constraints.txt
#   make pants-test-all   every test under Pants, Spark ones included (slow)
#
# tools/pants/pants installs Pants 2.17.1 once into ~/.cache/zluri-pants/2.17.1 (a Python 3.9
# venv plus a pex built from PyPI) and adds the offline settings of pants.ci.toml; PANTS_OFFLINE=0
# runs with Pants' defaults on a machine that reaches GitHub.
PANTS := tools/pants/pants
# Tests that need no Spark: feedgen (files only), metrics and pg (they use the root conftest's
# embedded Postgres, which starts fine inside Pants' sandbox).
PANTS_TEST_TARGETS ?= packages/feedgen/tests:: packages/metrics/tests:: packages/pg/tests::
# mypy: every package, sources and tests, one mypy run per package (test modules share names across
# packages, e.g. test_read, test_retention, and one mypy run refuses two top-level modules of one
# name). The first check of staging and flows builds pyspark's wheel into Pants' cache: ~4 min.
PANTS_CHECK_TARGETS ?= packages/feedgen:: packages/metrics:: packages/pg:: packages/staging:: flows::

.PHONY: pants pants-bootstrap pants-lockfile pants-test-all

pants-bootstrap:
	@tools/pants/bootstrap.sh >/dev/null

# Every step runs even when an earlier one fails (one run shows all lint, type and test errors);
# the target fails at the end if any step did.
pants: pants-bootstrap
	@# dist/ must hold exactly one wheel per package: docker/prepare-context.sh (WHEELS_DIR=dist)
	@# takes the four runtime ones from it, never zluri-feedgen's.
	@rm -f dist/zluri_*.whl
	@failed=; \
	step() { echo "+ $(PANTS) $$*"; $(PANTS) "$$@" || failed="$$failed\n  $(PANTS) $$*"; }; \
	step tailor --check :: ; \
	step lint :: ; \
	for target in $(PANTS_CHECK_TARGETS); do step check $$target; done; \
	step test $(PANTS_TEST_TARGETS) ; \
	step package :: ; \
	ls -1 dist/zluri_*.whl 2>/dev/null; \
	if [ -n "$$failed" ]; then printf "make pants: failed:$$failed\n" >&2; exit 1; fi

pants-lockfile: pants-bootstrap
	$(PANTS) generate-lockfiles --resolve=python-default

pants-test-all: pants-bootstrap
	$(PANTS) test ::
