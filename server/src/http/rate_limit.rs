//! A token bucket per client address, for actions that leave something behind (a room
//! stays in the database until it expires): a burst, then a steady rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::net::address_key;

/// Buckets kept before full ones are forgotten; a full bucket is the same as none.
const PRUNE_AT: usize = 4_096;
/// Buckets kept at most; past this (many addresses at once) newcomers wait.
const MAX_BUCKETS: usize = 65_536;

/// Limits how often each address may do one thing.
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// Allows `per_minute` at once, then one every `60 / per_minute` seconds. `0` turns
    /// the limit off.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            burst: f64::from(per_minute),
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`, or says how long until one is free.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.burst == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
        }
        let key = address_key(ip);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            return Err(Duration::from_secs(60));
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = self.refilled(*bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let limiter = RateLimiter::per_minute(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        let wait = limiter.check(ip, t0).unwrap_err();
        assert_eq!(wait.as_secs(), 20);
        assert!(limiter.check(other, t0).is_ok());
        assert!(limiter.check(ip, t0 + Duration::from_secs(19)).is_err());
        assert!(limiter.check(ip, t0 + Duration::from_secs(21)).is_ok());
    }

    #[test]
    fn zero_is_no_limit() {
        let limiter = RateLimiter::per_minute(0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..1000).all(|_| limiter.check(ip, Instant::now()).is_ok()));
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limiter = RateLimiter::per_minute(1);
        let t0 = Instant::now();
        for i in 0..PRUNE_AT as u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            assert!(limiter.check(ip, t0).is_ok());
        }
        let later = t0 + Duration::from_secs(61);
        assert!(limiter
            .check("198.51.100.1".parse().unwrap(), later)
            .is_ok());
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
