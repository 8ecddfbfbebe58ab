//! Creating a room, for every front end: the REST API (`POST /api/rooms`) and the desktop
//! app, which hosts through the library. Validation, the first document and the store
//! write are here, so that all of them create the same room.

use uuid::Uuid;

use crate::meta::{check_language, check_title, DEFAULT_LANGUAGE, DEFAULT_TITLE};
use crate::paths::{first_file_path, ProjectPath};
use crate::store::{now_millis, NewRoom, Store, StoreError};
use crate::sync::document;

/// Why a room was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The title or language breaks the rules in [`crate::meta`].
    #[error("{0}")]
    Invalid(&'static str),
    /// The store could not write the room.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new room as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Its id (which names its first file; no link).
    pub id: Uuid,
    /// Its edit link's id: `/r/{edit_id}`.
    pub edit_id: Uuid,
    /// Its view link's id: `/v/{view_id}`.
    pub view_id: Uuid,
    /// The key that lets its holder rename the room, change who may edit, replace its
    /// links and delete it. Only its hash is stored: this is the one time it is known.
    pub owner_key: String,
    /// The title it got (trimmed; "Untitled" when none was given).
    pub title: String,
    /// The language it got (`plaintext` when none was given).
    pub language: String,
}

/// Creates a room whose document starts with `meta.title` and `meta.language` set.
pub async fn create(
    store: &dyn Store,
    title: Option<&str>,
    language: Option<&str>,
) -> Result<Created, CreateError> {
    let language = language_of(language)?;
    let path = ProjectPath::parse(&first_file_path(&language))
        .map_err(|_| CreateError::Invalid("no file name fits the language"))?;
    create_with(store, title, language, path, "").await
}

/// Creates a room whose first file is `path` holding `text`, in the language its
/// extension implies (a shared folder's).
pub async fn create_project(
    store: &dyn Store,
    title: Option<&str>,
    path: ProjectPath,
    text: &str,
) -> Result<Created, CreateError> {
    let language = path.language().to_string();
    create_with(store, title, language, path, text).await
}

async fn create_with(
    store: &dyn Store,
    title: Option<&str>,
    language: String,
    path: ProjectPath,
    text: &str,
) -> Result<Created, CreateError> {
    let title = title_of(title)?;
    let id = Uuid::new_v4();
    let (owner_key, owner_key_hash) = crate::access::new_owner_key();
    let room = NewRoom {
        id,
        edit_id: Uuid::new_v4(),
        view_id: Uuid::new_v4(),
        owner_key_hash,
        snapshot: document::initial_update(id, path.as_str(), &title, &language, text),
        path,
        text: text.to_string(),
        title,
        language,
        created_at: now_millis(),
    };
    store.create_room(&room).await?;
    Ok(Created {
        id: room.id,
        edit_id: room.edit_id,
        view_id: room.view_id,
        owner_key,
        title: room.title,
        language: room.language,
    })
}

/// The title trimmed and checked; "Untitled" when none was given.
pub(crate) fn title_of(title: Option<&str>) -> Result<String, CreateError> {
    let title = title.map(str::trim).unwrap_or_default();
    check_title(title).map_err(CreateError::Invalid)?;
    Ok(if title.is_empty() {
        DEFAULT_TITLE.into()
    } else {
        title.into()
    })
}

/// The language checked; `plaintext` when none was given.
fn language_of(language: Option<&str>) -> Result<String, CreateError> {
    let language = language.unwrap_or(DEFAULT_LANGUAGE);
    check_language(language).map_err(CreateError::Invalid)?;
    Ok(language.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_languages_are_checked() {
        assert_eq!(title_of(None).unwrap(), "Untitled");
        assert_eq!(title_of(Some("  Bug bash ")).unwrap(), "Bug bash");
        assert!(title_of(Some(&"x".repeat(201))).is_err());
        assert!(title_of(Some("a\u{0}b")).is_err());
        assert_eq!(language_of(None).unwrap(), "plaintext");
        for ok in ["rust", "c++", "c#", "objective-c", "x86_64"] {
            assert_eq!(language_of(Some(ok)).unwrap(), ok);
        }
        for bad in ["", "Rust", "<script>", "a b", &"x".repeat(33)] {
            assert!(language_of(Some(bad)).is_err(), "{bad}");
        }
    }
}
