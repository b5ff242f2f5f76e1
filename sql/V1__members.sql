-- Members and their public author profile (the seed's shape, made safe: a password hash, not a
-- password; times in UTC, written by the server with UTC_TIMESTAMP(6)).
CREATE TABLE author (
    id INT NOT NULL AUTO_INCREMENT,
    name VARCHAR(40) NOT NULL,
    profile VARCHAR(200) NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE member (
    id VARCHAR(40) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    author_id INT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    password_changed_at DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY member_author_id (author_id),
    CONSTRAINT member_author FOREIGN KEY (author_id) REFERENCES author (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Failed sign-ins per account name, whether or not the account exists, shared by every app
-- instance. A success deletes the row; a failure after a quiet hour starts the count again.
CREATE TABLE login_throttle (
    account VARCHAR(40) NOT NULL,
    failures INT NOT NULL,
    locked_until DATETIME(6) NULL,
    last_failure_at DATETIME(6) NOT NULL,
    PRIMARY KEY (account),
    KEY login_throttle_last_failure_at (last_failure_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
