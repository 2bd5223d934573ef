//! Content keys: what makes two events one event, whatever input they came from.
//!
//! One recording reaches us in several shapes: a payload compressed (`cv`) in one input and plain
//! JSON in another, compact from the API and pretty-printed or re-serialized by an exporter, object
//! members in any order. Comparing the `data` text would count each shape as another event, so
//! [`key`] hashes the event's type and the *structure* of its data instead: xxh3-128 over a walk of
//! the parsed JSON (object members independent of their order, numbers by value, strings
//! unescaped), streamed through serde without building a tree.
//!
//! Two events are taken as equal when their keys are: a 128-bit hash, so the chance that two
//! different events at the same timestamp collide is about 2^-128.
//!
//! Every event of every input is walked, so each node costs one one-shot xxh3 of a few bytes
//! (seeded with the node's kind), never a streaming hasher: building and finishing an `Xxh3` per
//! node made this walk 14 % of convert's CPU.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed};

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const STR: u8 = 4;
const ARRAY: u8 = 5;
const OBJECT: u8 = 6;
/// Data that is not JSON (never produced by the decoder, which checks it): hashed as bytes.
const RAW: u8 = 7;
/// An object's member: its key and value.
const MEMBER: u8 = 8;

/// The content key of an event: its type and the structure of its `data` (JSON text).
pub fn key(event_type: i32, data: &str) -> u128 {
    let mut de = serde_json::Deserializer::from_str(data);
    de.disable_recursion_limit();
    let de = serde_stacker::Deserializer::new(&mut de);
    let data_hash = Node
        .deserialize(de)
        .unwrap_or_else(|_| tagged(RAW, data.as_bytes()));
    let mut buf = [0u8; 20];
    buf[..4].copy_from_slice(&event_type.to_le_bytes());
    buf[4..].copy_from_slice(&data_hash.to_le_bytes());
    xxh3_128(&buf)
}

fn tagged(tag: u8, bytes: &[u8]) -> u128 {
    xxh3_128_with_seed(bytes, u64::from(tag))
}

/// Two hashes as one, in order.
fn pair(tag: u8, a: u128, b: u128) -> u128 {
    let mut buf = [0u8; 32];
    buf[..16].copy_from_slice(&a.to_le_bytes());
    buf[16..].copy_from_slice(&b.to_le_bytes());
    tagged(tag, &buf)
}

fn int(v: i128) -> u128 {
    tagged(INT, &v.to_le_bytes())
}

/// Hashes one JSON value (the seed is stateless; the value is the hash).
#[derive(Clone, Copy)]
struct Node;

impl<'de> DeserializeSeed<'de> for Node {
    type Value = u128;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u128, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = u128;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<u128, E> {
        Ok(tagged(NULL, &[]))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<u128, E> {
        Ok(tagged(BOOL, &[v as u8]))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u128, E> {
        Ok(int(v.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u128, E> {
        Ok(int(v.into()))
    }
    /// `1.0` and `1` are one number (serializers differ); `-0.0` is `0`.
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u128, E> {
        if v.fract() == 0.0 && v.abs() < 1.8e19 {
            return Ok(int(v as i128));
        }
        Ok(tagged(FLOAT, &v.to_bits().to_le_bytes()))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u128, E> {
        Ok(tagged(STR, v.as_bytes()))
    }
    /// Items are chained in order: `[a, b]` is `pair(pair(start, a), b)`.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u128, A::Error> {
        let mut h = tagged(ARRAY, &[]);
        while let Some(item) = seq.next_element_seed(Node)? {
            h = pair(ARRAY, h, item);
        }
        Ok(h)
    }
    /// Members are hashed one by one and summed, so their order does not count.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u128, A::Error> {
        let (mut sum, mut n) = (0u128, 0u128);
        while let Some(k) = map.next_key_seed(Node)? {
            let v = map.next_value_seed(Node)?;
            sum = sum.wrapping_add(pair(MEMBER, k, v));
            n += 1;
        }
        Ok(pair(OBJECT, n, sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_member_order_do_not_count() {
        let a = r#"{"source":0,"adds":[{"parentId":1,"node":{"id":2}}],"texts":[],"x":1.5}"#;
        let b = "{\n  \"texts\": [ ],\n  \"x\": 1.50,\n  \"adds\": [{\"node\": {\"id\": 2.0}, \"parentId\": 1}],\n  \"source\": 0\n}";
        assert_eq!(key(3, a), key(3, b));
        // escapes are read: "\u0041" is "A"
        assert_eq!(key(5, r#"{"tag":"\u0041"}"#), key(5, r#"{"tag":"A"}"#));
    }

    #[test]
    fn content_and_type_count() {
        let base = key(3, r#"{"source":1,"positions":[1,2]}"#);
        for other in [
            r#"{"source":1,"positions":[2,1]}"#,
            r#"{"source":1,"positions":[1,2,null]}"#,
            r#"{"source":1,"positions":"[1,2]"}"#,
            r#"{"source":1}"#,
            r#"{"source":1,"positions":[1,2],"x":0}"#,
            r#"{"source":"1","positions":[1,2]}"#,
            r#"{"positions":1,"source":[1,2]}"#,
        ] {
            assert_ne!(key(3, other), base, "{other}");
        }
        assert_ne!(key(2, r#"{"source":1,"positions":[1,2]}"#), base);
        assert_ne!(key(3, "[]"), key(3, "{}"));
        assert_ne!(key(3, "null"), key(3, "false"));
    }

    #[test]
    fn deep_documents_hash_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_ne!(key(2, &deep), key(2, "[]"));
    }
}
