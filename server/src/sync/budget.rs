//! The server's memory budget: bytes of loaded documents and of frames queued for peers,
//! counted together against one limit (`--memory-budget`). Past it, the server takes on
//! nothing new (no new connections, no room loads, no growing edits, no more frames for a
//! peer that is already behind) and says so, instead of growing until the system kills it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The shared count.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes; `0` means no limit (still counted, for the metrics).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: if limit == 0 { usize::MAX } else { limit },
            used: AtomicUsize::new(0),
        })
    }

    /// Whether the budget is spent.
    pub fn exhausted(&self) -> bool {
        self.used() >= self.limit
    }

    /// Bytes counted now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// A changing amount held against a budget (a loaded document's size), given back when
/// dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Charge {
    /// Holds nothing yet.
    pub fn new(budget: Arc<MemoryBudget>) -> Self {
        Self { budget, bytes: 0 }
    }

    /// Holds `bytes` now.
    pub fn set(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.budget.add(bytes - self.bytes);
        } else {
            self.budget.sub(self.bytes - bytes);
        }
        self.bytes = bytes;
    }

    /// The budget this charge counts against.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.sub(self.bytes);
    }
}

/// A byte count shared by both ends of a queue, added to the budget as well and given
/// back when both ends are gone.
#[derive(Debug)]
pub(crate) struct SharedCount {
    bytes: AtomicUsize,
    budget: Option<Arc<MemoryBudget>>,
}

impl SharedCount {
    pub(crate) fn new(budget: Option<Arc<MemoryBudget>>) -> Arc<Self> {
        Arc::new(Self {
            bytes: AtomicUsize::new(0),
            budget,
        })
    }

    pub(crate) fn get(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.add(bytes);
        }
    }

    pub(crate) fn sub(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.sub(bytes);
        }
    }

    pub(crate) fn budget_exhausted(&self) -> bool {
        self.budget.as_ref().is_some_and(|b| b.exhausted())
    }
}

impl Drop for SharedCount {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.sub(*self.bytes.get_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_come_back() {
        let budget = MemoryBudget::new(100);
        let mut charge = Charge::new(budget.clone());
        charge.set(60);
        assert!(!budget.exhausted());
        charge.set(120);
        assert!(budget.exhausted());
        charge.set(10);
        assert_eq!(budget.used(), 10);
        let count = SharedCount::new(Some(budget.clone()));
        count.add(50);
        assert_eq!(budget.used(), 60);
        drop(count);
        drop(charge);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn zero_is_no_limit() {
        let budget = MemoryBudget::new(0);
        let mut charge = Charge::new(budget.clone());
        charge.set(usize::MAX / 2);
        assert!(!budget.exhausted());
    }
}
