//! `POST /api/autocomplete`: local completions, merged with one AI suggestion when a model
//! is configured and answers within its time budget.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::AppError;
use super::json::ApiJson;
use crate::autocomplete::{self, Suggestion, MAX_SUGGESTIONS};
use crate::AppState;

/// How long a request waits for a free autocomplete worker before it gets 503.
const AUTOCOMPLETE_QUEUE_WAIT: Duration = Duration::from_millis(250);

/// Body of `POST /api/autocomplete`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    /// The whole document.
    pub code: String,
    /// Cursor position as a UTF-16 offset (JavaScript string index).
    pub cursor: usize,
    /// Editor language id; unknown ones get word completion.
    #[serde(default)]
    pub language: String,
    /// The room (by either of its links) whose project's other files offer their names
    /// too.
    #[serde(default)]
    pub room: Option<Uuid>,
    /// The file being edited, in that room (its own names come from `code`).
    #[serde(default)]
    pub file: Option<Uuid>,
}

/// Answer of `POST /api/autocomplete`.
#[derive(Debug, Serialize)]
pub struct Completions {
    suggestions: Vec<Suggestion>,
}

/// Completes at the cursor.
pub async fn complete(
    State(state): State<AppState>,
    caller: super::access::Caller,
    ApiJson(request): ApiJson<CompletionRequest>,
) -> Result<Json<Completions>, AppError> {
    let out_of_range = |e: autocomplete::CompleteError| AppError::Unprocessable(e.to_string());
    // Start the model first so that it works while the local engine runs.
    let ai = match state.ai.clone() {
        Some(client) => {
            let byte =
                autocomplete::utf16_to_byte(&request.code, request.cursor).map_err(out_of_range)?;
            let before = request.code[..byte].to_string();
            let after = request.code[byte..].to_string();
            let language = request.language.clone();
            Some(tokio::spawn(async move {
                client.suggest(&before, &after, &language).await
            }))
        }
        None => None,
    };
    // Completing scans the whole document: it runs on the blocking pool, a few at a time,
    // so that a burst of large requests cannot hold the workers that relay edits.
    let permit = tokio::time::timeout(
        AUTOCOMPLETE_QUEUE_WAIT,
        state.autocomplete_slots.clone().acquire_owned(),
    )
    .await
    .map_err(|_| AppError::Busy("autocomplete is busy; try again in a moment"))?
    .map_err(|_| AppError::Unavailable("server is shutting down"))?;
    let CompletionRequest {
        code,
        cursor,
        language,
        room,
        file,
    } = request;
    let opens = |link: Uuid| (caller.identity.as_ref()).is_none_or(|who| who.may_open(link));
    let room = match room {
        Some(link) if opens(link) => super::access::room_of(&state, link).await?,
        _ => None,
    };
    let project = room.map(|room| state.project_names.names(room, &state.store));
    let mut suggestions = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let names = project.as_deref().map_or(&[][..], Vec::as_slice);
        autocomplete::complete_in(&code, cursor, &language, names, file)
    })
    .await
    .map_err(|_| AppError::Unavailable("autocomplete failed"))?
    .map_err(out_of_range)?;
    if let Some(task) = ai {
        match task.await {
            Ok(Ok(Some(suggestion))) => {
                suggestions.insert(0, suggestion);
                suggestions.truncate(MAX_SUGGESTIONS);
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::info!(%error, "AI suggestion skipped"),
            Err(error) => tracing::warn!(%error, "AI suggestion task failed"),
        }
    }
    Ok(Json(Completions { suggestions }))
}
