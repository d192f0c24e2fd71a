//! `Debug` helpers that keep personal data out of logs.

use std::fmt;

use serde_json::{Map, Value};

/// Stands in for a personal value in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The keys of an `extra` map, without their values.
pub(super) struct Keys<'a>(pub(super) &'a Map<String, Value>);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Adds a field when it is present.
pub(super) fn shown<T: fmt::Debug>(
    d: &mut fmt::DebugStruct<'_, '_>,
    name: &str,
    value: &Option<T>,
) {
    if let Some(value) = value {
        d.field(name, value);
    }
}

/// Adds `<redacted>` for a field when it is present.
pub(super) fn redacted<T>(d: &mut fmt::DebugStruct<'_, '_>, name: &str, value: &Option<T>) {
    if value.is_some() {
        d.field(name, &Redacted);
    }
}

/// Adds the keys of a non-empty `extra` map as `extra_keys`.
pub(super) fn extra_keys(d: &mut fmt::DebugStruct<'_, '_>, extra: &Map<String, Value>) {
    if !extra.is_empty() {
        d.field("extra_keys", &Keys(extra));
    }
}
