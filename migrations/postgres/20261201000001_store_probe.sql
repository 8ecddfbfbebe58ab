-- One row that /ready rewrites: a readiness check that proves the store can commit a
-- write, not only answer a query.
CREATE TABLE store_probe (
    id          INTEGER PRIMARY KEY,
    checked_at  BIGINT NOT NULL
);
