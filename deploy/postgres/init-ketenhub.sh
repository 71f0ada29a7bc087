#!/bin/sh
# Creates the hub's two database roles and its database, once, when the PostgreSQL container
# starts on an empty data directory (the postgres image runs /docker-entrypoint-initdb.d/*.sh
# then, as its superuser). See the README's "Database roles" and docs/decisions/0006:
#
# - the owner role ($HUB_DB_OWNER) owns the database, and so its public schema and every table
#   the migrations create; only the one-shot `migrate` service logs in as it;
# - the hub role ($HUB_DB_ROLE) owns nothing; `ketenhub init` grants it what the hub needs,
#   which on the audit tables is INSERT and SELECT only. The hub runs as this role.
#
# Neither is a superuser. Their passwords are read from the secret files the compose file
# mounts (deploy/make-secrets writes them), inside psql, so they are never on a command line.
set -eu

secrets=${HUB_SECRETS_DIR:-/run/secrets}

psql --no-psqlrc --no-password --set=ON_ERROR_STOP=1 \
  --username="${POSTGRES_USER:-postgres}" --dbname=postgres \
  --set=owner="$HUB_DB_OWNER" --set=hub="$HUB_DB_ROLE" --set=database="$HUB_DB_NAME" \
  --set=owner_password_file="$secrets/db_owner_password" \
  --set=hub_password_file="$secrets/db_hub_password" <<'SQL'
\set owner_password `cat :'owner_password_file'`
\set hub_password `cat :'hub_password_file'`
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"hub" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'hub_password';
CREATE DATABASE :"database" OWNER :"owner";
\connect :"database"
-- Already the default on PostgreSQL 15 and later: no role but the owner creates objects.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
