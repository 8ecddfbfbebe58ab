//! PostgreSQL stopped hard and started again under a running session: nothing relayed is
//! lost, and everything typed meanwhile is written once the database is back. In a test
//! binary of its own, because it stops the PostgreSQL server that other tests share.

mod common;

use std::process::Command;

use common::{eventually, status, Db, TestServer, YClient};

/// `pg_ctl` on the test cluster that `scripts/test` started, as its owner.
fn pg_ctl(args: &[&str]) {
    let bin = std::env::var("PAIRPAD_PG_BIN").expect("PAIRPAD_PG_BIN");
    let dir = std::env::var("PAIRPAD_PG_DIR").expect("PAIRPAD_PG_DIR");
    let pg_ctl = format!("{bin}/pg_ctl");
    let data = format!("{dir}/data");
    let log = format!("{dir}/server.log");
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &pg_ctl]);
        c
    } else {
        Command::new(&pg_ctl)
    };
    let status = command
        .args(["-D", &data, "-l", &log, "-w"])
        .args(args)
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "pg_ctl {args:?}");
}

/// The test cluster, stopped hard; started again when dropped, so that a failing test
/// does not leave the tests after it without their database.
struct StoppedPostgres {
    options: Option<String>,
}

impl StoppedPostgres {
    fn stop(options: String) -> Self {
        pg_ctl(&["-m", "immediate", "stop"]);
        Self {
            options: Some(options),
        }
    }

    fn start(mut self) {
        if let Some(options) = self.options.take() {
            pg_ctl(&["-o", &options, "start"]);
        }
    }
}

impl Drop for StoppedPostgres {
    fn drop(&mut self) {
        if let Some(options) = self.options.take() {
            pg_ctl(&["-o", &options, "start"]);
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[tokio::test]
async fn postgres_killed_and_restarted_mid_session_loses_nothing() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let Ok(options) = std::env::var("PAIRPAD_PG_OPTS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PAIRPAD_PG_OPTS is not set"
        );
        eprintln!("skipping: not the PostgreSQL that scripts/test starts");
        return;
    };
    let server = TestServer::start(db.clone(), &[]).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    let mut typed = String::new();
    for i in 0..20 {
        let chunk = format!("before {i};");
        ada.append(&chunk);
        typed.push_str(&chunk);
    }
    bob.wait_text(&typed).await;

    let stopped = StoppedPostgres::stop(options);
    for i in 0..20 {
        let chunk = format!("during {i};");
        ada.append(&chunk);
        typed.push_str(&chunk);
    }
    // Nothing is relayed while nothing can be written; the peers are told to come back.
    let ended = bob.wait_closed().await;
    assert!(
        matches!(&ended, common::Ended::Closed { code: 1013, .. }),
        "{ended:?}"
    );
    assert!(
        !bob.text().contains("during"),
        "relayed before it was stored"
    );
    assert_eq!(status(server.addr, "/ready").await, 503);

    stopped.start();
    eventually("ready once PostgreSQL is back", || async {
        status(server.addr, "/ready").await == 200
    })
    .await;
    let cy = YClient::connect(server.addr, &room).await;
    cy.wait_text(&typed).await;
    server.stop().await;

    let server = TestServer::start(db, &[]).await;
    let dan = YClient::connect(server.addr, &room).await;
    dan.wait_text(&typed).await;
    server.stop().await;
}
