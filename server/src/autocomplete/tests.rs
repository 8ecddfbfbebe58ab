//! Engine tests, language by language: keywords, comment and string names left out,
//! member context, ranking, UTF-16 cursors, snippet syntax.

use std::collections::BTreeSet;

use super::languages::{find, LANGUAGES};
use super::*;

/// Completions with the cursor at `|` (which is removed).
fn at(code_with_bar: &str, lang: &str) -> Vec<Suggestion> {
    let byte = code_with_bar.find('|').expect("cursor mark");
    let code = code_with_bar.replacen('|', "", 1);
    let cursor = code[..byte].encode_utf16().count();
    complete(&code, cursor, lang).expect("completes")
}

fn labels(suggestions: &[Suggestion]) -> Vec<&str> {
    suggestions.iter().map(|s| s.label.as_str()).collect()
}

fn kind_of(suggestions: &[Suggestion], label: &str) -> Option<Kind> {
    suggestions
        .iter()
        .find(|s| s.label == label && s.kind != Kind::Snippet)
        .map(|s| s.kind)
}

/// CodeMirror snippet syntax: `${}`, `${n}` or `${n:text}` fields (no braces inside),
/// numbered 1..=n without gaps, and no `#{` (CodeMirror's other field marker).
fn check_template(template: &str) -> Result<(), String> {
    if template.contains("#{") {
        return Err("contains #{".into());
    }
    let mut numbers = BTreeSet::new();
    let mut rest = template;
    while let Some(open) = rest.find("${") {
        let body = &rest[open + 2..];
        let close = body.find('}').ok_or("unclosed field")?;
        let field = &body[..close];
        if field.contains('{') {
            return Err(format!("brace inside field {field:?}"));
        }
        let number = field.split(':').next().unwrap_or_default();
        if !number.is_empty() {
            numbers.insert(
                number
                    .parse::<u32>()
                    .map_err(|_| format!("bad field number {number:?}"))?,
            );
        }
        rest = &body[close + 1..];
    }
    let expected: BTreeSet<u32> = (1..=numbers.len() as u32).collect();
    if numbers != expected {
        return Err(format!(
            "field numbers {numbers:?} are not 1..={}",
            numbers.len()
        ));
    }
    Ok(())
}

#[test]
fn every_snippet_is_valid_codemirror_syntax() {
    for lang in LANGUAGES {
        assert!(!lang.snippets.is_empty(), "{} has snippets", lang.id);
        for snippet in lang.snippets {
            if let Err(e) = check_template(snippet.template) {
                panic!("{} snippet {:?}: {e}", lang.id, snippet.label);
            }
        }
    }
    assert!(
        check_template("f(${1:a}, ${3:b})").is_err(),
        "gaps are caught"
    );
    assert!(
        check_template("${1:a{b}}").is_err(),
        "braces in fields are caught"
    );
}

#[test]
fn programming_languages_have_the_six_idioms() {
    let idioms: [(&str, &[&str]); 6] = [
        ("function", &["function", "def", "fn", "func", "method"]),
        ("type", &["class", "struct", "interface"]),
        ("loop", &["for", "for…of", "for range", "foreach"]),
        ("conditional", &["if", "if let", "if err"]),
        ("test", &["test"]),
        ("main", &["main"]),
    ];
    for id in [
        "javascript",
        "typescript",
        "python",
        "rust",
        "go",
        "java",
        "c",
        "cpp",
        "csharp",
    ] {
        let lang = find(id).expect("language");
        for (idiom, labels) in idioms {
            assert!(
                lang.snippets.iter().any(|s| labels.contains(&s.label)),
                "{id} lacks a {idiom} snippet"
            );
        }
    }
}

#[test]
fn keywords_are_offered_in_every_language() {
    for lang in LANGUAGES {
        let Some(keyword) = lang.keywords.iter().find(|k| k.len() >= 4) else {
            continue;
        };
        let typed = &keyword[..2];
        let got = at(&format!("{typed}|"), lang.id);
        assert!(
            labels(&got).contains(keyword),
            "{}: {typed} -> {keyword} in {:?}",
            lang.id,
            labels(&got)
        );
        // A keyword with a snippet of its name is offered once, as the snippet.
        let expected = if lang.snippets.iter().any(|s| s.label == *keyword) {
            Kind::Snippet
        } else {
            Kind::Keyword
        };
        let entry = got.iter().find(|s| s.label == *keyword).map(|s| s.kind);
        assert_eq!(entry, Some(expected), "{}: {keyword}", lang.id);
    }
}

/// Per language: a document with one name in code, one in a comment and one in a string.
#[test]
fn names_in_comments_and_strings_are_left_out() {
    let cases = [
        (
            "javascript",
            "const zzReal = 1; // zzComment\nlet s = 'zzString';\nzz|",
        ),
        (
            "typescript",
            "let zzReal: number = 1; /* zzComment */ const s = `zzString`;\nzz|",
        ),
        (
            "python",
            "zzReal = 1  # zzComment\ns = \"\"\"zzString\n\"\"\"\nzz|",
        ),
        (
            "rust",
            "let zzReal = 1; // zzComment\nlet s = \"zzString\";\nzz|",
        ),
        ("go", "zzReal := 1 // zzComment\ns := `zzString`\nzz|"),
        (
            "java",
            "int zzReal = 1; // zzComment\nString s = \"zzString\";\nzz|",
        ),
        (
            "c",
            "int zzReal = 1; /* zzComment */ char *s = \"zzString\";\nzz|",
        ),
        (
            "cpp",
            "auto zzReal = 1; // zzComment\nstd::string s = \"zzString\";\nzz|",
        ),
        (
            "csharp",
            "var zzReal = 1; // zzComment\nvar s = \"zzString\";\nzz|",
        ),
        ("php", "$zzReal = 1; # zzComment\n$s = 'zzString';\nzz|"),
        (
            "sql",
            "select zzReal -- zzComment\nfrom t where name = 'zzString' and zz|",
        ),
        (
            "css",
            ".zzReal { color: red; } /* zzComment */ a::after { content: \"zzString\" }\n.zz|",
        ),
        ("yaml", "zzReal: 1 # zzComment\nname: 'zzString'\nzz|"),
        (
            "html",
            "<div class=\"zzString\"><!-- zzComment --><zzReal></zzReal>\n<zz|",
        ),
    ];
    for (lang, code) in cases {
        let got = at(code, lang);
        let names = labels(&got);
        let real = names
            .iter()
            .any(|n| n.trim_start_matches('$').starts_with("zzReal"));
        assert!(real, "{lang}: zzReal offered in {names:?}");
        assert!(
            !names.contains(&"zzComment"),
            "{lang}: comment word offered"
        );
        assert!(!names.contains(&"zzString"), "{lang}: string word offered");
    }
}

#[test]
fn nothing_inside_comments_or_strings() {
    assert!(at("let value = 1; // val|", "javascript").is_empty());
    assert!(at("let value = 1; let s = \"val|\";", "rust").is_empty());
    assert!(at("value = 1\n'''\nval|\n'''", "python").is_empty());
    assert!(!at("let value = 1; /* val */ val|", "javascript").is_empty());
}

#[test]
fn members_of_an_object_and_its_type() {
    let js = "class Point {\n  constructor() { this.x = 0; }\n  norm() { return 1; }\n}\n\
              const p = new Point();\np.translate(1);\nconst q = new Point();\nq.|";
    let got = at(js, "javascript");
    let names = labels(&got);
    for member in ["norm", "x", "translate"] {
        assert!(names.contains(&member), "js member {member} in {names:?}");
    }
    assert!(!names.contains(&"const"), "no keywords after a dot");
    assert_eq!(kind_of(&got, "norm"), Some(Kind::Function));
    assert_eq!(kind_of(&got, "x"), Some(Kind::Property));

    let py = "class Account:\n    def __init__(self):\n        self.balance = 0\n\n    def deposit(self, n):\n        self.balance += n\n\n\
              acct = Account()\nacct.|";
    let names = labels(&at(py, "python"))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for member in ["deposit", "balance"] {
        assert!(
            names.iter().any(|n| n == member),
            "python member {member} in {names:?}"
        );
    }

    let rs =
        "struct Circle { radius: f64 }\nimpl Circle {\n    fn area(&self) -> f64 { 3.14 }\n}\n\
              fn main() {\n    let c = Circle { radius: 1.0 };\n    c.|\n}";
    let names = labels(&at(rs, "rust"))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for member in ["area", "radius"] {
        assert!(
            names.iter().any(|n| n == member),
            "rust member {member} in {names:?}"
        );
    }

    let java = "class Box { int size; void grow() { size++; } }\nBox b = new Box();\nb.|";
    let names = labels(&at(java, "java"))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for member in ["size", "grow"] {
        assert!(
            names.iter().any(|n| n == member),
            "java member {member} in {names:?}"
        );
    }

    let go = "w.Header()\nw.WriteHeader(200)\nw.|";
    let names = labels(&at(go, "go"))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert!(names.contains(&"Header".to_string()) && names.contains(&"WriteHeader".to_string()));
}

#[test]
fn ranking_prefers_prefix_then_local_frequent_near_names() {
    let py = "def process(items):\n    return items\n\nprocess([])\nprocess([1])\nprint(1)\npr|";
    let got = at(py, "python");
    let names = labels(&got);
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap_or(usize::MAX);
    assert!(
        pos("process") < pos("print"),
        "local, used function first: {names:?}"
    );
    assert!(pos("print") < usize::MAX, "built-in offered");
    assert_eq!(kind_of(&got, "process"), Some(Kind::Function));

    // A prefix match beats a merely fuzzy one, even a more frequent one.
    let js = "let pageRank = 1; pageRank++; pageRank--;\nlet preview = 2;\npr|";
    let got = at(js, "javascript");
    let names = labels(&got);
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap_or(usize::MAX);
    assert!(
        pos("pageRank") < usize::MAX,
        "fuzzy match offered: {names:?}"
    );
    assert!(
        pos("preview") < pos("pageRank"),
        "prefix match first: {names:?}"
    );

    // Nearer wins among equals.
    let rs = "let alpha_far = 1;\n".to_string()
        + &"// filler\n".repeat(500)
        + "let alpha_near = 2;\nalpha|";
    let got = at(&rs, "rust");
    let names = labels(&got);
    assert_eq!(&names[..2], ["alpha_near", "alpha_far"], "nearer first");
}

#[test]
fn the_word_being_typed_comes_first_so_accepting_it_changes_nothing() {
    let got = at("let counter = 1;\ncounter|", "rust");
    assert_eq!(got[0].label, "counter");
    let got = at("let counter = 1; let counterMax = 2;\ncount|", "javascript");
    assert!(labels(&got).contains(&"counter"));
    assert!(
        !labels(&got).contains(&"count"),
        "a word seen only where it is typed is not a name"
    );
    let got = at("total = 0\nvalue = 1\ntotal = value|", "python");
    assert_eq!(got[0].label, "value", "{:?}", labels(&got));
    let got = at(
        "const count = 1;\nfunction f() { return count| }",
        "javascript",
    );
    assert_eq!(got[0].label, "count");
    // Keywords and built-ins too.
    assert_eq!(at("def f():\n    return|", "python")[0].label, "return");
    assert_eq!(at("x = len|", "python")[0].label, "len");
}

#[test]
fn members_of_something_unknown_are_not_guessed() {
    assert!(
        at("foo().|", "javascript").is_empty(),
        "receiver not a name"
    );
    let got = at("a.first();\nb.second();\nc.|", "javascript");
    assert!(
        got.is_empty(),
        "members of other objects: {:?}",
        labels(&got)
    );
}

#[test]
fn well_known_objects_offer_their_real_members() {
    let has = |code: &str, lang: &str, want: &[&str], not: &[&str]| {
        let got = at(code, lang);
        let names = labels(&got);
        for w in want {
            assert!(names.contains(w), "{code:?}: {w} in {names:?}");
        }
        for n in not {
            assert!(!names.contains(n), "{code:?}: {n} not in {names:?}");
        }
        assert!(got
            .iter()
            .all(|s| s.kind != Kind::Keyword && s.kind != Kind::Snippet));
    };
    let noise = "other.unrelatedMember();\n";
    has(
        &format!("{noise}console.|"),
        "javascript",
        &["log", "error", "warn", "table"],
        &["unrelatedMember"],
    );
    has(
        &format!("{noise}Math.|"),
        "javascript",
        &["floor", "max", "PI", "random"],
        &["unrelatedMember", "log2x"],
    );
    has(
        &format!("{noise}JSON.|"),
        "typescript",
        &["parse", "stringify"],
        &["unrelatedMember"],
    );
    has(
        "const xs = [1, 2];\nxs.|",
        "javascript",
        &["push", "map", "filter", "length"],
        &[],
    );
    has(
        "const m = new Map();\nm.|",
        "javascript",
        &["get", "set", "has", "size"],
        &[],
    );
    has(
        "import os\nos.|",
        "python",
        &["path", "getcwd", "listdir", "environ"],
        &[],
    );
    has(
        "import os\nos.path.|",
        "python",
        &["join", "exists", "basename"],
        &["getcwd"],
    );
    has("import sys\nsys.|", "python", &["argv", "exit"], &[]);
    has(
        "names = []\nnames.|",
        "python",
        &["append", "extend", "sort"],
        &[],
    );
    has(
        "def f(name: str):\n    name.|",
        "python",
        &["split", "strip", "startswith"],
        &[],
    );
    has(
        "let mut m = HashMap::new();\nm.|",
        "rust",
        &["insert", "get", "contains_key", "entry"],
        &["push"],
    );
    has(
        "let m: HashMap<String, u32> = make();\nm.|",
        "rust",
        &["insert", "entry"],
        &[],
    );
    has(
        "let mut v = Vec::new();\nv.|",
        "rust",
        &["push", "len", "iter"],
        &["contains_key"],
    );
    has(
        "let v = vec![1, 2];\nv.|",
        "rust",
        &["push", "len", "iter"],
        &[],
    );
    has(
        "let m = HashMap::|",
        "rust",
        &["new", "with_capacity"],
        &["insert"],
    );
    has("fmt.|", "go", &["Println", "Sprintf", "Errorf"], &[]);
    has(
        "System.out.|",
        "java",
        &["println", "printf"],
        &["currentTimeMillis"],
    );
    // The prefix narrows them, best first.
    let got = at("console.l|", "javascript");
    assert_eq!(got[0].label, "log");
}

#[test]
fn no_entry_twice_and_keywords_offer_their_snippet() {
    for (code, lang, word) in [
        ("print(1)\nprint(2)\npri|", "python", "print"),
        ("def area(w):\n    pass\ndef|", "python", "def"),
        ("fn|", "rust", "fn"),
        ("func|", "go", "func"),
        ("for|", "python", "for"),
        ("for|", "rust", "for"),
        ("function area() {}\narea();\nare|", "javascript", "area"),
    ] {
        let got = at(code, lang);
        let names = labels(&got);
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{code:?}: {names:?}");
        let entry = got.iter().find(|s| s.label == word).expect("offered");
        if ["def", "fn", "func", "for"].contains(&word) {
            assert_eq!(got[0].label, word, "{code:?}: {names:?}");
            assert_eq!(entry.kind, Kind::Snippet, "{code:?}: the keyword's snippet");
            assert!(entry.insert_text.contains("${"), "{code:?}");
        }
    }
}

#[test]
fn fuzzy_matches_only_from_the_first_letter_when_prefix_matches_are_many() {
    let code = "class UnicodeTranslateError: pass\nclass Transport: pass\n\
                def trace(): pass\ndef track(): pass\ndef trade(): pass\ndef tram(): pass\n\
                def trap(): pass\ntra|";
    let names = at(code, "python")
        .iter()
        .map(|s| s.label.clone())
        .collect::<Vec<_>>();
    assert!(
        !names.contains(&"UnicodeTranslateError".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"Transport".to_string()),
        "same first letter, other case: {names:?}"
    );
    // With few prefix matches, fuzzy ones help.
    let names = at("class UnicodeTranslateError: pass\ntra|", "python")
        .iter()
        .map(|s| s.label.clone())
        .collect::<Vec<_>>();
    assert!(
        names.contains(&"UnicodeTranslateError".to_string()),
        "{names:?}"
    );
    // Letters scattered through a name are no match at all.
    let names = labels(&at("let isConnected = true;\ncon|", "javascript")).join(" ");
    assert!(
        names.contains("isConnected"),
        "a word inside the name: {names}"
    );
    for scattered in ["function", "structuredClone", "decodeURIComponent"] {
        assert!(!names.contains(scattered), "{names}");
    }
    assert!(at("ru|", "yaml").iter().all(|s| s.label != "true"));
}

#[test]
fn utf16_cursors_with_emoji_and_cjk() {
    let code = "let 🎉 = \"😀\"; let 名前 = 1;\nlet value = 2;\nval";
    let cursor = code.encode_utf16().count();
    let got = complete(code, cursor, "javascript").unwrap();
    assert_eq!(got[0].label, "value");
    let got = at("const 名前 = 1; const 名札 = 2;\n名|", "javascript");
    assert!(labels(&got).contains(&"名前"), "CJK names complete");
    assert_eq!(
        complete(code, cursor + 1, "javascript"),
        Err(CompleteError::CursorOutOfRange {
            cursor: cursor + 1,
            len: cursor
        })
    );
    // A cursor inside a surrogate pair moves to the character's start.
    assert_eq!(utf16_to_byte("a😀b", 2).unwrap(), 1);
    assert_eq!(utf16_to_byte("a😀b", 3).unwrap(), 5);
    assert_eq!(utf16_to_byte("", 0).unwrap(), 0);
}

#[test]
fn unknown_languages_complete_words() {
    let got = at("lorem ipsum dolor\nlor|", "klingon");
    assert_eq!(
        labels(&got),
        ["lorem"],
        "a prefix match; `dolor` only has the letters inside"
    );
    assert_eq!(got[0].kind, Kind::Variable);
}

#[test]
fn kinds_come_from_definitions() {
    let got = at(
        "function render() {}\nclass Widget {}\nconst size = 1;\nlet x = r|",
        "javascript",
    );
    assert_eq!(kind_of(&got, "render"), Some(Kind::Function));
    let got = at(
        "function render() {}\nclass Widget {}\nconst size = 1;\nW|",
        "javascript",
    );
    assert_eq!(kind_of(&got, "Widget"), Some(Kind::Class));
    let got = at("function render() {}\nconst size = 1;\nsi|", "javascript");
    assert_eq!(kind_of(&got, "size"), Some(Kind::Variable));
}

#[test]
fn results_are_deduplicated_and_capped() {
    let code: String = (0..500)
        .map(|i| format!("let item{i} = item{i};\n"))
        .collect::<String>()
        + "it|";
    let got = at(&code, "rust");
    assert_eq!(got.len(), MAX_SUGGESTIONS);
    let unique: BTreeSet<_> = got.iter().map(|s| &s.label).collect();
    assert_eq!(unique.len(), got.len());
}

#[test]
fn every_language_ranks_frequent_names_first_after_emoji() {
    for lang in LANGUAGES.iter().chain([&languages::PLAIN]) {
        let code = "😀 名前 zzalphabet zzalpha zzalpha\nzzalp|";
        let got = at(code, lang.id);
        let names = labels(&got);
        assert!(names.len() >= 2, "{}: {names:?}", lang.id);
        assert_eq!(
            &names[..2],
            ["zzalpha", "zzalphabet"],
            "{}: frequent first",
            lang.id
        );
    }
}

#[test]
fn every_language_with_members_completes_them() {
    for lang in LANGUAGES.iter().filter(|l| !l.syntax.member_ops.is_empty()) {
        let op = lang.syntax.member_ops[0];
        let obj = if lang.syntax.ident_extra.contains(&b'$') && lang.id == "php" {
            "$obj"
        } else {
            "obj"
        };
        let code = format!("{obj}{op}zzmethod();\n{obj}{op}zzfield;\n{obj}{op}zz|");
        let got = at(&code, lang.id);
        let names = labels(&got);
        assert!(
            names.contains(&"zzmethod") && names.contains(&"zzfield"),
            "{}: {names:?}",
            lang.id
        );
        assert!(
            got.iter()
                .all(|s| s.kind != Kind::Keyword && s.kind != Kind::Snippet),
            "{}: members only",
            lang.id
        );
        assert_eq!(
            kind_of(&got, "zzmethod"),
            Some(Kind::Function),
            "{}",
            lang.id
        );
        assert_eq!(
            kind_of(&got, "zzfield"),
            Some(Kind::Property),
            "{}",
            lang.id
        );
    }
}

#[test]
fn every_language_the_editor_offers_is_known_to_the_engine() {
    let editor = include_str!("../../../ui/src/languages.js");
    let ids: Vec<&str> = editor
        .split("{ id: \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(ids.len() >= 17, "read the editor's list: {ids:?}");
    for id in ids {
        assert!(
            find(id).is_some() || id == languages::PLAIN.id,
            "the editor offers {id:?}, which the completion engine does not know"
        );
    }
}
