//! The y-websocket wire format: decoding what clients send and encoding what the server
//! relays. Decoding happens in the connection task, so a malformed frame costs only its
//! sender and never reaches the room.

use super::preflight;
use bytes::Bytes;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2,
    MSG_SYNC_UPDATE, PERMISSION_DENIED,
};
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{StateVector, Update};

/// A decoded client message the room acts on.
#[derive(Debug)]
pub enum Incoming {
    /// Sync step 1: the client's state vector; answer with what it lacks.
    SyncStep1(StateVector),
    /// Sync step 2 or an update: document changes, with the raw v1 bytes to store and relay.
    Update {
        update: Update,
        raw: Bytes,
        shape: preflight::Shape,
    },
    /// Presence (awareness) changes.
    Awareness(AwarenessUpdate),
    /// A request for every presence state.
    AwarenessQuery,
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The bytes are not a y-websocket message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Decodes one binary WebSocket frame, which may hold several messages back to back.
/// Auth and custom messages are skipped, as the reference server does.
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Incoming>, FrameError> {
    // yrs decoders return errors for bad input, but a panic must still cost only this frame.
    std::panic::catch_unwind(|| decode_messages(frame))
        .unwrap_or_else(|_| Err(FrameError::Malformed("decoder panicked".into())))
}

fn decode_messages(frame: &[u8]) -> Result<Vec<Incoming>, FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Malformed("empty frame".into()));
    }
    // The envelope is read here rather than with yrs' `MessageReader`, which takes a
    // truncated message for the end of the frame and drops it silently.
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::new();
    while cursor.has_content() {
        let tag: u8 = cursor.read_var().map_err(malformed)?;
        match tag {
            MSG_SYNC => out.push(decode_sync(&mut cursor)?),
            MSG_AWARENESS => {
                let payload = cursor.read_buf().map_err(malformed)?;
                preflight::awareness(payload)?;
                let update = AwarenessUpdate::decode_v1(payload).map_err(malformed)?;
                out.push(Incoming::Awareness(update));
            }
            MSG_QUERY_AWARENESS => out.push(Incoming::AwarenessQuery),
            MSG_AUTH => {
                if cursor.read_var::<u8>().map_err(malformed)? == PERMISSION_DENIED {
                    cursor.read_string().map_err(malformed)?;
                }
            }
            // Custom messages carry one length-prefixed payload; skip it.
            _ => {
                cursor.read_buf().map_err(malformed)?;
            }
        }
    }
    Ok(out)
}

fn decode_sync(cursor: &mut Cursor<'_>) -> Result<Incoming, FrameError> {
    let kind: u8 = cursor.read_var().map_err(malformed)?;
    let payload = cursor.read_buf().map_err(malformed)?;
    match kind {
        MSG_SYNC_STEP_1 => {
            preflight::state_vector(payload)?;
            Ok(Incoming::SyncStep1(
                StateVector::decode_v1(payload).map_err(malformed)?,
            ))
        }
        MSG_SYNC_STEP_2 | MSG_SYNC_UPDATE => {
            let shape = preflight::update(payload)?;
            let update = Update::decode_v1(payload).map_err(malformed)?;
            // yrs re-encodes an update it cannot apply yet (its dependencies are missing)
            // and reads it back later, unchecked: one that does not survive that round
            // trip would break the room on its next sync.
            let encoded = update.encode_v1();
            let again = Update::decode_v1(&encoded).map(|again| again.encode_v1());
            if again.ok().as_ref() != Some(&encoded) {
                return Err(FrameError::Malformed(
                    "update does not survive re-encoding".into(),
                ));
            }
            Ok(Incoming::Update {
                update,
                raw: Bytes::copy_from_slice(payload),
                shape,
            })
        }
        other => Err(FrameError::Malformed(format!(
            "unknown sync message type {other}"
        ))),
    }
}

fn malformed(error: impl std::fmt::Display) -> FrameError {
    FrameError::Malformed(error.to_string())
}

/// Sync step 1 carrying the server's state vector.
pub fn sync_step1(sv: &StateVector) -> Bytes {
    exact(Message::Sync(SyncMessage::SyncStep1(sv.clone())).encode_v1())
}

/// Sync step 2 carrying the update a client lacks.
pub fn sync_step2(update: Vec<u8>) -> Bytes {
    exact(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1())
}

/// An update message relaying `raw` (a v1 update) as is, without copying it twice.
pub fn update(raw: &[u8]) -> Bytes {
    // Two one-byte tags and a length of at most 10 bytes.
    let mut frame = Vec::with_capacity(12 + raw.len());
    frame.write_var(MSG_SYNC);
    frame.write_var(MSG_SYNC_UPDATE);
    frame.write_buf(raw);
    frame.into()
}

/// An awareness message.
pub fn awareness(update: AwarenessUpdate) -> Bytes {
    exact(Message::Awareness(update).encode_v1())
}

/// A frame without the spare capacity its encoder grew (at least 1 KiB, or up to as much
/// again as a large message): frames wait in queues, and a room keeps its newcomers' reply.
fn exact(mut frame: Vec<u8>) -> Bytes {
    frame.shrink_to_fit();
    frame.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, GetString, ReadTxn, Text, Transact};

    fn edit(text: &str) -> Vec<u8> {
        let doc = Doc::new();
        let code = doc.get_or_insert_text("code");
        let mut txn = doc.transact_mut();
        code.insert(&mut txn, 0, text);
        txn.encode_update_v1()
    }

    #[test]
    fn update_frames_round_trip() {
        let raw = edit("hello");
        let mut incoming = decode_frame(&update(&raw)).expect("decodes");
        let Some(Incoming::Update {
            update, raw: got, ..
        }) = incoming.pop()
        else {
            panic!("expected an update");
        };
        assert!(incoming.is_empty());
        assert_eq!(got.as_ref(), raw.as_slice());
        let doc = Doc::new();
        let code = doc.get_or_insert_text("code");
        doc.transact_mut().apply_update(update).expect("applies");
        assert_eq!(code.get_string(&doc.transact()), "hello");
    }

    #[test]
    fn several_messages_in_one_frame() {
        let doc = Doc::new();
        let mut frame = sync_step1(&doc.transact().state_vector()).to_vec();
        frame.extend_from_slice(&sync_step2(edit("x")));
        frame.push(3); // query awareness
        let incoming = decode_frame(&frame).expect("decodes");
        assert!(matches!(
            incoming.as_slice(),
            [
                Incoming::SyncStep1(_),
                Incoming::Update { .. },
                Incoming::AwarenessQuery
            ]
        ));
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let valid = update(&edit("hello world"));
        assert!(decode_frame(&[]).is_err());
        assert!(decode_frame(&[0, 2, 200]).is_err(), "length past the end");
        assert!(
            decode_frame(&valid[..valid.len() - 3]).is_err(),
            "truncated"
        );
        assert!(decode_frame(&[0, 9, 1, 2]).is_err(), "unknown sync type");
        assert!(
            decode_frame(&[0, 2, 3, 0xff, 0xff, 0xff]).is_err(),
            "bad update body"
        );
        assert!(
            decode_frame(&[1, 5, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err(),
            "bad awareness"
        );
        // Arbitrary bytes: any answer but a panic is fine.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..2_000 {
            let bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode_frame(&bytes);
        }
    }
}
