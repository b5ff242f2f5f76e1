-- Identifiers compare byte for byte.
--
-- Under a PAD SPACE collation (utf8mb4_bin included) 'victim1' = 'victim1   ' is true, so a
-- name with trailing spaces would find another member's row. MySQL 8 and MariaDB share no
-- NO PAD collation name, but both compare VARBINARY byte for byte, trailing spaces included.
-- Usernames are ASCII (design §2), so the bytes are the characters; mysql_async still reads
-- these columns into a String.
--
-- Every column that refers to member.id must be VARBINARY(40) too: a foreign key needs the
-- same type on both sides, so the key is dropped, both sides change, and it is added again.
ALTER TABLE security_events DROP FOREIGN KEY security_events_member;

ALTER TABLE member MODIFY id VARBINARY(40) NOT NULL;

ALTER TABLE security_events MODIFY member_id VARBINARY(40) NOT NULL;

ALTER TABLE security_events
    ADD CONSTRAINT security_events_member FOREIGN KEY (member_id) REFERENCES member (id)
        ON DELETE CASCADE;

-- 160 bytes hold any 40 characters of utf8mb4: every value the old column held still fits.
ALTER TABLE login_throttle MODIFY account VARBINARY(160) NOT NULL;
