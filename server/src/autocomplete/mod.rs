//! The completion engine behind `POST /api/autocomplete`: language keywords, built-ins and
//! snippets, plus names from the document itself (comments and strings skipped), members
//! after `obj.`, ranked by fuzzy match, frequency, nearness to the cursor and kind.
//! An optional OpenAI-compatible model adds one suggestion ([`ai`]).

pub mod ai;
pub mod index;
pub mod languages;
pub mod library;
pub mod project;
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
    complete_in(code, cursor, language, &[], None)
}

/// As [`complete`], with the names the project's files define (`project`, but for those
/// of `this_file`, the file being edited) offered too, once a prefix is typed.
pub fn complete_in(
    code: &str,
    cursor: usize,
    language: &str,
    project: &[project::ProjectName],
    this_file: Option<uuid::Uuid>,
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

    // After `obj.` (or `->`, `::`): `Some(receiver)`, the receiver's name and its path
    // when it is itself a member (`os.path`), or nothing when it is not a plain name.
    let ident_before = |k: usize| {
        k.checked_sub(1)
            .and_then(|m| tokens.get(m))
            .filter(|op| op.kind == TokenKind::Member)
            .and(k.checked_sub(2).and_then(|r| tokens.get(r)))
            .filter(|r| r.kind == TokenKind::Ident)
            .map(|r| r.text)
    };
    let member_of = at
        .checked_sub(1)
        .map(|m| tokens[m])
        .filter(|op| op.kind == TokenKind::Member && op.end() == prefix_start)
        .map(|_| {
            ident_before(at).map(|name| Receiver {
                name,
                path: ident_before(at - 2).map(|outer| format!("{outer}.{name}")),
            })
        });
    let mut candidates = Vec::new();
    match member_of {
        Some(receiver) => member_candidates(&doc, lang, receiver, &mut candidates),
        None => {
            general_candidates(&doc, lang, &mut candidates);
            project_candidates(project, this_file, prefix, &mut candidates);
        }
    }
    Ok(rank(prefix, candidates))
}

/// The value before a member operator.
struct Receiver<'a> {
    /// Its name (`path` in `os.path.`).
    name: &'a str,
    /// Its dotted path when it is itself a member (`os.path`).
    path: Option<String>,
}

/// Members of `receiver`: the standard library's for a well-known object, module or type,
/// and those the document shows on it or on values of its type. Nothing when nothing is
/// known: members seen on other objects would only mislead.
fn member_candidates<'a>(
    doc: &'a index::DocIndex<'a>,
    lang: &'static Language,
    receiver: Option<Receiver<'a>>,
    out: &mut Vec<Candidate<'a>>,
) {
    let Some(receiver) = receiver else {
        return;
    };
    if let Some(library) = library::find(lang.id) {
        let statics = receiver
            .path
            .as_deref()
            .and_then(|path| library.statics_of(path))
            .or_else(|| {
                // `path` alone is not `os.path`: a bare name only when it is not a member.
                receiver
                    .path
                    .is_none()
                    .then(|| library.statics_of(receiver.name))
                    .flatten()
            });
        let values = doc
            .type_of
            .get(receiver.name)
            .and_then(|ty| library.values_of(ty));
        for (name, kind) in statics
            .into_iter()
            .flatten()
            .chain(values.into_iter().flatten())
        {
            out.push(Candidate {
                label: name,
                kind,
                detail: "standard library",
                insert: name,
                weight: 140,
            });
        }
    }
    for (name, kind) in doc.members_of(receiver.name) {
        let count = doc.all_members.get(name).map_or(1, |(_, c)| *c);
        out.push(Candidate {
            label: name,
            kind,
            detail: "member",
            insert: name,
            weight: 150 + frequency(count),
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

/// Most names of the project's other files ranked for one request: the shortest that
/// start with the prefix. Ranking ten thousand matches of a short prefix cost 10 ms and
/// more, for a list that shows 50.
const MAX_PROJECT_CANDIDATES: usize = 200;

/// Names defined in the project's other files that start with `prefix` (ignoring case):
/// below this file's own, above built-ins. A project may define tens of thousands, so
/// they are offered only once something is typed, by prefix, and at most
/// [`MAX_PROJECT_CANDIDATES`] of them.
fn project_candidates<'a>(
    project: &'a [project::ProjectName],
    this_file: Option<uuid::Uuid>,
    prefix: &str,
    out: &mut Vec<Candidate<'a>>,
) {
    if prefix.is_empty() {
        return;
    }
    let starts = |name: &str| {
        name.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let mut matches: Vec<&project::ProjectName> = (project.iter())
        .filter(|name| Some(name.file) != this_file && starts(&name.name))
        .collect();
    if matches.len() > MAX_PROJECT_CANDIDATES {
        matches.select_nth_unstable_by(MAX_PROJECT_CANDIDATES, |a, b| {
            (a.name.len(), &a.name).cmp(&(b.name.len(), &b.name))
        });
        matches.truncate(MAX_PROJECT_CANDIDATES);
    }
    for name in matches {
        out.push(Candidate {
            label: &name.name,
            kind: name.kind,
            detail: &name.path,
            insert: &name.name,
            weight: 80,
        });
    }
}

fn frequency(count: u32) -> i64 {
    i64::from(count.min(16)) * 6
}

/// With this many prefix matches or more, fuzzy matches must start with the typed first
/// letter (`tra` then offers `trace`, not `UnicodeTranslateError`).
const FEW_PREFIX_MATCHES: usize = 5;

/// Whether one of the words inside `label` (at its start, after `_`, `$` or `-`, at a
/// capital after a small letter, or at the last capital of an acronym, as `Component`
/// in `decodeURIComponent`) starts with
/// `lower_prefix`: letters scattered through a name (`ru` in `true`, `con` in
/// `function`) are not a match worth showing.
fn starts_a_word(label: &str, lower_prefix: &str) -> bool {
    let chars: Vec<char> = label.chars().collect();
    (0..chars.len()).any(|i| {
        let starts = i == 0
            || matches!(chars[i - 1], '_' | '$' | '-')
            || (chars[i].is_uppercase()
                && (!chars[i - 1].is_uppercase()
                    || chars.get(i + 1).is_some_and(|next| next.is_lowercase())));
        starts && {
            let word: String = chars[i..].iter().flat_map(|c| c.to_lowercase()).collect();
            word.starts_with(lower_prefix)
        }
    })
}

/// How a label matches the typed prefix, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    /// The label is the word typed: accepting it changes nothing.
    Exact,
    /// The label starts with the prefix, case and all.
    Prefix,
    /// The label starts with the prefix in another case.
    PrefixFolded,
    /// The prefix's letters appear in order.
    Fuzzy,
}

/// Scores candidates against `prefix` and drops non-matches; deduplicates by label (a
/// keyword and its snippet become the snippet) and keeps the best [`MAX_SUGGESTIONS`].
/// The word typed, when it is a known name, comes first, so that accepting the first
/// entry never changes what was typed.
fn rank(prefix: &str, candidates: Vec<Candidate<'_>>) -> Vec<Suggestion> {
    let atom = Atom::new(
        prefix,
        CaseMatching::Smart,
        Normalization::Smart,
        AtomKind::Fuzzy,
        false,
    );
    let lower_prefix = prefix.to_lowercase();
    let first_letter = lower_prefix.chars().next();
    let mut best: HashMap<&str, (Match, i64, Candidate<'_>)> = HashMap::new();
    MATCHER.with_borrow_mut(|matcher| {
        let mut buf = Vec::new();
        for candidate in candidates {
            let (how, score) = if prefix.is_empty() {
                (Match::Prefix, 0)
            } else {
                let Some(fuzzy) = atom.score(Utf32Str::new(candidate.label, &mut buf), matcher)
                else {
                    continue;
                };
                let lower = candidate.label.to_lowercase();
                let how = if candidate.label == prefix {
                    Match::Exact
                } else if candidate.label.starts_with(prefix) {
                    Match::Prefix
                } else if lower.starts_with(&lower_prefix) {
                    Match::PrefixFolded
                } else {
                    Match::Fuzzy
                };
                (how, i64::from(fuzzy) * 2)
            };
            let score = score + candidate.weight;
            match best.get_mut(candidate.label) {
                None => {
                    best.insert(candidate.label, (how, score, candidate));
                }
                Some(kept) => {
                    // One entry per label: a keyword with a snippet of the same name offers
                    // the snippet, ranked as the better of the two.
                    let snippet_wins =
                        candidate.kind == Kind::Snippet && kept.2.kind == Kind::Keyword;
                    let keep_snippet =
                        kept.2.kind == Kind::Snippet && candidate.kind == Kind::Keyword;
                    if snippet_wins || (!keep_snippet && score > kept.1) {
                        kept.2 = candidate;
                    }
                    kept.1 = kept.1.max(score);
                }
            }
        }
    });
    let prefix_matches = best
        .values()
        .filter(|(how, ..)| *how != Match::Fuzzy)
        .count();
    let mut ranked: Vec<_> = best
        .into_values()
        .filter(|(how, _, c)| {
            *how != Match::Fuzzy
                || c.label.chars().next().and_then(|l| l.to_lowercase().next()) == first_letter
                || (prefix_matches < FEW_PREFIX_MATCHES && starts_a_word(c.label, &lower_prefix))
        })
        .collect();
    ranked.sort_by(|(ha, a, ca), (hb, b, cb)| {
        ha.cmp(hb)
            .then_with(|| b.cmp(a))
            .then_with(|| ca.label.cmp(cb.label))
    });
    ranked
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, _, c)| Suggestion {
            label: c.label.to_string(),
            kind: c.kind,
            detail: c.detail.to_string(),
            insert_text: c.insert.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod project_tests {
    use super::*;

    #[test]
    fn a_short_prefix_ranks_at_most_the_cap_of_project_names_and_the_shortest() {
        let name = |i: u128, name: String| project::ProjectName {
            name,
            kind: Kind::Function,
            file: uuid::Uuid::from_u128(i % 50),
            path: format!("src/f{}.rs", i % 50),
        };
        let mut names: Vec<_> = (0..5_000).map(|i| name(i, format!("helper_{i}"))).collect();
        names.push(name(7, "help".into()));
        let mut out = Vec::new();
        project_candidates(&names, Some(uuid::Uuid::from_u128(3)), "hel", &mut out);
        assert_eq!(out.len(), MAX_PROJECT_CANDIDATES);
        assert!(out.iter().any(|c| c.label == "help"));
        assert!(out.iter().all(|c| c.label.len() <= "helper_1000".len()));
    }
}
