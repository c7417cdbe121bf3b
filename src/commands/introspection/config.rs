//! CONFIG GET, SET, RESETSTAT, REWRITE and HELP.

use super::*;

pub(super) const CONFIG_SUBS: &[Sub] = &[
    sub(
        "config|get",
        -3,
        ADMIN_SUB,
        "Returns the effective values of configuration parameters.",
        config_get,
    ),
    sub(
        "config|set",
        -4,
        ADMIN_SUB,
        "Sets configuration parameters in-flight.",
        config_set,
    ),
    sub(
        "config|resetstat",
        2,
        ADMIN_SUB,
        "Resets the server's statistics.",
        config_resetstat,
    ),
    sub(
        "config|rewrite",
        2,
        ADMIN_SUB,
        "Persists the effective configuration to file.",
        config_rewrite,
    ),
    sub(
        "config|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        config_help,
    ),
];

pub(super) fn config(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, CONFIG_SUBS)
}

/// The parameters CONFIG GET reports for the given patterns, as (name shown, parameter), in order
/// of first match. A pattern without glob characters is an exact, case-insensitive lookup by name
/// or alias and is shown as given; a glob is matched against every name and alias.
fn config_get_matches(patterns: &[&[u8]]) -> Vec<(String, &'static Param)> {
    let mut out: Vec<(String, &'static Param)> = Vec::new();
    for &pat in patterns {
        if !pat.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            let name = String::from_utf8_lossy(pat).into_owned();
            if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                continue;
            }
            if let Some(p) = crate::config::find_param(&name) {
                out.push((name, p));
            }
            continue;
        }
        for p in crate::config::PARAMS {
            for n in std::iter::once(p.name).chain(p.alias) {
                if glob_match(pat, n.as_bytes(), true) && !out.iter().any(|(m, _)| m == n) {
                    out.push((n.to_string(), p));
                }
            }
        }
    }
    out
}

fn config_get(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let patterns: Vec<&[u8]> = args.iter().skip(2).collect();
    let matches = config_get_matches(&patterns);
    let cfg = cx.shared.config.read();
    let pairs = matches
        .into_iter()
        .map(|(name, p)| {
            let value = cfg.get(p.name).unwrap_or_default();
            (Reply::text(name), Reply::text(value))
        })
        .collect();
    Ok(Reply::Map(pairs))
}

/// Applies CONFIG SET's name/value pairs to a copy of `cfg`, all or nothing, with Redis's checks
/// in Redis's order: every name known, mutable and not repeated, then every value valid. The error
/// is the full Redis error text.
fn plan_config_set(cfg: &Config, pairs: &[(&[u8], &[u8])]) -> Result<Config, String> {
    let mut seen: Vec<&'static str> = Vec::new();
    for &(name, _) in pairs {
        let shown = String::from_utf8_lossy(name);
        let Some(param) = crate::config::find_param(&shown) else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{shown}'"
            ));
        };
        let failed = |why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{shown}') - {why}")
        };
        if !param.mutable {
            return Err(failed("can't set immutable config"));
        }
        if seen.contains(&param.name) {
            return Err(failed("duplicate parameter"));
        }
        seen.push(param.name);
    }
    let mut new = cfg.clone();
    for &(name, value) in pairs {
        let shown = String::from_utf8_lossy(name);
        let value = String::from_utf8_lossy(value);
        new.set(&shown, &value).map_err(|why| {
            format!("ERR CONFIG SET failed (possibly related to argument '{shown}') - {why}")
        })?;
    }
    Ok(new)
}

fn config_set(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let all: Vec<&[u8]> = args.iter().skip(2).collect();
    let pairs: Vec<(&[u8], &[u8])> = all.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    {
        let mut cfg = cx.shared.config.write();
        let new = plan_config_set(&cfg, &pairs).map_err(CmdError::msg)?;
        *cfg = new;
    }
    cx.shared.config_changed();
    Ok(Reply::Ok)
}

fn config_resetstat(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.shared.stats.reset();
    cx.shared.store.expired_keys.store(0, Ordering::Relaxed);
    cx.shared.store.cache.reset_stats();
    Ok(Reply::Ok)
}

fn config_rewrite(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let cfg = cx.shared.config.read();
    if cfg.config_file.is_none() {
        return Err(CmdError::msg(
            "ERR The server is running without a config file",
        ));
    }
    cfg.rewrite().map_err(|why| {
        tracing::warn!(error = %why, "CONFIG REWRITE failed");
        CmdError::msg(format!("ERR Rewriting config file: {why}"))
    })?;
    Ok(Reply::Ok)
}

fn config_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET <pattern> [<pattern> ...]",
            "    Return parameters matching the glob-like <pattern>s and their values.",
            "SET <directive> <value> [<directive> <value> ...]",
            "    Set the configuration <directive>s to <value>s, all or none.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file with the current values.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_get_patterns() {
        let names = |pats: &[&str]| {
            let pats: Vec<&[u8]> = pats.iter().map(|p| p.as_bytes()).collect();
            config_get_matches(&pats)
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        // Exact names are shown as given; aliases resolve.
        assert_eq!(names(&["PORT"]), vec!["PORT"]);
        assert_eq!(names(&["appendfsync"]), vec!["appendfsync"]);
        assert_eq!(names(&["port", "port"]), vec!["port"]);
        assert_eq!(names(&["nosuch"]), Vec::<String>::new());
        // Globs see names and aliases, case-insensitively, each once.
        assert_eq!(names(&["*FSYNC*"]), vec!["fsync", "appendfsync"]);
        assert_eq!(names(&["?ort", "p*t"]), vec!["port"]);
        let aliases = crate::config::PARAMS
            .iter()
            .filter(|p| p.alias.is_some())
            .count();
        assert_eq!(names(&["*"]).len(), crate::config::PARAMS.len() + aliases);
        assert_eq!(names(&["save", "appendonly"]), vec!["save", "appendonly"]);
    }

    #[test]
    fn config_set_is_checked_then_applied_atomically() {
        let cfg = Config::default();
        let set = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(a, b)| (a.as_bytes(), b.as_bytes()))
                .collect();
            plan_config_set(&cfg, &pairs)
        };
        let ok = set(&[("timeout", "5"), ("APPENDFSYNC", "always")]).unwrap();
        assert_eq!(ok.timeout, 5);
        assert_eq!(ok.fsync, crate::config::FsyncMode::Always);
        assert_eq!(
            set(&[("timeout", "5"), ("foo", "1")]).err().unwrap(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        assert_eq!(
            set(&[("port", "1")]).err().unwrap(),
            "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
        );
        assert_eq!(
            set(&[("timeout", "abc")]).err().unwrap(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set(&[("fsync", "no"), ("appendfsync", "no")]).err().unwrap(),
            "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - duplicate parameter"
        );
        // The first error wins, and nothing is applied on error (the input is untouched).
        assert!(set(&[("timeout", "7"), ("maxclients", "0")]).is_err());
        assert_eq!(cfg.timeout, 0);
    }
}
