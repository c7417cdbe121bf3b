//! COMMAND and its subcommands: COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS, HELP.

use super::*;

pub(super) const COMMAND_SUBS: &[Sub] = &[
    sub(
        "command|count",
        2,
        LOADING | STALE,
        "Returns a count of commands.",
        command_count,
    ),
    sub(
        "command|info",
        -2,
        LOADING | STALE,
        "Returns information about one, multiple or all commands.",
        command_info,
    ),
    sub(
        "command|docs",
        -2,
        LOADING | STALE,
        "Returns documentary information about one, multiple or all commands.",
        command_docs,
    ),
    sub(
        "command|list",
        -2,
        LOADING | STALE,
        "Returns a list of command names.",
        command_list,
    ),
    sub(
        "command|getkeys",
        -4,
        LOADING | STALE,
        "Extracts the key names from an arbitrary command.",
        command_getkeys,
    ),
    sub(
        "command|getkeysandflags",
        -4,
        LOADING | STALE,
        "Extracts the key names and access flags for an arbitrary command.",
        command_getkeysandflags,
    ),
    sub(
        "command|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        command_help,
    ),
];

/// What COMMAND INFO/DOCS/LIST report about a command or a subcommand.
#[derive(Clone, Copy)]
struct Desc {
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: Keys,
    group: &'static str,
    summary: &'static str,
    subs: &'static [Sub],
}

impl Desc {
    fn of(spec: &'static Spec) -> Desc {
        Desc {
            name: spec.name,
            arity: spec.arity,
            flags: spec.flags,
            keys: spec.keys,
            group: spec.group,
            summary: spec.summary,
            subs: subcommands_of(spec.name),
        }
    }

    fn of_sub(parent: &'static Spec, sub: &'static Sub) -> Desc {
        Desc {
            name: sub.name,
            arity: sub.arity,
            flags: sub.flags,
            keys: Keys::NONE,
            group: parent.group,
            summary: sub.summary,
            subs: &[],
        }
    }

    fn children(&self, parent: &'static Spec) -> impl Iterator<Item = Desc> + '_ {
        self.subs.iter().map(move |s| Desc::of_sub(parent, s))
    }
}

/// Every command, sorted by name.
fn sorted_specs() -> Vec<&'static Spec> {
    let mut v: Vec<_> = Table::get().iter().collect();
    v.sort_by_key(|s| s.name);
    v
}

/// Looks a command up by name, or a subcommand of ours by its full `container|sub` name.
fn lookup_desc(name: &[u8]) -> Option<Desc> {
    let table = Table::get();
    match name.iter().position(|&c| c == b'|') {
        None => table.lookup(name).map(Desc::of),
        Some(i) => {
            let parent = table.lookup(&name[..i])?;
            let sub = find_sub(subcommands_of(parent.name), &name[i + 1..])?;
            Some(Desc::of_sub(parent, sub))
        }
    }
}

/// ACL categories, in the order Redis lists them.
const CATEGORIES: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

fn cat(name: &str) -> u32 {
    CATEGORIES
        .iter()
        .position(|c| &c[1..] == name)
        .map_or(0, |i| 1 << i)
}

/// The category a command group implies.
fn group_category(group: &str) -> u32 {
    match group {
        "generic" | "keyspace" => cat("keyspace"),
        "string" => cat("string"),
        "list" => cat("list"),
        "set" => cat("set"),
        "sorted-set" | "sorted_set" | "sortedset" | "zset" => cat("sortedset"),
        "hash" => cat("hash"),
        "bitmap" => cat("bitmap"),
        "hyperloglog" => cat("hyperloglog"),
        "geo" => cat("geo"),
        "stream" => cat("stream"),
        "pubsub" => cat("pubsub"),
        "connection" => cat("connection"),
        "transactions" | "transaction" => cat("transaction"),
        "scripting" => cat("scripting"),
        _ => 0,
    }
}

/// Categories Redis assigns explicitly beyond what flags and group imply: (added, removed).
fn category_overrides(name: &str) -> (u32, u32) {
    // PUBSUB HELP is only @slow, unlike its siblings.
    if name == "pubsub|help" {
        return (0, cat("pubsub"));
    }
    let base = name.split('|').next().unwrap_or(name);
    match base {
        "sort" | "sort_ro" => (
            cat("dangerous") | cat("list") | cat("set") | cat("sortedset"),
            cat("keyspace"),
        ),
        "dbsize" => (cat("keyspace"), 0),
        "role" | "lastsave" => (cat("admin") | cat("dangerous"), 0),
        "keys" | "migrate" | "restore" | "info" => (cat("dangerous"), 0),
        "swapdb" | "flushall" | "flushdb" | "restore-asking" => {
            (cat("dangerous") | cat("keyspace"), 0)
        }
        "readwrite" | "readonly" | "asking" | "command" => (cat("connection"), 0),
        "wait" => (cat("connection"), cat("keyspace")),
        _ => (0, 0),
    }
}

/// The ACL categories of a command, derived as Redis does from its flags, plus its group's
/// category and Redis's explicit extras. A command without flags is a container (CONFIG, OBJECT,
/// XINFO...: in Redis exactly those have none), which is only @slow.
fn categories(d: &Desc) -> Vec<&'static str> {
    let mut bits = 0u32;
    if d.flags != 0 {
        if d.flags & WRITE != 0 {
            bits |= cat("write");
        }
        if d.flags & READONLY != 0 && d.group != "scripting" {
            bits |= cat("read");
        }
        if d.flags & ADMIN != 0 {
            bits |= cat("admin") | cat("dangerous");
        }
        if d.flags & PUBSUB != 0 {
            bits |= cat("pubsub");
        }
        if d.flags & FAST != 0 {
            bits |= cat("fast");
        }
        if d.flags & BLOCKING != 0 {
            bits |= cat("blocking");
        }
        bits |= group_category(d.group);
        let (add, remove) = category_overrides(d.name);
        bits = (bits | add) & !remove;
    }
    if bits & cat("fast") == 0 {
        bits |= cat("slow");
    }
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// Every category name without its `@`, in Redis's order (ACL CAT).
pub(crate) fn acl_category_names() -> impl Iterator<Item = &'static str> {
    CATEGORIES.iter().map(|c| &c[1..])
}

/// Every command and subcommand (full `container|sub` names) with its categories (without `@`):
/// what ACL rules select from.
pub(crate) fn acl_catalog() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out = Vec::new();
    for spec in sorted_specs() {
        let d = Desc::of(spec);
        out.push((d.name, categories(&d).iter().map(|c| &c[1..]).collect()));
        for child in d.children(spec) {
            out.push((
                child.name,
                categories(&child).iter().map(|c| &c[1..]).collect(),
            ));
        }
    }
    out
}

/// Key access flags for key specs and GETKEYSANDFLAGS (an approximation from the command flags).
fn key_flags(flags: u32) -> &'static [&'static str] {
    // Shard channels sit at key positions for cluster routing but are not keys.
    if flags & PUBSUB != 0 {
        &["not_key"]
    } else if flags & WRITE != 0 {
        &["RW", "access", "update"]
    } else {
        &["RO", "access"]
    }
}

/// `lastkey` of a range key spec: relative to the first key, or negative from the end.
fn spec_lastkey(keys: Keys) -> i64 {
    if keys.last < 0 {
        keys.last as i64
    } else {
        keys.last as i64 - keys.first as i64
    }
}

fn status_set(items: &[&'static str]) -> Reply {
    Reply::Set(items.iter().map(|&s| Reply::status(s)).collect())
}

fn key_specs(d: &Desc) -> Reply {
    if d.keys.first <= 0 {
        return Reply::Set(Vec::new());
    }
    let spec = Reply::Map(vec![
        (Reply::text("flags"), status_set(key_flags(d.flags))),
        (
            Reply::text("begin_search"),
            Reply::Map(vec![
                (Reply::text("type"), Reply::text("index")),
                (
                    Reply::text("spec"),
                    Reply::Map(vec![(
                        Reply::text("index"),
                        Reply::Int(d.keys.first as i64),
                    )]),
                ),
            ]),
        ),
        (
            Reply::text("find_keys"),
            Reply::Map(vec![
                (Reply::text("type"), Reply::text("range")),
                (
                    Reply::text("spec"),
                    Reply::Map(vec![
                        (Reply::text("lastkey"), Reply::Int(spec_lastkey(d.keys))),
                        (Reply::text("keystep"), Reply::Int(d.keys.step as i64)),
                        (Reply::text("limit"), Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
    ]);
    Reply::Set(vec![spec])
}

fn flag_names(flags: u32) -> Vec<&'static str> {
    crate::commands::flags::NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// One COMMAND INFO entry, Redis 7 shape.
fn info_entry(d: &Desc, parent: Option<&'static Spec>) -> Reply {
    let subs = match parent {
        Some(p) if !d.subs.is_empty() => {
            Reply::Array(d.children(p).map(|c| info_entry(&c, None)).collect())
        }
        _ => Reply::Set(Vec::new()),
    };
    Reply::Array(vec![
        Reply::text(d.name),
        Reply::Int(d.arity as i64),
        status_set(&flag_names(d.flags)),
        Reply::Int(d.keys.first as i64),
        Reply::Int(d.keys.last as i64),
        Reply::Int(d.keys.step as i64),
        status_set(&categories(d)),
        Reply::Set(Vec::new()),
        key_specs(d),
        subs,
    ])
}

/// One COMMAND DOCS entry: a map of summary, since, group and, for containers, subcommands.
fn docs_entry(d: &Desc, parent: Option<&'static Spec>) -> Reply {
    let mut fields = vec![
        (Reply::text("summary"), Reply::text(d.summary)),
        (Reply::text("since"), Reply::text("1.0.0")),
        (Reply::text("group"), Reply::text(d.group)),
    ];
    if let Some(p) = parent.filter(|_| !d.subs.is_empty()) {
        let subs = d
            .children(p)
            .map(|c| (Reply::text(c.name), docs_entry(&c, None)))
            .collect();
        fields.push((Reply::text("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

pub(super) fn command(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() == 1 {
        return Ok(all_command_info());
    }
    run_sub(cx, args, COMMAND_SUBS)
}

fn all_command_info() -> Reply {
    Reply::Array(
        sorted_specs()
            .into_iter()
            .map(|s| info_entry(&Desc::of(s), Some(s)))
            .collect(),
    )
}

fn command_count(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(Table::get().len() as i64))
}

/// The top-level spec a description belongs to (for nesting subcommands).
fn parent_spec(d: &Desc) -> Option<&'static Spec> {
    Table::get().lookup(d.name.as_bytes())
}

fn command_info(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() == 2 {
        return Ok(all_command_info());
    }
    Ok(Reply::Array(
        args.iter()
            .skip(2)
            .map(|name| match lookup_desc(name) {
                Some(d) => info_entry(&d, parent_spec(&d)),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

fn command_docs(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let descs: Vec<Desc> = if args.len() == 2 {
        sorted_specs().into_iter().map(Desc::of).collect()
    } else {
        args.iter().skip(2).filter_map(lookup_desc).collect()
    };
    Ok(Reply::Map(
        descs
            .iter()
            .map(|d| (Reply::text(d.name), docs_entry(d, parent_spec(d))))
            .collect(),
    ))
}

/// COMMAND LIST's FILTERBY.
enum ListFilter<'a> {
    None,
    Module,
    /// A category bit; 0 (unknown category) matches nothing.
    AclCat(u32),
    Pattern(&'a [u8]),
}

impl ListFilter<'_> {
    fn matches(&self, d: &Desc) -> bool {
        match self {
            ListFilter::None => true,
            ListFilter::Module => false,
            ListFilter::AclCat(bit) => {
                *bit != 0 && categories(d).iter().any(|c| cat(&c[1..]) == *bit)
            }
            ListFilter::Pattern(p) => glob_match(p, d.name.as_bytes(), true),
        }
    }
}

fn command_list(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let filter = match args.len() {
        2 => ListFilter::None,
        5 if args.is(2, "filterby") => {
            let arg = args.get(4);
            if args.is(3, "module") {
                ListFilter::Module
            } else if args.is(3, "aclcat") {
                let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
                ListFilter::AclCat(cat(&name))
            } else if args.is(3, "pattern") {
                ListFilter::Pattern(arg)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let mut names = Vec::new();
    for spec in sorted_specs() {
        let d = Desc::of(spec);
        if filter.matches(&d) {
            names.push(Reply::text(d.name));
        }
        for c in d.children(spec) {
            if filter.matches(&c) {
                names.push(Reply::text(c.name));
            }
        }
    }
    Ok(Reply::Array(names))
}

/// The key positions of the command in `args[2..]`, with Redis's COMMAND GETKEYS errors.
fn getkeys_positions(args: &Args<'_>) -> Result<(Desc, Vec<usize>), CmdError> {
    let argv: Vec<&[u8]> = args.iter().skip(2).collect();
    let invalid = || CmdError::msg("ERR Invalid command specified");
    let spec = argv
        .first()
        .and_then(|n| Table::get().lookup(n))
        .ok_or_else(invalid)?;
    let mut d = Desc::of(spec);
    let subs = subcommands_of(spec.name);
    if !subs.is_empty() && argv.len() >= 2 {
        let sub = find_sub(subs, argv[1]).ok_or_else(invalid)?;
        d = Desc::of_sub(spec, sub);
    }
    let movable = d.subs.is_empty() && spec.has(MOVABLEKEYS);
    // Shard channels are `not_key` positions, which Redis leaves out of GETKEYS.
    if (d.keys.first <= 0 && !movable) || d.flags & PUBSUB != 0 {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    if !crate::commands::arity_matches(d.arity, argv.len()) {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions: Vec<usize> = if movable {
        // The keys after numkeys (ZUNIONSTORE, LMPOP, ...), found as dispatch finds them.
        crate::commands::key_positions(spec, &args.skip(2))
    } else {
        d.keys.positions(argv.len()).collect()
    };
    if positions.is_empty() {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    Ok((d, positions.into_iter().map(|p| p + 2).collect()))
}

fn command_getkeys(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (_, positions) = getkeys_positions(args)?;
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::bulk(args.get(i)))
            .collect(),
    ))
}

fn command_getkeysandflags(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (d, positions) = getkeys_positions(args)?;
    let flags = key_flags(d.flags);
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Array(vec![Reply::bulk(args.get(i)), status_set(flags)]))
            .collect(),
    ))
}

fn command_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Return a list of all commands in this server, optionally filtered.",
            "INFO [<command-name> ...]",
            "    Return details about the given commands, or about all commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about the given commands, or about all commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full command.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_categories_follow_redis() {
        let d = |name, flags, group| Desc {
            name,
            arity: 2,
            flags,
            keys: Keys::one(1),
            group,
            summary: "",
            subs: &[],
        };
        assert_eq!(
            categories(&d("get", READONLY | FAST, "string")),
            vec!["@read", "@string", "@fast"]
        );
        assert_eq!(
            categories(&d("set", WRITE | DENYOOM, "string")),
            vec!["@write", "@string", "@slow"]
        );
        assert_eq!(
            categories(&d("flushdb", WRITE, "server")),
            vec!["@keyspace", "@write", "@slow", "@dangerous"]
        );
        assert_eq!(
            categories(&d("config|get", ADMIN_SUB, "server")),
            vec!["@admin", "@slow", "@dangerous"]
        );
        assert_eq!(
            categories(&d("command|info", LOADING | STALE, "server")),
            vec!["@slow", "@connection"]
        );
        let container = Desc {
            subs: CLIENT_SUBS,
            ..d("client", 0, "connection")
        };
        assert_eq!(categories(&container), vec!["@slow"]);
    }

    #[test]
    fn key_spec_lastkey_is_relative() {
        assert_eq!(spec_lastkey(Keys::one(1)), 0);
        assert_eq!(spec_lastkey(Keys::range(1, -1, 2)), -1);
        assert_eq!(spec_lastkey(Keys::range(1, 2, 1)), 1);
    }

    #[test]
    fn subcommand_tables_are_consistent() {
        for (parent, subs) in [
            ("config", CONFIG_SUBS),
            ("command", COMMAND_SUBS),
            ("client", CLIENT_SUBS),
        ] {
            assert!(TABLE.iter().any(|s| s.name == parent));
            // By content: a `const` slice used in two places need not be one allocation (it
            // stopped being one when the CLIENT table grew), so pointer equality is not a test.
            assert!(subcommands_of(parent)
                .iter()
                .map(|s| s.name)
                .eq(subs.iter().map(|s| s.name)));
            for s in subs {
                assert!(s.name.starts_with(&format!("{parent}|")), "{}", s.name);
                assert_eq!(s.name, s.name.to_ascii_lowercase());
                assert!(find_sub(subs, s.short().to_ascii_uppercase().as_bytes()).is_some());
                assert!(s.arity.abs() >= 2);
            }
        }
        assert!(find_sub(CLIENT_SUBS, b"nosuch").is_none());
        assert!(
            crate::commands::arity_matches(-3, 3)
                && crate::commands::arity_matches(-3, 9)
                && !crate::commands::arity_matches(-3, 2)
        );
        assert!(crate::commands::arity_matches(2, 2) && !crate::commands::arity_matches(2, 3));
    }

    #[test]
    fn lookup_by_full_name() {
        assert_eq!(
            lookup_desc(b"CONFIG|GET").map(|d| d.name),
            Some("config|get")
        );
        assert_eq!(
            lookup_desc(b"client").map(|d| d.subs.len()),
            Some(CLIENT_SUBS.len())
        );
        assert!(lookup_desc(b"config|nosuch").is_none());
        assert!(lookup_desc(b"nosuch|get").is_none());
        assert!(lookup_desc(b"|").is_none());
    }
}
