//! Frames held back until what they may contain is durable.
//!
//! The room applies an update at once but relays it (and answers any sync request that
//! could include it) only once the store has committed it. Each such frame waits here with
//! the number of the last update it may contain; [`Outbox::release`] hands back, in the
//! order they were pushed, every frame whose update is durable, with consecutive updates
//! from one sender merged into one, so that a group commit releasing many updates at once
//! does not flood the peers' queues.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use super::ConnId;

/// A frame to send once the update numbered with it is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// An update (v1 bytes) to everyone but its sender.
    Relay { from: ConnId, update: Bytes },
    /// A frame (a sync reply) to one connection.
    Reply { to: ConnId, frame: Bytes },
}

/// Deliveries waiting for the store, in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    held: VecDeque<(u64, Delivery)>,
    /// Bytes of the replies held.
    reply_bytes: usize,
    /// Connections with a reply held.
    awaiting_reply: HashSet<ConnId>,
}

impl Outbox {
    /// Queues `delivery`, which may contain update `seq`. When nothing is held and that
    /// update is already `durable`, it is handed straight back to be sent now.
    pub(crate) fn push(&mut self, seq: u64, delivery: Delivery, durable: u64) -> Option<Delivery> {
        if self.held.is_empty() && seq <= durable {
            return Some(delivery);
        }
        if let Delivery::Reply { to, frame } = &delivery {
            self.reply_bytes += frame.len();
            self.awaiting_reply.insert(*to);
        }
        self.held.push_back((seq, delivery));
        None
    }

    /// Takes every delivery whose update is at most `durable`, in order, merging runs of
    /// updates from one sender.
    pub(crate) fn release(&mut self, durable: u64) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut run: Vec<Bytes> = Vec::new();
        let mut run_from = None;
        while self.held.front().is_some_and(|(seq, _)| *seq <= durable) {
            let Some((_, delivery)) = self.held.pop_front() else {
                break;
            };
            match delivery {
                Delivery::Relay { from, update } => {
                    if run_from.is_some_and(|f| f != from) {
                        flush_run(&mut out, run_from, &mut run);
                    }
                    run_from = Some(from);
                    run.push(update);
                }
                Delivery::Reply { to, frame } => {
                    flush_run(&mut out, run_from.take(), &mut run);
                    self.reply_bytes = self.reply_bytes.saturating_sub(frame.len());
                    self.awaiting_reply.remove(&to);
                    out.push(Delivery::Reply { to, frame });
                }
            }
        }
        flush_run(&mut out, run_from, &mut run);
        out
    }

    /// Whether a reply to `conn` is held.
    pub(crate) fn awaits_reply(&self, conn: ConnId) -> bool {
        self.awaiting_reply.contains(&conn)
    }

    /// Bytes of the replies held.
    pub(crate) fn reply_bytes(&self) -> usize {
        self.reply_bytes
    }

    /// Drops everything held.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Appends the run of updates from `from` to `out` as one relay (or, should yrs fail to
/// merge them, as many).
fn flush_run(out: &mut Vec<Delivery>, from: Option<ConnId>, run: &mut Vec<Bytes>) {
    let Some(from) = from else {
        return;
    };
    let updates = std::mem::take(run);
    if updates.len() > 1 {
        match yrs::merge_updates_v1(&updates) {
            Ok(merged) => {
                out.push(Delivery::Relay {
                    from,
                    update: Bytes::from(merged),
                });
                return;
            }
            Err(error) => tracing::warn!(%error, "relaying unmerged updates"),
        }
    }
    out.extend(
        updates
            .into_iter()
            .map(|update| Delivery::Relay { from, update }),
    );
}

#[cfg(test)]
mod tests {
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, Text, Transact, Update};

    use super::*;

    /// Updates that type `words` one after another into `code`, by one client.
    fn typed(words: &[&str]) -> Vec<Bytes> {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("code");
        words
            .iter()
            .map(|word| {
                let mut txn = doc.transact_mut();
                let end = text.len(&txn);
                text.insert(&mut txn, end, word);
                Bytes::from(txn.encode_update_v1())
            })
            .collect()
    }

    fn text_of(updates: &[&Bytes]) -> String {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("code");
        let mut txn = doc.transact_mut();
        for update in updates {
            txn.apply_update(Update::decode_v1(update).unwrap())
                .unwrap();
        }
        text.get_string(&txn)
    }

    fn reply(to: ConnId, frame: &'static [u8]) -> Delivery {
        Delivery::Reply {
            to,
            frame: Bytes::from_static(frame),
        }
    }

    #[test]
    fn a_durable_delivery_with_nothing_held_goes_at_once() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.push(3, reply(1, b"r"), 3), Some(reply(1, b"r")));
        assert!(!outbox.awaits_reply(1));
        assert_eq!(outbox.push(4, reply(1, b"r"), 3), None);
        assert!(outbox.awaits_reply(1));
        // Durable, but behind a held one: it waits its turn.
        assert_eq!(outbox.push(2, reply(2, b"s"), 3), None);
        assert_eq!(outbox.release(4), vec![reply(1, b"r"), reply(2, b"s")]);
        assert!(!outbox.awaits_reply(1));
        assert_eq!(outbox.reply_bytes(), 0);
    }

    #[test]
    fn only_durable_deliveries_are_released_and_in_the_order_pushed() {
        let mut outbox = Outbox::default();
        outbox.push(1, reply(1, b"a"), 0);
        outbox.push(2, reply(2, b"bb"), 0);
        outbox.push(3, reply(3, b"ccc"), 0);
        assert_eq!(outbox.reply_bytes(), 6);
        assert_eq!(outbox.release(0), vec![]);
        assert_eq!(outbox.release(2), vec![reply(1, b"a"), reply(2, b"bb")]);
        assert_eq!(outbox.reply_bytes(), 3);
        assert!(outbox.awaits_reply(3));
        assert_eq!(outbox.release(9), vec![reply(3, b"ccc")]);
        assert_eq!(outbox.release(9), vec![]);
    }

    #[test]
    fn consecutive_updates_from_one_sender_go_as_one_merged_update() {
        let updates = typed(&["fn ", "main", "() {}"]);
        let mut outbox = Outbox::default();
        for (seq, update) in (1..).zip(&updates) {
            let relay = Delivery::Relay {
                from: 5,
                update: update.clone(),
            };
            assert_eq!(outbox.push(seq, relay, 0), None);
        }
        let released = outbox.release(3);
        let [Delivery::Relay { from: 5, update }] = released.as_slice() else {
            panic!("expected one relay, got {released:?}");
        };
        assert_eq!(text_of(&[update]), "fn main() {}");
    }

    #[test]
    fn a_reply_or_another_sender_ends_a_run() {
        let updates = typed(&["a", "b", "c", "d"]);
        let relay = |from, i: usize| Delivery::Relay {
            from,
            update: updates[i].clone(),
        };
        let mut outbox = Outbox::default();
        outbox.push(1, relay(5, 0), 0);
        outbox.push(2, relay(5, 1), 0);
        outbox.push(2, reply(9, b"sync"), 0);
        outbox.push(3, relay(5, 2), 0);
        outbox.push(4, relay(6, 3), 0);
        let released = outbox.release(4);
        let senders: Vec<_> = released
            .iter()
            .map(|d| match d {
                Delivery::Relay { from, .. } => format!("relay from {from}"),
                Delivery::Reply { to, .. } => format!("reply to {to}"),
            })
            .collect();
        assert_eq!(
            senders,
            ["relay from 5", "reply to 9", "relay from 5", "relay from 6"]
        );
        let Delivery::Relay { update: first, .. } = &released[0] else {
            unreachable!()
        };
        assert_eq!(text_of(&[first]), "ab");
    }

    #[test]
    fn updates_that_cannot_be_merged_go_one_by_one() {
        let junk = [Bytes::from_static(b"\xff"), Bytes::from_static(b"\xfe")];
        let mut outbox = Outbox::default();
        for (seq, update) in (1..).zip(&junk) {
            outbox.push(
                seq,
                Delivery::Relay {
                    from: 1,
                    update: update.clone(),
                },
                0,
            );
        }
        let released = outbox.release(2);
        assert_eq!(released.len(), 2);
    }
}
