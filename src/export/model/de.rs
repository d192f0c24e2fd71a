//! Reading the model's objects: known members by a `Field` enum, checked for duplicates, and
//! every unknown member into the object's `extra` map.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The known members of one object type.
pub(super) trait Field: Copy + Sized {
    /// The member with this wire name (or alias).
    fn from_name(name: &str) -> Option<Self>;
    /// The wire name, as written back and as named in a duplicate-field error.
    fn name(self) -> &'static str;
    /// A distinct bit per member, to catch duplicates.
    fn bit(self) -> u32;
}

/// Defines an object's known members: an enum, with lookup by wire name (and aliases).
macro_rules! fields {
    ($name:ident { $( $variant:ident = $wire:literal $(| $alias:literal)* ),+ $(,)? }) => {
        #[derive(Clone, Copy)]
        enum $name {
            $( $variant, )+
        }

        impl $crate::export::model::de::Field for $name {
            #[inline]
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $wire $(| $alias)* => Some($name::$variant), )+
                    _ => None,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }

            #[inline]
            fn bit(self) -> u32 {
                1 << (self as u32)
            }
        }
    };
}

pub(super) use fields;

/// A member name: a known member, or the name of an unknown one (allocated only then; a known
/// name is matched where the deserializer has it, borrowed from the input when it can).
enum Key<F> {
    Known(F),
    Unknown(String),
}

/// Reads a [`Key`].
struct KeySeed<F>(std::marker::PhantomData<F>);

impl<F> KeySeed<F> {
    fn new() -> Self {
        KeySeed(std::marker::PhantomData)
    }
}

impl<'de, F: Field> DeserializeSeed<'de> for KeySeed<F> {
    type Value = Key<F>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<F>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<F: Field> Visitor<'_> for KeySeed<F> {
    type Value = Key<F>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<F>, E> {
        Ok(match F::from_name(name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(name.to_owned()),
        })
    }

    fn visit_string<E: de::Error>(self, name: String) -> Result<Key<F>, E> {
        Ok(match F::from_name(&name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(name),
        })
    }
}

/// Walks an object's members: each known member once (a second one is a duplicate-field
/// error, as with serde's derive), each unknown one into `extra` (a repeated unknown name keeps
/// its first place and its last value, as `Map` does).
pub(super) fn visit_members<'de, A, F>(
    map: &mut A,
    extra: &mut Map<String, Value>,
    mut known: impl FnMut(&mut A, F) -> Result<(), A::Error>,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: Field,
{
    let mut seen = 0u32;
    while let Some(key) = map.next_key_seed(KeySeed::<F>::new())? {
        match key {
            Key::Known(field) => {
                if seen & field.bit() != 0 {
                    return Err(de::Error::duplicate_field(field.name()));
                }
                seen |= field.bit();
                known(map, field)?;
            }
            Key::Unknown(name) => {
                let value = map.next_value()?;
                extra.insert(name, value);
            }
        }
    }
    Ok(())
}

/// A model object read member by member into a value that already exists.
pub(super) trait ReadMembers: Default {
    /// What an "invalid type" error says was expected, such as `struct DocumentData`.
    const EXPECTING: &'static str;

    /// Reads the members of the object into `self`.
    fn read_members<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error>;
}

/// `Deserialize::deserialize` for a [`ReadMembers`] type: a default value, filled in place.
pub(super) fn deserialize_object<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: ReadMembers,
    D: Deserializer<'de>,
{
    let mut out = T::default();
    deserializer.deserialize_map(InPlace(&mut out))?;
    Ok(out)
}

/// Reads an object into the value it borrows.
// In place, because the result and its documents are large: filling them where they stay saves
// copying them from one return value to the next.
pub(super) struct InPlace<'a, T>(pub(super) &'a mut T);

impl<'de, T: ReadMembers> Visitor<'de> for InPlace<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.read_members(&mut map)
    }
}

/// Reads an optional object (`null` is `None`) straight into its slot.
pub(super) struct OptionInPlace<'a, T>(pub(super) &'a mut Option<T>);

impl<'de, T: ReadMembers> DeserializeSeed<'de> for OptionInPlace<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: ReadMembers> Visitor<'de> for OptionInPlace<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let value = self.0.insert(T::default());
        deserializer.deserialize_map(InPlace(value))
    }
}
