//! The time a client address's updates may take to apply, shared by every room and every
//! connection from that address: a budget per connection alone would be renewed by
//! reconnecting, and one crafted update can cost seconds of CPU.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::net::address_key;

/// Apply time an address may spend at once, refilled at [`REFILL`] of real time: a burst
/// of a few seconds, a tenth of a core sustained.
pub const BURST: Duration = Duration::from_secs(3);
const REFILL: f64 = 0.1;
/// Addresses remembered before those owing nothing are forgotten.
const PRUNE_AT: usize = 4_096;

/// Apply time owed, per client address.
#[derive(Default)]
pub struct WorkLedger {
    debts: Mutex<HashMap<IpAddr, Debt>>,
}

#[derive(Clone, Copy)]
struct Debt {
    owed: Duration,
    at: Instant,
}

impl Debt {
    fn now(self, now: Instant) -> Duration {
        let refill = now.saturating_duration_since(self.at).mul_f64(REFILL);
        self.owed.saturating_sub(refill)
    }
}

impl WorkLedger {
    /// Whether `who` has spent its budget (its updates are refused until it refills).
    pub fn over(&self, who: IpAddr, now: Instant) -> bool {
        let debts = self.debts.lock().unwrap_or_else(PoisonError::into_inner);
        debts
            .get(&address_key(who))
            .is_some_and(|debt| debt.now(now) > BURST)
    }

    /// Charges `spent` to `who`; `true` when that puts it over its budget.
    pub fn charge(&self, who: IpAddr, spent: Duration, now: Instant) -> bool {
        let mut debts = self.debts.lock().unwrap_or_else(PoisonError::into_inner);
        if debts.len() >= PRUNE_AT {
            debts.retain(|_, debt| !debt.now(now).is_zero());
        }
        let debt = debts.entry(address_key(who)).or_insert(Debt {
            owed: Duration::ZERO,
            at: now,
        });
        *debt = Debt {
            owed: debt.now(now) + spent,
            at: now,
        };
        debt.owed > BURST
    }
}

/// Runs CPU-heavy document work so that it does not hold up the other tasks of an async
/// worker: on a multi-threaded runtime the worker hands its queue to another thread while
/// this one works (a single-threaded runtime, as in some tests, just runs it).
pub fn off_the_workers<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_pays_back_at_a_tenth_of_real_time() {
        let ledger = WorkLedger::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(!ledger.charge(ip, Duration::from_secs(2), t0));
        assert!(ledger.charge(ip, Duration::from_secs(2), t0));
        assert!(ledger.over(ip, t0));
        assert!(!ledger.over("192.0.2.2".parse().unwrap(), t0));
        assert!(ledger.over(ip, t0 + Duration::from_secs(9)));
        assert!(!ledger.over(ip, t0 + Duration::from_secs(11)));
    }
}
