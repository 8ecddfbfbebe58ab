//! Finding the room a link names, and what a request may do there (see
//! [`crate::access`]).

use axum::http::HeaderMap;
use uuid::Uuid;

use super::error::AppError;
use super::rooms::parse_room_id;
use crate::access::{Grant, Via, OWNER_KEY_HEADER};
use crate::AppState;

/// The owner key a REST request carries in its `Pairpad-Owner-Key` header.
pub fn owner_key(headers: &HeaderMap) -> Option<&str> {
    headers.get(OWNER_KEY_HEADER)?.to_str().ok()
}

/// What a request that came by link `raw` (a path segment), as `via`, showing
/// `owner_key`, may do; 400 for a malformed link, 404 when no room has it.
pub async fn grant(
    state: &AppState,
    raw: &str,
    via: Via,
    owner_key: Option<&str>,
) -> Result<Grant, AppError> {
    let link = parse_room_id(raw)?;
    let links = (state.store.find_link(link).await?).ok_or(AppError::RoomNotFound)?;
    Grant::new(links, link, via, owner_key).ok_or(AppError::RoomNotFound)
}

/// The room that link `link` (edit or view) opens, for requests that only read names
/// from it; `None` when no room has it.
pub async fn room_of(state: &AppState, link: Uuid) -> Result<Option<Uuid>, AppError> {
    Ok(state.store.find_link(link).await?.map(|links| links.room))
}

/// 403 unless `grant` may change the room's files.
pub fn need_edit(grant: &Grant) -> Result<(), AppError> {
    match grant.can_edit() {
        true => Ok(()),
        false if grant.via == Via::View => Err(AppError::Forbidden(
            "this is a view link: it can read the room but not change it".into(),
        )),
        false => Err(AppError::Forbidden(
            "the room's owner has made it view-only".into(),
        )),
    }
}

/// 403 unless `grant` holds the room's owner key.
pub fn need_owner(grant: &Grant) -> Result<(), AppError> {
    match (grant.owner, &grant.links.owner_key_hash) {
        (true, _) => Ok(()),
        (false, None) => Err(AppError::Forbidden(
            "this room has no owner key: it was made by an older version of Pairpad".into(),
        )),
        (false, Some(_)) => Err(AppError::Forbidden(
            "this needs the room's owner key (header Pairpad-Owner-Key)".into(),
        )),
    }
}
