-- First start of the compose PostgreSQL: the venue database beside the instance's (POSTGRES_DB=dagster).
CREATE DATABASE venues;
