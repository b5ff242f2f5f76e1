//! The `data` column: a session's state as JSON, written in one format and read in both.
//!
//! actix-session 0.11 hands a store its state as a map of strings, each value already the JSON
//! text of what the application inserted. The first format stored that map as it is, so each
//! value was a JSON string holding escaped JSON (`{"csrf":"\"…\"","member":"{\"name\":…}"}`):
//! reading it decoded every escape and copied every value through a scratch buffer, and the
//! application then parsed the same value once more.
//!
//! - Format 2, written when the builder's `compact_state` is on: `[2,{"key":value,…}]`, each value embedded as the JSON it already
//!   is. Reading it is one pass over the row: each value is found as a borrowed slice
//!   ([`RawValue`]) and copied once, with no escapes to undo; the row is also shorter.
//! - Format 1, written by default: `{"key":"value as a JSON string",…}`, what every earlier
//!   version writes and reads. A state with a value that is not one JSON value (which
//!   actix-session never produces) is written in it even when format 2 is asked for, so every
//!   state round-trips.
//!
//! Format 2 is opt-in because a version that does not read it takes such a row for corrupt
//! state: rolling back, or two versions sharing the table during a rolling upgrade, would sign
//! members out. Both formats are always read.
//!
//! Both are JSON, so the column stays inspectable with the server's JSON functions.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The tag that opens a format-2 row.
const FORMAT: u8 = 2;

/// `state` as the `data` column stores it: format 2 when `compact` (and every value is JSON),
/// else format 1.
pub(crate) fn encode(
    state: &HashMap<String, String>,
    compact: bool,
) -> Result<String, serde_json::Error> {
    if !compact {
        return serde_json::to_string(state);
    }
    let mut values: HashMap<&str, &RawValue> = HashMap::with_capacity(state.len());
    for (key, value) in state {
        match serde_json::from_str::<&RawValue>(value) {
            Ok(raw) => {
                values.insert(key, raw);
            }
            Err(_) => return serde_json::to_string(state),
        }
    }
    serde_json::to_string(&(FORMAT, values))
}

/// The state stored as `data`, in either format.
pub(crate) fn decode(data: &[u8]) -> Result<HashMap<String, String>, serde_json::Error> {
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Tagged>(data).map(|Tagged(state)| state),
        _ => serde_json::from_slice(data),
    }
}

/// A format-2 row: `[2, {…}]`.
struct Tagged(HashMap<String, String>);

impl<'de> de::Deserialize<'de> for Tagged {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(TaggedVisitor)
    }
}

struct TaggedVisitor;

impl<'de> Visitor<'de> for TaggedVisitor {
    type Value = Tagged;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{FORMAT}, {{session state}}]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tagged, A::Error> {
        let format: u8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        if format != FORMAT {
            return Err(de::Error::custom(format_args!(
                "unknown session state format {format}"
            )));
        }
        let Raw(state) = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(Tagged(state))
    }
}

/// A map of raw JSON values, each kept as its text.
struct Raw(HashMap<String, String>);

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of session values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut state = HashMap::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
            state.insert(key, value.get().to_owned());
        }
        Ok(Raw(state))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_are_embedded_and_round_trip() {
        let s = state(&[
            ("csrf", r#""tok""#),
            ("member", r#"{"name":"Ann \"A\"","stamp":-3,"tf":null}"#),
            ("until", "1700000000"),
            ("weird key \u{e9}\"", "[1,2]"),
        ]);
        assert_eq!(
            encode(&s, false).unwrap(),
            serde_json::to_string(&s).unwrap(),
            "format 1 unless asked"
        );
        let data = encode(&s, true).unwrap();
        assert!(data.starts_with("[2,{"), "{data}");
        assert!(
            data.contains(r#""member":{"name""#),
            "embedded, not a string: {data}"
        );
        assert_eq!(decode(data.as_bytes()).unwrap(), s);
    }

    #[test]
    fn the_first_format_is_still_read() {
        let s = state(&[("csrf", r#""tok""#), ("until", "17")]);
        let old = serde_json::to_string(&s).unwrap();
        assert_eq!(decode(old.as_bytes()).unwrap(), s);
        assert_eq!(decode(b"{}").unwrap(), HashMap::new());
    }

    #[test]
    fn a_value_that_is_not_json_is_written_in_the_first_format() {
        let s = state(&[("a", "not json"), ("b", "1")]);
        let data = encode(&s, true).unwrap();
        assert!(data.starts_with('{'), "{data}");
        assert_eq!(decode(data.as_bytes()).unwrap(), s);
    }

    #[test]
    fn corrupt_rows_are_errors() {
        for bad in [
            &b"[2,{\"a\":}]"[..],
            b"[3,{}]",
            b"[2]",
            b"[2,{},4]",
            b"[2,{\"a\":1}",
            b"{\"a\":1}",
            b"\xff",
            b"",
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
