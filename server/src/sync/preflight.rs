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

/// What an update builds on: the clock ranges it holds per client, and the items of other
/// clients it refers to. The room applies it only if it has all of that, so nothing ever
/// waits in the document for missing pieces (see [`Shape::needs_only`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Client id, first clock and end clock of each client's section.
    pub sections: Vec<(u64, u64, u64)>,
    /// Items referred to (origins, parents): client id and clock. Skipped ranges inside a
    /// section count as references to their last clock.
    pub refs: Vec<(u64, u64)>,
}

impl Shape {
    /// Whether a document whose state vector says `have(client)` clocks are present holds
    /// everything this update builds on.
    pub fn needs_only(&self, have: impl Fn(u64) -> u64) -> bool {
        let covered = |client: u64| {
            let mut end = have(client);
            for &(c, start, stop) in &self.sections {
                if c == client && start <= end {
                    end = end.max(stop);
                }
            }
            end
        };
        self.sections
            .iter()
            .all(|&(client, start, _)| start <= have(client))
            && self
                .refs
                .iter()
                .all(|&(client, clock)| clock < covered(client))
    }
}

/// Checks a v1 update and returns its [`Shape`].
pub fn update(payload: &[u8]) -> Result<Shape, FrameError> {
    let mut r = Reader::new(payload);
    let mut shape = Shape::default();
    // Each client's section: block count, client id and first clock, a byte at least each.
    let clients = r.count(3)?;
    for _ in 0..clients {
        let blocks = r.count(1)?;
        let client = r.client()?;
        let start = r.clock()?;
        let mut clock = start;
        for _ in 0..blocks {
            let len = r.block(client, clock, &mut shape.refs)?;
            clock = in_clock_range(clock.saturating_add(len))?;
        }
        shape.sections.push((client, start, clock));
    }
    r.delete_set(&mut shape.refs)?;
    Ok(shape)
}

/// Checks a v1 state vector.
pub fn state_vector(payload: &[u8]) -> Result<(), FrameError> {
    let mut r = Reader::new(payload);
    let entries = r.count(2)?;
    for _ in 0..entries {
        r.client()?;
        r.clock()?;
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
        r.clock()?;
        r.buf()?;
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// `clock` if it fits in the 32 bits yrs counts clocks in.
fn in_clock_range(clock: u64) -> Result<u64, FrameError> {
    if clock > u64::from(u32::MAX) {
        return Err(refuse("clock out of range"));
    }
    Ok(clock)
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

    /// A clock: yrs counts them in 32 bits.
    fn clock(&mut self) -> Result<u64, FrameError> {
        in_clock_range(self.var()?)
    }

    /// A length that must not be zero.
    fn len(&mut self) -> Result<u64, FrameError> {
        match self.var()? {
            0 => Err(refuse("empty range in update")),
            len => Ok(len),
        }
    }

    /// A length-prefixed UTF-8 string; returns its length in UTF-16 units, as Yjs counts.
    fn str(&mut self) -> Result<u64, FrameError> {
        let len = self.count(1)?;
        let start = self.at;
        self.skip(len)?;
        std::str::from_utf8(&self.bytes[start..self.at])
            .map(|text| text.encode_utf16().count() as u64)
            .map_err(|_| refuse("string in update is not UTF-8"))
    }

    /// An item's id it refers to: an earlier item of its own client, or one of another
    /// client, recorded in `refs`. An item cannot build on itself or on a later one
    /// (a stock client fails on such an update, and yrs may too).
    fn reference(
        &mut self,
        client: u64,
        clock: u64,
        refs: &mut Vec<(u64, u64)>,
    ) -> Result<(), FrameError> {
        let (to_client, to_clock) = (self.client()?, self.clock()?);
        if to_client == client {
            if to_clock >= clock {
                return Err(refuse("an item refers to itself or to a later item"));
            }
        } else {
            refs.push((to_client, to_clock));
        }
        Ok(())
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

    /// One block of `client` at `clock`; returns its length in clocks.
    fn block(
        &mut self,
        client: u64,
        clock: u64,
        refs: &mut Vec<(u64, u64)>,
    ) -> Result<u64, FrameError> {
        const HAS_ORIGIN: u8 = 0b1000_0000;
        const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
        const HAS_PARENT_SUB: u8 = 0b0010_0000;
        let info = self.u8()?;
        // GC and skip ranges: a length. What a skip leaves out must be there already.
        if info == 0 {
            return self.len();
        }
        if info == 10 {
            let len = self.len()?;
            refs.push((client, clock.saturating_add(len - 1)));
            return Ok(len);
        }
        // Yjs reads the content kind from five bits, yrs from four: a kind of 16 or more
        // is unknown to Yjs, whatever yrs makes of it.
        if info & 0b1_0000 != 0 {
            return Err(refuse("unknown content in update"));
        }
        if info & HAS_ORIGIN != 0 {
            self.reference(client, clock, refs)?;
        }
        if info & HAS_RIGHT_ORIGIN != 0 {
            self.reference(client, clock, refs)?;
        }
        if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
            if self.var()? == 1 {
                self.str()?; // a root type's name
            } else {
                self.reference(client, clock, refs)?; // the parent item
            }
            if info & HAS_PARENT_SUB != 0 {
                self.str()?;
            }
        }
        self.content(info & 0b1111)
    }

    /// An item's content; returns its length in clocks.
    fn content(&mut self, kind: u8) -> Result<u64, FrameError> {
        match kind {
            // Deleted: a length.
            1 => self.len(),
            // Legacy JSON content: Yjs has not written it since version 13, and yrs reads
            // one string more than declared and writes that count back, so an update
            // holding it does not read back the same.
            2 => Err(refuse("legacy JSON content is not accepted")),
            // Binary.
            3 => self.buf().map(|()| 1),
            // String (one clock per UTF-16 unit), embed (JSON text).
            4 => match self.str()? {
                0 => Err(refuse("empty range in update")),
                len => Ok(len),
            },
            5 => self.str().map(|_| 1),
            // Format: key and JSON value.
            6 => {
                self.str()?;
                self.str().map(|_| 1)
            }
            // A type: its kind, and the tag name of XML elements. No weak links.
            7 => match self.u8()? {
                3 => self.str().map(|_| 1),
                0..=2 | 4..=6 | 9 | 15 => Ok(1),
                _ => Err(refuse("unsupported type in update")),
            },
            // Values.
            8 => {
                let n = self.count(1)?;
                if n == 0 {
                    return Err(refuse("empty range in update"));
                }
                for _ in 0..n {
                    self.any(0)?;
                }
                Ok(n as u64)
            }
            // A subdocument: its id and options.
            9 => {
                self.str()?;
                self.any(0).map(|()| 1)
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
            119 => self.str().map(drop),
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

    /// The deleted ranges, each a reference to its last item: deleting what the room does
    /// not have is forged too (yrs would keep it aside and fold it into every sync).
    fn delete_set(&mut self, refs: &mut Vec<(u64, u64)>) -> Result<(), FrameError> {
        let clients = self.count(2)?;
        for _ in 0..clients {
            let client = self.client()?;
            let ranges = self.count(2)?;
            for _ in 0..ranges {
                let start = self.clock()?;
                let end = in_clock_range(start.saturating_add(self.len()?))?;
                refs.push((client, end.saturating_sub(1)));
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

    #[test]
    fn items_build_only_on_earlier_items_and_on_what_the_room_has() {
        // Found by the soak: a string item whose origin is a later item of its own
        // client. yrs held it aside and relayed it; stock Yjs clients threw on it.
        let forged = hex("0101bbb0c6810302c4bbb0c6810347bbb0c6810300010a00");
        assert!(update(&forged).is_err());
        // Client 5 types "ab" after client 7's item 3.
        let after_seven = [1, 1, 5, 0, 0x84, 7, 3, 2, b'a', b'b', 0];
        let shape = update(&after_seven).expect("well formed");
        assert_eq!(shape.sections, vec![(5, 0, 2)]);
        assert_eq!(shape.refs, vec![(7, 3)]);
        assert!(shape.needs_only(|c| if c == 7 { 4 } else { 0 }));
        assert!(!shape.needs_only(|c| if c == 7 { 3 } else { 0 }));
        // A section that starts past what the room has of that client.
        let mut gap = after_seven;
        gap[3] = 2;
        let shape = update(&gap).expect("well formed");
        assert!(!shape.needs_only(|c| if c == 7 { 4 } else { 1 }));
        assert!(shape.needs_only(|c| if c == 7 { 4 } else { 2 }));
    }

    #[test]
    fn clocks_past_32_bits_are_refused() {
        // A state vector entry with clock 2^32 (yrs keeps clocks in 32 bits).
        assert!(state_vector(&[1, 5, 0x80, 0x80, 0x80, 0x80, 0x10]).is_err());
        assert!(state_vector(&[1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_ok());
        // A delete range running past it.
        assert!(update(&[0, 1, 5, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 2]).is_err());
    }
}
