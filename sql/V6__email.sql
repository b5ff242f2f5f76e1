-- E-mail (README, "E-mail"): a member's address, the links mailed to it, and the outbox.
--
-- `email` is the verified address, `pending_email` one waiting for its link to be followed.
-- The `*_key` columns hold the address with ASCII letters lower-cased: two addresses are the
-- same when their keys are, and no two members share a verified one (the unique key). 1016
-- bytes hold any 254 characters of UTF-8. `verify_mail_at` and `reset_mail_at` are when the
-- last link of each kind was queued: at most one a minute, raised by one conditional UPDATE.
ALTER TABLE member
    ADD COLUMN email VARCHAR(254) NULL,
    ADD COLUMN email_key VARBINARY(1016) NULL,
    ADD COLUMN pending_email VARCHAR(254) NULL,
    ADD COLUMN pending_email_key VARBINARY(1016) NULL,
    ADD COLUMN verify_mail_at DATETIME(6) NULL,
    ADD COLUMN reset_mail_at DATETIME(6) NULL,
    ADD UNIQUE KEY member_email_key (email_key),
    ADD KEY member_pending_email_key (pending_email_key);

-- Links that verify an address or reset a password. Only the SHA-256 of a link's token is
-- stored: a database reader cannot follow one. `stamp` is the member's password stamp when the
-- link was made; a reset link works only while it still matches, so any password change, by
-- any path (the app, the command line, an UPDATE in SQL), kills it. `used_at` is set by the
-- one conditional UPDATE that consumes a link; used rows stay until the purge, an hour after
-- they expire, so the per-hour limit still counts them.
CREATE TABLE email_tokens (
    token_hash BINARY(32) NOT NULL,
    member_id VARBINARY(40) NOT NULL,
    purpose VARCHAR(10) NOT NULL,
    address VARCHAR(254) NOT NULL,
    stamp BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    PRIMARY KEY (token_hash),
    KEY email_tokens_member (member_id, purpose, created_at),
    KEY email_tokens_expires_at (expires_at),
    CONSTRAINT email_tokens_member FOREIGN KEY (member_id) REFERENCES member (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Mail waiting to be sent, written in the same transaction as what causes it. `sealed` is the
-- subject and body encrypted (XChaCha20-Poly1305, a key derived from SESSION_KEY, the
-- recipient as associated data): a database reader learns no link from it. A sender claims a
-- row by setting `claim` and pushing `next_attempt_at` past the time its delivery may take, in
-- one statement; a sent row is deleted; a failed one stays a week for `mail status`.
CREATE TABLE mail_outbox (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    recipient VARCHAR(254) NOT NULL,
    kind VARCHAR(24) NOT NULL,
    sealed BLOB NOT NULL,
    state VARCHAR(8) NOT NULL,
    attempts INT UNSIGNED NOT NULL,
    created_at DATETIME(6) NOT NULL,
    next_attempt_at DATETIME(6) NOT NULL,
    claim BINARY(16) NULL,
    last_error VARCHAR(255) NULL,
    PRIMARY KEY (id),
    KEY mail_outbox_due (state, next_attempt_at),
    KEY mail_outbox_claim (claim)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- `password_reset_requested` is 24 characters.
ALTER TABLE security_events MODIFY kind VARCHAR(32) NOT NULL;
