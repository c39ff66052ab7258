# Docker deployment path of the Zluri day pipeline. Included by the top-level Makefile
# (`include docker/docker.mk`); every recipe is a script under docker/, runnable by hand.
#
#   make docker-e2e       the whole path end to end: engine, Debian 12 base, worker image,
#                         Postgres, Prefect server, zluri-docker pool, prefect deploy, Docker
#                         worker, one generated day through the zluri-day deployment, checks
#   make docker-image     build the worker image (starts/stops a private engine if none runs)
#   make docker-base      build or reuse the debootstrapped Debian 12 base image
#   make docker-context   stage docker/build-context (wheels, wheelhouse, Ivy jars, sql/)
#   make docker-deploy    prefect deploy --all of flows/prefect.yaml (builds the image itself)
#
# Variables (make VAR=value or environment):
#   WHEELS_DIR           prebuilt project wheels (e.g. Pants' dist/); default: pip wheel them
#   ZLURI_CI_CACHE       cache outside the clone (default /var/cache/zluri-ci as root, else
#                        ~/.cache/zluri-ci): base rootfs
#                        tarballs, pip wheelhouse, Ivy jars, the private engine's image store
#   DOCKER_BASE_IMAGE    base for docker-image: "local" (default, no registry needed) or e.g.
#                        python:3.11-slim-bookworm
#   VENV                 the project venv (default .venv)

ZLURI_CI_CACHE ?=
DOCKER_BASE_IMAGE ?= local
WHEELS_DIR ?=
ZLURI_DOCKER_VENV := $(abspath $(or $(VENV),.venv))
ZLURI_DOCKER_ENV := ZLURI_CI_CACHE="$(ZLURI_CI_CACHE)" VENV="$(ZLURI_DOCKER_VENV)" \
	WHEELS_DIR="$(if $(WHEELS_DIR),$(abspath $(WHEELS_DIR)))"

.PHONY: docker-e2e docker-image docker-base docker-context docker-deploy docker-clean

docker-e2e:
	$(ZLURI_DOCKER_ENV) E2E_BASE_IMAGE="$(DOCKER_BASE_IMAGE)" bash docker/e2e/run.sh

docker-image:
	$(ZLURI_DOCKER_ENV) BASE_IMAGE="$(DOCKER_BASE_IMAGE)" bash docker/with-engine.sh bash docker/build-image.sh

docker-base:
	$(ZLURI_DOCKER_ENV) bash docker/with-engine.sh bash docker/base-image.sh

docker-context:
	$(ZLURI_DOCKER_ENV) bash docker/prepare-context.sh

docker-deploy:
	$(ZLURI_DOCKER_VENV)/bin/prefect --no-prompt deploy --all --prefect-file flows/prefect.yaml

# The staged context only; the cache outside the clone is left alone (rm -rf $(ZLURI_CI_CACHE)).
docker-clean:
	rm -rf docker/build-context
