//! A counting semaphore that bounds how many requests are in flight at once, shared by every
//! thread that uses one client.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// At most `limit` holders of a [`Permit`] at a time; the others wait their turn.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: usize,
    in_flight: Mutex<usize>,
    freed: Condvar,
}

/// The right to have one request in flight; given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Limiter {
    /// A limiter letting `limit` requests run at once (at least one).
    pub(crate) fn new(limit: usize) -> Limiter {
        Limiter {
            limit: limit.max(1),
            in_flight: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it.
    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut in_flight = self.lock();
        while *in_flight >= self.limit {
            in_flight = self
                .freed
                .wait(in_flight)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *in_flight += 1;
        Permit { limiter: self }
    }

    /// How many permits are held right now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        *self.lock()
    }

    /// The counter stays meaningful even if a holder panicked, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.limiter.lock() -= 1;
        self.limiter.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn never_lets_more_than_the_limit_in() {
        let limiter = Arc::new(Limiter::new(2));
        let peak = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (limiter, peak, start) = (limiter.clone(), peak.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..50 {
                        let _permit = limiter.acquire();
                        peak.fetch_max(limiter.in_flight(), Ordering::SeqCst);
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(limiter.in_flight(), 0);
    }

    #[test]
    fn a_limit_of_zero_still_lets_one_in() {
        let limiter = Limiter::new(0);
        let _permit = limiter.acquire();
        assert_eq!(limiter.in_flight(), 1);
    }
}
