//! The `project` scenario: `pairpad-server share` on a generated tree. How long until the
//! room lists every file, how long each of 100 files takes to open, the server's memory
//! with them open, and how long a typed edit takes to reach the file on disk. Then the
//! same project served without sharing (a server restarted on the same database): its
//! memory with the list read and 100 files open, which owes nothing to the folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::{Client, Target, Writer};
use crate::protocol::Dialect;
use crate::stats::{sample, Stats};

/// Files opened (and kept open) after the room is browsable.
const OPENED: usize = 100;
/// Edits timed from the socket to the disk.
const WRITE_BACKS: usize = 10;
/// Longest a step may take before the run counts as failed.
const STEP_LIMIT: Duration = Duration::from_secs(600);

/// One run's figures.
#[derive(Debug, Serialize)]
struct ProjectRow {
    server: &'static str,
    scenario: &'static str,
    /// Files in the tree.
    x: f64,
    /// Their total size, MiB.
    mib: f64,
    /// From starting `pairpad-server share` to the file list holding every file.
    browsable_s: f64,
    /// Opening one file (connect and sync) with the project loaded.
    open_p50_ms: f64,
    open_p99_ms: f64,
    /// Server RSS once browsable, and with [`OPENED`] files open.
    rss_kib_browsable: u64,
    rss_kib: u64,
    /// From sending an edit to the file on disk holding it.
    writeback_p50_ms: f64,
    writeback_max_ms: f64,
    /// A server serving the project without sharing: RSS with the list read, and with
    /// [`OPENED`] files open.
    served_rss_kib_listed: u64,
    served_rss_kib_open: u64,
    errors: u64,
}

/// Writes a tree of `files` files of about `total_bytes` in all under `dir`, and runs the
/// scenario with `server` (the command that starts `pairpad-server`, any pinning prefix
/// included).
pub async fn run(files: usize, total_bytes: usize, dir: &Path, server: &[String]) {
    if let Err(error) = measure(files, total_bytes, dir, server).await {
        eprintln!("project: {error:#}");
    }
}

async fn measure(
    files: usize,
    total_bytes: usize,
    dir: &Path,
    server: &[String],
) -> anyhow::Result<()> {
    let tree = dir.join("tree");
    let paths = generate(&tree, files, total_bytes)?;
    let database = dir.join("project.db");
    let started = Instant::now();
    let mut child = start(server, Some(&tree), &database)?;
    let pid = child.id().context("the server exited at once")?;
    let (base, room) = sharing_address(&mut child).await?;
    let listed = wait_for_list(&base, &room, files).await?;
    let browsable_s = started.elapsed().as_secs_f64();
    let rss_kib_browsable = sample(pid).rss_kib;

    let target = target_of(&base);
    let (open, mut opening, mut errors) = open_files(&target, &room, &listed).await;
    let rss_kib = sample(pid).rss_kib;

    // A file the generator wrote, edited over the socket until its size on disk changes.
    let (file, path) = listed
        .iter()
        .find(|(_, path)| paths.iter().any(|p| p == path))
        .context("no generated file listed")?;
    let on_disk = tree.join(path);
    let mut writer = Writer::connect(&target, &format!("{room}/{file}")).await?;
    let mut delays = Vec::new();
    for _ in 0..WRITE_BACKS {
        let before = std::fs::metadata(&on_disk)?.len();
        let start = Instant::now();
        writer.write_text(64).await?;
        loop {
            if std::fs::metadata(&on_disk)
                .map(|m| m.len())
                .unwrap_or(before)
                != before
            {
                delays.push(start.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if start.elapsed() > STEP_LIMIT {
                bail!("an edit never reached the disk");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    writer.close().await;
    for client in open {
        client.close().await;
    }
    stop(child).await;

    // The same project served without the folder.
    let mut child = start(server, None, &database)?;
    let pid = child.id().context("the server exited at once")?;
    let base = listening_address(&mut child).await?;
    let listed = wait_for_list(&base, &room, files).await?;
    let served_rss_kib_listed = sample(pid).rss_kib;
    let (open, _, failed) = open_files(&target_of(&base), &room, &listed).await;
    errors += failed;
    let served_rss_kib_open = sample(pid).rss_kib;
    for client in open {
        client.close().await;
    }
    stop(child).await;

    opening.sort_by(f64::total_cmp);
    delays.sort_by(f64::total_cmp);
    let pick = |values: &[f64], q: f64| {
        values
            .get(((values.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let row = ProjectRow {
        server: "pairpad",
        scenario: "project",
        x: files as f64,
        mib: total_bytes as f64 / (1024.0 * 1024.0),
        browsable_s,
        open_p50_ms: pick(&opening, 0.5),
        open_p99_ms: pick(&opening, 0.99),
        rss_kib_browsable,
        rss_kib,
        writeback_p50_ms: pick(&delays, 0.5),
        writeback_max_ms: delays.last().copied().unwrap_or(f64::NAN),
        served_rss_kib_listed,
        served_rss_kib_open,
        errors,
    };
    println!("{}", serde_json::to_string(&row)?);
    Ok(())
}

/// Starts `pairpad-server` on a free port with `database`: sharing `tree`, or not.
fn start(server: &[String], tree: Option<&Path>, database: &Path) -> anyhow::Result<Child> {
    let (program, prefix) = server.split_first().context("no server command")?;
    let mut command = Command::new(program);
    command.args(prefix);
    if let Some(tree) = tree {
        command.arg("share").arg(tree);
    }
    command
        .args([
            "--bind",
            "127.0.0.1:0",
            "--max-connections-per-address",
            "0",
        ])
        .arg("--database-url")
        .arg(format!("sqlite://{}", database.display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server")
}

fn target_of(base: &str) -> Target {
    Target {
        ws_base: format!("{}/ws", base.replacen("http://", "ws://", 1)),
        dialect: Dialect::YWebsocket,
    }
}

/// Opens [`OPENED`] of the `listed` files, spread through the list, one after another:
/// the clients (kept open), each one's time to open, and the failures.
async fn open_files(
    target: &Target,
    room: &str,
    listed: &[(String, String)],
) -> (Vec<Client>, Vec<f64>, u64) {
    let stats = Arc::new(Stats::new());
    let (mut open, mut times, mut errors) = (Vec::new(), Vec::new(), 0);
    let step = (listed.len() / OPENED).max(1);
    for (file, _) in listed.iter().step_by(step).take(OPENED) {
        let start = Instant::now();
        match Client::connect(target, &format!("{room}/{file}"), stats.clone(), 0.0).await {
            Ok(client) => {
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                open.push(client);
            }
            Err(error) => {
                errors += 1;
                eprintln!("project: opening a file: {error:#}");
            }
        }
    }
    (open, times, errors)
}

/// Writes `files` source files, about `total_bytes` in all, in nested folders (ten files
/// a folder, ten folders a level up); returns their paths.
fn generate(tree: &Path, files: usize, total_bytes: usize) -> anyhow::Result<Vec<String>> {
    if tree.exists() {
        std::fs::remove_dir_all(tree)?;
    }
    let each = total_bytes / files.max(1);
    let mut paths = Vec::with_capacity(files);
    for index in 0..files {
        let path = format!(
            "pkg{:02}/mod{:02}/file{index:05}.rs",
            index / 100,
            (index / 10) % 10
        );
        let mut text = String::with_capacity(each + 80);
        let mut line = 0;
        while text.len() < each {
            text.push_str(&format!(
                "pub fn item_{index}_{line}(value: usize) -> usize {{ value * {line} + {index} }}\n"
            ));
            line += 1;
        }
        let full: PathBuf = tree.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, text)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Reads the server's output until `wanted` finds what it looks for in a line (giving up
/// after [`STEP_LIMIT`], or when the output ends, saying `what` was not seen); the rest
/// of the output is drained so the server never blocks on it.
async fn read_until<T: Send + 'static>(
    child: &mut Child,
    what: &str,
    wanted: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<T> {
    let stdout = child.stdout.take().context("no server output")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(STEP_LIMIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(found) = wanted(&line) {
                return Ok(found);
            }
        }
        bail!("the server stopped before saying {what}")
    })
    .await
    .with_context(|| format!("the server took too long to say {what}"))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(found)
}

/// Where the shared room is: (`http://…`, room), from "sharing DIR at http://HOST:PORT/r/ROOM".
async fn sharing_address(child: &mut Child) -> anyhow::Result<(String, String)> {
    read_until(child, "where it shares the folder", |line| {
        let url = line.strip_prefix("sharing ")?.rsplit(' ').next()?;
        let (base, room) = url.split_once("/r/")?;
        Some((base.to_string(), room.to_string()))
    })
    .await
}

/// Where the server listens (`http://…`), from "listening on http://HOST:PORT".
async fn listening_address(child: &mut Child) -> anyhow::Result<String> {
    read_until(child, "where it listens", |line| {
        Some(line.strip_prefix("listening on ")?.trim().to_string())
    })
    .await
}

/// Polls the room's file list until it holds `files` files plus its first; returns
/// `(fileId, path)` of each.
async fn wait_for_list(
    base: &str,
    room: &str,
    files: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Listed {
        file_id: String,
        path: String,
    }
    #[derive(serde::Deserialize)]
    struct List {
        files: Vec<Listed>,
    }
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let list: List = client
            .get(format!("{base}/api/rooms/{room}/files"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if list.files.len() >= files {
            return Ok(list
                .files
                .into_iter()
                .map(|f| (f.file_id, f.path))
                .collect());
        }
        if start.elapsed() > STEP_LIMIT {
            bail!("the room lists {} of {files} files", list.files.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops the server as Ctrl-C would: it writes every edit to the folder first.
async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
