//! Pacing and retrying of writes that AWS throttles hard (SSM PutParameter allows a few per
//! second): a client-side token bucket spreads bulk writes out, and throttling errors that
//! still happen are retried with exponential backoff and jitter, a bounded number of times.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::errors;

/// A token bucket: `rate` writes per second on average, at most `burst` at once.
/// Callers reserve a token and sleep off any deficit, so waiters are served in order.
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Pacer {
    /// Default for SSM writes: 3 per second, bursts of 3.
    pub const DEFAULT_RATE: f64 = 3.0;
    pub const DEFAULT_BURST: u32 = 3;

    /// `rate` per second (clamped to at least 0.01), bursts of `burst` (at least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Pacer {
            rate: rate.max(0.01),
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
        }
    }

    /// Waits until this caller may send one request.
    pub async fn acquire(&self) {
        let wait = {
            let mut b = self.state.lock().await;
            let now = Instant::now();
            let refill = now.duration_since(b.at).as_secs_f64() * self.rate;
            b.tokens = (b.tokens + refill).min(self.burst) - 1.0;
            b.at = now;
            if b.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-b.tokens / self.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(Self::DEFAULT_RATE, Self::DEFAULT_BURST)
    }
}

/// How often and how patiently throttled calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause after `failures` throttled attempts: a random time between half of the
    /// exponential step and all of it.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(millis / 2..=millis.max(1)))
    }
}

/// Runs `op` until it succeeds, fails with something other than throttling, or the policy's
/// attempts are used up. Each attempt first waits for the pacer, when there is one.
pub async fn with_retry<T, E, R, F, Fut>(
    policy: &RetryPolicy,
    pacer: Option<&Pacer>,
    what: &str,
    mut op: F,
) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    let mut failures = 0;
    loop {
        if let Some(p) = pacer {
            p.acquire().await;
        }
        match op().await {
            Err(e) if errors::is_throttling(&e) && failures + 1 < policy.max_attempts.max(1) => {
                failures += 1;
                let pause = policy.delay(failures);
                tracing::info!(
                    call = what,
                    attempt = failures,
                    pause_ms = pause.as_millis() as u64,
                    "throttled by AWS, backing off"
                );
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pacer_spreads_writes_at_the_configured_rate() {
        let pacer = Pacer::new(50.0, 2);
        let start = Instant::now();
        for _ in 0..12 {
            pacer.acquire().await;
        }
        // 2 from the burst, 10 more at 50/s: 0.2 s.
        let took = start.elapsed().as_secs_f64();
        assert!((0.19..0.6).contains(&took), "took {took}s");
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(p.delay(30) <= Duration::from_secs(1));
        }
    }
}
