//! Access control lists: users, their passwords and their command, key and channel permissions
//! (Redis 7.0's `acl.c`, without selectors and without an ACL file).
//!
//! A user's rules are applied in order to a catalog of every command and subcommand with its
//! categories, giving the set of full command names it may run. Each connection holds its user's
//! cell; ACL SETUSER swaps the cell's rules, so connected clients see changes at once, and a
//! cell whose user has all permissions answers "allowed" from one atomic load, which keeps the
//! check off the hot path for the default user.

use crate::util::glob::glob_match;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// How many ACL LOG entries are kept (Redis's `acllog-max-len` default).
const LOG_MAX: usize = 128;

/// One command or subcommand and its categories.
type CatalogEntry = (&'static str, Vec<&'static str>);

fn catalog() -> &'static [CatalogEntry] {
    static CATALOG: OnceLock<Vec<CatalogEntry>> = OnceLock::new();
    CATALOG.get_or_init(crate::commands::introspection::acl_catalog)
}

/// The catalog entries a rule names: `@category`, `@all`, a command (with its subcommands) or
/// one `command|subcommand`.
fn select(what: &str) -> Result<Vec<&'static str>, String> {
    const UNKNOWN: &str = "Unknown command or category name in ACL";
    if let Some(cat) = what.strip_prefix('@') {
        if cat == "all" {
            return Ok(catalog().iter().map(|(n, _)| *n).collect());
        }
        if !crate::commands::introspection::acl_category_names().any(|c| c == cat) {
            return Err(UNKNOWN.into());
        }
        return Ok(catalog()
            .iter()
            .filter(|(_, cats)| cats.contains(&cat))
            .map(|(n, _)| *n)
            .collect());
    }
    let prefix = format!("{what}|");
    let matched: Vec<&'static str> = catalog()
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n == what || (!what.contains('|') && n.starts_with(&prefix)))
        .collect();
    if matched.is_empty() {
        return Err(UNKNOWN.into());
    }
    Ok(matched)
}

/// The rules of one user, as ACL SETUSER built them.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub enabled: bool,
    pub nopass: bool,
    /// SHA-256 digests of the passwords, lowercase hex.
    pub passwords: Vec<String>,
    pub keys: Vec<Vec<u8>>,
    pub channels: Vec<Vec<u8>>,
    /// The command rules as given, reset by +@all / -@all (what ACL LIST shows).
    pub command_rules: Vec<String>,
    /// Full command names (`get`, `config|get`) the user may run.
    allowed: HashSet<&'static str>,
}

impl Rules {
    /// A new user: off, no password, no keys, no channels, no commands.
    fn new_user() -> Rules {
        Rules {
            command_rules: vec!["-@all".into()],
            ..Rules::default()
        }
    }

    /// The default user: on, no password, everything.
    fn default_user() -> Rules {
        let mut r = Rules::new_user();
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            // The rules are fixed and valid.
            let _ = r.apply(rule.as_bytes());
        }
        r
    }

    fn everything(&self) -> bool {
        self.allowed.len() == catalog().len()
            && self.keys.iter().any(|k| k == b"*")
            && self.channels.iter().any(|c| c == b"*")
    }

    /// Applies one ACL SETUSER rule; the error is the reason Redis gives.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(rule);
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec![b"*".to_vec()],
            "resetkeys" => self.keys.clear(),
            "allchannels" => self.channels = vec![b"*".to_vec()],
            "resetchannels" => self.channels.clear(),
            "allcommands" => return self.apply(b"+@all"),
            "nocommands" => return self.apply(b"-@all"),
            "reset" => {
                *self = Rules::new_user();
            }
            _ => return self.apply_prefixed(rule, &text),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8], text: &str) -> Result<(), String> {
        let (&first, rest) = rule.split_first().ok_or("Syntax error")?;
        match first {
            b'>' => {
                let h = sha256_hex(rest);
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'<' => {
                let h = sha256_hex(rest);
                let before = self.passwords.len();
                self.passwords.retain(|p| *p != h);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            b'#' | b'!' => {
                let valid = rest.len() == 64
                    && rest
                        .iter()
                        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
                if !valid {
                    return Err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".into());
                }
                let h = String::from_utf8_lossy(rest).into_owned();
                if first == b'#' {
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                } else {
                    let before = self.passwords.len();
                    self.passwords.retain(|p| *p != h);
                    if self.passwords.len() == before {
                        return Err(
                            "The password you are trying to remove from the user does not exist"
                                .into(),
                        );
                    }
                }
            }
            b'~' => {
                if !self.keys.iter().any(|k| k == rest) {
                    self.keys.push(rest.to_vec());
                }
            }
            b'&' => {
                if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            b'+' | b'-' => self.apply_command_rule(first == b'+', &text[1..])?,
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    fn apply_command_rule(&mut self, allow: bool, what: &str) -> Result<(), String> {
        let what = what.to_ascii_lowercase();
        let selected = select(&what)?;
        let rule = format!("{}{what}", if allow { '+' } else { '-' });
        if what == "@all" {
            self.command_rules = vec![rule];
        } else {
            // As Redis keeps them: a newer rule for a command (or category) replaces the older
            // ones for it and its subcommands, so the list replays to the same permissions.
            let sub_prefix = format!("{what}|");
            self.command_rules.retain(|r| {
                let name = r.get(1..).unwrap_or_default();
                r == "-@all" || r == "+@all" || (name != what && !name.starts_with(&sub_prefix))
            });
            self.command_rules.push(rule);
        }
        for name in selected {
            if allow {
                self.allowed.insert(name);
            } else {
                self.allowed.remove(name);
            }
        }
        Ok(())
    }

    /// The rule string ACL LIST shows after `user <name> `.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = vec![if self.enabled { "on" } else { "off" }.into()];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        parts.extend(
            self.keys
                .iter()
                .map(|k| format!("~{}", String::from_utf8_lossy(k))),
        );
        if !self.channels.iter().any(|c| c == b"*") {
            parts.push("resetchannels".into());
        }
        parts.extend(
            self.channels
                .iter()
                .map(|c| format!("&{}", String::from_utf8_lossy(c))),
        );
        parts.extend(self.command_rules.iter().cloned());
        parts.join(" ")
    }

    /// Whether the user may run the command or subcommand `full_name`.
    pub fn may_run(&self, full_name: &str) -> bool {
        self.allowed.contains(full_name)
    }

    /// Whether the user may access `key`.
    pub fn may_access_key(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|p| glob_match(p, key, false))
    }

    /// Whether the user may publish to or subscribe to `channel`; a pattern subscription must be
    /// allowed literally, as in Redis.
    pub fn may_use_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.channels.iter().any(|p| {
            if is_pattern {
                p == b"*" || p == channel
            } else {
                glob_match(p, channel, false)
            }
        })
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let h = sha256_hex(pass);
        // Digests are compared in full; a mismatch position says nothing about the password.
        self.passwords.iter().any(|p| p.as_bytes() == h.as_bytes())
    }
}

/// One user as connections see it: rules that ACL SETUSER replaces in place.
pub struct User {
    pub name: String,
    rules: RwLock<Rules>,
    /// All commands, keys and channels: the per-command check is skipped.
    unrestricted: AtomicBool,
    /// Deleted by ACL DELUSER: its clients are disconnected.
    pub deleted: AtomicBool,
}

impl User {
    fn new(name: &str, rules: Rules) -> Arc<User> {
        let unrestricted = AtomicBool::new(rules.everything());
        Arc::new(User {
            name: name.to_string(),
            rules: RwLock::new(rules),
            unrestricted,
            deleted: AtomicBool::new(false),
        })
    }

    /// Whether every command, key and channel is allowed (one atomic load).
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Relaxed)
    }

    /// The current rules, for a check or a description.
    pub fn rules(&self) -> parking_lot::RwLockReadGuard<'_, Rules> {
        self.rules.read()
    }

    fn set_rules(&self, rules: Rules) {
        self.unrestricted
            .store(rules.everything(), Ordering::Relaxed);
        *self.rules.write() = rules;
    }
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: String,
    pub username: String,
    pub created: Instant,
    pub updated: Instant,
    pub client_info: String,
}

/// The server's users and its ACL log.
pub struct Acl {
    users: RwLock<HashMap<String, Arc<User>>>,
    /// The default user (also in `users`): it cannot be deleted, so its cell is fixed.
    pub default: Arc<User>,
    log: Mutex<VecDeque<LogEntry>>,
}

impl Acl {
    /// The default user only, with `requirepass` as its password if set.
    pub fn new(requirepass: Option<&str>) -> Acl {
        let default = User::new("default", Rules::default_user());
        let acl = Acl {
            users: RwLock::new(HashMap::from([("default".into(), Arc::clone(&default))])),
            default,
            log: Mutex::new(VecDeque::new()),
        };
        acl.set_requirepass(requirepass);
        acl
    }

    /// CONFIG SET requirepass: the default user's only password, or nopass when empty.
    pub fn set_requirepass(&self, pass: Option<&str>) {
        let user = &self.default;
        let mut rules = user.rules().clone();
        match pass {
            Some(p) if !p.is_empty() => {
                rules.nopass = false;
                rules.passwords = vec![sha256_hex(p.as_bytes())];
            }
            _ => {
                rules.nopass = true;
                rules.passwords.clear();
            }
        }
        user.set_rules(rules);
    }

    /// Whether a new connection must authenticate: the default user has a password or is off.
    pub fn auth_required(&self) -> bool {
        let r = self.default.rules();
        !r.nopass || !r.enabled
    }

    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// AUTH: the user if it exists, is on, and the password matches.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let user = self.get(std::str::from_utf8(name).ok()?)?;
        let ok = {
            let r = user.rules();
            r.enabled && r.password_ok(pass)
        };
        ok.then_some(user)
    }

    /// ACL SETUSER: applies all rules to a copy (nothing changes if one fails) and creates the
    /// user if needed. The error is Redis's reply text.
    pub fn set_user(&self, name: &str, rules: &[&[u8]]) -> Result<(), String> {
        let existing = self.get(name);
        let mut new = match &existing {
            Some(u) => u.rules().clone(),
            None => Rules::new_user(),
        };
        for rule in rules {
            new.apply(rule).map_err(|reason| {
                format!(
                    "ERR Error in ACL SETUSER modifier '{}': {reason}",
                    String::from_utf8_lossy(rule)
                )
            })?;
        }
        match existing {
            Some(u) => u.set_rules(new),
            None => {
                self.users
                    .write()
                    .insert(name.to_string(), User::new(name, new));
            }
        }
        Ok(())
    }

    /// ACL DELUSER: removes users (never `default`: the caller refuses it), returning them.
    pub fn delete_users(&self, names: &[&str]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        let mut gone = Vec::new();
        for name in names.iter().filter(|n| **n != "default") {
            if let Some(u) = users.remove(*name) {
                u.deleted.store(true, Ordering::Relaxed);
                gone.push(u);
            }
        }
        gone
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        let mut v: Vec<_> = self.users.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Records a denial; a repeat of the same denial within 60 s bumps its count, as Redis does.
    pub fn log(
        &self,
        reason: &'static str,
        context: &'static str,
        object: String,
        username: String,
        client_info: String,
    ) {
        let mut log = self.log.lock();
        let now = Instant::now();
        if let Some(e) = log.iter_mut().find(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.duration_since(e.updated).as_secs() < 60
        }) {
            e.count += 1;
            e.updated = now;
            e.client_info = client_info;
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            created: now,
            updated: now,
            client_info,
        });
        log.truncate(LOG_MAX);
    }

    /// Runs `f` over the newest `count` log entries.
    pub fn with_log<R>(&self, f: impl FnOnce(&VecDeque<LogEntry>) -> R) -> R {
        f(&self.log.lock())
    }

    pub fn reset_log(&self) {
        self.log.lock().clear();
    }
}

/// SHA-256 of `data` as lowercase hex, the form Redis stores and shows passwords in.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_select_commands_and_describe_themselves_as_redis_does() {
        let mut r = Rules::new_user();
        assert_eq!(r.describe(), "off resetchannels -@all");
        for rule in [
            "on",
            ">p1",
            "~foo*",
            "&ch*",
            "+get",
            "+@hash",
            "-hdel",
            "+config|get",
        ] {
            r.apply(rule.as_bytes()).unwrap();
        }
        assert!(r.may_run("get") && r.may_run("hset") && r.may_run("config|get"));
        assert!(!r.may_run("hdel") && !r.may_run("set") && !r.may_run("config|set"));
        assert!(r.may_access_key(b"foobar") && !r.may_access_key(b"bar"));
        assert!(r.may_use_channel(b"chat", false) && !r.may_use_channel(b"news", false));
        assert!(r.may_use_channel(b"ch*", true) && !r.may_use_channel(b"c*", true));
        assert_eq!(
            r.describe(),
            "on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~foo* resetchannels &ch* -@all +get +@hash -hdel +config|get"
        );
        assert!(r.password_ok(b"p1") && !r.password_ok(b"p2"));
        assert_eq!(
            r.apply(b"+nosuch"),
            Err("Unknown command or category name in ACL".into())
        );
        assert!(r.apply(b"#abc").is_err() && r.apply(b"<nope").is_err());
        assert_eq!(r.apply(b"bogus"), Err("Syntax error".into()));
        r.apply(b"allcommands").unwrap();
        assert_eq!(r.command_rules, vec!["+@all".to_string()]);
        let d = Rules::default_user();
        assert!(d.everything());
        assert_eq!(d.describe(), "on nopass ~* &* +@all");
    }

    #[test]
    fn set_user_is_all_or_nothing_and_requirepass_drives_the_default_user() {
        let acl = Acl::new(None);
        assert!(!acl.auth_required());
        assert!(acl.authenticate(b"default", b"anything").is_some());
        acl.set_requirepass(Some("secret"));
        assert!(acl.auth_required());
        assert!(acl.authenticate(b"default", b"secret").is_some());
        assert!(acl.authenticate(b"default", b"wrong").is_none());
        assert!(acl.set_user("alice", &[b"on", b"bogus"]).is_err());
        assert!(acl.get("alice").is_none());
        acl.set_user("alice", &[b"on", b">pw", b"+get", b"~*"])
            .unwrap();
        let alice = acl.authenticate(b"alice", b"pw").unwrap();
        assert!(!alice.unrestricted() && alice.rules().may_run("get"));
        assert_eq!(acl.delete_users(&["alice", "nobody"]).len(), 1);
        assert!(alice.deleted.load(Ordering::Relaxed));
    }
}
