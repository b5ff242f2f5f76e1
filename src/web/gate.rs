//! [`AccountGate`]: one password check at a time per account and instance, so parallel
//! correct sign-ins each clear the throttle's count for the next (see `credentials`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// One password check at a time per account, per instance. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct AccountGate(Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>);

impl AccountGate {
    /// Wait for `account`'s turn; the turn ends when the guard is dropped.
    pub(crate) async fn turn(&self, account: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut accounts = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(lock) = accounts.get(account).and_then(Weak::upgrade) {
                lock
            } else {
                // Accounts nobody is checking any more are forgotten as the map grows.
                if accounts.len() >= 64 {
                    accounts.retain(|_, lock| lock.strong_count() > 0);
                }
                let lock = Arc::new(tokio::sync::Mutex::new(()));
                accounts.insert(account.to_owned(), Arc::downgrade(&lock));
                lock
            }
        };
        lock.lock_owned().await
    }
}
