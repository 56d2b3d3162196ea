//! Helpers that make serde read and write JSON the way Go's `encoding/json`
//! does for moby's structs.
//!
//! Go is forgiving when decoding (`null` leaves a field at its zero value,
//! unknown keys are dropped) and precise when encoding (`omitempty` drops
//! zero values, nil slices and maps become `null`). Derived serde code is
//! the other way round on decoding, so every non-`Option` field that can
//! meet `null` goes through [`nullable`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `null` (or a missing key, with `#[serde(default)]`) becomes `T::default()`,
/// like Go leaving the field at its zero value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Go `omitempty` on a bool.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Go `omitempty` on a number.
pub(crate) fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Go `omitempty` on a nil-able slice or map held as `Option`: Go drops
/// both nil and empty.
pub(crate) fn is_none_or_empty<T: HasLen>(v: &Option<T>) -> bool {
    v.as_ref().is_none_or(HasLen::is_empty)
}

pub(crate) trait HasLen {
    fn is_empty(&self) -> bool;
}

impl<T> HasLen for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> HasLen for BTreeMap<K, V> {
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

/// A map whose values Go declares as pointers (`map[string]*T`): a `null`
/// value decodes to `T::default()` rather than failing the whole body.
pub(crate) fn nullable_map_values<'de, D, T>(d: D) -> Result<Option<BTreeMap<String, T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let m = Option::<BTreeMap<String, Option<T>>>::deserialize(d)?;
    Ok(m.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }))
}

/// Go's `map[string]struct{}` value (`ExposedPorts`, `Volumes`): written as
/// `{}`, and any JSON value is accepted when reading because Go ignores the
/// content of an empty struct.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmptyObject {}

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(EmptyObject {})
    }
}

/// Docker's old `strslice.StrSlice` (`Cmd`, `Entrypoint`, `Shell`, `CapAdd`):
/// older clients send a bare string where an array is expected.
pub(crate) mod strslice {
    use super::*;

    pub(crate) fn deserialize<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        d.deserialize_any(StrSliceVisitor)
    }

    struct StrSliceVisitor;

    impl<'de> Visitor<'de> for StrSliceVisitor {
        type Value = Option<Vec<String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of strings")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![v.to_owned()]))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(vec![v]))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            // Go turns a null element of a []string into "".
            while let Some(v) = seq.next_element::<Option<String>>()? {
                out.push(v.unwrap_or_default());
            }
            Ok(Some(out))
        }
    }
}

/// Go's `[]byte` is base64 (standard alphabet, padded) in JSON; nil is `null`.
pub(crate) mod base64_bytes {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    pub(crate) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(b) => s.serialize_str(&STANDARD.encode(b)),
        }
    }

    pub(crate) fn deserialize<'de, D>(d: D) -> Result<Option<Vec<u8>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map(Some)
                .map_err(de::Error::custom),
        }
    }
}

/// Defines a Go "typed string" (`type NetworkMode string`): any value is
/// accepted, well-known values are associated constants, and `null` reads
/// as the empty string.
macro_rules! string_type {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$cmeta:meta])* $konst:ident = $val:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(::std::borrow::Cow<'static, str>);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name(::std::borrow::Cow::Borrowed($val)); )*

            /// A value not known at compile time.
            pub fn new(value: impl Into<String>) -> Self {
                $name(::std::borrow::Cow::Owned(value.into()))
            }

            /// A value known at compile time, usable in `const`.
            pub const fn from_static(value: &'static str) -> Self {
                $name(::std::borrow::Cow::Borrowed(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(v: &str) -> Self {
                $name::new(v)
            }
        }

        impl From<String> for $name {
            fn from(v: String) -> Self {
                $name::new(v)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.into_owned()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v: Option<String> = ::serde::Deserialize::deserialize(d)?;
                Ok($name(::std::borrow::Cow::Owned(v.unwrap_or_default())))
            }
        }
    };
}

pub(crate) use string_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default, Debug)]
    struct S {
        #[serde(default, deserialize_with = "strslice::deserialize")]
        cmd: Option<Vec<String>>,
        #[serde(default, deserialize_with = "nullable")]
        n: i64,
    }

    #[test]
    fn strslice_forms() {
        let s: S = serde_json::from_str(r#"{"cmd":"echo hi","n":null}"#).unwrap();
        assert_eq!(s.cmd, Some(vec!["echo hi".to_owned()]));
        assert_eq!(s.n, 0);
        let s: S = serde_json::from_str(r#"{"cmd":["a",null,"b"]}"#).unwrap();
        assert_eq!(s.cmd, Some(vec!["a".into(), "".into(), "b".into()]));
        let s: S = serde_json::from_str(r#"{"cmd":null}"#).unwrap();
        assert_eq!(s.cmd, None);
        let s: S = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(s.cmd, None);
        assert!(serde_json::from_str::<S>(r#"{"cmd":3}"#).is_err());
    }

    #[test]
    fn empty_object_reads_anything_writes_braces() {
        let m: BTreeMap<String, EmptyObject> =
            serde_json::from_str(r#"{"80/tcp":{},"53/udp":null,"x":{"a":1}}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"53/udp":{},"80/tcp":{},"x":{}}"#
        );
    }
}
