#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume
# (/docker-entrypoint-initdb.d). Creates the Rasa tracker-store role and database, kept apart from
# the bank's customer data: Rasa's role cannot read the CRM tables and the reverse.
# Values are passed as psql variables (:"name" / :'value'), so quoting is psql's job, not ours.
set -eu
: "${RASA_TRACKER_DB:?}" "${RASA_TRACKER_DB_USER:?}" "${RASA_TRACKER_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 \
     --username "${POSTGRES_USER:-postgres}" \
     --dbname "${POSTGRES_DB:-postgres}" \
     -v rasa_db="$RASA_TRACKER_DB" \
     -v rasa_user="$RASA_TRACKER_DB_USER" \
     -v rasa_password="$RASA_TRACKER_DB_PASSWORD" <<'SQL'
CREATE ROLE :"rasa_user" LOGIN PASSWORD :'rasa_password';
CREATE DATABASE :"rasa_db" OWNER :"rasa_user" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"rasa_db" FROM PUBLIC;
SQL
