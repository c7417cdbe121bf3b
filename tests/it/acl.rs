//! ACL: users, passwords, command/key/channel permissions, ACL LOG, and the same transcript
//! replayed on a real redis-server with the replies compared.

use crate::harness::{connect, raw, RedisServer, Reply, Server};

/// One step: which connection (0 = admin, 1 and 2 = user connections) and the command.
type Step = (usize, &'static [&'static str]);

const STEPS: &[Step] = &[
    (0, &["ACL", "LIST"]),
    (0, &["ACL", "SETUSER", "alice"]),
    (0, &["ACL", "LIST"]),
    (0, &["ACL", "GETUSER", "alice"]),
    (1, &["AUTH", "alice", "pw"]),
    (
        0,
        &[
            "ACL",
            "SETUSER",
            "alice",
            "on",
            ">pw",
            "~app:*",
            "&news*",
            "+@string",
            "-setrange",
        ],
    ),
    (0, &["ACL", "LIST"]),
    (0, &["ACL", "GETUSER", "alice"]),
    (1, &["AUTH", "alice", "wrong"]),
    (1, &["AUTH", "alice", "pw"]),
    (1, &["ACL", "WHOAMI"]),
    (1, &["SET", "app:1", "v"]),
    (1, &["GET", "app:1"]),
    (1, &["SET", "other", "v"]),
    (1, &["MSET", "app:2", "x", "other", "y"]),
    (1, &["SETRANGE", "app:1", "0", "x"]),
    (1, &["HGET", "app:h", "f"]),
    (1, &["HSET", "app:h", "f", "v"]),
    (1, &["CONFIG", "GET", "maxclients"]),
    (1, &["CONFIG", "SET", "maxclients", "10"]),
    (1, &["PUBLISH", "newsroom", "m"]),
    (1, &["PUBLISH", "sports", "m"]),
    (1, &["DEL", "app:1"]),
    (0, &["ACL", "DRYRUN", "alice", "get", "app:1"]),
    (0, &["ACL", "DRYRUN", "alice", "get", "other"]),
    (0, &["ACL", "DRYRUN", "alice", "del", "app:1"]),
    (0, &["ACL", "DRYRUN", "nobody", "get", "x"]),
    (0, &["ACL", "SETUSER", "alice", "bogus"]),
    (0, &["ACL", "SETUSER", "alice", "+nosuchcommand"]),
    (0, &["ACL", "SETUSER", "alice", "#abc"]),
    (0, &["ACL", "SETUSER", "alice", "<notapassword"]),
    (
        0,
        &[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            "nopass",
            "allkeys",
            "allchannels",
            "+@all",
            "-@dangerous",
        ],
    ),
    (0, &["ACL", "LIST"]),
    (0, &["ACL", "USERS"]),
    (2, &["AUTH", "bob", "anything"]),
    (2, &["SET", "k", "v"]),
    (2, &["FLUSHALL"]),
    (2, &["KEYS", "*"]),
    (0, &["ACL", "SETUSER", "bob", "off"]),
    (2, &["GET", "k"]),
    (2, &["AUTH", "bob", "anything"]),
    (0, &["ACL", "GETUSER", "nobody"]),
    (0, &["ACL", "DELUSER", "default"]),
    (0, &["ACL", "DELUSER", "bob", "nobody"]),
    (0, &["ACL", "USERS"]),
    (0, &["ACL", "CAT", "nosuchcategory"]),
    (0, &["ACL", "SAVE"]),
    (0, &["ACL", "GENPASS", "0"]),
    (0, &["ACL", "LOG", "RESET"]),
    (0, &["ACL", "LOG"]),
];

/// Runs the transcript. Redis 7.0 describes several single-command rules in its command
/// table's hash order (later versions keep them as given, as Basalt does), so the transcript
/// gives a user one such rule; `subcommand_rules_allow_one_subcommand` covers the others.
fn run(port: u16) -> Vec<Reply> {
    let mut conns = [connect(port), connect(port), connect(port)];
    STEPS
        .iter()
        .map(|(c, args)| raw(&mut conns[*c], args))
        .collect()
}

#[test]
fn acl_transcript_matches_redis() {
    let srv = Server::start();
    let got = run(srv.port());
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let want = run(redis.port());
    for (i, ((_, args), (g, w))) in STEPS.iter().zip(got.iter().zip(&want)).enumerate() {
        assert_eq!(g, w, "step {i}: {args:?}");
    }
}

#[test]
fn denials_are_logged_with_their_reason_and_object() {
    let srv = Server::start();
    let mut admin = srv.client();
    raw(
        &mut admin,
        &["ACL", "SETUSER", "carol", "on", ">pw", "~c:*", "+get"],
    );
    let mut c = srv.client();
    assert_eq!(
        raw(&mut c, &["AUTH", "carol", "nope"])
            .error_text()
            .map(String::from),
        Some("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    raw(&mut c, &["AUTH", "carol", "pw"]);
    raw(&mut c, &["GET", "x"]);
    raw(&mut c, &["GET", "x"]);
    raw(&mut c, &["SET", "c:1", "v"]);
    let Reply::Array(entries) = raw(&mut admin, &["ACL", "LOG"]) else {
        panic!("ACL LOG");
    };
    let field = |e: &Reply, name: &str| -> Reply {
        let Reply::Array(kv) = e else {
            panic!("entry {e}")
        };
        kv.chunks(2)
            .find(|p| p[0] == Reply::bulk(name) || p[0] == Reply::Simple(name.into()))
            .map(|p| p[1].clone())
            .unwrap_or_else(|| panic!("no {name} in {e}"))
    };
    let summary: Vec<(Reply, Reply, Reply, Reply)> = entries
        .iter()
        .map(|e| {
            (
                field(e, "count"),
                field(e, "reason"),
                field(e, "object"),
                field(e, "username"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Reply::Int(1),
                Reply::bulk("command"),
                Reply::bulk("set"),
                Reply::bulk("carol")
            ),
            (
                Reply::Int(2),
                Reply::bulk("key"),
                Reply::bulk("x"),
                Reply::bulk("carol")
            ),
            (
                Reply::Int(1),
                Reply::bulk("auth"),
                Reply::bulk("AUTH"),
                Reply::bulk("carol")
            ),
        ]
    );
    let Reply::Bulk(info) = field(&entries[0], "client-info") else {
        panic!("client-info");
    };
    let info = String::from_utf8_lossy(&info);
    assert!(info.contains(" cmd=set user=carol "), "{info}");
    let Reply::Array(newest) = raw(&mut admin, &["ACL", "LOG", "1"]) else {
        panic!("ACL LOG 1");
    };
    assert_eq!(newest.len(), 1);
    assert_eq!(field(&newest[0], "object"), Reply::bulk("set"));
}

#[test]
fn requirepass_is_the_default_users_password_and_deluser_disconnects() {
    let srv = Server::start_with(&["--requirepass", "s3cret"]);
    let mut c = srv.client();
    assert!(raw(&mut c, &["GET", "k"]).is_error());
    assert_eq!(raw(&mut c, &["AUTH", "s3cret"]), Reply::ok());
    assert_eq!(
        raw(&mut c, &["ACL", "LIST"]),
        Reply::Array(vec![Reply::bulk(format!(
            "user default on #{} ~* &* +@all",
            basalt::server::acl::sha256_hex(b"s3cret")
        ))])
    );
    raw(
        &mut c,
        &["ACL", "SETUSER", "dave", "on", "nopass", "+@all", "~*"],
    );
    let mut d = srv.client();
    assert_eq!(raw(&mut d, &["AUTH", "dave", "x"]), Reply::ok());
    assert_eq!(raw(&mut d, &["ACL", "WHOAMI"]), Reply::bulk("dave"));
    let Reply::Bulk(line) = raw(&mut d, &["CLIENT", "INFO"]) else {
        panic!("CLIENT INFO");
    };
    assert!(String::from_utf8_lossy(&line).contains(" user=dave "));
    assert_eq!(raw(&mut c, &["ACL", "DELUSER", "dave"]), Reply::Int(1));
    assert!(matches!(raw(&mut d, &["PING"]), Reply::Io(_)));
    // CONFIG SET requirepass changes the default user's password.
    raw(&mut c, &["CONFIG", "SET", "requirepass", "other"]);
    let mut e = srv.client();
    assert!(raw(&mut e, &["AUTH", "s3cret"]).is_error());
    assert_eq!(raw(&mut e, &["AUTH", "other"]), Reply::ok());
}

#[test]
fn subcommand_rules_allow_one_subcommand() {
    let srv = Server::start();
    let mut admin = srv.client();
    raw(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "ops",
            "on",
            "nopass",
            "+config|get",
            "+client",
            "-client|kill",
        ],
    );
    let mut c = srv.client();
    raw(&mut c, &["AUTH", "ops", "x"]);
    assert!(!raw(&mut c, &["CONFIG", "GET", "timeout"]).is_error());
    assert_eq!(
        raw(&mut c, &["CONFIG", "SET", "timeout", "1"]).error_text(),
        Some("NOPERM this user has no permissions to run the 'config|set' command")
    );
    assert!(!raw(&mut c, &["CLIENT", "ID"]).is_error());
    assert!(raw(&mut c, &["CLIENT", "KILL", "ID", "999"]).is_error());
    let user = raw(&mut admin, &["ACL", "GETUSER", "ops"]).to_string();
    assert!(
        user.contains("-@all +config|get +client -client|kill"),
        "{user}"
    );
}
