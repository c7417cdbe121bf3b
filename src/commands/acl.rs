//! ACL: the ACL command (SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT LOG GENPASS DRYRUN HELP,
//! and SAVE/LOAD answered as Redis does without an ACL file) and the permission check dispatch
//! runs before every command of a restricted user.

use super::flags::*;
use super::introspection::{client_line_of, help_reply, run_sub, sub, Sub};
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::acl::User;
use crate::server::{Client, Shared};

pub(super) const TABLE: &[Spec] = &[Spec::new("acl", -2, 0, Keys::NONE, acl)
    .group("server")
    .doc("A container for Access List Control commands.")];

const SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub(in crate::commands) const ACL_SUBS: &[Sub] = &[
    sub(
        "acl|setuser",
        -3,
        SUB,
        "Creates and modifies an ACL user and its rules.",
        setuser,
    ),
    sub(
        "acl|getuser",
        3,
        SUB,
        "Lists the ACL rules of a user.",
        getuser,
    ),
    sub(
        "acl|deluser",
        -3,
        SUB,
        "Deletes ACL users, and terminates their connections.",
        deluser,
    ),
    sub(
        "acl|list",
        2,
        SUB,
        "Dumps the effective rules in ACL file format.",
        list,
    ),
    sub("acl|users", 2, SUB, "Lists all ACL users.", users),
    sub(
        "acl|whoami",
        2,
        NOSCRIPT | LOADING | STALE,
        "Returns the authenticated username of the current connection.",
        whoami,
    ),
    sub(
        "acl|cat",
        -2,
        NOSCRIPT | LOADING | STALE,
        "Lists the ACL categories, or the commands inside a category.",
        cat,
    ),
    sub(
        "acl|log",
        -2,
        SUB,
        "Lists recent security events generated due to ACL rejections.",
        log,
    ),
    sub(
        "acl|genpass",
        -2,
        NOSCRIPT | LOADING | STALE,
        "Generates a pseudorandom, secure password that can be used to identify ACL users.",
        genpass,
    ),
    sub(
        "acl|dryrun",
        -4,
        SUB,
        "Simulates the execution of a command by a user, without executing the command.",
        dryrun,
    ),
    sub(
        "acl|save",
        2,
        SUB,
        "Saves the effective ACL rules in the configured ACL file.",
        no_file,
    ),
    sub(
        "acl|load",
        2,
        SUB,
        "Reloads the rules from the configured ACL file.",
        no_file,
    ),
    sub(
        "acl|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        help,
    ),
];

fn acl(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, ACL_SUBS)
}

/// Why a command is refused to a user.
pub(super) enum Denied {
    Command(String),
    Key(Vec<u8>),
    Channel(Vec<u8>),
}

impl Denied {
    fn reason(&self) -> &'static str {
        match self {
            Denied::Command(_) => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }

    fn object(&self) -> String {
        match self {
            Denied::Command(c) => c.clone(),
            Denied::Key(k) | Denied::Channel(k) => String::from_utf8_lossy(k).into_owned(),
        }
    }

    fn error(&self) -> CmdError {
        CmdError::msg(match self {
            Denied::Command(c) => {
                format!("NOPERM this user has no permissions to run the '{c}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_string()
            }
            Denied::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments"
                    .to_string()
            }
        })
    }
}

/// Whether `user` may run this request: the command (or subcommand), every key, and for pub/sub
/// commands every channel.
fn permitted(user: &User, spec: &Spec, args: &Args<'_>) -> Result<(), Denied> {
    let rules = user.rules();
    let full = if super::introspection::is_container(spec) {
        super::introspection::subcommand_name(spec, args).unwrap_or(spec.name)
    } else {
        spec.name
    };
    if !rules.may_run(full) {
        return Err(Denied::Command(full.to_string()));
    }
    for i in super::key_positions(spec, args) {
        let key = args.get(i);
        if !rules.may_access_key(key) {
            return Err(Denied::Key(key.to_vec()));
        }
    }
    let (channels, patterns) = match spec.name {
        "publish" | "spublish" => (1..2.min(args.len()), false),
        "subscribe" | "ssubscribe" => (1..args.len(), false),
        "psubscribe" => (1..args.len(), true),
        _ => (0..0, false),
    };
    for i in channels {
        let ch = args.get(i);
        if !rules.may_use_channel(ch, patterns) {
            return Err(Denied::Channel(ch.to_vec()));
        }
    }
    Ok(())
}

/// The check dispatch runs for a client whose user is restricted: NOPERM and an ACL LOG entry
/// when refused.
pub(super) fn check(
    shared: &Shared,
    client: &Client,
    spec: &Spec,
    args: &Args<'_>,
) -> Result<(), CmdError> {
    let user = client.user.as_deref().unwrap_or(&shared.acl.default);
    if user.unrestricted() {
        return Ok(());
    }
    permitted(user, spec, args).map_err(|denied| {
        let context = if client.multi.is_some() {
            "multi"
        } else {
            "toplevel"
        };
        shared.acl.log(
            denied.reason(),
            context,
            denied.object(),
            user.name.clone(),
            client_line_of(&client.info),
        );
        denied.error()
    })
}

/// Whether the client's user may run a command, without logging a denial
/// (`redis.acl_check_cmd`).
pub(super) fn permits(shared: &Shared, client: &Client, spec: &Spec, args: &Args<'_>) -> bool {
    let user = client.user.as_deref().unwrap_or(&shared.acl.default);
    user.unrestricted() || permitted(user, spec, args).is_ok()
}

fn setuser(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let name = args.text(2);
    let rules: Vec<&[u8]> = args.iter().skip(3).collect();
    cx.shared
        .acl
        .set_user(&name, &rules)
        .map_err(CmdError::msg)?;
    cx.shared.acl_changed();
    Ok(Reply::Ok)
}

fn getuser(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let Some(user) = cx.shared.acl.get(&args.text(2)) else {
        return Ok(Reply::Nil);
    };
    let r = user.rules();
    let mut flags = vec![Reply::bulk(if r.enabled { &b"on"[..] } else { b"off" })];
    if r.nopass {
        flags.push(Reply::bulk(b"nopass"));
    }
    let join = |prefix: char, items: &[Vec<u8>]| {
        items
            .iter()
            .map(|i| format!("{prefix}{}", String::from_utf8_lossy(i)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok(Reply::Map(vec![
        (Reply::bulk(b"flags"), Reply::Array(flags)),
        (
            Reply::bulk(b"passwords"),
            Reply::Array(
                r.passwords
                    .iter()
                    .map(|p| Reply::bulk(p.as_bytes()))
                    .collect(),
            ),
        ),
        (
            Reply::bulk(b"commands"),
            Reply::bulk(r.command_rules.join(" ").as_bytes()),
        ),
        (
            Reply::bulk(b"keys"),
            Reply::bulk(join('~', &r.keys).as_bytes()),
        ),
        (
            Reply::bulk(b"channels"),
            Reply::bulk(join('&', &r.channels).as_bytes()),
        ),
        (Reply::bulk(b"selectors"), Reply::Array(Vec::new())),
    ]))
}

fn deluser(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let names: Vec<String> = (2..args.len()).map(|i| args.text(i)).collect();
    if names.iter().any(|n| n == "default") {
        return Err(CmdError::msg("ERR The 'default' user cannot be removed"));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let gone = cx.shared.acl.delete_users(&refs);
    // Their connections go, as in Redis.
    for info in cx.shared.clients.all() {
        let name = info.user.lock().clone();
        if gone.iter().any(|u| u.name == name) {
            info.kill();
        }
    }
    Ok(Reply::Int(gone.len() as i64))
}

fn list(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Array(
        cx.shared
            .acl
            .users()
            .iter()
            .map(|u| Reply::bulk(format!("user {} {}", u.name, u.rules().describe()).as_bytes()))
            .collect(),
    ))
}

fn users(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Array(
        cx.shared
            .acl
            .users()
            .iter()
            .map(|u| Reply::bulk(u.name.as_bytes()))
            .collect(),
    ))
}

fn whoami(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let name = cx.client.info.user.lock().clone();
    Ok(Reply::bulk(name.as_bytes()))
}

fn cat(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let Some(category) = args.opt(2) else {
        return Ok(Reply::Array(
            super::introspection::acl_category_names()
                .map(|c| Reply::bulk(c.as_bytes()))
                .collect(),
        ));
    };
    let category = String::from_utf8_lossy(category).to_ascii_lowercase();
    if !super::introspection::acl_category_names().any(|c| c == category) {
        return Err(CmdError::msg(format!("ERR Unknown category '{category}'")));
    }
    Ok(Reply::Array(
        super::introspection::acl_catalog()
            .into_iter()
            .filter(|(_, cats)| cats.contains(&category.as_str()))
            .map(|(name, _)| Reply::bulk(name.as_bytes()))
            .collect(),
    ))
}

fn log(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let mut count = 10usize;
    if let Some(a) = args.opt(2) {
        if a.eq_ignore_ascii_case(b"reset") {
            cx.shared.acl.reset_log();
            return Ok(Reply::Ok);
        }
        let n = args
            .i64(2)
            .ok()
            .filter(|&n| n >= 0)
            .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))?;
        count = usize::try_from(n).unwrap_or(usize::MAX);
    }
    Ok(cx.shared.acl.with_log(|entries| {
        Reply::Array(
            entries
                .iter()
                .take(count)
                .map(|e| {
                    Reply::Map(vec![
                        (Reply::bulk(b"count"), Reply::Int(e.count as i64)),
                        (Reply::bulk(b"reason"), Reply::bulk(e.reason.as_bytes())),
                        (Reply::bulk(b"context"), Reply::bulk(e.context.as_bytes())),
                        (Reply::bulk(b"object"), Reply::bulk(e.object.as_bytes())),
                        (Reply::bulk(b"username"), Reply::bulk(e.username.as_bytes())),
                        (
                            Reply::bulk(b"age-seconds"),
                            Reply::Double(e.created.elapsed().as_secs_f64()),
                        ),
                        (
                            Reply::bulk(b"client-info"),
                            Reply::bulk(e.client_info.as_bytes()),
                        ),
                    ])
                })
                .collect(),
        )
    }))
}

fn genpass(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    use rand::Rng;
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let bits = match args.opt(2) {
        None => 256,
        Some(_) => args
            .i64(2)
            .ok()
            .filter(|b| (1..=4096).contains(b))
            .ok_or_else(|| {
                CmdError::msg("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
            })?,
    };
    let chars = (bits as usize).div_ceil(4);
    let mut rng = rand::rng();
    let pass: String = (0..chars)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect();
    Ok(Reply::bulk(pass.as_bytes()))
}

fn dryrun(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let name = args.text(2);
    let Some(user) = cx.shared.acl.get(&name) else {
        return Err(CmdError::msg(format!("ERR User '{name}' not found")));
    };
    let cmd_args: Vec<&[u8]> = args.iter().skip(3).collect();
    let ranges: Vec<std::ops::Range<usize>> = {
        let mut off = 0;
        cmd_args
            .iter()
            .map(|a| {
                let r = off..off + a.len();
                off += a.len();
                r
            })
            .collect()
    };
    let base = cmd_args.concat();
    let inner = Args::new(&base, &ranges);
    let Some(spec) = cx.shared.names.lookup(inner.get(0)) else {
        return Err(CmdError::msg(format!(
            "ERR Command '{}' not found",
            inner.text(0)
        )));
    };
    if !spec.arity_ok(inner.len()) {
        return Err(CmdError::Arity(spec.name.to_string()));
    }
    Ok(match permitted(&user, spec, &inner) {
        Ok(()) => Reply::Ok,
        Err(Denied::Command(c)) => {
            Reply::bulk(format!("This user has no permissions to run the '{c}' command").as_bytes())
        }
        Err(Denied::Key(k)) => Reply::bulk(
            format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(&k)
            )
            .as_bytes(),
        ),
        Err(Denied::Channel(c)) => Reply::bulk(
            format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(&c)
            )
            .as_bytes(),
        ),
    })
}

fn no_file(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Err(CmdError::msg(
        "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
    ))
}

fn help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn acl_subcommands_are_in_the_acl_catalog() {
        let names: Vec<&str> = super::super::introspection::acl_catalog()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for s in ["acl|setuser", "acl|whoami", "acl|log", "acl|dryrun"] {
            assert!(names.contains(&s), "{s}");
        }
    }
}
