//! A room's state vector, kept current from each change instead of rebuilt from the
//! document: yrs builds it by visiting every client that ever wrote, and a room that
//! was sent thousands of client ids would pay that on every keystroke (to check what an
//! update builds on) and every join (the sync step 1 sent to newcomers).

use bytes::Bytes;
use yrs::{ClientID, IdSet, ReadTxn, StateVector};

use super::protocol;

/// The document's state vector and, once asked for, its sync step 1 frame.
pub(super) struct Clocks {
    sv: StateVector,
    step1: Option<Bytes>,
}

impl Clocks {
    /// The clocks of a document as it is now.
    pub(super) fn of(txn: &impl ReadTxn) -> Self {
        Self {
            sv: txn.state_vector(),
            step1: None,
        }
    }

    /// How many of `client`'s items the document holds.
    pub(super) fn get(&self, client: u64) -> u64 {
        u64::from(self.sv.get(&ClientID::new(client)))
    }

    /// Takes in what a transaction inserted.
    pub(super) fn advance(&mut self, inserted: &IdSet) {
        for (client, ranges) in inserted.iter() {
            if let Some(end) = ranges.iter().map(|r| r.end).max() {
                self.sv.set_max(*client, end);
                self.step1 = None;
            }
        }
    }

    /// The sync step 1 frame announcing these clocks, encoded once per change.
    pub(super) fn step1(&mut self) -> Bytes {
        self.step1
            .get_or_insert_with(|| protocol::sync_step1(&self.sv))
            .clone()
    }

    /// The state vector itself.
    pub(super) fn state_vector(&self) -> &StateVector {
        &self.sv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, Text, Transact};

    #[test]
    fn clocks_follow_every_change_as_the_document_counts_them() {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("code");
        let mut clocks = Clocks::of(&doc.transact());
        let first = clocks.step1();
        let other = Doc::with_client_id(9);
        let other_text = other.get_or_insert_text("code");
        other_text.insert(&mut other.transact_mut(), 0, "hello");
        let update = other
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        {
            let mut txn = doc.transact_mut();
            txn.apply_update(yrs::Update::decode_v1(&update).unwrap())
                .unwrap();
            clocks.advance(txn.insert_set());
        }
        {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 5, " world");
            clocks.advance(txn.insert_set());
        }
        assert_eq!(text.get_string(&doc.transact()), "hello world");
        assert_eq!(clocks.state_vector(), &doc.transact().state_vector());
        assert_eq!(clocks.get(9), 5);
        assert_eq!(clocks.get(7), 6);
        assert_eq!(clocks.get(3), 0);
        assert_ne!(clocks.step1(), first, "a change makes a new frame");
        assert_eq!(
            clocks.step1(),
            protocol::sync_step1(&doc.transact().state_vector())
        );
    }
}
