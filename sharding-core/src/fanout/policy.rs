//! Failure policies of a fan-out: fail fast, or accept a partial result.

use crate::error::ShardFailure;
use crate::{Error, Result};

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// What a fan-out does when some shards fail: [`FailFast`] (the default) or
/// [`AllowPartial`]. Sealed.
pub trait FailurePolicy: sealed::Sealed + Send + Sync + 'static {
    /// What a fan-out returns under this policy, for a result of type `T`.
    type Output<T>;

    /// Whether the first failure stops shards that have not started yet.
    #[doc(hidden)]
    const STOP_ON_FAILURE: bool;

    /// Combines the healthy shards' result with the failures.
    #[doc(hidden)]
    fn finish<T>(value: T, failures: Vec<ShardFailure>) -> Result<Self::Output<T>>;
}

/// The default policy: any failing shard fails the whole query with
/// [`Error::FanOut`], which names every failing shard and its cause. Shards that have
/// not started when the first one fails are not started.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailFast;

/// The partial policy: the healthy shards' result comes back in a [`PartialResult`]
/// together with the failures, which cannot be reached without also being handed the
/// failures.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowPartial;

impl sealed::Sealed for FailFast {}
impl sealed::Sealed for AllowPartial {}

impl FailurePolicy for FailFast {
    type Output<T> = T;
    const STOP_ON_FAILURE: bool = true;

    fn finish<T>(value: T, failures: Vec<ShardFailure>) -> Result<T> {
        if failures.is_empty() {
            Ok(value)
        } else {
            Err(Error::FanOut { failures })
        }
    }
}

impl FailurePolicy for AllowPartial {
    type Output<T> = PartialResult<T>;
    const STOP_ON_FAILURE: bool = false;

    fn finish<T>(value: T, failures: Vec<ShardFailure>) -> Result<PartialResult<T>> {
        Ok(PartialResult { value, failures })
    }
}

/// The result of a fan-out under [`AllowPartial`]: what the healthy shards returned,
/// and the shards that failed.
///
/// The value is only reachable together with the failures
/// ([`into_parts`](Self::into_parts)) or when there are none
/// ([`into_result`](Self::into_result)), so a failure cannot be dropped by accident.
///
/// ```
/// use sharding_core::{AllowPartial, ShardFailure, Error};
/// use sharding_core::fanout::FailurePolicy;
///
/// let partial = AllowPartial::finish(vec![1, 2], vec![ShardFailure {
///     shard: "s1".into(),
///     error: Error::NoShards,
/// }])?;
/// assert!(!partial.is_complete());
/// let (rows, failures) = partial.into_parts();
/// assert_eq!((rows.len(), failures[0].shard.as_str()), (2, "s1"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a partial result may lack some shards' rows: look at its failures"]
pub struct PartialResult<T> {
    value: T,
    failures: Vec<ShardFailure>,
}

impl<T> PartialResult<T> {
    /// Whether every shard answered.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }

    /// The shards that failed, and why.
    pub fn failures(&self) -> &[ShardFailure] {
        &self.failures
    }

    /// The healthy shards' result and the failures.
    pub fn into_parts(self) -> (T, Vec<ShardFailure>) {
        (self.value, self.failures)
    }

    /// The result if every shard answered, else [`Error::FanOut`] with the failures.
    pub fn into_result(self) -> Result<T> {
        FailFast::finish(self.value, self.failures)
    }
}
