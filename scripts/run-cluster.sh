#!/usr/bin/env bash
# Two gateways (8080, 8081) and two Rasa instances (5005, 5006) behind one PostgreSQL database,
# Rasa's SQL tracker store and a Redis lock store: the production topology without Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"
export DEMO_MODE="${DEMO_MODE:-true}"  # the demo bank's customers on the web page
export DATABASE_URL="${CLUSTER_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/bankcare}"
export RASA_TRACKER_DB_HOST=127.0.0.1 RASA_TRACKER_DB_PORT=5432 RASA_TRACKER_DB="${RASA_TRACKER_DB:-bankcare_tracker}"
# Rasa's API token (gateways only) and the action server's token (Rasa only): random unless given.
export RASA_TOKEN="${RASA_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')}"
export ACTIONS_TOKEN="${ACTIONS_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')}"
export RASA_TRACKER_DB_USER=postgres RASA_TRACKER_DB_PASSWORD="" REDIS_HOST=127.0.0.1 REDIS_PORT=6379 REDIS_PASSWORD="" RASA_LOCK_DB=1
for db in "${DATABASE_URL##*/}" "$RASA_TRACKER_DB"; do
  psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE \"$db\"" >/dev/null
done
.venv/bin/bankcare migrate
.venv/bin/bankcare demo seed --if-empty
cat > var/Procfile.cluster <<PROC
rasa1: .venv-rasa/bin/rasa run --enable-api --auth-token \$RASA_TOKEN -i 127.0.0.1 -p 5005 --model $model --endpoints deploy/rasa/endpoints.yml --credentials bot/credentials.yml
rasa2: .venv-rasa/bin/rasa run --enable-api --auth-token \$RASA_TOKEN -i 127.0.0.1 -p 5006 --model $model --endpoints deploy/rasa/endpoints.yml --credentials bot/credentials.yml
actions: env SANIC_HOST=127.0.0.1 .venv/bin/python -m actions -p 5055
gateway1: env GATEWAY_PORT=8080 RASA_URL=http://127.0.0.1:5005 .venv/bin/python -m gateway
gateway2: env GATEWAY_PORT=8081 RASA_URL=http://127.0.0.1:5006 .venv/bin/python -m gateway
PROC
echo "网关 gateways: http://localhost:8080 http://localhost:8081"
exec .venv/bin/honcho start -f var/Procfile.cluster
