# Spark standalone cluster + S3 end to end (tools/cluster/run.sh). Included by the top-level
# Makefile; runnable by hand: VENV=.venv bash tools/cluster/run.sh
#
#   make cluster-e2e    master + 2 workers (1 core, 1 GiB), moto S3, Postgres, all on loopback;
#                       `zluri backfill` of a generated 3-day feed from s3a:// with bronze on
#                       s3a://, checked against the generator's truth; stops all it started

.PHONY: cluster-e2e

cluster-e2e: setup
	VENV="$(abspath $(VENV))" bash tools/cluster/run.sh
