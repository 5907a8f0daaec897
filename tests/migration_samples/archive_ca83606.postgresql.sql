-- The archive schema as `create_all` of release ca83606 (before migrations) made it on postgresql.

CREATE TABLE outbox (
	id SERIAL NOT NULL, 
	topic VARCHAR(200) NOT NULL, 
	key BYTEA NOT NULL, 
	payload BYTEA NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	published_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_outbox_published_at ON outbox (published_at);

CREATE TABLE processed_events (
	consumer VARCHAR(100) NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	processed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	note TEXT NOT NULL, 
	PRIMARY KEY (consumer, event_id)
);

CREATE TABLE access_log (
	id SERIAL NOT NULL, 
	document_id VARCHAR(36) NOT NULL, 
	"user" VARCHAR(200) NOT NULL, 
	action VARCHAR(30) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_access_log_at ON access_log (at);

CREATE INDEX ix_access_log_document_id ON access_log (document_id);

CREATE INDEX ix_access_log_user ON access_log ("user");

CREATE TABLE archived_documents (
	document_id VARCHAR(36) NOT NULL, 
	correlation_id VARCHAR(36) NOT NULL, 
	outcome VARCHAR(20) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	bucket VARCHAR(100) NOT NULL, 
	content_type VARCHAR(100) NOT NULL, 
	original_path VARCHAR(200) NOT NULL, 
	title VARCHAR(500) NOT NULL, 
	document_type VARCHAR(100) NOT NULL, 
	sender VARCHAR(500) NOT NULL, 
	aktenzeichen VARCHAR(100) NOT NULL, 
	akte_title VARCHAR(500) NOT NULL, 
	vorgang_id VARCHAR(36) NOT NULL, 
	file_plan_class VARCHAR(50) NOT NULL, 
	file_plan_title VARCHAR(500) NOT NULL, 
	retention_years INTEGER, 
	disposal VARCHAR(20) NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	submitted_by VARCHAR(200) NOT NULL, 
	received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	decisions JSON NOT NULL, 
	archived_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	retain_until TIMESTAMP WITH TIME ZONE NOT NULL, 
	legal_hold BOOLEAN NOT NULL, 
	last_verified_at TIMESTAMP WITH TIME ZONE, 
	last_verify_result VARCHAR(20), 
	last_verify_problems JSON, 
	PRIMARY KEY (document_id)
);

CREATE INDEX ix_archived_documents_aktenzeichen ON archived_documents (aktenzeichen);

CREATE INDEX ix_archived_documents_archived_at ON archived_documents (archived_at);

CREATE INDEX ix_archived_documents_received_at ON archived_documents (received_at);

CREATE INDEX ix_archived_documents_retain_until ON archived_documents (retain_until);

CREATE INDEX ix_archived_documents_state ON archived_documents (state);

CREATE TABLE deletion_records (
	document_id VARCHAR(36) NOT NULL, 
	aktenzeichen VARCHAR(100) NOT NULL, 
	file_plan_class VARCHAR(50) NOT NULL, 
	rule TEXT NOT NULL, 
	objects JSON NOT NULL, 
	deleted_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	deleted_by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (document_id)
);

CREATE TABLE xdomea_processes (
	process_id VARCHAR(36) NOT NULL, 
	aktenzeichen JSON NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	decisions JSON, 
	transferred JSON, 
	created_by VARCHAR(200) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (process_id)
);

CREATE TABLE package_files (
	document_id VARCHAR(36) NOT NULL, 
	path VARCHAR(200) NOT NULL, 
	key VARCHAR(500) NOT NULL, 
	version_id VARCHAR(200), 
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	PRIMARY KEY (document_id, path), 
	FOREIGN KEY(document_id) REFERENCES archived_documents (document_id)
);
