"""What a MySQL/MariaDB server reports about the test database's sessions.

The server is shared (other test databases, other runs): counts are taken
over the sessions whose current database is this connection's, leaving out
the counting connection itself."""

# Transactions open in other sessions of this database.
OPEN_TRANSACTIONS = (
    "SELECT count(*) FROM information_schema.innodb_trx t "
    "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
    "WHERE p.db = DATABASE() AND p.id <> CONNECTION_ID()"
)
