//! [`OptionalExtension`]: `NotFound` as `None`, as Diesel's own extension does.

use super::Result;

/// Turns a `NotFound` error into `Ok(None)`, like Diesel's `OptionalExtension`.
///
/// ```
/// use sharding_core::{Error, OptionalExtension};
///
/// let missing: Result<i32, Error> = Err(Error::Diesel(diesel::result::Error::NotFound));
/// assert_eq!(missing.optional().ok(), Some(None));
/// let found: Result<i32, Error> = Ok(3);
/// assert_eq!(found.optional().ok(), Some(Some(3)));
/// ```
pub trait OptionalExtension<T> {
    /// `Ok(Some(value))` for a row, `Ok(None)` for `NotFound`, and every other error as is.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
