//! Wire framing for the two dialects: y-websocket (`[type][payload]`) and Hocuspocus
//! (`[documentName][type][payload]`, with an auth message first), plus the edit markers
//! whose embedded send time gives end-to-end latency.

use std::time::Instant;

/// Message types shared by both dialects.
pub const MSG_SYNC: u64 = 0;
const MSG_AUTH: u64 = 2;
/// y-protocols sync sub-messages.
pub const SYNC_STEP1: u64 = 0;
/// Sync step 2: the state the other side lacks.
pub const SYNC_STEP2: u64 = 1;
/// An incremental update.
pub const SYNC_UPDATE: u64 = 2;

/// Which server protocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Dialect {
    /// y-websocket: Pairpad and the reference server.
    YWebsocket,
    /// Hocuspocus: every message starts with the document name.
    Hocuspocus,
}

/// Appends an unsigned LEB128 integer.
pub fn write_var(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads an unsigned LEB128 integer; `None` when truncated.
pub fn read_var(input: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_var(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a length-prefixed byte string.
pub fn read_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(read_var(input)?).ok()?;
    if input.len() < len {
        return None;
    }
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    Some(bytes)
}

/// Frames messages for one document in one dialect.
#[derive(Debug, Clone)]
pub struct Framer {
    dialect: Dialect,
    document: String,
}

impl Framer {
    /// A framer for `document` (the room id).
    pub fn new(dialect: Dialect, document: &str) -> Self {
        Self {
            dialect,
            document: document.to_string(),
        }
    }

    fn start(&self, kind: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        if self.dialect == Dialect::Hocuspocus {
            write_bytes(&mut out, self.document.as_bytes());
        }
        write_var(&mut out, kind);
        out
    }

    /// Hocuspocus expects an auth message (token) before anything else; y-websocket none.
    pub fn hello(&self) -> Option<Vec<u8>> {
        (self.dialect == Dialect::Hocuspocus).then(|| {
            let mut out = self.start(MSG_AUTH);
            write_var(&mut out, 0); // token
            write_bytes(&mut out, b"");
            out
        })
    }

    /// A sync message (`step` is step 1, step 2 or update) carrying `payload`.
    pub fn sync(&self, step: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = self.start(MSG_SYNC);
        write_var(&mut out, step);
        write_bytes(&mut out, payload);
        out
    }

    /// Splits an incoming frame into (message type, rest); `None` for garbage.
    pub fn open<'a>(&self, mut frame: &'a [u8]) -> Option<(u64, &'a [u8])> {
        if self.dialect == Dialect::Hocuspocus {
            read_bytes(&mut frame)?;
        }
        let kind = read_var(&mut frame)?;
        Some((kind, frame))
    }
}

/// Opens and closes an edit marker. Between them: the sending client's number (8
/// digits) and the send time in microseconds since `epoch` (12 digits).
const OPEN: &str = "\u{27e6}";
const CLOSE: &str = "\u{27e7}";
const DIGITS: usize = 8 + 12;

/// The text a typing client inserts: a marker naming the sender and the send time.
pub fn marker(sender: u64, epoch: Instant) -> String {
    format!(
        "{OPEN}{sender:08}{:012}{CLOSE}",
        epoch.elapsed().as_micros()
    )
}

/// Calls `found(sender, sent_at_micros)` for every marker in an update (strings are
/// stored raw in the v1 encoding, so scanning the bytes finds them without applying the
/// update). Some servers echo an update to its sender too; `sender` tells those apart.
pub fn scan_markers(update: &[u8], mut found: impl FnMut(u64, u64)) {
    let open = OPEN.as_bytes();
    let mut rest = update;
    while let Some(at) = find(rest, open) {
        rest = &rest[at + open.len()..];
        if rest.len() < DIGITS + CLOSE.len()
            || &rest[DIGITS..DIGITS + CLOSE.len()] != CLOSE.as_bytes()
        {
            continue;
        }
        let digits = &rest[..DIGITS];
        if digits.iter().all(u8::is_ascii_digit) {
            let number = |d: &[u8]| d.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            found(number(&digits[..8]), number(&digits[8..]));
        }
        rest = &rest[DIGITS + CLOSE.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_survive_an_update_and_frames_round_trip() {
        use yrs::{GetString, Text, Transact};
        let epoch = Instant::now();
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text("code");
        let mut txn = doc.transact_mut();
        text.insert(
            &mut txn,
            0,
            &format!("{}{}", marker(7, epoch), marker(8, epoch)),
        );
        let update = txn.encode_update_v1();
        drop(txn);
        assert_eq!(text.get_string(&doc.transact()).chars().count(), 44);
        let mut senders = Vec::new();
        scan_markers(&update, |sender, _| senders.push(sender));
        assert_eq!(senders, [7, 8]);

        for dialect in [Dialect::YWebsocket, Dialect::Hocuspocus] {
            let framer = Framer::new(dialect, "room");
            let frame = framer.sync(SYNC_UPDATE, &update);
            let (kind, mut rest) = framer.open(&frame).unwrap();
            assert_eq!((kind, read_var(&mut rest)), (MSG_SYNC, Some(SYNC_UPDATE)));
            assert_eq!(read_bytes(&mut rest).unwrap(), &update[..]);
        }
    }
}
