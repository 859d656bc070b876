#!/usr/bin/env bash
# Development helper while nothing is released: rebuild migration 0001 from the models.
set -eu
cd "$(dirname "$0")/.."
rm -f migrations/versions/*_0001_initial_schema.py /tmp/bankcare-regen.db
DATABASE_URL=sqlite:////tmp/bankcare-regen.db .venv/bin/alembic revision --autogenerate -m "initial schema" --rev-id 0001 >/dev/null
.venv/bin/ruff format -q migrations/versions || true
ls migrations/versions
