//! Turns result rows into Markdown tables (Pairpad next to each peer, with the ratio) and
//! SVG charts (latency against load, memory against connections).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use serde_json::Value;

const PAIRPAD: &str = "pairpad";
const COLORS: [RGBColor; 5] = [
    RGBColor(47, 127, 216),
    RGBColor(214, 63, 63),
    RGBColor(61, 154, 46),
    RGBColor(217, 115, 26),
    RGBColor(107, 91, 214),
];

/// Which way a column's figure is better.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
    /// Context, not a figure of merit: no ratio.
    Neither,
}

/// One scenario's table: its title, what its x is, and the columns shown.
struct TableSpec {
    scenario: &'static str,
    title: &'static str,
    x_label: &'static str,
    columns: &'static [(&'static str, &'static str, Better)],
}

/// Every table, in the order printed (steady typing is followed by its saturation table).
const TABLES: &[TableSpec] = &[
    TableSpec {
        scenario: "idle",
        title: "Idle connections (rooms of 2): RSS per connection",
        x_label: "connections",
        columns: &[
            ("bytes/conn", "rss_bytes_per_connection", Better::Lower),
            ("errors", "errors", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "steady",
        title: "Steady typing (rooms of 2-4, 5 edits/s each): latency and CPU by target load",
        x_label: "target deliveries/s",
        columns: &[
            ("deliveries/s", "deliveries_per_sec", Better::Higher),
            ("p50 ms", "p50_ms", Better::Lower),
            ("p99 ms", "p99_ms", Better::Lower),
            ("max ms", "max_ms", Better::Lower),
            ("CPU µs/delivery", "cpu_us_per_delivery", Better::Lower),
            (
                "load generator % of a core",
                "loadgen_core_percent",
                Better::Neither,
            ),
        ],
    },
    TableSpec {
        scenario: "big-room",
        title: "Big room: 200 people, 10 typing",
        x_label: "people",
        columns: &[
            ("deliveries/s", "deliveries_per_sec", Better::Higher),
            ("p50 ms", "p50_ms", Better::Lower),
            ("p95 ms", "p95_ms", Better::Lower),
            ("p99 ms", "p99_ms", Better::Lower),
            ("max ms", "max_ms", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "cold-join",
        title: "Cold join: median time for a newcomer to receive the document",
        x_label: "updates",
        columns: &[
            ("join ms (median of 5)", "p50_ms", Better::Lower),
            (
                "updates applied before the join",
                "delivered",
                Better::Higher,
            ),
            ("build updates/s", "deliveries_per_sec", Better::Higher),
        ],
    },
    TableSpec {
        scenario: "durable",
        title: "Durable writes (100 rooms of 2 typing)",
        x_label: "updates/s accepted",
        columns: &[
            ("p50 ms", "p50_ms", Better::Lower),
            ("p99 ms", "p99_ms", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "large-doc",
        title: "Large document: two people typing into it (SQLite)",
        x_label: "document KiB",
        columns: &[
            ("p50 ms", "p50_ms", Better::Lower),
            ("p99 ms", "p99_ms", Better::Lower),
            ("bytes written per edit", "written_per_edit", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "churn",
        title: "Churn soak: RSS after a warm-up (x, KiB) and after the soak and settling",
        x_label: "RSS after warm-up KiB",
        columns: &[
            ("RSS after soak KiB", "rss_kib", Better::Lower),
            ("rooms still loaded", "rooms_loaded", Better::Lower),
            ("errors", "errors", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "reconnect-storm",
        title: "Reconnect storm: all drop at once and reconnect",
        x_label: "clients",
        columns: &[
            ("seconds to all synced", "seconds", Better::Lower),
            ("errors", "errors", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "scale-out",
        title: "Scale-out: rooms of 2 typing, both on one instance (x = 1) or one on each of two (x = 2); CPU of both instances and Redis",
        x_label: "instances the room spans",
        columns: &[
            ("deliveries/s", "deliveries_per_sec", Better::Higher),
            ("p50 ms", "p50_ms", Better::Lower),
            ("p99 ms", "p99_ms", Better::Lower),
            ("max ms", "max_ms", Better::Lower),
            ("CPU µs/delivery", "cpu_us_per_delivery", Better::Lower),
            ("errors", "errors", Better::Lower),
        ],
    },
    TableSpec {
        scenario: "project",
        title: "Project: a shared folder (pairpad-server share), 100 files opened",
        x_label: "files",
        columns: &[
            ("MiB", "mib", Better::Neither),
            ("s until browsable", "browsable_s", Better::Lower),
            ("open p50 ms", "open_p50_ms", Better::Lower),
            ("open p99 ms", "open_p99_ms", Better::Lower),
            ("RSS KiB browsable", "rss_kib_browsable", Better::Lower),
            ("RSS KiB, 100 open", "rss_kib", Better::Lower),
            ("write-back p50 ms", "writeback_p50_ms", Better::Lower),
            ("write-back max ms", "writeback_max_ms", Better::Lower),
            (
                "served, not shared: RSS KiB listed",
                "served_rss_kib_listed",
                Better::Lower,
            ),
            (
                "served: RSS KiB, 100 open",
                "served_rss_kib_open",
                Better::Lower,
            ),
            ("errors", "errors", Better::Lower),
        ],
    },
];

/// Prints the tables to stdout and writes the charts into `charts`.
pub fn write(input: &Path, charts: &Path) -> anyhow::Result<()> {
    let rows = read_rows(input)?;
    print_tables(&rows);
    write_charts(&rows, charts)
}

/// The result rows in `input`, one JSON object per line (unreadable lines skipped).
fn read_rows(input: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The rows of one scenario.
fn of<'a>(rows: &'a [Value], scenario: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["scenario"] == scenario).collect()
}

fn print_tables(rows: &[Value]) {
    for spec in TABLES {
        let scenario = of(rows, spec.scenario);
        table(spec.title, &scenario, spec.x_label, spec.columns);
        if spec.scenario == "steady" {
            saturation(&scenario);
        }
    }
}

fn write_charts(rows: &[Value], charts: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(charts)?;
    chart(
        &charts.join("latency-vs-load.svg"),
        "p99 latency vs delivered edits/s (steady typing)",
        &of(rows, "steady"),
        ("deliveries per second", "deliveries_per_sec"),
        ("p99 latency (ms)", "p99_ms"),
    )?;
    chart(
        &charts.join("rss-vs-connections.svg"),
        "Memory per idle connection",
        &of(rows, "idle"),
        ("connections", "x"),
        ("RSS bytes per connection", "rss_bytes_per_connection"),
    )
}

fn num(row: &Value, key: &str) -> Option<f64> {
    row.get(key)?.as_f64()
}

fn by_server<'a>(rows: &[&'a Value]) -> BTreeMap<String, Vec<&'a Value>> {
    let mut map: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for row in rows {
        let name = row["server"].as_str().unwrap_or("?").to_string();
        map.entry(name).or_default().push(row);
    }
    map
}

/// One table: a row per (x, server); each peer's figure gets "× Pairpad's".
fn table(title: &str, rows: &[&Value], x_label: &str, columns: &[(&str, &str, Better)]) {
    if rows.is_empty() {
        return;
    }
    println!("### {title}\n");
    let mut header = format!("| {x_label} | server |");
    let mut rule = String::from("| ---: | --- |");
    for (label, _, _) in columns {
        header.push_str(&format!(" {label} |"));
        rule.push_str(" ---: |");
    }
    println!("{header}\n{rule}");
    let mut xs: Vec<f64> = rows.iter().filter_map(|r| num(r, "x")).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let at_x: Vec<&&Value> = rows.iter().filter(|r| num(r, "x") == Some(x)).collect();
        let pairpad = at_x.iter().find(|r| r["server"] == PAIRPAD);
        let mut servers: Vec<&&&Value> = at_x.iter().collect();
        servers.sort_by_key(|r| {
            (
                r["server"] != PAIRPAD,
                r["server"].as_str().unwrap_or("").to_string(),
            )
        });
        for row in servers {
            let mut line = format!("| {} | {} |", fmt(x), row["server"].as_str().unwrap_or("?"));
            for (_, key, better) in columns {
                let value = num(row, key);
                let ratio = match (value, pairpad.and_then(|p| num(p, key))) {
                    (Some(v), Some(p)) if row["server"] != PAIRPAD && p > 0.0 && v > 0.0 => {
                        match better {
                            Better::Lower => format!(" ({:.1}× Pairpad)", v / p),
                            Better::Higher => format!(" (Pairpad {:.1}×)", p / v),
                            Better::Neither => String::new(),
                        }
                    }
                    _ => String::new(),
                };
                line.push_str(&format!(" {}{ratio} |", value.map_or("–".into(), fmt)));
            }
            println!("{line}");
        }
    }
    println!();
}

/// The highest delivery rate each server sustained with p99 within the bound.
fn saturation(rows: &[&Value]) {
    if rows.is_empty() {
        return;
    }
    println!("### Saturation: highest delivered rate with p99 ≤ 50 ms\n");
    println!("| server | deliveries/s | p99 ms at that rate |\n| --- | ---: | ---: |");
    for (server, rows) in by_server(rows) {
        let best = rows
            .iter()
            .filter(|r| num(r, "p99_ms").is_some_and(|p| p <= crate::scenarios::P99_BOUND_MS))
            .max_by(|a, b| {
                num(a, "deliveries_per_sec")
                    .unwrap_or(0.0)
                    .total_cmp(&num(b, "deliveries_per_sec").unwrap_or(0.0))
            });
        match best {
            Some(r) => println!(
                "| {server} | {} | {} |",
                fmt(num(r, "deliveries_per_sec").unwrap_or(0.0)),
                fmt(num(r, "p99_ms").unwrap_or(0.0))
            ),
            None => println!("| {server} | – | – |"),
        }
    }
    println!();
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn chart(
    path: &Path,
    title: &str,
    rows: &[&Value],
    x: (&str, &str),
    y: (&str, &str),
) -> anyhow::Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = by_server(rows)
        .into_iter()
        .map(|(server, rows)| {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| Some((num(r, x.1)?, num(r, y.1)?)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (server, points)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (x_max, y_max) = all.fold((0.0f64, 0.0f64), |(a, b), (x, y)| (a.max(*x), b.max(*y)));
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max * 1.05, 0.0..y_max * 1.1)?;
    chart.configure_mesh().x_desc(x.0).y_desc(y.0).draw()?;
    for (i, (server, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(server)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
