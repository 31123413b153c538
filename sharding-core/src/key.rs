//! Shard keys: the values a router looks at.

use std::fmt;

/// The value of a shard key as a router sees it, borrowed from the key.
///
/// Every Diesel integer type becomes [`RoutingKey::Int`] (so `42_i32` and `42_i64` route
/// alike), text becomes [`RoutingKey::Text`] and binary or UUID-like keys become
/// [`RoutingKey::Bytes`].
///
/// ```
/// use sharding_core::{RoutingKey, ShardKey};
///
/// assert_eq!(42_i32.routing_key(), Some(RoutingKey::Int(42)));
/// assert_eq!("acme".routing_key(), Some(RoutingKey::Text("acme")));
/// assert_eq!(None::<i64>.routing_key(), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RoutingKey<'a> {
    /// Any integer key, widened losslessly.
    Int(i128),
    /// A text key.
    Text(&'a str),
    /// A binary key, such as the 16 bytes of a UUID.
    Bytes(&'a [u8]),
}

impl RoutingKey<'_> {
    /// What kind of key this is, for error messages: `"integer"`, `"text"` or `"binary"`.
    ///
    /// ```
    /// # use sharding_core::RoutingKey;
    /// assert_eq!(RoutingKey::Text("a").kind(), "text");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            RoutingKey::Int(_) => "integer",
            RoutingKey::Text(_) => "text",
            RoutingKey::Bytes(_) => "binary",
        }
    }

    /// Copies the key into an [`OwnedKey`].
    ///
    /// ```
    /// # use sharding_core::RoutingKey;
    /// # use sharding_core::key::OwnedKey;
    /// assert_eq!(RoutingKey::Text("a").to_owned_key(), OwnedKey::Text("a".into()));
    /// ```
    pub fn to_owned_key(&self) -> OwnedKey {
        match *self {
            RoutingKey::Int(i) => OwnedKey::Int(i),
            RoutingKey::Text(s) => OwnedKey::Text(s.to_owned()),
            RoutingKey::Bytes(b) => OwnedKey::Bytes(b.to_owned()),
        }
    }
}

impl fmt::Display for RoutingKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutingKey::Int(i) => write!(f, "{i}"),
            RoutingKey::Text(s) => write!(f, "{s:?}"),
            RoutingKey::Bytes(b) => {
                f.write_str("0x")?;
                for byte in b.iter().take(32) {
                    write!(f, "{byte:02x}")?;
                }
                if b.len() > 32 {
                    f.write_str("…")?;
                }
                Ok(())
            }
        }
    }
}

/// An owned [`RoutingKey`], for routers that store keys (such as
/// [`LookupRouter`](crate::LookupRouter)) and for queries that route later.
///
/// ```
/// use sharding_core::key::OwnedKey;
///
/// assert_eq!(OwnedKey::from(7_u8), OwnedKey::Int(7));
/// assert_eq!(OwnedKey::from("acme"), OwnedKey::Text("acme".to_owned()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum OwnedKey {
    /// Any integer key, widened losslessly.
    Int(i128),
    /// A text key.
    Text(String),
    /// A binary key.
    Bytes(Vec<u8>),
}

impl OwnedKey {
    /// Borrows this key as a [`RoutingKey`].
    ///
    /// ```
    /// # use sharding_core::RoutingKey;
    /// # use sharding_core::key::OwnedKey;
    /// assert_eq!(OwnedKey::Int(3).as_routing_key(), RoutingKey::Int(3));
    /// ```
    pub fn as_routing_key(&self) -> RoutingKey<'_> {
        match self {
            OwnedKey::Int(i) => RoutingKey::Int(*i),
            OwnedKey::Text(s) => RoutingKey::Text(s),
            OwnedKey::Bytes(b) => RoutingKey::Bytes(b),
        }
    }
}

impl fmt::Display for OwnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_routing_key().fmt(f)
    }
}

/// A Rust value that can be a shard key.
///
/// Implemented for every integer type Diesel maps (`i8` to `i64`, `u8` to `u64`),
/// `String`/`str`, byte strings (`Vec<u8>`, `[u8]`, `[u8; N]`, e.g. a UUID's 16 bytes),
/// `uuid::Uuid` (feature `uuid`), and references, boxes and `Option`s of those. `None` has no routing key: routing it
/// fails with [`Error::MissingKey`](crate::Error::MissingKey).
///
/// Routing compares a key's exact bytes. On MySQL and MariaDB the default collations
/// ignore case and trailing spaces, so a query for the text key `"a"` also matches rows
/// keyed `"A"` or `"a "` stored on the same shard: give text key columns a binary no-pad
/// collation (`COLLATE utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on MySQL 8) or
/// make them `VARBINARY`.
///
/// Implement it for your own key types by returning one of the [`RoutingKey`] shapes:
///
/// ```
/// use sharding_core::{RoutingKey, ShardKey};
///
/// struct TenantId(i64);
/// impl ShardKey for TenantId {
///     fn routing_key(&self) -> Option<RoutingKey<'_>> {
///         Some(RoutingKey::Int(self.0.into()))
///     }
/// }
/// assert_eq!(TenantId(5).routing_key(), Some(RoutingKey::Int(5)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a shard key",
    label = "not a shard key type",
    note = "shard keys are integers, strings, byte strings, `Option`s of them and `uuid::Uuid` \
            (cargo feature `uuid`); for a newtype, implement `ShardKey` by returning its \
            inner value's `routing_key()`"
)]
pub trait ShardKey {
    /// The key's routing value, or `None` when the key is missing (a `None` option).
    fn routing_key(&self) -> Option<RoutingKey<'_>>;
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl ShardKey for $t {
            fn routing_key(&self) -> Option<RoutingKey<'_>> {
                Some(RoutingKey::Int(i128::from(*self)))
            }
        }
        impl From<$t> for OwnedKey {
            fn from(key: $t) -> Self {
                OwnedKey::Int(i128::from(key))
            }
        }
    )*};
}
int_keys!(i8, i16, i32, i64, u8, u16, u32, u64);

impl ShardKey for str {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(RoutingKey::Text(self))
    }
}

impl ShardKey for String {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(RoutingKey::Text(self))
    }
}

impl ShardKey for [u8] {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(RoutingKey::Bytes(self))
    }
}

impl ShardKey for Vec<u8> {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(RoutingKey::Bytes(self))
    }
}

impl<const N: usize> ShardKey for [u8; N] {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(RoutingKey::Bytes(self))
    }
}

impl<K: ShardKey + ?Sized> ShardKey for &K {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        (**self).routing_key()
    }
}

impl<K: ShardKey + ?Sized> ShardKey for Box<K> {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        (**self).routing_key()
    }
}

impl<K: ShardKey> ShardKey for Option<K> {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        self.as_ref().and_then(ShardKey::routing_key)
    }
}

/// A UUID routes as its 16 bytes, like `[u8; 16]` (feature `uuid`).
#[cfg(feature = "uuid")]
impl ShardKey for uuid::Uuid {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(RoutingKey::Bytes(self.as_bytes()))
    }
}

impl ShardKey for RoutingKey<'_> {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(*self)
    }
}

impl ShardKey for OwnedKey {
    fn routing_key(&self) -> Option<RoutingKey<'_>> {
        Some(self.as_routing_key())
    }
}

impl From<&str> for OwnedKey {
    fn from(key: &str) -> Self {
        OwnedKey::Text(key.to_owned())
    }
}

impl From<String> for OwnedKey {
    fn from(key: String) -> Self {
        OwnedKey::Text(key)
    }
}

impl From<Vec<u8>> for OwnedKey {
    fn from(key: Vec<u8>) -> Self {
        OwnedKey::Bytes(key)
    }
}

impl From<&[u8]> for OwnedKey {
    fn from(key: &[u8]) -> Self {
        OwnedKey::Bytes(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_of_every_width_route_alike() {
        assert_eq!(42_i8.routing_key(), 42_u64.routing_key());
        assert_eq!((-1_i16).routing_key(), Some(RoutingKey::Int(-1)));
        assert_eq!(
            u64::MAX.routing_key(),
            Some(RoutingKey::Int(i128::from(u64::MAX)))
        );
    }

    #[test]
    fn displays_keys_for_errors() {
        assert_eq!(RoutingKey::Int(-3).to_string(), "-3");
        assert_eq!(RoutingKey::Text("a\"b").to_string(), "\"a\\\"b\"");
        assert_eq!(RoutingKey::Bytes(&[0xab, 0x01]).to_string(), "0xab01");
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuids_route_as_their_bytes() {
        let id = uuid::Uuid::from_bytes([9; 16]);
        assert_eq!(id.routing_key(), [9_u8; 16].routing_key());
    }

    #[test]
    fn text_and_bytes_borrow() {
        let s = String::from("acme");
        assert_eq!(s.routing_key(), Some(RoutingKey::Text("acme")));
        let uuid = [7_u8; 16];
        assert_eq!(uuid.routing_key(), Some(RoutingKey::Bytes(&[7; 16])));
        assert_eq!(Some(&5_i64).routing_key(), Some(RoutingKey::Int(5)));
    }
}
