-- Two-factor sign-in (TOTP) and recovery codes.
--
-- `secret` is the TOTP secret sealed with XChaCha20-Poly1305 under TOTP_KEY, with the member
-- id as associated data (README, "Two-factor sign-in"): a database reader learns nothing of
-- it, and a sealed secret copied to another member's row does not open. `last_step` is the
-- 30-second step of the last code accepted: a code is accepted only by raising it, in one
-- statement, so each code works once across every instance and cluster node.
--
-- A recovery code is stored as SHA-256 of the member id and the code (80 random bits: no
-- offline search reaches one); using one deletes its row. Turning two-factor sign-in off
-- deletes the secret and, through the foreign key, the codes; deleting the member deletes
-- both.
CREATE TABLE two_factor (
    member_id VARBINARY(40) NOT NULL,
    secret VARBINARY(128) NOT NULL,
    last_step BIGINT UNSIGNED NOT NULL,
    enabled_at DATETIME(6) NOT NULL,
    PRIMARY KEY (member_id),
    CONSTRAINT two_factor_member FOREIGN KEY (member_id) REFERENCES member (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE recovery_codes (
    member_id VARBINARY(40) NOT NULL,
    code_hash BINARY(32) NOT NULL,
    PRIMARY KEY (member_id, code_hash),
    CONSTRAINT recovery_codes_two_factor FOREIGN KEY (member_id) REFERENCES two_factor (member_id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
