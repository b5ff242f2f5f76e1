//! The store's own conformance suite, against a real MySQL/MariaDB: each test gets a
//! throwaway database (see the `test-database` crate) and asserts on what is really in the
//! table, not on timing. One test binary, one module per topic.

#![allow(clippy::unwrap_used)]

// Shared with the middleware suite (`tests/conformance.rs`).
#[path = "../common/mod.rs"]
mod common;

mod builder;
mod cleanup;
mod coalescing;
mod concurrency;
mod keys;
mod load_save;
mod outages;
mod own_ttl;
mod per_user;
mod retry;
mod time_zones;
mod ttl;
mod update;

use std::collections::HashMap;

use actix_session::storage::SessionKey;
use actix_session_mysql::MySqlSessionStore;
use rand::distr::{Alphanumeric, SampleString};
use test_database::TestDatabase;

const TABLE: &str = "sessions";
const TTL: time::Duration = time::Duration::minutes(30);
const USER_KEY: &str = "actix_identity.user_id";

fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A state as actix-identity leaves it: the user id JSON-encoded under its key.
fn user_state(user: &str) -> HashMap<String, String> {
    state(&[(USER_KEY, &format!("\"{user}\"")), ("counter", "1")])
}

/// `SessionKey` is not `Clone`.
fn dup(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).unwrap()
}

fn random_key() -> SessionKey {
    SessionKey::try_from(Alphanumeric.sample_string(&mut rand::rng(), 64)).unwrap()
}

/// A store with the default options; creates the table.
async fn store(db: &TestDatabase) -> MySqlSessionStore {
    MySqlSessionStore::builder(db.pool()).build().await.unwrap()
}

/// A store that leaves the table alone (`create_table_if_missing(false)`) and shares no touch
/// cache with any other: another app instance, as it were.
async fn store_without_cache(db: &TestDatabase) -> MySqlSessionStore {
    MySqlSessionStore::builder(db.pool())
        .create_table_if_missing(false)
        .build()
        .await
        .unwrap()
}
