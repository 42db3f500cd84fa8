-- Version 2: final labels waiting to be published to a message queue (`serve --queue`).
CREATE TABLE label_events (id BIGSERIAL PRIMARY KEY, project BIGINT NOT NULL, task BIGINT NOT NULL, finals BIGINT NOT NULL, body TEXT NOT NULL, published BOOLEAN NOT NULL DEFAULT false);
CREATE INDEX label_events_unpublished ON label_events (id) WHERE NOT published;
