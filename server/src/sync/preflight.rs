//! A walk over a Yjs v1 payload (update, state vector, awareness update) before yrs
//! decodes it. yrs reserves room for every count a payload declares, so seven bytes that
//! declare 2^27 state-vector entries would make it set up a 256 MB table; and it decodes
//! nested values by recursion, so a megabyte of nested arrays would overflow the stack.
//! Here every declared count must fit in the bytes that follow (each entry takes at least
//! one byte, most at least two), and values nest at most [`MAX_DEPTH`] deep. The walk reads
//! the layout only; it allocates nothing, and yrs still checks everything else.
//!
//! It also refuses what yrs would take but a stock Yjs client (or yrs itself, later)
//! could not: client ids of 2^53 or more (JavaScript numbers lose them), strings that are
//! not UTF-8, content kinds Yjs does not know, and empty ranges. Accepted once, such an
//! update is stored and relayed, and breaks every client and the room for good.

use super::protocol::FrameError;

/// Deepest nesting of arrays and maps accepted inside an update's values. JSON values the
/// editor stores are flat; Yjs' own types nest through items, not through values.
const MAX_DEPTH: usize = 32;

/// Checks a v1 update.
pub fn update(payload: &[u8]) -> Result<(), FrameError> {
    let mut r = Reader::new(payload);
    // Each client's section: block count, client id and first clock, a byte at least each.
    let clients = r.count(3)?;
    for _ in 0..clients {
        let blocks = r.count(1)?;
        r.client()?;
        r.var()?;
        for _ in 0..blocks {
            r.block()?;
        }
    }
    r.delete_set()
}

/// Checks a v1 state vector.
pub fn state_vector(payload: &[u8]) -> Result<(), FrameError> {
    let mut r = Reader::new(payload);
    let entries = r.count(2)?;
    for _ in 0..entries {
        r.client()?;
        r.var()?;
    }
    Ok(())
}

/// Most presence entries in one awareness update: a client sends its own state, or the
/// states of everyone it knows when it passes changes on.
const MAX_AWARENESS_ENTRIES: usize = 4096;

/// Checks an awareness update.
pub fn awareness(payload: &[u8]) -> Result<(), FrameError> {
    let mut r = Reader::new(payload);
    // Client id, clock and the state's JSON (length and at least `null`).
    let entries = r.count(3)?;
    if entries > MAX_AWARENESS_ENTRIES {
        return Err(refuse("too many presence entries"));
    }
    for _ in 0..entries {
        r.client()?;
        r.var()?;
        r.buf()?;
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn refuse(what: &str) -> FrameError {
    FrameError::Malformed(what.to_string())
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| refuse("payload ends early"))?;
        self.at += 1;
        Ok(byte)
    }

    /// A lib0 variable-length integer (signed ones have the same byte layout).
    fn var(&mut self) -> Result<u64, FrameError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(refuse("variable-length integer too long"))
    }

    /// A Yjs client id, which JavaScript holds as a number: below 2^53.
    fn client(&mut self) -> Result<u64, FrameError> {
        let id = self.var()?;
        if id >= 1 << 53 {
            return Err(refuse("client id out of range"));
        }
        Ok(id)
    }

    /// A length that must not be zero.
    fn len(&mut self) -> Result<(), FrameError> {
        if self.var()? == 0 {
            return Err(refuse("empty range in update"));
        }
        Ok(())
    }

    /// A length-prefixed UTF-8 string.
    fn str(&mut self) -> Result<(), FrameError> {
        let len = self.count(1)?;
        let start = self.at;
        self.skip(len)?;
        std::str::from_utf8(&self.bytes[start..self.at])
            .map(drop)
            .map_err(|_| refuse("string in update is not UTF-8"))
    }

    /// A declared number of entries of at least `min_bytes` each, which must fit in what
    /// is left of the payload.
    fn count(&mut self, min_bytes: usize) -> Result<usize, FrameError> {
        let count = self.var()?;
        match usize::try_from(count) {
            Ok(n) if n.saturating_mul(min_bytes) <= self.remaining() => Ok(n),
            _ => Err(refuse("declared count exceeds the payload")),
        }
    }

    fn skip(&mut self, len: usize) -> Result<(), FrameError> {
        if len > self.remaining() {
            return Err(refuse("length exceeds the payload"));
        }
        self.at += len;
        Ok(())
    }

    /// A length-prefixed byte string (strings and JSON too).
    fn buf(&mut self) -> Result<(), FrameError> {
        let len = self.count(1)?;
        self.skip(len)
    }

    fn block(&mut self) -> Result<(), FrameError> {
        const HAS_ORIGIN: u8 = 0b1000_0000;
        const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
        const HAS_PARENT_SUB: u8 = 0b0010_0000;
        let info = self.u8()?;
        // GC and skip ranges: a length.
        if info == 0 || info == 10 {
            return self.len();
        }
        // Yjs reads the content kind from five bits, yrs from four: a kind of 16 or more
        // is unknown to Yjs, whatever yrs makes of it.
        if info & 0b1_0000 != 0 {
            return Err(refuse("unknown content in update"));
        }
        if info & HAS_ORIGIN != 0 {
            self.client()?;
            self.var()?;
        }
        if info & HAS_RIGHT_ORIGIN != 0 {
            self.client()?;
            self.var()?;
        }
        if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
            if self.var()? == 1 {
                self.str()?; // a root type's name
            } else {
                self.client()?; // the parent item's id
                self.var()?;
            }
            if info & HAS_PARENT_SUB != 0 {
                self.str()?;
            }
        }
        self.content(info & 0b1111)
    }

    fn content(&mut self, kind: u8) -> Result<(), FrameError> {
        match kind {
            // Deleted: a length.
            1 => self.len(),
            // Legacy JSON content: Yjs has not written it since version 13, and yrs reads
            // one string more than declared and writes that count back, so an update
            // holding it does not read back the same.
            2 => Err(refuse("legacy JSON content is not accepted")),
            // Binary.
            3 => self.buf(),
            // String, embed (JSON text).
            4 | 5 => self.str(),
            // Format: key and JSON value.
            6 => {
                self.str()?;
                self.str()
            }
            // A type: its kind, and the tag name of XML elements. No weak links.
            7 => match self.u8()? {
                3 => self.str(),
                0..=2 | 4..=6 | 9 | 15 => Ok(()),
                _ => Err(refuse("unsupported type in update")),
            },
            // Values.
            8 => {
                let n = self.count(1)?;
                for _ in 0..n {
                    self.any(0)?;
                }
                Ok(())
            }
            // A subdocument: its id and options.
            9 => {
                self.str()?;
                self.any(0)
            }
            _ => Err(refuse("unknown content in update")),
        }
    }

    fn any(&mut self, depth: usize) -> Result<(), FrameError> {
        if depth > MAX_DEPTH {
            return Err(refuse("values nested too deeply"));
        }
        match self.u8()? {
            // undefined, null, false, true
            126 | 127 | 120 | 121 => Ok(()),
            125 => self.var().map(drop),
            124 => self.skip(4),
            122 | 123 => self.skip(8),
            116 => self.buf(),
            119 => self.str(),
            // A map: key and value per entry.
            118 => {
                let n = self.count(2)?;
                for _ in 0..n {
                    self.str()?;
                    self.any(depth + 1)?;
                }
                Ok(())
            }
            117 => {
                let n = self.count(1)?;
                for _ in 0..n {
                    self.any(depth + 1)?;
                }
                Ok(())
            }
            _ => Err(refuse("unknown value type in update")),
        }
    }

    fn delete_set(&mut self) -> Result<(), FrameError> {
        let clients = self.count(2)?;
        for _ in 0..clients {
            self.client()?;
            let ranges = self.count(2)?;
            for _ in 0..ranges {
                self.var()?;
                self.len()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::encoder::Encode;
    use yrs::{Array, Doc, Map, ReadTxn, StateVector, Text, Transact};

    #[test]
    fn real_payloads_pass() {
        let doc = Doc::new();
        let code = doc.get_or_insert_text("code");
        let meta = doc.get_or_insert_map("meta");
        let list = doc.get_or_insert_array("list");
        {
            let mut txn = doc.transact_mut();
            code.insert(&mut txn, 0, "fn main() {}\n");
            code.remove_range(&mut txn, 3, 4);
            meta.insert(&mut txn, "title", "Bug bash");
            meta.insert(
                &mut txn,
                "nested",
                yrs::any!({"a": [1, 2.5, null, true, "x"]}),
            );
            list.insert(&mut txn, 0, yrs::any!([{"deep": [[[1]]]}]));
        }
        let txn = doc.transact();
        update(&txn.encode_state_as_update_v1(&StateVector::default())).expect("update");
        state_vector(&txn.state_vector().encode_v1()).expect("state vector");
    }

    #[test]
    fn counts_larger_than_the_payload_are_refused() {
        // 2^27 state-vector entries declared in four bytes.
        assert!(state_vector(&[0x80, 0x80, 0x80, 0x40, 1, 1]).is_err());
        // As many awareness entries, and as many clients in an update.
        assert!(awareness(&[0x80, 0x80, 0x80, 0x40, 1]).is_err());
        assert!(update(&[0x80, 0x80, 0x80, 0x40, 0, 0, 0]).is_err());
        // One client declaring 2^27 blocks.
        assert!(update(&[1, 0x80, 0x80, 0x80, 0x40, 1, 0, 0]).is_err());
        assert!(state_vector(&[]).is_err());
    }

    #[test]
    fn deeply_nested_values_are_refused() {
        // An item holding one value: an array in an array in an array...
        let mut payload = vec![1, 1, 7, 0, 8, 1, 4, b'c', b'o', b'd', b'e', 1];
        payload.extend(std::iter::repeat_n([117u8, 1], 10_000).flatten());
        payload.push(126);
        payload.push(0);
        assert!(update(&payload).is_err());
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn what_stock_clients_cannot_read_is_refused() {
        // Found by the soak: accepted, stored, and every later sync broke the room.
        let soak = hex("0101a7ce53810302c4a7e5c1810301a7cec1810300016100");
        assert!(update(&soak).is_err());
        // A client id of 2^53 in a state vector and in an update.
        let big = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
        let mut sv = vec![1];
        sv.extend(big);
        sv.push(1);
        assert!(state_vector(&sv).is_err());
        let mut one = vec![1, 1];
        one.extend(big);
        one.extend([0, 4, 1, 4, b'c', b'o', b'd', b'e', 1, b'a', 0]);
        assert!(update(&one).is_err());
        let fine = [1, 1, 5, 0, 4, 1, 4, b'c', b'o', b'd', b'e', 1, b'a', 0];
        assert!(update(&fine).is_ok());
        // Not UTF-8; a content kind with the fifth bit; an empty deleted range.
        let mut bad_utf8 = fine;
        bad_utf8[12] = 0xff;
        assert!(update(&bad_utf8).is_err());
        let mut kind_20 = fine;
        kind_20[4] = 0x14;
        assert!(update(&kind_20).is_err());
        assert!(update(&[0, 1, 5, 1, 0, 0]).is_err());
        assert!(update(&[0, 1, 5, 1, 0, 3]).is_ok());
    }
}
