//! The per-process circuit breaker around the object store: after N consecutive store-side failures
//! every S3 call fails in microseconds for a cooldown, then one probe call decides whether to close.
//!
//! It is an SDK interceptor ([`BreakerInterceptor`]) on the S3 client, so every operation — put,
//! multipart, head, delete, list — is covered without wrapping calls one by one. It counts whole
//! executions (after the SDK's own retries), not attempts: a call the retry loop rescued is a
//! success, so sporadic faults never open the breaker; only calls that failed after every retry do.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The fail-fast refusal of an open breaker; [`super::StorageError::from_sdk`] turns it into
/// `StorageError::CircuitOpen`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "storage unavailable, retry in {}s: the last {failures} calls to S3 failed, so calls are refused until a probe succeeds",
    whole_seconds(*retry_in)
)]
pub struct BreakerOpen {
    /// Time until the breaker lets a probe through.
    pub retry_in: Duration,
    /// Consecutive failures that opened it.
    pub failures: u32,
}

impl BreakerOpen {
    /// Whole seconds to wait, rounded up, at least 1 (what the agent is told).
    pub fn retry_in_seconds(&self) -> u64 {
        whole_seconds(self.retry_in)
    }
}

fn whole_seconds(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// How one S3 call ended, as far as the store's health is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The store answered: a success, or a 4xx that is the request's fault (AccessDenied,
    /// NoSuchKey, PreconditionFailed…). Either way the store is up.
    Healthy,
    /// The store failed: 5xx, throttling, a timeout, or a connection that could not be made or broke.
    StoreFailure,
    /// Nothing was learnt about the store (the call failed before it was sent).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    /// Refusing calls until `until`.
    Open {
        until: Instant,
    },
    /// One probe is in flight; if it has not reported by `deadline` (its caller gave up and
    /// dropped it), the next call becomes the probe.
    HalfOpen {
        deadline: Instant,
    },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive_failures: u32,
}

/// The breaker's state machine. Time is passed in (`*_at`), so tests drive it with a fake clock.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    probe_timeout: Duration,
    inner: Mutex<Inner>,
}

/// What [`CircuitBreaker::admit_at`] let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: business as usual.
    Normal,
    /// The single call that tests a recovering store.
    Probe,
}

impl CircuitBreaker {
    /// `threshold` consecutive failures open it (0 = never); it stays open for `cooldown`; a probe
    /// that does not report within `probe_timeout` (the SDK's operation timeout) is presumed lost.
    pub fn new(threshold: u32, cooldown: Duration, probe_timeout: Duration) -> Self {
        CircuitBreaker {
            threshold,
            cooldown,
            probe_timeout,
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive_failures: 0,
            }),
        }
    }

    /// May a call start now?
    pub fn admit(&self) -> Result<Admission, BreakerOpen> {
        self.admit_at(Instant::now())
    }

    /// Records how a call ended.
    pub fn record(&self, outcome: Outcome) {
        self.record_at(outcome, Instant::now());
    }

    /// True while calls are being refused (open, or half-open with a probe in flight).
    pub fn is_open(&self) -> bool {
        !matches!(self.lock().state, State::Closed)
    }

    pub fn admit_at(&self, now: Instant) -> Result<Admission, BreakerOpen> {
        if self.threshold == 0 {
            return Ok(Admission::Normal);
        }
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Ok(Admission::Normal),
            State::Open { until } | State::HalfOpen { deadline: until } if now < until => {
                Err(BreakerOpen {
                    retry_in: until - now,
                    failures: inner.consecutive_failures,
                })
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                inner.state = State::HalfOpen {
                    deadline: now + self.probe_timeout,
                };
                tracing::info!("storage circuit breaker half-open: probing S3 with one call");
                Ok(Admission::Probe)
            }
        }
    }

    pub fn record_at(&self, outcome: Outcome, now: Instant) {
        if self.threshold == 0 {
            return;
        }
        let mut inner = self.lock();
        match outcome {
            Outcome::Unknown => {}
            Outcome::Healthy => {
                if inner.state != State::Closed {
                    tracing::info!("storage circuit breaker closed: S3 answered again");
                }
                inner.state = State::Closed;
                inner.consecutive_failures = 0;
            }
            Outcome::StoreFailure => {
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                let reopen = match inner.state {
                    State::Closed => inner.consecutive_failures >= self.threshold,
                    // The probe (or a call admitted before the breaker opened) failed.
                    State::HalfOpen { .. } => true,
                    // Late failures of calls admitted before it opened do not extend the cooldown.
                    State::Open { .. } => false,
                };
                if reopen {
                    tracing::warn!(
                        failures = inner.consecutive_failures,
                        cooldown_seconds = self.cooldown.as_secs_f64(),
                        "storage circuit breaker open: failing S3 calls fast"
                    );
                    inner.state = State::Open {
                        until: now + self.cooldown,
                    };
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the state inconsistent (plain assignments).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Marks an execution the breaker admitted, so only those report an outcome.
#[derive(Clone, Debug)]
struct Admitted;

impl Storable for Admitted {
    type Storer = StoreReplace<Self>;
}

/// Connects a [`CircuitBreaker`] to the S3 client's request pipeline.
#[derive(Clone, Debug)]
pub struct BreakerInterceptor {
    breaker: Arc<CircuitBreaker>,
}

impl BreakerInterceptor {
    pub fn new(breaker: Arc<CircuitBreaker>) -> Self {
        BreakerInterceptor { breaker }
    }
}

impl Intercept for BreakerInterceptor {
    fn name(&self) -> &'static str {
        "CircuitBreaker"
    }

    /// Runs before anything else in an execution: an open breaker refuses here, before
    /// serialization, signing, connection or retry loop — microseconds, not a retry cycle.
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.breaker.admit()?;
        cfg.interceptor_state().store_put(Admitted);
        Ok(())
    }

    /// Runs once per execution after the retry loop, also after an operation timeout.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Admitted>().is_some() {
            self.breaker.record(classify(context));
        }
        Ok(())
    }
}

/// Store-side failures are what the breaker counts; a 4xx means the store is up and the request
/// was wrong, which opening the breaker would not help.
fn classify(context: &FinalizerInterceptorContextRef<'_>) -> Outcome {
    let error = match context.output_or_error() {
        None => return Outcome::Unknown,
        Some(Ok(_)) => return Outcome::Healthy,
        Some(Err(error)) => error,
    };
    if error.is_timeout_error() || error.is_connector_error() {
        return Outcome::StoreFailure;
    }
    match context.response().map(|r| r.status().as_u16()) {
        Some(status) if status >= 500 || status == 429 => Outcome::StoreFailure,
        Some(_) if error.is_operation_error() => Outcome::Healthy,
        // A response that could not be read (cut off mid-body, garbage).
        Some(_) if error.is_response_error() => Outcome::StoreFailure,
        _ if error.is_response_error() => Outcome::StoreFailure,
        _ => Outcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(10);
    const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

    fn breaker(threshold: u32) -> CircuitBreaker {
        CircuitBreaker::new(threshold, COOLDOWN, PROBE_TIMEOUT)
    }

    fn fail(b: &CircuitBreaker, times: u32, now: Instant) {
        for _ in 0..times {
            b.admit_at(now).expect("admitted while closed");
            b.record_at(Outcome::StoreFailure, now);
        }
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_and_refuses_with_the_remaining_time() {
        let t0 = Instant::now();
        let b = breaker(5);
        fail(&b, 4, t0);
        assert_eq!(b.admit_at(t0), Ok(Admission::Normal), "4 < 5 stays closed");
        b.record_at(Outcome::StoreFailure, t0);
        let refused = b.admit_at(t0 + Duration::from_millis(2500)).unwrap_err();
        assert_eq!(refused.failures, 5);
        assert_eq!(refused.retry_in, Duration::from_millis(7500));
        assert_eq!(refused.retry_in_seconds(), 8);
        assert!(
            refused
                .to_string()
                .starts_with("storage unavailable, retry in 8s"),
            "{refused}"
        );
        assert!(b.is_open());
    }

    #[test]
    fn a_healthy_answer_resets_the_count() {
        let t0 = Instant::now();
        let b = breaker(3);
        fail(&b, 2, t0);
        b.record_at(Outcome::Healthy, t0);
        fail(&b, 2, t0);
        assert_eq!(b.admit_at(t0), Ok(Admission::Normal));
    }

    #[test]
    fn unknown_outcomes_neither_count_nor_reset() {
        let t0 = Instant::now();
        let b = breaker(2);
        fail(&b, 1, t0);
        b.record_at(Outcome::Unknown, t0);
        fail(&b, 1, t0);
        assert!(b.admit_at(t0).is_err());
    }

    #[test]
    fn after_the_cooldown_exactly_one_probe_passes() {
        let t0 = Instant::now();
        let b = breaker(1);
        fail(&b, 1, t0);
        let later = t0 + COOLDOWN;
        assert_eq!(b.admit_at(later), Ok(Admission::Probe));
        let refused = b.admit_at(later + Duration::from_millis(1)).unwrap_err();
        assert!(refused.retry_in <= PROBE_TIMEOUT);
    }

    #[test]
    fn a_successful_probe_closes_the_breaker() {
        let t0 = Instant::now();
        let b = breaker(1);
        fail(&b, 1, t0);
        let later = t0 + COOLDOWN;
        b.admit_at(later).unwrap();
        b.record_at(Outcome::Healthy, later);
        assert_eq!(b.admit_at(later), Ok(Admission::Normal));
        assert!(!b.is_open());
    }

    #[test]
    fn a_failed_probe_reopens_for_a_full_cooldown() {
        let t0 = Instant::now();
        let b = breaker(3);
        fail(&b, 3, t0);
        let later = t0 + COOLDOWN + Duration::from_secs(1);
        assert_eq!(b.admit_at(later), Ok(Admission::Probe));
        b.record_at(Outcome::StoreFailure, later);
        let refused = b.admit_at(later).unwrap_err();
        assert_eq!(refused.retry_in, COOLDOWN);
        assert_eq!(b.admit_at(later + COOLDOWN), Ok(Admission::Probe));
    }

    #[test]
    fn a_lost_probe_is_replaced_after_the_probe_timeout() {
        let t0 = Instant::now();
        let b = breaker(1);
        fail(&b, 1, t0);
        let probe_at = t0 + COOLDOWN;
        assert_eq!(b.admit_at(probe_at), Ok(Admission::Probe));
        // The probe's caller went away; nothing is ever recorded for it.
        assert!(b.admit_at(probe_at + PROBE_TIMEOUT / 2).is_err());
        assert_eq!(b.admit_at(probe_at + PROBE_TIMEOUT), Ok(Admission::Probe));
    }

    #[test]
    fn late_failures_of_calls_admitted_earlier_do_not_extend_the_cooldown() {
        let t0 = Instant::now();
        let b = breaker(1);
        fail(&b, 1, t0);
        b.record_at(Outcome::StoreFailure, t0 + Duration::from_secs(9));
        assert_eq!(b.admit_at(t0 + COOLDOWN), Ok(Admission::Probe));
    }

    #[test]
    fn threshold_zero_disables_the_breaker() {
        let t0 = Instant::now();
        let b = breaker(0);
        for _ in 0..100 {
            b.record_at(Outcome::StoreFailure, t0);
        }
        assert_eq!(b.admit_at(t0), Ok(Admission::Normal));
        assert!(!b.is_open());
    }

    #[test]
    fn retry_hint_is_never_zero_seconds() {
        let e = BreakerOpen {
            retry_in: Duration::from_millis(1),
            failures: 5,
        };
        assert_eq!(e.retry_in_seconds(), 1);
    }
}
