-- What happened to an account, for the member's activity page: sign-ins (failed and throttled
-- ones too), sign-outs, password and profile changes, revoked sessions. Times in UTC, written
-- by the server with UTC_TIMESTAMP(6). Kept 90 days; deleting a member deletes its events.
CREATE TABLE security_events (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    member_id VARCHAR(40) NOT NULL,
    kind VARCHAR(20) NOT NULL,
    occurred_at DATETIME(6) NOT NULL,
    ip VARCHAR(45) NOT NULL,
    user_agent VARCHAR(512) NOT NULL,
    PRIMARY KEY (id),
    -- The activity page: one member's events, newest first (InnoDB appends `id`).
    KEY security_events_member_time (member_id, occurred_at),
    -- The 90-day purge, in small batches, oldest first.
    KEY security_events_occurred_at (occurred_at),
    CONSTRAINT security_events_member FOREIGN KEY (member_id) REFERENCES member (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
