//! The export layer's macros, imported by path (`use super::macros::lenient_enum;`) wherever
//! they are used: the model's code enums and [`ApiErrorCode`](super::ApiErrorCode) are both
//! lenient enums.

/// Defines a string-valued enum whose unknown values are kept in a catch-all variant.
///
/// It generates `as_str`, `is_known`, `FromStr` (infallible), `From<&str>`, `From<String>`,
/// `Display`, serde both ways as the bare string, and `PartialEq`/`Eq`/`Hash` by wire string (so a
/// catch-all holding a known value still equals the named variant).
macro_rules! lenient_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident expecting $expecting:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ ;
            $(#[$ometa:meta])* $other:ident(String) $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            $(#[$ometa])* $other(String),
        }

        impl $name {
            /// The value exactly as the API writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::$other(value) => value,
                }
            }

            /// `true` for a named variant, `false` for a value this crate does not know.
            pub fn is_known(&self) -> bool {
                $name::from_known(self.as_str()).is_some()
            }

            fn from_known(value: &str) -> Option<Self> {
                match value {
                    $( $wire => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;

            /// Never fails: an unknown value becomes the catch-all variant.
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok($name::from(value))
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name::from_known(value).unwrap_or_else(|| $name::$other(value.to_owned()))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name::from_known(&value).unwrap_or($name::$other(value))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl ::std::hash::Hash for $name {
            fn hash<H: ::std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct LenientVisitor;

                impl ::serde::de::Visitor<'_> for LenientVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: ::serde::de::Error>(self, value: &str) -> Result<$name, E> {
                        Ok($name::from(value))
                    }

                    fn visit_string<E: ::serde::de::Error>(self, value: String) -> Result<$name, E> {
                        Ok($name::from(value))
                    }
                }

                deserializer.deserialize_str(LenientVisitor)
            }
        }
    };
}

pub(crate) use lenient_enum;
