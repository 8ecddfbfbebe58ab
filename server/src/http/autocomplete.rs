//! `POST /api/autocomplete`: local completions, merged with one AI suggestion when a model
//! is configured and answers within its time budget.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::AppError;
use super::json::ApiJson;
use crate::autocomplete::{self, Suggestion, MAX_SUGGESTIONS};
use crate::AppState;

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
}

/// Answer of `POST /api/autocomplete`.
#[derive(Debug, Serialize)]
pub struct Completions {
    suggestions: Vec<Suggestion>,
}

/// Completes at the cursor.
pub async fn complete(
    State(state): State<AppState>,
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
    let mut suggestions = autocomplete::complete(&request.code, request.cursor, &request.language)
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
