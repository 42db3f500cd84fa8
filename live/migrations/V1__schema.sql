-- Tessera's live store on PostgreSQL, version 1. The same tables as the SQLite store, plus the
-- change numbers several nodes catch up by: every log entry, lease change and API key takes
-- the next value of `changes`, under the writers' advisory lock, so change order is commit order.
CREATE SEQUENCE changes;
CREATE TABLE tenants (id BIGINT PRIMARY KEY, name TEXT NOT NULL, created_us BIGINT NOT NULL);
CREATE TABLE api_keys (hash TEXT PRIMARY KEY, tenant BIGINT NOT NULL, created_us BIGINT NOT NULL, seq BIGINT NOT NULL DEFAULT nextval('changes'));
CREATE INDEX api_keys_seq ON api_keys (seq);
CREATE TABLE projects (id BIGINT PRIMARY KEY, tenant BIGINT NOT NULL, name TEXT NOT NULL, settings TEXT NOT NULL, lease_us BIGINT NOT NULL, seed BIGINT NOT NULL, webhook_secret TEXT NOT NULL, created_us BIGINT NOT NULL);
CREATE TABLE annotators (id BIGINT PRIMARY KEY, project BIGINT NOT NULL, core_id BIGINT NOT NULL, external_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, trust DOUBLE PRECISION, banned_until_us BIGINT, earned_usd DOUBLE PRECISION NOT NULL DEFAULT 0, created_us BIGINT NOT NULL, UNIQUE (project, external_id));
CREATE TABLE tasks (id BIGINT PRIMARY KEY, project BIGINT NOT NULL, stream BIGINT NOT NULL, unique_id TEXT, priority BIGINT, deadline_us BIGINT, callback_url TEXT, gold_answer BIGINT, prelabel TEXT, status TEXT NOT NULL, stage TEXT, label BIGINT, confidence DOUBLE PRECISION, votes TEXT, posteriors TEXT, finals BIGINT NOT NULL DEFAULT 0, created_us BIGINT NOT NULL, updated_us BIGINT NOT NULL);
CREATE UNIQUE INDEX tasks_unique ON tasks (project, unique_id) WHERE unique_id IS NOT NULL;
CREATE INDEX tasks_updated ON tasks (project, updated_us, id);
-- What memory keeps of tasks (golden tasks, pre-labels not yet used): read at start-up and catch-up.
CREATE INDEX tasks_extras ON tasks (id) WHERE gold_answer IS NOT NULL OR prelabel IS NOT NULL;
CREATE TABLE payloads (task BIGINT PRIMARY KEY, payload TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE log (project BIGINT NOT NULL, seq BIGINT NOT NULL, at_us BIGINT NOT NULL, entry TEXT NOT NULL, gseq BIGINT NOT NULL DEFAULT nextval('changes'), PRIMARY KEY (project, seq));
CREATE INDEX log_gseq ON log (gseq);
CREATE TABLE leases (project BIGINT NOT NULL, assignment BIGINT NOT NULL, annotator BIGINT NOT NULL, task BIGINT NOT NULL, kind TEXT NOT NULL, stage BIGINT NOT NULL, opened_us BIGINT NOT NULL, expires_us BIGINT NOT NULL, state TEXT NOT NULL, ended_us BIGINT, touched BIGINT NOT NULL DEFAULT nextval('changes'), PRIMARY KEY (project, assignment));
CREATE INDEX leases_touched ON leases (touched) WHERE state = 'open';
CREATE TABLE answers (id BIGSERIAL PRIMARY KEY, project BIGINT NOT NULL, assignment BIGINT NOT NULL, task BIGINT NOT NULL, annotator BIGINT NOT NULL, kind TEXT NOT NULL, label BIGINT, accept BOOLEAN, fate TEXT NOT NULL, late BOOLEAN NOT NULL, at_us BIGINT NOT NULL);
CREATE INDEX answers_task ON answers (task);
CREATE TABLE submissions (project BIGINT NOT NULL, assignment BIGINT NOT NULL, answer TEXT NOT NULL, response TEXT NOT NULL, PRIMARY KEY (project, assignment));
CREATE TABLE idempotency (tenant BIGINT NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, body_hash TEXT NOT NULL, status BIGINT NOT NULL, response TEXT NOT NULL, created_us BIGINT NOT NULL, PRIMARY KEY (tenant, key, route));
CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, task BIGINT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, next_us BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, created_us BIGINT NOT NULL);
CREATE INDEX outbox_due ON outbox (state, next_us);
CREATE INDEX outbox_task ON outbox (task);
CREATE TABLE outbox_attempts (id BIGSERIAL PRIMARY KEY, message BIGINT NOT NULL, at_us BIGINT NOT NULL, status BIGINT, error TEXT, duration_ms BIGINT NOT NULL);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message);
