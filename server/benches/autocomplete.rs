//! Completion latency on 5,000-line files in Rust, Python and JavaScript, and in Rust
//! with the 50,000 names a large project's other files define.
//! Prints p50/p99/max over 2,000 requests at varied cursors, then runs criterion.
//! Run with `scripts/bench` (pinned to one core).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pairpad_server::autocomplete::project::ProjectName;
use pairpad_server::autocomplete::{complete_in, Kind};

const LINES: usize = 5_000;

/// A realistic file: types with methods, functions calling each other, comments, strings.
fn source(language: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.lines().count() < LINES {
        let block = match language {
            "rust" => format!(
                "/// Handles request number {i}.\nstruct Handler{i} {{\n    count: usize,\n    name: String,\n}}\n\n\
                 impl Handler{i} {{\n    fn handle_{i}(&mut self, input: &str) -> usize {{\n        // keep \"{i}\" in step\n        \
                 self.count += input.len();\n        let label = format!(\"handler {i}: {{}}\", self.name);\n        \
                 helper_{j}(&label) + self.count\n    }}\n}}\n\nfn helper_{i}(text: &str) -> usize {{\n    text.len()\n}}\n\n",
                j = i / 2
            ),
            "python" => format!(
                "class Handler{i}:\n    \"\"\"Handles request number {i}.\"\"\"\n\n    def __init__(self, name):\n        \
                 self.count = 0\n        self.name = name\n\n    def handle_{i}(self, data):\n        # keep '{i}' in step\n        \
                 self.count += len(data)\n        label = f\"handler {i}: {{self.name}}\"\n        return helper_{j}(label) + self.count\n\n\n\
                 def helper_{i}(text):\n    return len(text)\n\n\n",
                j = i / 2
            ),
            _ => format!(
                "/** Handles request number {i}. */\nclass Handler{i} {{\n  constructor(name) {{\n    this.count = 0;\n    \
                 this.name = name;\n  }}\n\n  handle{i}(input) {{\n    // keep \"{i}\" in step\n    this.count += input.length;\n    \
                 const label = `handler {i}: ${{this.name}}`;\n    return helper{j}(label) + this.count;\n  }}\n}}\n\n\
                 function helper{i}(text) {{\n  return text.length;\n}}\n\n",
                j = i / 2
            ),
        };
        out.push_str(&block);
        i += 1;
    }
    out
}

/// Cursors after a typed prefix at places spread through the file.
fn requests(code: &str, prefixes: &[&str]) -> Vec<(String, usize)> {
    let line_starts: Vec<usize> = code.match_indices('\n').map(|(i, _)| i + 1).collect();
    (0..200)
        .map(|k| {
            let at = line_starts[(k * 97) % line_starts.len()];
            let prefix = prefixes[k % prefixes.len()];
            let edited = format!("{}{}\n{}", &code[..at], prefix, &code[at..]);
            let cursor = edited[..at + prefix.len()].encode_utf16().count();
            (edited, cursor)
        })
        .collect()
}

/// The names a project of 5,000 files defines, ten per file.
fn project_names() -> Vec<ProjectName> {
    (0..50_000)
        .map(|i| ProjectName {
            name: format!(
                "{}_{i}",
                ["handle", "helper", "parse", "render", "load"][i % 5]
            ),
            kind: Kind::Function,
            file: uuid::Uuid::from_u128(i as u128 / 10),
            path: format!("src/module_{}/file_{}.rs", i / 1000, i / 10),
        })
        .collect()
}

fn complete(code: &str, cursor: usize, language: &str, project: &[ProjectName]) -> usize {
    complete_in(code, cursor, language, project, None)
        .expect("completes")
        .len()
}

fn percentiles(language: &str, reqs: &[(String, usize)], project: &[ProjectName]) {
    let mut times: Vec<Duration> = Vec::new();
    for round in 0..10 {
        for (code, cursor) in reqs {
            let started = Instant::now();
            let got = complete(black_box(code), *cursor, language, project);
            times.push(started.elapsed());
            if round == 0 {
                assert!(got > 0, "{language}: suggestions at {cursor}");
            }
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "latency {language:<10} {} lines, {} project names, {} requests: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        reqs[0].0.lines().count(),
        project.len(),
        times.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("rust", &["se", "hel", "self.co", "Hand", "fo"][..]),
        ("python", &["se", "hel", "self.co", "Hand", "pr"][..]),
        ("javascript", &["th", "hel", "this.co", "Hand", "co"][..]),
    ];
    let project = project_names();
    for (language, prefixes) in cases {
        let code = source(language);
        let reqs = requests(&code, prefixes);
        percentiles(language, &reqs, &[]);
        let mut next = 0;
        c.bench_function(&format!("complete_{language}_5000_lines"), |b| {
            b.iter(|| {
                let (code, cursor) = &reqs[next % reqs.len()];
                next += 1;
                complete(black_box(code), *cursor, language, &[])
            })
        });
        if language == "rust" {
            percentiles(language, &reqs, &project);
            c.bench_function("complete_rust_5000_lines_50000_project_names", |b| {
                b.iter(|| {
                    let (code, cursor) = &reqs[next % reqs.len()];
                    next += 1;
                    complete(black_box(code), *cursor, language, &project)
                })
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
