//! redis-py, the most used Redis client, against Basalt: its transaction helper with a WATCH
//! retry loop, 10,000-command pipelines with and without MULTI, a pub/sub listener with pattern
//! subscriptions, blocking queues and ACL users (`tests/py/redis_py_compat.py`).

use crate::harness::{notice, Server};
use std::process::Command;

/// The Python with redis-py: Debian's (tools/setup.sh installs python3-redis).
const PYTHON: &str = "/usr/bin/python3";

#[test]
fn redis_py_client_classes_work() {
    let has_redis_py = Command::new(PYTHON)
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_redis_py {
        notice("SKIPPED redis-py test: /usr/bin/python3 without the redis module (tools/setup.sh installs python3-redis)");
        return;
    }
    let srv = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redis_py_compat.py");
    let out = Command::new(PYTHON)
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
