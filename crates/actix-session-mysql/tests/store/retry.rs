//! The public retry policy (`actix_session_mysql::retry`) against a real server.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actix_session_mysql::retry::{self, Replay};
use mysql_async::prelude::Queryable;
use mysql_async::TxOpts;
use test_database::TestDatabase;

/// Two transactions updating the same two rows in opposite orders: InnoDB rolls one back
/// (1213); it runs again and both commit, each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_transaction_runs_again_and_both_commit() {
    let db = TestDatabase::create().await;
    let pool = db.pool();
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB;
         INSERT INTO counters VALUES (1, 0), (2, 0)",
    )
    .await
    .unwrap();
    let runs = AtomicU32::new(0);
    let transfer = |first: u32, second: u32| {
        let (pool, runs) = (&pool, &runs);
        async move {
            retry::run(pool, "transfer", Replay::NotTwice, |mut conn| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let mut tx = conn.start_transaction(TxOpts::default()).await?;
                tx.exec_drop("UPDATE counters SET n = n + 1 WHERE id = ?", (first,))
                    .await?;
                // Both hold their first row before either asks for its second.
                tokio::time::sleep(Duration::from_millis(200)).await;
                tx.exec_drop("UPDATE counters SET n = n + 1 WHERE id = ?", (second,))
                    .await?;
                tx.commit().await
            })
            .await
        }
    };
    let (a, b) = tokio::join!(transfer(1, 2), transfer(2, 1));
    a.unwrap();
    b.unwrap();
    assert!(
        runs.load(Ordering::SeqCst) >= 3,
        "one of them was rolled back and ran again"
    );
    let counts: Vec<(u32, u32)> = conn
        .query("SELECT id, n FROM counters ORDER BY id")
        .await
        .unwrap();
    assert_eq!(counts, [(1, 2), (2, 2)], "each transfer counted once");
}

/// A statement the server rejects for what it is runs once, and its error comes back.
#[tokio::test]
async fn a_rejected_statement_is_not_repeated() {
    let db = TestDatabase::create().await;
    let pool = db.pool();
    let runs = AtomicU32::new(0);
    let runs = &runs;
    let result: Result<(), mysql_async::Error> =
        retry::run(&pool, "bad", Replay::Idempotent, |mut conn| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            conn.query_drop("SELECT * FROM no_such_table").await
        })
        .await;
    assert!(
        matches!(&result, Err(mysql_async::Error::Server(e)) if e.code == 1146),
        "{result:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
