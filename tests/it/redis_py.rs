//! redis-py, the most used Redis client, against Basalt: its transaction helper with a WATCH
//! retry loop, 10,000-command pipelines with and without MULTI, a pub/sub listener with pattern
//! subscriptions, blocking queues and ACL users (`tests/py/redis_py_compat.py`).

use crate::harness::{notice, Server};
use std::process::Command;

/// The Python of the virtualenv tools/setup.sh fills with redis-py from PyPI.
fn python() -> String {
    let venv = std::env::var("BASALT_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/basalt-venv",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    format!("{venv}/bin/python")
}

#[test]
fn redis_py_client_classes_work() {
    let python = python();
    let has_redis_py = Command::new(&python)
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_redis_py {
        notice(&format!(
            "SKIPPED redis-py test: no redis-py in {python} (tools/setup.sh creates the virtualenv)"
        ));
        return;
    }
    let srv = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redis_py_compat.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(srv.port().to_string())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py checks failed:\n{stdout}\n{stderr}"
    );
    notice(&format!(
        "redis-py: {} checks passed",
        stdout.lines().count()
    ));
}
