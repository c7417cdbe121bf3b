//! INFO: the sections Redis reports, plus a RocksDB section.

use super::*;
use crate::server::pubsub::Kind;

/// INFO sections in output order: (name, title, in the default set).
const SECTIONS: &[(&str, &str, bool)] = &[
    ("server", "Server", true),
    ("clients", "Clients", true),
    ("memory", "Memory", true),
    ("persistence", "Persistence", true),
    ("stats", "Stats", true),
    ("replication", "Replication", true),
    ("cpu", "CPU", true),
    ("modules", "Modules", true),
    ("commandstats", "Commandstats", false),
    ("errorstats", "Errorstats", true),
    ("latencystats", "Latencystats", false),
    ("cluster", "Cluster", true),
    ("keyspace", "Keyspace", true),
    ("rocksdb", "RocksDB", true),
];

/// The sections INFO's arguments select, in output order. No argument means `default`; `all` and
/// `everything` select every section; names are case-insensitive and unknown ones are ignored.
fn select_sections<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Vec<&'static str> {
    let mut wanted = vec![false; SECTIONS.len()];
    let mut any = false;
    for a in args {
        any = true;
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"all" | b"everything" => wanted.iter_mut().for_each(|w| *w = true),
            b"default" => {
                for (w, s) in wanted.iter_mut().zip(SECTIONS) {
                    *w |= s.2;
                }
            }
            name => {
                if let Some(i) = SECTIONS.iter().position(|s| s.0.as_bytes() == name) {
                    wanted[i] = true;
                }
            }
        }
    }
    if !any {
        for (w, s) in wanted.iter_mut().zip(SECTIONS) {
            *w = s.2;
        }
    }
    SECTIONS
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(s, _)| s.0)
        .collect()
}

/// Lines of one section: (field, value).
type Fields = Vec<(Cow<'static, str>, String)>;

/// Renders sections as Redis does: `# Title`, `field:value` lines, a blank line between
/// sections, CRLF line ends.
fn render_info(sections: &[(&str, Fields)]) -> String {
    let mut out = String::new();
    for (i, (title, fields)) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in fields {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    out
}

/// Redis's `bytesToHuman`.
fn bytes_to_human(n: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, &(unit, suffix)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(u64::MAX, |u| u.0);
        if n < next {
            return format!("{:.2}{suffix}", n as f64 / unit as f64);
        }
    }
    format!("{n}B")
}

/// A `Key:   123 kB` field of /proc/self/status or /proc/meminfo, in bytes.
fn parse_kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// (utime, stime, cutime, cstime) in clock ticks from a /proc/<pid>/stat line.
fn parse_proc_stat(text: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name (field 2) is parenthesised and may contain spaces; fields after it
    // start at field 3 (state).
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some((n(14)?, n(15)?, n(16)?, n(17)?))
}

/// Clock ticks per second of /proc times (USER_HZ, 100 on every Linux architecture Basalt targets).
const CLK_TCK: u64 = 100;

/// Seconds from clock ticks as Redis prints CPU time: `%ld.%06ld`.
fn cpu_secs(ticks: u64) -> String {
    let us = ticks * (1_000_000 / CLK_TCK);
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn f(k: &'static str, v: impl ToString) -> (Cow<'static, str>, String) {
    (Cow::Borrowed(k), v.to_string())
}

fn info_server(cx: &Context<'_>) -> Fields {
    let (port, config_file) = {
        let cfg = cx.shared.config.read();
        (
            cfg.port,
            cfg.config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )
    };
    let port = cx
        .shared
        .listen_addrs
        .read()
        .first()
        .map_or(port, |a| a.port());
    let os_name = match std::env::consts::OS {
        "linux" => "Linux".to_string(),
        other => other.to_string(),
    };
    let release = read_proc("/proc/sys/kernel/osrelease");
    let os = [os_name.as_str(), release.trim(), std::env::consts::ARCH]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let uptime = cx.shared.started.elapsed().as_secs();
    // Linux marks a binary replaced on disk since start with " (deleted)".
    let executable = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let executable = executable
        .strip_suffix(" (deleted)")
        .unwrap_or(&executable)
        .to_string();
    vec![
        f("redis_version", crate::commands::connection::REDIS_VERSION),
        f("basalt_version", env!("CARGO_PKG_VERSION")),
        f("redis_git_sha1", "00000000"),
        f("redis_git_dirty", 0),
        f("redis_mode", "standalone"),
        f("os", os),
        f("arch_bits", usize::BITS),
        f("multiplexing_api", "epoll"),
        f("process_id", std::process::id()),
        f("process_supervised", "no"),
        f("run_id", &cx.shared.run_id),
        f("tcp_port", port),
        f("server_time_usec", crate::util::time::now_us()),
        f("uptime_in_seconds", uptime),
        f("uptime_in_days", uptime / 86_400),
        f("executable", executable),
        f("config_file", config_file),
    ]
}

fn info_clients(cx: &Context<'_>) -> Fields {
    let clients = cx.shared.clients.all();
    let max_qbuf = clients
        .iter()
        .map(|c| c.query_buf.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let maxclients = cx.shared.config.read().maxclients;
    vec![
        f("connected_clients", clients.len()),
        f("cluster_connections", 0),
        f("maxclients", maxclients),
        f("client_recent_max_input_buffer", max_qbuf),
        f("client_recent_max_output_buffer", 0),
        // Clients held by CLIENT PAUSE count as blocked, as Redis counts postponed clients.
        f(
            "blocked_clients",
            cx.shared.blocking.len() + cx.shared.ops.pause.held(),
        ),
        f("tracking_clients", cx.shared.tracking.clients()),
        f("clients_in_timeout_table", 0),
    ]
}

/// Sum of an integer RocksDB property over every column family.
fn rocks_sum(cx: &Context<'_>, prop: &str) -> u64 {
    COLUMN_FAMILIES
        .iter()
        .filter_map(|cf| cx.shared.store.property(cf, prop))
        .sum()
}

/// A database-wide RocksDB property (read through the default column family).
fn rocks_db(cx: &Context<'_>, prop: &str) -> u64 {
    cx.shared.store.property("default", prop).unwrap_or(0)
}

const COLUMN_FAMILIES: &[&str] = &["default", CF_META, CF_DATA, CF_ZSCORE, CF_EXPIRE];

fn info_memory(cx: &Context<'_>) -> Fields {
    let status = read_proc("/proc/self/status");
    let rss = parse_kb_field(&status, "VmRSS").unwrap_or(0);
    let peak = parse_kb_field(&status, "VmHWM").unwrap_or(rss);
    let total = parse_kb_field(&read_proc("/proc/meminfo"), "MemTotal").unwrap_or(0);
    let maxmemory = cx.shared.config.read().maxmemory;
    let store = &cx.shared.store;
    let plan = store.memory_plan();
    let hot = store.cache.stats();
    vec![
        f("used_memory", rss),
        f("used_memory_human", bytes_to_human(rss)),
        f("used_memory_rss", rss),
        f("used_memory_rss_human", bytes_to_human(rss)),
        f("used_memory_peak", peak),
        f("used_memory_peak_human", bytes_to_human(peak)),
        f("total_system_memory", total),
        f("total_system_memory_human", bytes_to_human(total)),
        f("maxmemory", maxmemory),
        f("maxmemory_human", bytes_to_human(maxmemory)),
        f("maxmemory_policy", "noeviction"),
        f("mem_allocator", crate::util::ALLOCATOR),
        // The budget as divided (maxmemory, or derived from rocksdb-block-cache-size).
        f("memory_budget", plan.budget),
        f("memory_budget_human", bytes_to_human(plan.budget)),
        f("memory_reserve", plan.reserve),
        f("hot_cache_capacity", hot.capacity),
        f("hot_cache_bytes", hot.bytes),
        f("hot_cache_entries", hot.entries),
        f("hot_cache_table_bytes", hot.table_bytes),
        f("rocksdb_block_cache_usage", store.block_cache_usage()),
        f("rocksdb_block_cache_pinned", store.block_cache_pinned()),
        f("rocksdb_block_cache_capacity", plan.block_cache),
        f(
            "rocksdb_memtables",
            rocks_sum(cx, "rocksdb.cur-size-all-mem-tables"),
        ),
        f("rocksdb_memtables_charged", store.memtable_usage()),
        f("rocksdb_memtable_limit", plan.memtables),
        f(
            "rocksdb_table_readers",
            rocks_sum(cx, "rocksdb.estimate-table-readers-mem"),
        ),
    ]
}

fn info_persistence(cx: &Context<'_>) -> Fields {
    let wal = cx.shared.store.wal();
    let fsyncs = wal.fsyncs();
    vec![
        f("loading", 0),
        f("async_loading", 0),
        f("rdb_changes_since_last_save", 0),
        f(
            "rdb_bgsave_in_progress",
            u8::from(cx.shared.bgsave_running.load(Ordering::Relaxed)),
        ),
        f(
            "rdb_last_save_time",
            cx.shared.last_save.load(Ordering::Relaxed),
        ),
        f("rdb_last_bgsave_status", "ok"),
        f("aof_enabled", 0),
        f("aof_rewrite_in_progress", 0),
        f("aof_rewrite_scheduled", 0),
        f("aof_last_bgrewrite_status", "ok"),
        f("aof_last_write_status", "ok"),
        f("wal_fsync_policy", wal.mode().as_str()),
        f("wal_fsyncs", fsyncs),
    ]
}

fn info_stats(cx: &Context<'_>) -> Fields {
    let s = &cx.shared.stats;
    let hot = cx.shared.store.cache.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    vec![
        f("total_connections_received", load(&s.connections_received)),
        f("total_commands_processed", load(&s.commands_processed)),
        f("instantaneous_ops_per_sec", 0),
        f("total_net_input_bytes", load(&s.net_input_bytes)),
        f("total_net_output_bytes", load(&s.net_output_bytes)),
        f("instantaneous_input_kbps", "0.00"),
        f("instantaneous_output_kbps", "0.00"),
        f("rejected_connections", load(&s.rejected_connections)),
        f("sync_full", 0),
        f("sync_partial_ok", 0),
        f("sync_partial_err", 0),
        f("expired_keys", load(&cx.shared.store.expired_keys)),
        f("evicted_keys", 0),
        f("evicted_clients", 0),
        f("pubsub_channels", cx.shared.pubsub.len(Kind::Channel)),
        f("pubsub_patterns", cx.shared.pubsub.len(Kind::Pattern)),
        f("pubsubshard_channels", cx.shared.pubsub.len(Kind::Shard)),
        f("total_error_replies", load(&s.error_replies)),
        f("hot_cache_hits", hot.hits),
        f("hot_cache_misses", hot.misses),
        f("hot_cache_evictions", hot.evictions),
        f("hot_cache_hit_ratio", hit_ratio(hot.hits, hot.misses)),
    ]
}

/// Hits over lookups, with four decimals; 0 before any lookup.
fn hit_ratio(hits: u64, misses: u64) -> String {
    match hits + misses {
        0 => "0.0000".to_string(),
        n => format!("{:.4}", hits as f64 / n as f64),
    }
}

fn info_replication(cx: &Context<'_>) -> Fields {
    vec![
        f("role", "master"),
        f("connected_slaves", 0),
        f("master_failover_state", "no-failover"),
        f("master_replid", &cx.shared.run_id),
        f("master_replid2", "0000000000000000000000000000000000000000"),
        f("master_repl_offset", 0),
        f("second_repl_offset", -1),
        f("repl_backlog_active", 0),
        f("repl_backlog_size", 1_048_576),
        f("repl_backlog_first_byte_offset", 0),
        f("repl_backlog_histlen", 0),
    ]
}

fn info_cpu() -> Fields {
    let (utime, stime, cutime, cstime) =
        parse_proc_stat(&read_proc("/proc/self/stat")).unwrap_or_default();
    vec![
        f("used_cpu_sys", cpu_secs(stime)),
        f("used_cpu_user", cpu_secs(utime)),
        f("used_cpu_sys_children", cpu_secs(cstime)),
        f("used_cpu_user_children", cpu_secs(cutime)),
    ]
}

fn info_keyspace(cx: &Context<'_>) -> Fields {
    let mut out = Vec::new();
    for i in 0..cx.view.databases() {
        let Some(db) = cx.view.db(i) else { continue };
        let keys = db.size();
        if keys > 0 {
            // avg_ttl would need a walk of the expiry index; Redis estimates it by sampling.
            let expires = db.store.expires_count(db.phys);
            out.push((
                Cow::Owned(format!("db{i}")),
                format!("keys={keys},expires={expires},avg_ttl=0"),
            ));
        }
    }
    out
}

fn info_rocksdb(cx: &Context<'_>) -> Fields {
    let cache_capacity = cx.shared.store.memory_plan().block_cache;
    let mut out = vec![
        f(
            "rocksdb_block_cache_usage",
            cx.shared.store.block_cache_usage(),
        ),
        f("rocksdb_block_cache_capacity", cache_capacity),
        f(
            "rocksdb_estimate_num_keys",
            rocks_sum(cx, "rocksdb.estimate-num-keys"),
        ),
        f(
            "rocksdb_total_sst_files_size",
            rocks_sum(cx, "rocksdb.total-sst-files-size"),
        ),
        f(
            "rocksdb_estimate_live_data_size",
            rocks_sum(cx, "rocksdb.estimate-live-data-size"),
        ),
        f(
            "rocksdb_cur_size_all_mem_tables",
            rocks_sum(cx, "rocksdb.cur-size-all-mem-tables"),
        ),
        f(
            "rocksdb_estimate_table_readers_mem",
            rocks_sum(cx, "rocksdb.estimate-table-readers-mem"),
        ),
        f(
            "rocksdb_estimate_pending_compaction_bytes",
            rocks_sum(cx, "rocksdb.estimate-pending-compaction-bytes"),
        ),
        f(
            "rocksdb_num_running_compactions",
            rocks_db(cx, "rocksdb.num-running-compactions"),
        ),
        f(
            "rocksdb_num_running_flushes",
            rocks_db(cx, "rocksdb.num-running-flushes"),
        ),
        f(
            "rocksdb_background_errors",
            rocks_db(cx, "rocksdb.background-errors"),
        ),
        f(
            "rocksdb_is_write_stopped",
            rocks_db(cx, "rocksdb.is-write-stopped"),
        ),
        f(
            "rocksdb_actual_delayed_write_rate",
            rocks_db(cx, "rocksdb.actual-delayed-write-rate"),
        ),
    ];
    out.extend(stall_counts(cx));
    out.extend(level_sizes(cx));
    for cf in COLUMN_FAMILIES {
        let p = |name: &str| cx.shared.store.property(cf, name).unwrap_or(0);
        out.push((
            Cow::Owned(format!("cf_{cf}")),
            format!(
                "keys={},sst_bytes={},memtable_bytes={},pending_compaction_bytes={}",
                p("rocksdb.estimate-num-keys"),
                p("rocksdb.total-sst-files-size"),
                p("rocksdb.cur-size-all-mem-tables"),
                p("rocksdb.estimate-pending-compaction-bytes"),
            ),
        ));
    }
    out
}

/// Writes delayed or stopped so far, by cause, from RocksDB's `db-write-stall-stats` and
/// `cf-write-stall-stats` (summed over column families): the total, and the causes whose
/// count is not zero as `name=count` pairs.
fn stall_counts(cx: &Context<'_>) -> Fields {
    let store = &cx.shared.store;
    let mut total: Vec<(String, u64)> = Vec::new();
    let mut add = |text: &str| {
        for (name, value) in parse_stall_map(text) {
            match total.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => *v += value,
                None => total.push((name, value)),
            }
        }
    };
    if let Some(t) = store.property_text("default", "rocksdb.db-write-stall-stats") {
        add(&t);
    }
    for cf in COLUMN_FAMILIES {
        if let Some(t) = store.property_text(cf, "rocksdb.cf-write-stall-stats") {
            add(&t);
        }
    }
    // The maps carry their own totals next to the causes.
    total.retain(|(n, _)| !n.starts_with("total-"));
    let sum: u64 = total.iter().map(|(_, v)| v).sum();
    let detail = total
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    vec![
        f("rocksdb_write_stalls", sum),
        f("rocksdb_write_stall_causes", detail),
    ]
}

/// The `name: count` pairs of RocksDB's write-stall text (`Write Stall (count): a: 1, b: 0`).
fn parse_stall_map(text: &str) -> Vec<(String, u64)> {
    text.split([',', '\n'])
        .filter_map(|pair| {
            let (k, v) = pair.rsplit_once(':')?;
            let v = v.trim().parse::<u64>().ok()?;
            let k = k.rsplit_once(": ").map_or(k, |(_, name)| name).trim();
            (!k.is_empty() && !k.contains(' ')).then(|| (k.to_string(), v))
        })
        .collect()
}

/// SST files and bytes per LSM level, over every column family.
fn level_sizes(cx: &Context<'_>) -> Fields {
    let Ok(files) = cx.shared.store.rocks().live_files() else {
        return Vec::new();
    };
    let mut levels: Vec<(u64, u64)> = Vec::new();
    for file in files {
        let l = usize::try_from(file.level).unwrap_or(0);
        if levels.len() <= l {
            levels.resize(l + 1, (0, 0));
        }
        levels[l].0 += 1;
        levels[l].1 += file.size as u64;
    }
    levels
        .into_iter()
        .enumerate()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(l, (n, bytes))| {
            (
                Cow::Owned(format!("rocksdb_level{l}")),
                format!("files={n},bytes={bytes}"),
            )
        })
        .collect()
}

fn section_fields(cx: &Context<'_>, name: &str) -> Fields {
    match name {
        "server" => info_server(cx),
        "clients" => info_clients(cx),
        "memory" => info_memory(cx),
        "persistence" => info_persistence(cx),
        "stats" => info_stats(cx),
        "replication" => info_replication(cx),
        "cpu" => info_cpu(),
        "cluster" => vec![f("cluster_enabled", 0)],
        "keyspace" => info_keyspace(cx),
        "rocksdb" => info_rocksdb(cx),
        // Modules, per-command and per-error statistics are not tracked: the section is empty.
        _ => Vec::new(),
    }
}

pub(super) fn info(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cx: &Context<'_> = cx;
    let names = select_sections(args.iter().skip(1));
    let sections: Vec<(&str, Fields)> = names
        .into_iter()
        .filter_map(|n| SECTIONS.iter().find(|s| s.0 == n))
        .map(|s| (s.1, section_fields(cx, s.0)))
        .collect();
    Ok(Reply::Verbatim("txt", render_info(&sections)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_section_selection() {
        let sel = |a: &[&str]| select_sections(a.iter().map(|s| s.as_bytes()));
        let default = sel(&[]);
        assert_eq!(default, sel(&["default"]));
        assert!(default.contains(&"server") && default.contains(&"keyspace"));
        assert!(!default.contains(&"commandstats"));
        assert_eq!(sel(&["all"]).len(), SECTIONS.len());
        assert_eq!(sel(&["EVERYTHING"]).len(), SECTIONS.len());
        // Output order is fixed, whatever the argument order; case-insensitive; unknown ignored.
        assert_eq!(
            sel(&["Keyspace", "SERVER", "nope"]),
            vec!["server", "keyspace"]
        );
        assert_eq!(sel(&["nope"]), Vec::<&str>::new());
        assert_eq!(sel(&["cpu", "cpu"]), vec!["cpu"]);
        assert_eq!(sel(&["commandstats", "default"]).len(), default.len() + 1);
    }

    #[test]
    fn info_rendering_matches_redis_layout() {
        let text = render_info(&[
            ("Cluster", vec![f("cluster_enabled", 0)]),
            (
                "Keyspace",
                vec![(Cow::Borrowed("db0"), "keys=1,expires=0,avg_ttl=0".into())],
            ),
        ]);
        assert_eq!(
            text,
            "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
        );
        assert_eq!(render_info(&[("Modules", Vec::new())]), "# Modules\r\n");
        assert_eq!(render_info(&[]), "");
    }

    #[test]
    fn stall_text_parsing() {
        let text =
            "Write Stall (count): cf-l0-file-count-limit-delays-with-ongoing-compaction: 0, \
                    memtable-limit-delays: 3, total-delays: 3\ninterval: 3 total count\n";
        assert_eq!(
            parse_stall_map(text),
            vec![
                (
                    "cf-l0-file-count-limit-delays-with-ongoing-compaction".to_string(),
                    0
                ),
                ("memtable-limit-delays".to_string(), 3),
                ("total-delays".to_string(), 3),
            ]
        );
        assert_eq!(hit_ratio(0, 0), "0.0000");
        assert_eq!(hit_ratio(3, 1), "0.7500");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1_015_216), "991.42K");
        assert_eq!(bytes_to_human(7_319_552), "6.98M");
        assert_eq!(bytes_to_human(25_276_063_744), "23.54G");
    }

    #[test]
    fn proc_parsing() {
        let status = "Name:\tbasalt\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n";
        assert_eq!(parse_kb_field(status, "VmRSS"), Some(1024 * 1024));
        assert_eq!(parse_kb_field(status, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_kb_field(status, "VmSwap"), None);
        let stat = "123 (a b) c) S 1 123 123 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 8 0 1 1 1";
        assert_eq!(parse_proc_stat(stat), Some((250, 75, 3, 4)));
        assert_eq!(parse_proc_stat("garbage"), None);
        assert_eq!(parse_proc_stat("1 (x) S 1 2"), None);
        assert_eq!(cpu_secs(250), "2.500000");
        assert_eq!(cpu_secs(0), "0.000000");
    }
}
