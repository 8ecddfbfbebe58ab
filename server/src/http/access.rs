//! Finding the room a link names, and what a request may do there (see
//! [`crate::access`]).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use uuid::Uuid;

use super::error::AppError;
use super::rooms::parse_room_id;
use super::signin::SignedIn;
use crate::access::{Grant, Via, OWNER_KEY_HEADER};
use crate::auth::Identity;
use crate::AppState;

/// The owner key a REST request carries in its `Pairpad-Owner-Key` header.
pub fn owner_key(headers: &HeaderMap) -> Option<&str> {
    headers.get(OWNER_KEY_HEADER)?.to_str().ok()
}

/// Who a request says it is: the owner key it shows, and the identity its token proved
/// (when sign-in is on).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The owner key shown, if any.
    pub owner_key: Option<String>,
    /// Who signed in.
    pub identity: SignedIn,
    /// Where the request comes from.
    pub address: Option<std::net::IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            owner_key: owner_key(&parts.headers).map(str::to_string),
            identity: parts.extensions.get::<Arc<Identity>>().cloned(),
            address: crate::net::peer_of(&parts.extensions).map(|peer| peer.ip()),
        })
    }
}

/// What a request that came by link `raw` (a path segment), as `via`, may do; 400 for a
/// malformed link, 404 when no room has it, 403 when the caller's sign-in does not open
/// it.
pub async fn grant(
    state: &AppState,
    raw: &str,
    via: Via,
    caller: &Caller,
) -> Result<Grant, AppError> {
    let link = parse_room_id(raw)?;
    let links = (state.store.find_link(link).await?).ok_or(AppError::RoomNotFound)?;
    let mut grant =
        Grant::new(links, link, via, caller.owner_key.as_deref()).ok_or(AppError::RoomNotFound)?;
    if let Some(identity) = &caller.identity {
        if !identity.may_open(link) {
            return Err(AppError::Forbidden(
                "your sign-in does not open this room".into(),
            ));
        }
        grant.sign_in(identity);
    }
    // The desktop app's host may ask before anyone comes in: the others knock first.
    if let (Some(lobby), Some(address)) = (&state.lobby, caller.address) {
        if !grant.owner && !lobby.lets_in(address) {
            return Err(AppError::Forbidden(
                "the host lets people in one by one: ask to join at /join".into(),
            ));
        }
    }
    Ok(grant)
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
        false if grant.view_only_sign_in => Err(AppError::Forbidden(
            "your sign-in lets you view rooms, not change them".into(),
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
        (false, Some(_)) if grant.view_only_sign_in => Err(AppError::Forbidden(
            "your sign-in lets you view rooms, not manage them".into(),
        )),
        (false, None) => Err(AppError::Forbidden(
            "this room has no owner key: it was made by an older version of Pairpad".into(),
        )),
        (false, Some(_)) => Err(AppError::Forbidden(
            "this needs the room's owner key (header Pairpad-Owner-Key)".into(),
        )),
    }
}
