-- Run once, by the MariaDB image on the first start of galera1 (the bootstrap node);
-- the other nodes receive it by state transfer.
-- DEV-ONLY credentials (see docker-compose.cluster.yml).

-- For mariabackup state transfer (--wsrep-sst-auth).
CREATE USER IF NOT EXISTS 'sst'@'localhost' IDENTIFIED BY 'sst_dev_password';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'sst'@'localhost';

-- HAProxy's health check: may log in, may do nothing.
CREATE USER IF NOT EXISTS 'haproxy_check'@'%';
