//! The completion engine behind `POST /api/autocomplete`: language keywords, built-ins and
//! snippets, plus names from the document itself (comments and strings skipped), members
//! after `obj.`, ranked by fuzzy match, frequency, nearness to the cursor and kind.
//! An optional OpenAI-compatible model adds one suggestion ([`ai`]).

pub mod ai;
pub mod index;
pub mod languages;
pub mod scan;

use std::cell::RefCell;
use std::collections::HashMap;

use nucleo_matcher::pattern::{Atom, AtomKind, CaseMatching, Normalization};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use serde::Serialize;

use languages::Language;
use scan::{Place, TokenKind};

/// Most suggestions returned for one request.
pub const MAX_SUGGESTIONS: usize = 50;

/// What a suggestion is; serialized in lower case for CodeMirror's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A function or method.
    Function,
    /// A variable, constant or value.
    Variable,
    /// A class, struct, type or module.
    Class,
    /// A reserved word.
    Keyword,
    /// A template with tab stops.
    Snippet,
    /// A member (field, property).
    Property,
    /// A suggestion from the language model.
    Ai,
}

impl Kind {
    /// Of two kinds guessed for one name, the more specific.
    pub fn stronger(self, other: Kind) -> Kind {
        let rank = |k: Kind| match k {
            Kind::Class => 4,
            Kind::Function => 3,
            Kind::Property => 2,
            Kind::Variable => 1,
            Kind::Keyword | Kind::Snippet | Kind::Ai => 0,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    /// What the popup shows.
    pub label: String,
    /// What it is.
    pub kind: Kind,
    /// A short note (where it comes from, or what a snippet does).
    pub detail: String,
    /// Text to insert; a CodeMirror snippet template when `kind` is `snippet`.
    pub insert_text: String,
}

/// Why a request cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteError {
    /// The cursor is past the end of the code.
    #[error("cursor {cursor} is out of range: the code is {len} UTF-16 code units long")]
    CursorOutOfRange {
        /// The cursor given.
        cursor: usize,
        /// The length of the code in UTF-16 code units.
        len: usize,
    },
}

/// Converts a UTF-16 offset (as JavaScript counts) into a byte offset. An offset inside a
/// surrogate pair moves to the start of that character.
pub fn utf16_to_byte(code: &str, cursor: usize) -> Result<usize, CompleteError> {
    let mut units = 0;
    for (byte, ch) in code.char_indices() {
        if units >= cursor {
            return Ok(byte);
        }
        units += ch.len_utf16();
        if units > cursor {
            return Ok(byte);
        }
    }
    if units >= cursor {
        Ok(code.len())
    } else {
        Err(CompleteError::CursorOutOfRange { cursor, len: units })
    }
}

thread_local! {
    static MATCHER: RefCell<Matcher> = RefCell::new(Matcher::new({
        let mut config = Config::DEFAULT;
        config.prefer_prefix = true;
        config
    }));
}

/// A scored candidate before deduplication.
struct Candidate<'a> {
    label: &'a str,
    kind: Kind,
    detail: &'a str,
    insert: &'a str,
    weight: i64,
}

/// Completions for `code` at UTF-16 offset `cursor` in `language` (unknown languages get
/// plain word completion).
pub fn complete(
    code: &str,
    cursor: usize,
    language: &str,
) -> Result<Vec<Suggestion>, CompleteError> {
    let cursor = utf16_to_byte(code, cursor)?;
    let lang = languages::find(language).unwrap_or(&languages::PLAIN);
    let extra = lang.syntax.ident_extra;
    let prefix_start = code[..cursor]
        .char_indices()
        .rev()
        .take_while(|(_, c)| scan::is_ident_char(*c, extra))
        .last()
        .map_or(cursor, |(i, _)| i);
    let prefix = &code[prefix_start..cursor];
    let scanned = scan::scan(code, &lang.syntax, cursor);
    if scanned.place != Place::Code {
        return Ok(Vec::new());
    }
    let tokens = &scanned.tokens;
    let at = tokens.partition_point(|t| t.start < prefix_start);
    let typing = tokens
        .get(at)
        .filter(|t| t.start == prefix_start && !prefix.is_empty())
        .map(|_| at);
    let doc = index::build(tokens, lang, cursor, typing);

    // After `obj.` (or `->`, `::`): `Some(receiver name, if it is a plain name)`.
    let member_of = at
        .checked_sub(1)
        .map(|m| tokens[m])
        .filter(|op| op.kind == TokenKind::Member && op.end() == prefix_start)
        .map(|_| {
            at.checked_sub(2)
                .map(|r| tokens[r])
                .filter(|r| r.kind == TokenKind::Ident)
                .map(|r| r.text)
        });
    let mut candidates = Vec::new();
    match member_of {
        Some(receiver) => member_candidates(&doc, receiver, &mut candidates),
        None => general_candidates(&doc, lang, &mut candidates),
    }
    Ok(rank(prefix, candidates))
}

fn member_candidates<'a>(
    doc: &'a index::DocIndex<'a>,
    receiver: Option<&str>,
    out: &mut Vec<Candidate<'a>>,
) {
    let known = receiver.map(|r| doc.members_of(r)).unwrap_or_default();
    if !known.is_empty() {
        for (name, kind) in known {
            let count = doc.all_members.get(name).map_or(1, |(_, c)| *c);
            out.push(Candidate {
                label: name,
                kind,
                detail: "member",
                insert: name,
                weight: 150 + frequency(count),
            });
        }
        return;
    }
    // Nothing known about this receiver: every member the document uses, ranked lower.
    for (name, (kind, count)) in &doc.all_members {
        out.push(Candidate {
            label: name,
            kind: *kind,
            detail: "member in this file",
            insert: name,
            weight: 60 + frequency(*count),
        });
    }
}

fn general_candidates<'a>(
    doc: &index::DocIndex<'a>,
    lang: &'static Language,
    out: &mut Vec<Candidate<'a>>,
) {
    for (name, info) in &doc.names {
        if lang.keywords.contains(name) || lang.builtins().any(|(b, _)| b == *name) {
            continue;
        }
        let (weight, detail) = if info.defined {
            (120, "defined in this file")
        } else {
            (90, "in this file")
        };
        let near = 100 - (info.distance.min(20_000) as i64 * 100 / 20_000);
        out.push(Candidate {
            label: name,
            kind: info.kind,
            detail,
            insert: name,
            weight: weight + frequency(info.count) + near,
        });
    }
    for keyword in lang.keywords {
        out.push(Candidate {
            label: keyword,
            kind: Kind::Keyword,
            detail: "keyword",
            insert: keyword,
            weight: 60,
        });
    }
    for (name, kind) in lang.builtins() {
        out.push(Candidate {
            label: name,
            kind,
            detail: "built-in",
            insert: name,
            weight: 70,
        });
    }
    for snippet in lang.snippets {
        out.push(Candidate {
            label: snippet.label,
            kind: Kind::Snippet,
            detail: snippet.detail,
            insert: snippet.template,
            weight: 50,
        });
    }
}

fn frequency(count: u32) -> i64 {
    i64::from(count.min(16)) * 6
}

/// Scores candidates against `prefix`, drops non-matches and the exact word typed,
/// deduplicates by label (snippets apart) and keeps the best [`MAX_SUGGESTIONS`].
fn rank(prefix: &str, candidates: Vec<Candidate<'_>>) -> Vec<Suggestion> {
    let atom = Atom::new(
        prefix,
        CaseMatching::Smart,
        Normalization::Smart,
        AtomKind::Fuzzy,
        false,
    );
    let lower_prefix = prefix.to_lowercase();
    let mut best: HashMap<(&str, bool), (i64, Candidate<'_>)> = HashMap::new();
    MATCHER.with_borrow_mut(|matcher| {
        let mut buf = Vec::new();
        for candidate in candidates {
            if candidate.label == prefix {
                continue;
            }
            let score = if prefix.is_empty() {
                0
            } else {
                let Some(fuzzy) = atom.score(Utf32Str::new(candidate.label, &mut buf), matcher)
                else {
                    continue;
                };
                let prefix_bonus = if candidate.label.starts_with(prefix) {
                    300
                } else if candidate.label.to_lowercase().starts_with(&lower_prefix) {
                    200
                } else {
                    0
                };
                i64::from(fuzzy) * 2 + prefix_bonus
            } + candidate.weight;
            let key = (candidate.label, candidate.kind == Kind::Snippet);
            if best.get(&key).is_none_or(|(s, _)| score > *s) {
                best.insert(key, (score, candidate));
            }
        }
    });
    let mut ranked: Vec<_> = best.into_values().collect();
    ranked.sort_by(|(a, ca), (b, cb)| b.cmp(a).then_with(|| ca.label.cmp(cb.label)));
    ranked
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| Suggestion {
            label: c.label.to_string(),
            kind: c.kind,
            detail: c.detail.to_string(),
            insert_text: c.insert.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
