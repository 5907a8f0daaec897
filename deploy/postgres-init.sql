-- One database per service: no service reads another's tables.
CREATE DATABASE eakte_ingest;
CREATE DATABASE eakte_workflow;
CREATE DATABASE eakte_archive;
