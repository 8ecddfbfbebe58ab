//! Turning a new version of a text (a file saved on disk) into small edits of the live
//! document, so that cursors and the edits others made meanwhile survive.
//!
//! [`splices`] diffs the text as last synced (`base`) against the new one, character by
//! character; [`rebase`] moves those edits onto the live text, which others may have
//! changed since `base`: every position is carried through the changes from `base` to
//! the live text. Positions are byte offsets (the server's documents count in bytes).

use std::time::{Duration, Instant};

use similar::{DiffOp, TextDiff};

/// Longest a diff may take before it settles for a less minimal answer (still a correct
/// one): a file rewritten from top to bottom must not hold up its room.
const DIFF_TIME: Duration = Duration::from_millis(50);

/// `delete` bytes at `at` replaced by `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// Byte offset.
    pub at: usize,
    /// Bytes removed there.
    pub delete: usize,
    /// Text put there.
    pub insert: String,
}

/// The splices that turn `base` into `new`, in order, as byte ranges of `base`.
pub fn splices(base: &str, new: &str) -> Vec<Splice> {
    let diff = TextDiff::configure()
        .deadline(Instant::now() + DIFF_TIME)
        .diff_chars(base, new);
    let (old_at, new_at) = (char_offsets(base), char_offsets(new));
    let mut out = Vec::new();
    for op in diff.ops() {
        if let DiffOp::Equal { .. } = op {
            continue;
        }
        let (old, new_range) = (op.old_range(), op.new_range());
        let (start, end) = (old_at[old.start], old_at[old.end]);
        let inserted = &new[new_at[new_range.start]..new_at[new_range.end]];
        out.push(Splice {
            at: start,
            delete: end - start,
            insert: inserted.to_string(),
        });
    }
    out
}

/// Carries `changes` (splices of `base`, in order) onto `current`, which others changed
/// from `base` too. Returns splices of `current`, last first, ready to apply one after
/// the other. Text the changes delete that others changed meanwhile goes with it.
pub fn rebase(base: &str, current: &str, changes: &[Splice]) -> Vec<Splice> {
    let map = OffsetMap::new(base, current);
    let mut out: Vec<Splice> = changes
        .iter()
        .map(|change| {
            // Text others inserted at either edge of a deletion is theirs: kept.
            let start = map.map(change.at, true);
            let end = map.map(change.at + change.delete, false).max(start);
            Splice {
                at: start,
                delete: end - start,
                insert: change.insert.clone(),
            }
        })
        .collect();
    out.reverse();
    out
}

/// The byte offset of each character of `text`, and of its end.
fn char_offsets(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(at, _)| at)
        .chain(std::iter::once(text.len()))
        .collect()
}

/// Where each byte offset of one text lies in a later version of it.
struct OffsetMap {
    /// `(old start, new start, old len, new len, unchanged)` byte ranges, in order.
    runs: Vec<(usize, usize, usize, usize, bool)>,
    new_len: usize,
}

impl OffsetMap {
    fn new(old: &str, new: &str) -> Self {
        let diff = TextDiff::configure()
            .deadline(Instant::now() + DIFF_TIME)
            .diff_chars(old, new);
        let (old_at, new_at) = (char_offsets(old), char_offsets(new));
        let runs = diff
            .ops()
            .iter()
            .map(|op| {
                let (o, n) = (op.old_range(), op.new_range());
                let (o0, o1) = (old_at[o.start], old_at[o.end]);
                let (n0, n1) = (new_at[n.start], new_at[n.end]);
                (o0, n0, o1 - o0, n1 - n0, matches!(op, DiffOp::Equal { .. }))
            })
            .collect();
        Self {
            runs,
            new_len: new.len(),
        }
    }

    /// Where byte offset `at` of the old text lies in the new one: inside unchanged text,
    /// at the same character; inside text others replaced, at the end of what replaced
    /// it. Where others inserted text right at `at`, after it when `after`, else before.
    fn map(&self, at: usize, after: bool) -> usize {
        for &(old_start, new_start, old_len, new_len, unchanged) in &self.runs {
            let inside = (old_start..old_start + old_len).contains(&at);
            if unchanged && inside {
                return new_start + (at - old_start);
            }
            // At the start of text others changed: the end of a deletion of ours stops
            // before their text, anything else goes after it.
            if !unchanged && at == old_start {
                return if after {
                    new_start + new_len
                } else {
                    new_start
                };
            }
            if !unchanged && inside {
                return new_start + new_len;
            }
        }
        self.new_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies splices given last first.
    fn apply(text: &str, splices: &[Splice]) -> String {
        let mut out = text.to_string();
        for s in splices {
            out.replace_range(s.at..s.at + s.delete, &s.insert);
        }
        out
    }

    fn merge(base: &str, current: &str, new: &str) -> String {
        let changes = splices(base, new);
        apply(current, &rebase(base, current, &changes))
    }

    #[test]
    fn a_new_version_is_reached_by_small_splices() {
        let base = "fn main() {\n    println!(\"hi\");\n}\n";
        let new = "fn main() {\n    println!(\"hello\");\n}\n";
        let changes = splices(base, new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].delete <= 2 && changes[0].insert.len() <= 5);
        assert_eq!(merge(base, base, new), new);
        assert_eq!(merge("", "", "abc"), "abc");
        assert_eq!(merge("abc", "abc", ""), "");
        assert_eq!(
            merge("héllo wörld", "héllo wörld", "hallo wörld!"),
            "hallo wörld!"
        );
    }

    #[test]
    fn edits_others_made_meanwhile_survive() {
        let base = "alpha\nbeta\ngamma\n";
        // Someone typed at the top while the file on disk changed at the bottom.
        let current = "// note\nalpha\nbeta\ngamma\n";
        let new = "alpha\nbeta\ngamma\ndelta\n";
        assert_eq!(
            merge(base, current, new),
            "// note\nalpha\nbeta\ngamma\ndelta\n"
        );
        // Both changed the same line: both changes are kept.
        let current = "alpha\nbeta!\ngamma\n";
        let new = "alpha\nBETA\ngamma\n";
        assert_eq!(merge(base, current, new), "alpha\nBETA!\ngamma\n");
        // A line others deleted stays deleted when the disk changed another.
        let current = "alpha\ngamma\n";
        let new = "ALPHA\nbeta\ngamma\n";
        assert_eq!(merge(base, current, new), "ALPHA\ngamma\n");
    }

    #[test]
    fn a_change_that_ends_where_theirs_begins_leaves_theirs() {
        // The disk changed `1`; meanwhile someone replaced the `;` right after it.
        assert_eq!(merge("x = 1;", "x = 1,", "x = 2;"), "x = 2,");
        // The disk deleted a line; someone re-indented the next one.
        let base = "a\nb\n  c\n";
        assert_eq!(merge(base, "a\nb\n    c\n", "a\n  c\n"), "a\n    c\n");
    }

    #[test]
    fn unicode_is_split_at_character_boundaries() {
        let base = "😀 a 😀";
        let new = "😀 b 😀";
        let current = "x😀 a 😀";
        assert_eq!(merge(base, current, new), "x😀 b 😀");
    }
}
