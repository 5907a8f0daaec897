-- The ingest schema as `create_all` of release ca83606 (before migrations) made it on postgresql.

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

CREATE TABLE akten (
	aktenzeichen VARCHAR(100) NOT NULL, 
	file_plan_class VARCHAR(50) NOT NULL, 
	year INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	title VARCHAR(500) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (aktenzeichen), 
	UNIQUE (file_plan_class, year, seq)
);

CREATE INDEX ix_akten_file_plan_class ON akten (file_plan_class);

CREATE TABLE intake_items (
	item_id VARCHAR(36) NOT NULL, 
	source VARCHAR(20) NOT NULL, 
	batch_id VARCHAR(36), 
	filename VARCHAR(255) NOT NULL, 
	spool_path TEXT NOT NULL, 
	upload JSON NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	document_id VARCHAR(36), 
	quarantine_id VARCHAR(36), 
	reason TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (item_id)
);

CREATE INDEX ix_intake_items_batch_id ON intake_items (batch_id);

CREATE INDEX ix_intake_items_source ON intake_items (source);

CREATE INDEX ix_intake_items_state ON intake_items (state);

CREATE TABLE quarantine (
	quarantine_id VARCHAR(36) NOT NULL, 
	reason VARCHAR(50) NOT NULL, 
	detail TEXT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	original_name VARCHAR(255) NOT NULL, 
	uploaded_by VARCHAR(200) NOT NULL, 
	source VARCHAR(20) NOT NULL, 
	uploaded_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	released_as VARCHAR(36), 
	released_by VARCHAR(200), 
	discarded_by VARCHAR(200), 
	discarded_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (quarantine_id)
);

CREATE INDEX ix_quarantine_reason ON quarantine (reason);

CREATE INDEX ix_quarantine_state ON quarantine (state);

CREATE TABLE vorgaenge (
	vorgang_id VARCHAR(36) NOT NULL, 
	aktenzeichen VARCHAR(100) NOT NULL, 
	title VARCHAR(500) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (vorgang_id), 
	FOREIGN KEY(aktenzeichen) REFERENCES akten (aktenzeichen)
);

CREATE INDEX ix_vorgaenge_aktenzeichen ON vorgaenge (aktenzeichen);

CREATE TABLE documents (
	document_id VARCHAR(36) NOT NULL, 
	correlation_id VARCHAR(36) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	bucket VARCHAR(100) NOT NULL, 
	object_key VARCHAR(500) NOT NULL, 
	content_type VARCHAR(100) NOT NULL, 
	rendition_key VARCHAR(500), 
	filename VARCHAR(255) NOT NULL, 
	title VARCHAR(500) NOT NULL, 
	document_type VARCHAR(100) NOT NULL, 
	aktenzeichen VARCHAR(100), 
	vorgang_id VARCHAR(36), 
	workflow VARCHAR(100) NOT NULL, 
	version INTEGER NOT NULL, 
	pages INTEGER NOT NULL, 
	source VARCHAR(20) NOT NULL, 
	submitted_by VARCHAR(200) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (document_id), 
	FOREIGN KEY(aktenzeichen) REFERENCES akten (aktenzeichen), 
	FOREIGN KEY(vorgang_id) REFERENCES vorgaenge (vorgang_id)
);

CREATE INDEX ix_documents_aktenzeichen ON documents (aktenzeichen);

CREATE INDEX ix_documents_sha256 ON documents (sha256);

CREATE INDEX ix_documents_submitted_by ON documents (submitted_by);

CREATE INDEX ix_documents_vorgang_id ON documents (vorgang_id);

CREATE TABLE document_status (
	id SERIAL NOT NULL, 
	document_id VARCHAR(36) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(document_id) REFERENCES documents (document_id)
);

CREATE INDEX ix_document_status_document_id ON document_status (document_id);

CREATE TABLE ocr_jobs (
	document_id VARCHAR(36) NOT NULL, 
	pages INTEGER NOT NULL, 
	event JSON NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	attempts INTEGER NOT NULL, 
	error TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (document_id), 
	FOREIGN KEY(document_id) REFERENCES documents (document_id)
);

CREATE INDEX ix_ocr_jobs_state ON ocr_jobs (state);
