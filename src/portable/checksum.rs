//! The portable format's checksums (spec: `schemas/portable/README.md`, "Checksums").
//!
//! An event's checksum is xxh3-64 of `"{type}\n{timestamp}\n{window}\n"` followed by the exact
//! text of its `data`, where `window` is `-` for no window and `{byte length}:{id}` otherwise
//! (so no id can be mistaken for another). The session checksum is xxh3-64 of the meta line's
//! bytes, `\n`, each event line's checksum as written followed by `\n`, and the decimal count.
//! Both are 16 lowercase hex digits. Integrity, not authenticity: they catch damage, not forgery.

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// The checksum of one event, as its line carries it.
pub fn event(ty: i32, timestamp: i64, window: Option<&str>, data: &str) -> String {
    let mut bytes = match window {
        None => format!("{ty}\n{timestamp}\n-\n"),
        Some(w) => format!("{ty}\n{timestamp}\n{}:{w}\n", w.len()),
    }
    .into_bytes();
    bytes.extend_from_slice(data.as_bytes());
    hex(xxh3_64(&bytes))
}

fn hex(h: u64) -> String {
    format!("{h:016x}")
}

/// The session checksum, fed line by line as a file is written or read.
pub struct Session {
    hash: Xxh3,
    count: u64,
}

impl Session {
    /// Starts with the meta line's bytes (without its line terminator).
    pub fn new(meta_line: &[u8]) -> Self {
        let mut hash = Xxh3::new();
        hash.update(meta_line);
        hash.update(b"\n");
        Session { hash, count: 0 }
    }

    /// Adds an event line's checksum as written on the line.
    pub fn add(&mut self, event_checksum: &str) {
        self.hash.update(event_checksum.as_bytes());
        self.hash.update(b"\n");
        self.count += 1;
    }

    /// Event lines added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The checksum the end line carries.
    pub fn digest(&self) -> String {
        let mut h = self.hash.clone();
        h.update(self.count.to_string().as_bytes());
        hex(h.digest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_of_the_spec() {
        // schemas/portable/README.md, "Checksums": these values are quoted there
        let data = r#"{"href":"http://shop.realclient.test:37485/","width":1280,"height":800}"#;
        let e = event(4, 1795509940417, Some("1"), data);
        let want = hex(xxh3_64(
            b"4\n1795509940417\n1:1\n{\"href\":\"http://shop.realclient.test:37485/\",\"width\":1280,\"height\":800}",
        ));
        assert_eq!(e, want);
        assert_eq!(e, WORKED_EVENT);
        assert_ne!(event(4, 1795509940417, None, data), e, "null is not \"1\"");
        let mut s = Session::new(b"{}");
        s.add(&e);
        assert_eq!(s.count(), 1);
        assert_eq!(s.digest(), hex(xxh3_64(format!("{{}}\n{e}\n1").as_bytes())));
    }

    const WORKED_EVENT: &str = "416020b00c261d57";
}
