-- The workflow schema as `create_all` of release ca83606 (before migrations) made it on postgresql.

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

CREATE TABLE absences (
	absence_id VARCHAR(36) NOT NULL, 
	"user" VARCHAR(200) NOT NULL, 
	deputy VARCHAR(200) NOT NULL, 
	roles JSON NOT NULL, 
	starts_on DATE NOT NULL, 
	ends_on DATE NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (absence_id)
);

CREATE INDEX ix_absences_deputy ON absences (deputy);

CREATE INDEX ix_absences_user ON absences ("user");

CREATE TABLE audit_entries (
	id SERIAL NOT NULL, 
	document_id VARCHAR(36) NOT NULL, 
	seq INTEGER NOT NULL, 
	action VARCHAR(50) NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	on_behalf_of VARCHAR(200), 
	payload TEXT NOT NULL, 
	at VARCHAR(40) NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (document_id, seq)
);

CREATE INDEX ix_audit_entries_document_id ON audit_entries (document_id);

CREATE TABLE delegations (
	task_id VARCHAR(36) NOT NULL, 
	absence_id VARCHAR(36) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (task_id, absence_id)
);

CREATE TABLE workflow_definition_versions (
	name VARCHAR(100) NOT NULL, 
	version INTEGER NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	body JSON NOT NULL, 
	loaded_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (name, version)
);

CREATE TABLE workflows (
	document_id VARCHAR(36) NOT NULL, 
	correlation_id VARCHAR(36) NOT NULL, 
	definition VARCHAR(100) NOT NULL, 
	definition_version INTEGER NOT NULL, 
	definition_snapshot JSON NOT NULL, 
	requested_workflow VARCHAR(100) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	submitted_by VARCHAR(200) NOT NULL, 
	submitters JSON NOT NULL, 
	original JSON NOT NULL, 
	rendition JSON, 
	ocr JSON, 
	document_metadata JSON NOT NULL, 
	version INTEGER NOT NULL, 
	run INTEGER NOT NULL, 
	current_step INTEGER NOT NULL, 
	revision INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (document_id)
);

CREATE TABLE resubmissions (
	resubmission_id VARCHAR(36) NOT NULL, 
	document_id VARCHAR(36) NOT NULL, 
	"user" VARCHAR(200) NOT NULL, 
	due_on DATE NOT NULL, 
	note TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	due_at TIMESTAMP WITH TIME ZONE, 
	done_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (resubmission_id), 
	FOREIGN KEY(document_id) REFERENCES workflows (document_id)
);

CREATE INDEX ix_resubmissions_document_id ON resubmissions (document_id);

CREATE INDEX ix_resubmissions_user ON resubmissions ("user");

CREATE TABLE tasks (
	task_id VARCHAR(36) NOT NULL, 
	document_id VARCHAR(36) NOT NULL, 
	run INTEGER NOT NULL, 
	step INTEGER NOT NULL, 
	slot INTEGER NOT NULL, 
	step_name VARCHAR(200) NOT NULL, 
	assignee_kind VARCHAR(20) NOT NULL, 
	assignee VARCHAR(200) NOT NULL, 
	offered_to_role VARCHAR(50) NOT NULL, 
	org_unit VARCHAR(50), 
	claimed_by VARCHAR(200), 
	claimed_on_behalf_of VARCHAR(200), 
	state VARCHAR(20) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	deadline_at TIMESTAMP WITH TIME ZONE, 
	remind_at TIMESTAMP WITH TIME ZONE, 
	reminded_at TIMESTAMP WITH TIME ZONE, 
	escalated_at TIMESTAMP WITH TIME ZONE, 
	escalated_to_user VARCHAR(200), 
	escalated_to_role VARCHAR(50), 
	decided_by VARCHAR(200), 
	on_behalf_of VARCHAR(200), 
	decision VARCHAR(20), 
	comment TEXT NOT NULL, 
	decided_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (task_id), 
	FOREIGN KEY(document_id) REFERENCES workflows (document_id)
);

CREATE INDEX ix_tasks_deadline_at ON tasks (deadline_at);

CREATE INDEX ix_tasks_document_id ON tasks (document_id);

CREATE INDEX ix_tasks_remind_at ON tasks (remind_at);

CREATE INDEX ix_tasks_state ON tasks (state);
