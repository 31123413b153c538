CREATE TABLE customers (
    id BIGINT PRIMARY KEY,
    region TEXT NOT NULL,
    name TEXT NOT NULL
);

CREATE TABLE orders (
    id BIGINT PRIMARY KEY,
    customer_id BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    note TEXT NOT NULL
);

CREATE INDEX orders_customer_id ON orders (customer_id);
