//! GEO against a real redis-server: a seeded random stream of GEOADD (NX/XX/CH), GEOPOS,
//! GEOHASH, GEODIST, GEOSEARCH / GEOSEARCHSTORE (FROMMEMBER/FROMLONLAT, BYRADIUS/BYBOX, COUNT,
//! ANY, ASC/DESC, WITH*), GEORADIUS / GEORADIUSBYMEMBER and their _RO forms with STORE and
//! STOREDIST, plus ZADD of arbitrary scores, ZREM, DEL and wrong types, replayed on both and
//! compared exactly: RESP2 through the client, RESP3 as raw bytes (coordinates are RESP3
//! doubles, so their digits are compared too). Coordinates come from a dense cluster, a coarse
//! grid (many equal distances, so the sort order of ties is compared), the whole world and the
//! limits; one key holds 3,000 points so COUNT runs Redis's partial quicksort on big arrays.
//! Basalt restarts halfway.
//!
//! Knobs: `BASALT_GEODIFF_SEEDS=3,17` (default 301,302), `BASALT_GEODIFF_COMMANDS=n` (default
//! 6000 per seed); `BASALT_DIFF_SEEDS` / `BASALT_DIFF_COMMANDS` apply when those are unset.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::geo::RawConn;
use crate::harness::{escape, escape_cmd, notice, pipeline, raw, redis_server_available};
use crate::harness::{RedisServer, Reply, Server};

const BIG: &str = "big";

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.rng.random_range(0..xs.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A key, mostly geo sets.
    fn key(&mut self) -> String {
        let k = match self.rng.random_range(0..100) {
            0..=34 => "g1",
            35..=59 => "g2",
            60..=74 => BIG,
            75..=82 => "z",
            83..=86 => "str",
            87..=91 => "missing",
            92..=95 => "d1",
            _ => "d2",
        };
        k.to_string()
    }

    fn member(&mut self) -> String {
        if self.chance(0.05) {
            return "nope".into();
        }
        format!("m{}", self.rng.random_range(0..40))
    }

    fn big_member(&mut self) -> String {
        format!("p{}", self.rng.random_range(0..3000))
    }

    fn num(&mut self, v: f64) -> String {
        let decimals = self.rng.random_range(0..7);
        format!("{v:.decimals$}")
    }

    /// A longitude/latitude pair, mostly valid.
    fn lon_lat(&mut self) -> [String; 2] {
        match self.rng.random_range(0..100) {
            // A dense cluster around Sicily.
            0..=44 => {
                let lon = self.rng.random_range(12.0..17.0);
                let lat = self.rng.random_range(36.0..39.5);
                [self.num(lon), self.num(lat)]
            }
            // A coarse grid: many points at the same place, so many equal distances.
            45..=64 => {
                let lon = 12.0 + f64::from(self.rng.random_range(0..10u8)) * 0.5;
                let lat = 36.0 + f64::from(self.rng.random_range(0..7u8)) * 0.5;
                [format!("{lon}"), format!("{lat}")]
            }
            65..=79 => {
                let lon = self.rng.random_range(-180.0..=180.0);
                let lat = self.rng.random_range(-85.05..=85.05);
                [self.num(lon), self.num(lat)]
            }
            // Near and at the limits (cells wrap around the antimeridian and the poles).
            80..=91 => {
                let lon = self.pick(&["180", "-180", "179.9999", "-179.99", "0", "179.5"]);
                let lat = self.pick(&[
                    "85.05112878",
                    "-85.05112878",
                    "85",
                    "-84.9",
                    "0",
                    "66.5",
                    "-80.1",
                ]);
                [lon.into(), lat.into()]
            }
            _ => {
                let lon = self.pick(&["180.1", "abc", "10", "nan", "-inf", "1e3", " 1"]);
                let lat = self.pick(&["85.1", "1", "x", "-90", "inf", "5"]);
                [lon.into(), lat.into()]
            }
        }
    }

    fn unit(&mut self) -> &'static str {
        match self.rng.random_range(0..100) {
            0..=19 => "m",
            20..=64 => "km",
            65..=74 => "ft",
            75..=89 => "mi",
            90..=94 => "KM",
            _ => "yd",
        }
    }

    /// A distance in `unit`: mostly up to ~1000 km, sometimes the whole world, sometimes bad.
    fn distance(&mut self, unit: &str) -> String {
        let meters = match self.rng.random_range(0..100) {
            0..=4 => 0.0,
            5..=69 => self.rng.random_range(0.0..400_000.0),
            70..=84 => self.rng.random_range(400_000.0..2_000_000.0),
            85..=94 => self.rng.random_range(2_000_000.0..25_000_000.0),
            _ => {
                return self.pick(&["-1", "abc", "inf", "1e400"]).into();
            }
        };
        let per = match unit.to_ascii_lowercase().as_str() {
            "km" => 1000.0,
            "ft" => 0.3048,
            "mi" => 1609.34,
            _ => 1.0,
        };
        self.num(meters / per)
    }

    /// The search options shared by all forms: WITH*, ASC/DESC, COUNT [ANY].
    fn options(&mut self, out: &mut Vec<String>, with: bool) {
        let mut groups: Vec<Vec<String>> = Vec::new();
        if with {
            for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
                if self.chance(0.3) {
                    groups.push(vec![w.into()]);
                }
            }
        }
        if self.chance(0.5) {
            groups.push(vec![self.pick(&["ASC", "DESC", "asc"]).into()]);
        }
        if self.chance(0.4) {
            let n = match self.rng.random_range(0..100) {
                0..=2 => "0".to_string(),
                3..=4 => "-1".to_string(),
                5..=6 => "x".to_string(),
                7..=70 => self.rng.random_range(1..10).to_string(),
                _ => self.rng.random_range(10..300).to_string(),
            };
            let mut g = vec!["COUNT".to_string(), n];
            if self.chance(0.25) {
                g.push("ANY".into());
            }
            groups.push(g);
        } else if self.chance(0.02) {
            groups.push(vec!["ANY".into()]);
        }
        // Shuffle the groups (Redis accepts them in any order).
        for i in (1..groups.len()).rev() {
            let j = self.rng.random_range(0..=i);
            groups.swap(i, j);
        }
        out.extend(groups.into_iter().flatten());
    }

    fn search_member(&mut self, key: &str) -> String {
        if key == BIG && self.chance(0.8) {
            self.big_member()
        } else {
            self.member()
        }
    }

    /// FROMMEMBER / FROMLONLAT and BYRADIUS / BYBOX, sometimes missing or doubled.
    fn search_area(&mut self, key: &str, out: &mut Vec<String>) {
        let mut from: Vec<String> = if self.chance(0.4) {
            vec!["FROMMEMBER".into(), self.search_member(key)]
        } else {
            let [lon, lat] = self.lon_lat();
            vec!["FROMLONLAT".into(), lon, lat]
        };
        let unit = self.unit();
        let mut by: Vec<String> = if self.chance(0.5) {
            vec!["BYRADIUS".into(), self.distance(unit), unit.into()]
        } else {
            vec![
                "BYBOX".into(),
                self.distance(unit),
                self.distance(unit),
                unit.into(),
            ]
        };
        match self.rng.random_range(0..100) {
            0..=1 => from.clear(),
            2..=3 => by.clear(),
            4 => from.extend(["FROMMEMBER".to_string(), self.member()]),
            5 => by.extend(["BYRADIUS".to_string(), "1".into(), "km".into()]),
            _ => {}
        }
        if self.chance(0.5) {
            out.extend(from);
            out.extend(by);
        } else {
            out.extend(by);
            out.extend(from);
        }
    }

    fn store(&mut self, out: &mut Vec<String>) {
        let dst = self.pick(&["d1", "d2", "d1", "g2", "str"]);
        let kw = self.pick(&["STORE", "STOREDIST", "store"]);
        out.extend([kw.to_string(), dst.to_string()]);
    }

    fn next(&mut self) -> Vec<String> {
        let s = |x: &str| x.to_string();
        match self.rng.random_range(0..100) {
            0..=21 => {
                let key = self.pick(&["g1", "g2", "g1", "g2", "z", "str", "d1"]);
                let mut c = vec![s("GEOADD"), s(key)];
                for opt in ["NX", "XX", "CH"] {
                    if self.chance(0.15) {
                        c.push(s(opt));
                    }
                }
                let n = if self.chance(0.02) {
                    0
                } else {
                    self.rng.random_range(1..5)
                };
                for _ in 0..n {
                    let [lon, lat] = self.lon_lat();
                    c.extend([lon, lat, self.member()]);
                }
                if self.chance(0.02) {
                    c.push(s("1"));
                }
                c
            }
            22..=25 => {
                let key = self.key();
                let mut c = vec![s(self.pick(&["GEOPOS", "GEOHASH"])), key.clone()];
                for _ in 0..self.rng.random_range(0..4) {
                    c.push(self.search_member(&key));
                }
                c
            }
            26..=32 => {
                let key = self.key();
                let mut c = vec![s("GEODIST"), key.clone(), self.search_member(&key)];
                c.push(self.search_member(&key));
                if self.chance(0.6) {
                    c.push(s(self.unit()));
                }
                if self.chance(0.02) {
                    c.push(s("x"));
                }
                c
            }
            33..=55 => {
                let key = self.key();
                let mut c = vec![s(self.pick(&["GEOSEARCH", "geosearch"])), key.clone()];
                self.search_area(&key, &mut c);
                self.options(&mut c, true);
                if self.chance(0.02) {
                    c.push(s("STOREDIST"));
                }
                c
            }
            56..=63 => {
                let key = self.key();
                let dst = self.pick(&["d1", "d2", "d1", "g2", "missing"]);
                let mut c = vec![s("GEOSEARCHSTORE"), s(dst), key.clone()];
                self.search_area(&key, &mut c);
                let with = self.chance(0.05);
                self.options(&mut c, with);
                if self.chance(0.5) {
                    c.push(s("STOREDIST"));
                }
                c
            }
            64..=75 => {
                let key = self.key();
                let name = self.pick(&["GEORADIUS", "GEORADIUS_RO", "GEORADIUS"]);
                let [lon, lat] = self.lon_lat();
                let unit = self.unit();
                let mut c = vec![s(name), key, lon, lat, self.distance(unit), s(unit)];
                let store = self.chance(0.3);
                let with = !store || self.chance(0.05);
                self.options(&mut c, with);
                if store {
                    self.store(&mut c);
                }
                c
            }
            76..=84 => {
                let key = self.key();
                let name = self.pick(&["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"]);
                let member = self.search_member(&key);
                let unit = self.unit();
                let mut c = vec![s(name), key, member, self.distance(unit), s(unit)];
                let store = self.chance(0.3);
                self.options(&mut c, !store);
                if store {
                    self.store(&mut c);
                }
                c
            }
            85..=90 => {
                let key = self.pick(&["g1", "g2", "d1", "d2", "z"]);
                vec![s("ZRANGE"), s(key), s("0"), s("-1"), s("WITHSCORES")]
            }
            91..=93 => {
                // Scores GEOADD never writes: negative, huge, fractional, beyond 52 bits.
                let score = self.pick(&[
                    "-1",
                    "1e300",
                    "-inf",
                    "inf",
                    "3479099956230698",
                    "4503599627370496",
                    "12345.678",
                    "0",
                    "9007199254740993",
                ]);
                let key = self.pick(&["z", "z", "g1"]);
                vec![s("ZADD"), s(key), s(score), self.member()]
            }
            94..=96 => {
                let key = self.pick(&["g1", "g2", "z"]);
                vec![s("ZREM"), s(key), self.member(), self.member()]
            }
            97..=98 => {
                let key = self.pick(&["g1", "g2", "d1", "d2", "z"]);
                vec![s("DEL"), s(key)]
            }
            _ => vec![s("SET"), s("str"), s("x")],
        }
    }
}

/// Fills the big key on a server: 3,000 points, a third of them on a coarse grid.
fn fill_big(conn: &mut redis::Connection, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xb16);
    let mut cmds = Vec::new();
    for chunk in 0..30 {
        let mut c = vec![b"GEOADD".to_vec(), BIG.as_bytes().to_vec()];
        for i in 0..100 {
            let (lon, lat) = if rng.random_bool(0.33) {
                (
                    12.0 + f64::from(rng.random_range(0..8u8)) * 0.25,
                    36.5 + f64::from(rng.random_range(0..8u8)) * 0.25,
                )
            } else {
                (rng.random_range(10.0..20.0), rng.random_range(35.0..42.0))
            };
            c.push(format!("{lon:.5}").into_bytes());
            c.push(format!("{lat:.5}").into_bytes());
            c.push(format!("p{}", chunk * 100 + i).into_bytes());
        }
        cmds.push(c);
    }
    for r in pipeline(conn, &cmds) {
        assert_eq!(r, Reply::Int(100), "filling {BIG}");
    }
}

/// The key a GEOSEARCHSTORE or a GEORADIUS* STORE|STOREDIST command writes.
fn store_destination(args: &[String]) -> Option<&str> {
    let name = args[0].to_ascii_uppercase();
    if name == "GEOSEARCHSTORE" {
        return Some(&args[1]);
    }
    if !name.starts_with("GEORADIUS") {
        return None;
    }
    let i = args
        .iter()
        .rposition(|a| a.eq_ignore_ascii_case("store") || a.eq_ignore_ascii_case("storedist"))?;
    args.get(i + 1).map(String::as_str)
}

fn env_list(names: &[&str]) -> Option<Vec<u64>> {
    let v = names.iter().find_map(|n| std::env::var(n).ok())?;
    Some(v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
}

/// Counts of one run, for the summary line.
#[derive(Default)]
struct Counts {
    compared: usize,
    resp3: usize,
    errors: usize,
    nonempty_searches: usize,
}

fn run_seed(seed: u64, n: usize, counts: &mut Counts) {
    let redis = RedisServer::start().expect("redis-server is available");
    let mut basalt = Server::start();
    let (mut rc, mut bc) = (redis.client(), basalt.client());
    fill_big(&mut rc, seed);
    fill_big(&mut bc, seed);
    let resp3 = |port: u16| {
        let mut c = RawConn::new(port);
        c.call(&["HELLO", "3"]);
        c
    };
    let (mut r3, mut b3) = (resp3(redis.port()), resp3(basalt.port()));
    let mut gen = Gen {
        rng: StdRng::seed_from_u64(seed),
    };
    let mut history: Vec<String> = Vec::new();
    for i in 0..n {
        if i == n / 2 {
            drop(bc);
            drop(b3);
            basalt.restart();
            bc = basalt.client();
            b3 = resp3(basalt.port());
        }
        let args = gen.next();
        let use3 = gen.chance(0.25);
        let text = format!(
            "{}{}",
            if use3 { "[resp3] " } else { "" },
            escape_cmd(&args)
        );
        let (want, got, error, nonempty) = if use3 {
            counts.resp3 += 1;
            let (a, b) = (r3.call(&args), b3.call(&args));
            let nonempty = a.starts_with(b"*") && !a.starts_with(b"*0\r\n");
            (escape(&a), escape(&b), a.starts_with(b"-"), nonempty)
        } else {
            let (a, b) = (raw(&mut rc, &args), raw(&mut bc, &args));
            let nonempty = matches!(&a, Reply::Array(v) if !v.is_empty());
            (a.to_string(), b.to_string(), a.is_error(), nonempty)
        };
        counts.compared += 1;
        if error {
            counts.errors += 1;
        }
        if nonempty && args[0].to_ascii_uppercase().starts_with("GEO") {
            counts.nonempty_searches += 1;
        }
        assert!(
            want == got,
            "geo differential mismatch: seed={seed} #{i}\n  command: {text}\n  redis:  {want}\n  basalt: {got}\n  before:\n    {}\n  repro: BASALT_GEODIFF_SEEDS={seed} BASALT_GEODIFF_COMMANDS={n} cargo test --release --test it differential_geo -- --nocapture",
            history.join("\n    ")
        );
        history.push(text);
        if history.len() > 12 {
            history.remove(0);
        }
        // A STORE form's reply is only a count: compare what it stored right away.
        if let Some(dst) = store_destination(&args) {
            let check = ["ZRANGE", dst, "0", "-1", "WITHSCORES"];
            let (a, b) = (raw(&mut rc, &check), raw(&mut bc, &check));
            counts.compared += 1;
            assert!(
                a == b,
                "geo differential mismatch: seed={seed} #{i}: stored {dst} differs\n  redis:  {a}\n  basalt: {b}\n  before:\n    {}",
                history.join("\n    ")
            );
        }
    }
}

#[test]
fn differential_geo() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed (differential_geo)");
        return;
    }
    let seeds = env_list(&["BASALT_GEODIFF_SEEDS", "BASALT_DIFF_SEEDS"]).unwrap_or(vec![301, 302]);
    let n = env_list(&["BASALT_GEODIFF_COMMANDS", "BASALT_DIFF_COMMANDS"])
        .and_then(|v| v.first().copied())
        .map_or(6000, |v| v as usize);
    let mut counts = Counts::default();
    for &seed in &seeds {
        run_seed(seed, n, &mut counts);
    }
    assert!(counts.nonempty_searches > 0, "no command returned results");
    notice(&format!(
        "differential geo: {} commands compared ({} in RESP3, {} errors, {} non-empty GEO arrays), 0 mismatches",
        counts.compared, counts.resp3, counts.errors, counts.nonempty_searches
    ));
}
