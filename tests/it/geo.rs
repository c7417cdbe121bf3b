//! GEO commands through the real binary, one test per command family with its error cases:
//! every scripted step is checked against the reply Redis 7.0.15 gives (written out here, and
//! replayed on a real redis-server when one is installed). Also: a geo key is an ordinary
//! sorted set; RESP3 replies byte for byte (coordinates are RESP3 doubles printed as Redis
//! prints them); STORE keys for COMMAND GETKEYS and ACL; keyspace events compared with Redis;
//! persistence across a restart.

use crate::harness::{check_steps, cmd, escape, raw, raw_tcp, RedisServer, Reply, Server, Step};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn bulk(s: &str) -> Reply {
    Reply::bulk(s)
}

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

fn bulks(items: &[&str]) -> Reply {
    arr(items.iter().map(|s| bulk(s)).collect())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}

/// A Basalt server and, when installed, a redis-server to replay the same steps on.
fn servers() -> (Server, Option<RedisServer>) {
    (Server::start(), RedisServer::start())
}

fn run(steps: &[Step<'_>]) {
    let (basalt, redis) = servers();
    let mut b = basalt.client();
    let mut r = redis.as_ref().map(RedisServer::client);
    check_steps(&mut b, r.as_mut(), steps);
}

const SICILY: &[&str] = &[
    "GEOADD",
    "Sicily",
    "13.361389",
    "38.115556",
    "Palermo",
    "15.087269",
    "37.502669",
    "Catania",
];

// ---------------------------------------------------------------------------------------------
// Raw connections: whole replies as bytes
// ---------------------------------------------------------------------------------------------

/// A connection that returns each reply as the exact bytes the server sent.
pub struct RawConn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl RawConn {
    pub fn new(port: u16) -> RawConn {
        let w = raw_tcp(port);
        let r = BufReader::new(w.try_clone().expect("clone socket"));
        RawConn { w, r }
    }

    /// Sends one command and reads its whole reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&req).expect("send");
        self.frame()
    }

    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).expect("read line");
        assert!(l.ends_with(b"\r\n"), "truncated reply line {}", escape(&l));
        l
    }

    /// One complete RESP2/RESP3 frame.
    pub fn frame(&mut self) -> Vec<u8> {
        let mut out = self.line();
        let n = || -> i64 {
            String::from_utf8_lossy(&out[1..out.len() - 2])
                .parse()
                .unwrap_or(-1)
        };
        match out[0] {
            b'$' | b'=' | b'!' => {
                let len = n();
                if len >= 0 {
                    let mut body = vec![0u8; len as usize + 2];
                    self.r.read_exact(&mut body).expect("bulk body");
                    out.extend_from_slice(&body);
                }
            }
            b'*' | b'~' | b'>' | b'%' => {
                let len = n();
                let items = if out[0] == b'%' { len * 2 } else { len };
                for _ in 0..items.max(0) {
                    let f = self.frame();
                    out.extend_from_slice(&f);
                }
            }
            _ => {}
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Per command
// ---------------------------------------------------------------------------------------------

#[test]
fn geoadd_options_and_errors() {
    run(&[
        (SICILY, Reply::Int(2)),
        (SICILY, Reply::Int(0)),
        (
            &[
                "GEOADD",
                "Sicily",
                "CH",
                "13.361389",
                "38.115556",
                "Palermo",
                "1",
                "1",
                "x",
            ],
            Reply::Int(1),
        ),
        // CH counts a moved member; NX leaves existing ones alone; XX adds nothing new.
        (&["GEOADD", "Sicily", "CH", "2", "2", "x"], Reply::Int(1)),
        (
            &["GEOADD", "Sicily", "NX", "CH", "3", "3", "x", "4", "4", "y"],
            Reply::Int(1),
        ),
        (
            &["GEOADD", "Sicily", "XX", "5", "5", "z", "5", "5", "y"],
            Reply::Int(0),
        ),
        (
            &["GEOADD", "Sicily", "XX", "CH", "6", "6", "z", "6", "6", "y"],
            Reply::Int(1),
        ),
        (&["ZCARD", "Sicily"], Reply::Int(4)),
        (
            &["GEOADD", "Sicily", "NX", "XX", "1", "1", "x"],
            err("ERR syntax error"),
        ),
        (
            &["GEOADD", "Sicily", "1", "1", "x", "2"],
            err("ERR syntax error"),
        ),
        (
            &["GEOADD", "Sicily", "CH", "CH", "CH"],
            err("ERR syntax error"),
        ),
        (
            &["GEOADD", "Sicily", "GT", "1", "1", "x"],
            err("ERR syntax error"),
        ),
        (
            &["GEOADD", "Sicily", "1", "1"],
            err("ERR wrong number of arguments for 'geoadd' command"),
        ),
        (
            &["GEOADD", "Sicily", "abc", "1", "x"],
            err("ERR value is not a valid float"),
        ),
        (
            &["GEOADD", "Sicily", "1", "nan", "x"],
            err("ERR value is not a valid float"),
        ),
        (
            &["GEOADD", "Sicily", "180.5", "1", "x"],
            err("ERR invalid longitude,latitude pair 180.500000,1.000000"),
        ),
        (
            &["GEOADD", "Sicily", "1", "85.06", "x"],
            err("ERR invalid longitude,latitude pair 1.000000,85.060000"),
        ),
        (
            &["GEOADD", "Sicily", "-1", "-inf", "x"],
            err("ERR invalid longitude,latitude pair -1.000000,-inf"),
        ),
        // One bad pair refuses the whole command.
        (
            &["GEOADD", "new", "1", "1", "a", "1", "100", "b"],
            err("ERR invalid longitude,latitude pair 1.000000,100.000000"),
        ),
        (&["EXISTS", "new"], Reply::Int(0)),
        // The limits themselves are valid positions.
        (
            &[
                "GEOADD",
                "edge",
                "180",
                "85.05112878",
                "a",
                "-180",
                "-85.05112878",
                "b",
            ],
            Reply::Int(2),
        ),
        (&["ZSCORE", "edge", "a"], bulk("13510798882111488")),
        (&["ZSCORE", "edge", "b"], bulk("0")),
        (&["SET", "str", "x"], Reply::ok()),
        (
            &["GEOADD", "str", "1", "1", "x"],
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
    ]);
}

#[test]
fn geopos_geohash_geodist() {
    run(&[
        (SICILY, Reply::Int(2)),
        (
            &["GEOPOS", "Sicily", "Palermo", "nonexisting", "Catania"],
            arr(vec![
                bulks(&["13.36138933897018433", "38.11555639549629859"]),
                Reply::Nil,
                bulks(&["15.08726745843887329", "37.50266842333162032"]),
            ]),
        ),
        (&["GEOPOS", "Sicily"], arr(vec![])),
        (&["GEOPOS", "missing", "a"], arr(vec![Reply::Nil])),
        (
            &["GEOHASH", "Sicily", "Palermo", "Catania", "x"],
            arr(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), Reply::Nil]),
        ),
        (
            &["GEOHASH", "missing", "a", "b"],
            arr(vec![Reply::Nil, Reply::Nil]),
        ),
        (
            &["GEODIST", "Sicily", "Palermo", "Catania"],
            bulk("166274.1516"),
        ),
        (
            &["GEODIST", "Sicily", "Palermo", "Catania", "km"],
            bulk("166.2742"),
        ),
        (
            &["GEODIST", "Sicily", "Palermo", "Catania", "MI"],
            bulk("103.3182"),
        ),
        (
            &["GEODIST", "Sicily", "Palermo", "Catania", "ft"],
            bulk("545518.8700"),
        ),
        (&["GEODIST", "Sicily", "Palermo", "Palermo"], bulk("0.0000")),
        (&["GEODIST", "Sicily", "Palermo", "x"], Reply::Nil),
        (&["GEODIST", "missing", "a", "b"], Reply::Nil),
        (
            &["GEODIST", "Sicily", "a", "b", "yd"],
            err("ERR unsupported unit provided. please use M, KM, FT, MI"),
        ),
        (
            &["GEODIST", "Sicily", "a", "b", "km", "x"],
            err("ERR syntax error"),
        ),
        (
            &["GEODIST", "Sicily", "a"],
            err("ERR wrong number of arguments for 'geodist' command"),
        ),
        (
            &["GEOPOS"],
            err("ERR wrong number of arguments for 'geopos' command"),
        ),
        (&["SET", "str", "x"], Reply::ok()),
        // The unit is checked before the key, the type before the members.
        (
            &["GEODIST", "str", "a", "b", "yd"],
            err("ERR unsupported unit provided. please use M, KM, FT, MI"),
        ),
        (
            &["GEODIST", "str", "a", "b"],
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
        (
            &["GEOPOS", "str", "a"],
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
        (
            &["GEOHASH", "str", "a"],
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
    ]);
}

#[test]
fn a_geo_key_is_a_sorted_set() {
    run(&[
        (SICILY, Reply::Int(2)),
        (&["TYPE", "Sicily"], Reply::Simple("zset".into())),
        (&["ZSCORE", "Sicily", "Palermo"], bulk("3479099956230698")),
        (
            &["ZRANGE", "Sicily", "0", "-1"],
            bulks(&["Palermo", "Catania"]),
        ),
        (&["ZREM", "Sicily", "Palermo"], Reply::Int(1)),
        (&["GEOPOS", "Sicily", "Palermo"], arr(vec![Reply::Nil])),
        // GEOADD on a set made by ZADD, and GEO reads of scores GEOADD never wrote: Redis
        // casts them to 64 bits as C does and clamps the decoded position.
        (
            &[
                "ZADD",
                "z",
                "3479099956230698",
                "p",
                "-1",
                "neg",
                "1e300",
                "huge",
                "-inf",
                "ninf",
            ],
            Reply::Int(4),
        ),
        (
            &["GEOADD", "z", "15.087269", "37.502669", "Catania"],
            Reply::Int(1),
        ),
        (
            &["GEOPOS", "z", "p", "neg", "huge", "ninf"],
            arr(vec![
                bulks(&["13.36138933897018433", "38.11555639549629859"]),
                bulks(&["180", "85.0511287799999991"]),
                bulks(&["-179.99999731779098511", "-85.05112751263942528"]),
                bulks(&["180", "-85.05112751263942528"]),
            ]),
        ),
        (
            &["GEOHASH", "z", "neg", "huge"],
            bulks(&["bp05b5048p0", "00bh0hbj200"]),
        ),
        (&["GEODIST", "z", "neg", "huge"], bulk("18919844.5891")),
        (&["GEODIST", "z", "p", "Catania", "km"], bulk("166.2742")),
        (
            &["ZREM", "z", "p", "neg", "huge", "ninf", "Catania"],
            Reply::Int(5),
        ),
        (&["EXISTS", "z"], Reply::Int(0)),
    ]);
}

#[test]
fn geosearch_shapes_options_and_errors() {
    run(&[
        (SICILY, Reply::Int(2)),
        (
            &[
                "GEOADD",
                "Sicily",
                "12.758489",
                "38.788135",
                "edge1",
                "17.241510",
                "38.788135",
                "edge2",
            ],
            Reply::Int(2),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "ASC",
            ],
            bulks(&["Catania", "Palermo"]),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "ASC",
                "WITHCOORD",
                "WITHDIST",
            ],
            arr(vec![
                arr(vec![
                    bulk("Catania"),
                    bulk("56.4413"),
                    bulks(&["15.08726745843887329", "37.50266842333162032"]),
                ]),
                arr(vec![
                    bulk("Palermo"),
                    bulk("190.4424"),
                    bulks(&["13.36138933897018433", "38.11555639549629859"]),
                ]),
                arr(vec![
                    bulk("edge2"),
                    bulk("279.7403"),
                    bulks(&["17.24151045083999634", "38.78813451624225195"]),
                ]),
                arr(vec![
                    bulk("edge1"),
                    bulk("279.7405"),
                    bulks(&["12.7584877610206604", "38.78813451624225195"]),
                ]),
            ]),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "200",
                "km",
                "DESC",
                "WITHHASH",
            ],
            arr(vec![
                arr(vec![bulk("Catania"), Reply::Int(3479447370796909)]),
                arr(vec![bulk("edge1"), Reply::Int(3479273021651468)]),
                arr(vec![bulk("Palermo"), Reply::Int(3479099956230698)]),
            ]),
        ),
        // COUNT sorts ascending by itself; with ANY it takes the first found.
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "COUNT",
                "2",
            ],
            bulks(&["Catania", "Palermo"]),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "COUNT",
                "1",
                "ANY",
                "DESC",
            ],
            arr(vec![bulk("Palermo")]),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "m",
            ],
            arr(vec![]),
        ),
        (
            &[
                "GEOSEARCH",
                "missing",
                "FROMMEMBER",
                "nope",
                "BYRADIUS",
                "1",
                "km",
            ],
            arr(vec![]),
        ),
        // Errors, in Redis's order of checks.
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "nope",
                "BYRADIUS",
                "1",
                "km",
            ],
            err("ERR could not decode requested zset member"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
                "0",
            ],
            err("ERR COUNT must be > 0"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
                "x",
            ],
            err("ERR value is not an integer or out of range"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "ANY",
            ],
            err("ERR the ANY argument requires COUNT argument"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
            err("ERR syntax error"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "1",
                "km",
            ],
            err("ERR syntax error"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "STOREDIST",
            ],
            err("ERR syntax error"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "STORE",
                "x",
            ],
            err("ERR syntax error"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
            ],
            err("ERR syntax error"),
        ),
        (
            &[
                "geosearch",
                "Sicily",
                "BYRADIUS",
                "1",
                "km",
                "ASC",
                "WITHDIST",
            ],
            err("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch"),
        ),
        (
            &[
                "GeoSearch",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "ASC",
                "WITHDIST",
            ],
            err("ERR exactly one of BYRADIUS and BYBOX can be specified for GeoSearch"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
                "yd",
            ],
            err("ERR unsupported unit provided. please use M, KM, FT, MI"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "-1",
                "km",
            ],
            err("ERR radius cannot be negative"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "x",
                "km",
            ],
            err("ERR need numeric radius"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "x",
                "y",
                "km",
            ],
            err("ERR need numeric width"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "1",
                "y",
                "km",
            ],
            err("ERR need numeric height"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "1",
                "-1",
                "km",
            ],
            err("ERR height or width cannot be negative"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "181",
                "37",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
            err("ERR invalid longitude,latitude pair 181.000000,37.000000"),
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "1",
            ],
            err("ERR syntax error"),
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37"],
            err("ERR wrong number of arguments for 'geosearch' command"),
        ),
        (&["SET", "str", "x"], Reply::ok()),
        (
            &[
                "GEOSEARCH",
                "str",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "x",
                "km",
            ],
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
    ]);
}

#[test]
fn georadius_family() {
    run(&[
        (SICILY, Reply::Int(2)),
        (&["GEOADD", "Sicily", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2"], Reply::Int(2)),
        (&["GEORADIUS", "Sicily", "15", "37", "100", "km"], bulks(&["Catania"])),
        (
            &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST"],
            arr(vec![arr(vec![bulk("Palermo"), bulk("190.4424")]), arr(vec![bulk("Catania"), bulk("56.4413")])]),
        ),
        (&["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "ASC"], bulks(&["Catania", "Palermo"])),
        (
            &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST"],
            arr(vec![
                arr(vec![bulk("Palermo"), bulk("0.0000")]),
                arr(vec![bulk("edge1"), bulk("91.4007")]),
                arr(vec![bulk("Catania"), bulk("166.2742")]),
            ]),
        ),
        (&["GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "200", "km", "COUNT", "1", "DESC"], bulks(&["Catania"])),
        // Without the key the member and the radius are never looked at.
        (&["GEORADIUSBYMEMBER", "missing", "m", "x", "km", "WITHDIST"], arr(vec![])),
        (&["GEORADIUSBYMEMBER", "Sicily", "nope", "x", "km"], err("ERR could not decode requested zset member")),
        (&["GEORADIUSBYMEMBER", "Sicily", "Palermo", "x", "km"], err("ERR need numeric radius")),
        (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "FROMLONLAT", "1", "1"], err("ERR syntax error")),
        (&["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "x"], err("ERR syntax error")),
        (&["GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "200", "km", "STOREDIST", "x"], err("ERR syntax error")),
        (
            &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "x", "WITHCOORD"],
            err("ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        ),
        (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE"], err("ERR syntax error")),
        (&["GEORADIUS", "Sicily", "15", "95", "200", "km"], err("ERR invalid longitude,latitude pair 15.000000,95.000000")),
        (&["GEORADIUS", "Sicily", "15", "37", "200"], err("ERR wrong number of arguments for 'georadius' command")),
    ]);
}

#[test]
fn store_forms_write_sorted_sets() {
    run(&[
        (SICILY, Reply::Int(2)),
        (&["GEOADD", "Sicily", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2"], Reply::Int(2)),
        (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "d"], Reply::Int(2)),
        (&["ZRANGE", "d", "0", "-1", "WITHSCORES"], bulks(&["Catania", "56.441257870158204", "Palermo", "190.44242984775784"])),
        (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "d"], Reply::Int(2)),
        (&["ZRANGE", "d", "0", "-1", "WITHSCORES"], bulks(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])),
        // The last of STORE / STOREDIST wins.
        (&["GEORADIUSBYMEMBER", "Sicily", "Palermo", "100", "km", "STORE", "d", "STOREDIST", "d2"], Reply::Int(2)),
        (&["ZRANGE", "d2", "0", "-1", "WITHSCORES"], bulks(&["Palermo", "0", "edge1", "91.400658605814272"])),
        (
            &["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "COUNT", "3", "STOREDIST"],
            Reply::Int(3),
        ),
        (&["ZRANGE", "d", "0", "-1", "WITHSCORES"], bulks(&["Catania", "56.441257870158204", "Palermo", "190.44242984775784", "edge2", "279.7403417843143"])),
        // The destination is replaced whatever it held, its TTL dropped.
        (&["SET", "str", "x", "EX", "100"], Reply::ok()),
        (&["GEOSEARCHSTORE", "str", "Sicily", "FROMMEMBER", "Catania", "BYRADIUS", "1", "km"], Reply::Int(1)),
        (&["TYPE", "str"], Reply::Simple("zset".into())),
        (&["TTL", "str"], Reply::Int(-1)),
        // The source may be the destination.
        (&["GEOSEARCHSTORE", "d", "d", "FROMLONLAT", "15", "37", "BYRADIUS", "100", "km"], Reply::Int(0)),
        // An empty result, or a missing source, deletes the destination.
        (&["GEOSEARCHSTORE", "str", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"], Reply::Int(0)),
        (&["EXISTS", "str", "d"], Reply::Int(0)),
        (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "d"], Reply::Int(2)),
        (&["GEORADIUS", "missing", "15", "37", "200", "km", "STORE", "d"], Reply::Int(0)),
        (&["EXISTS", "d"], Reply::Int(0)),
        (
            &["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHDIST"],
            err("ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        ),
        (&["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STORE", "x"], err("ERR syntax error")),
        (&["SET", "str", "x"], Reply::ok()),
        (&["GEOSEARCHSTORE", "d", "str", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"], err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS"], err("ERR wrong number of arguments for 'geosearchstore' command")),
    ]);
}

/// RESP3 replies byte for byte: coordinates are doubles printed as Redis prints them.
#[test]
fn resp3_replies_byte_for_byte() {
    let (basalt, redis) = servers();
    let script: &[(&[&str], &[u8])] = &[
        (&["HELLO", "3"], b""),
        (SICILY, b":2\r\n"),
        (
            &["GEOPOS", "Sicily", "Palermo", "x"],
            b"*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHCOORD", "WITHDIST", "WITHHASH", "ASC"],
            b"*2\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n\
*4\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n:3479099956230698\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n",
        ),
        // GEODIST stays a bulk string in RESP3 (Redis 7.0), GEOHASH's nil is `_`.
        (&["GEODIST", "Sicily", "Palermo", "Catania"], b"$11\r\n166274.1516\r\n"),
        (&["GEODIST", "Sicily", "Palermo", "x"], b"_\r\n"),
        (&["GEOHASH", "Sicily", "Palermo", "x"], b"*2\r\n$11\r\nsqc8b49rny0\r\n_\r\n"),
        (&["GEOSEARCH", "missing", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"], b"*0\r\n"),
        (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "d"], b":2\r\n"),
    ];
    let mut ports = vec![basalt.port()];
    ports.extend(redis.as_ref().map(RedisServer::port));
    for port in ports {
        let mut c = RawConn::new(port);
        for (args, want) in script {
            let got = c.call(args);
            if !want.is_empty() {
                assert_eq!(
                    escape(&got),
                    escape(want),
                    "port {port}: {}",
                    args.join(" ")
                );
            }
        }
        // And back in RESP2 the coordinates are bulk strings.
        c.call(&["HELLO", "2"]);
        assert_eq!(
            escape(&c.call(&["GEOPOS", "Sicily", "Catania", "x"])),
            escape(b"*2\r\n*2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n*-1\r\n")
        );
    }
}

#[test]
fn store_keys_for_getkeys_and_acl() {
    let (basalt, redis) = servers();
    let mut ports = vec![basalt.port()];
    ports.extend(redis.as_ref().map(RedisServer::port));
    for port in ports {
        let mut c = crate::harness::connect(port);
        let keys = |c: &mut redis::Connection, args: &[&str]| {
            let mut full = vec!["COMMAND", "GETKEYS"];
            full.extend_from_slice(args);
            cmd(c, &full)
        };
        assert_eq!(
            keys(
                &mut c,
                &[
                    "GEORADIUS",
                    "k",
                    "1",
                    "2",
                    "3",
                    "km",
                    "STOREDIST",
                    "d2",
                    "STORE",
                    "d"
                ]
            ),
            bulks(&["k", "d", "d2"]),
            "port {port}"
        );
        assert_eq!(
            keys(&mut c, &["GEORADIUS", "k", "1", "2", "3", "km"]),
            bulks(&["k"])
        );
        assert_eq!(
            keys(
                &mut c,
                &["GEORADIUSBYMEMBER", "k", "m", "3", "km", "STORE", "d"]
            ),
            bulks(&["k", "d"])
        );
        assert_eq!(
            keys(
                &mut c,
                &[
                    "GEOSEARCHSTORE",
                    "d",
                    "s",
                    "FROMMEMBER",
                    "m",
                    "BYRADIUS",
                    "1",
                    "km"
                ]
            ),
            bulks(&["d", "s"])
        );
        assert_eq!(
            keys(
                &mut c,
                &["GEOSEARCH", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"]
            ),
            bulks(&["s"])
        );
        // ACL checks the STORE destination too.
        cmd(&mut c, SICILY);
        assert_eq!(
            cmd(
                &mut c,
                &["ACL", "SETUSER", "u", "on", "nopass", "~S*", "+@all"]
            ),
            Reply::ok()
        );
        assert_eq!(cmd(&mut c, &["AUTH", "u", "x"]), Reply::ok());
        assert_eq!(
            cmd(
                &mut c,
                &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "d"]
            ),
            err("NOPERM this user has no permissions to access one of the keys used as arguments")
        );
        assert_eq!(
            cmd(
                &mut c,
                &[
                    "GEORADIUS",
                    "Sicily",
                    "15",
                    "37",
                    "200",
                    "km",
                    "STORE",
                    "S2"
                ]
            ),
            Reply::Int(2)
        );
        assert_eq!(
            cmd(&mut c, &["GEORADIUS", "Sicily", "15", "37", "100", "km"]),
            bulks(&["Catania"])
        );
    }
}

/// A PSUBSCRIBE connection collecting keyspace events up to a sentinel message.
fn events(port: u16, commands: &[&[&str]]) -> Vec<String> {
    let mut conn = crate::harness::connect(port);
    assert_eq!(
        cmd(
            &mut conn,
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"]
        ),
        Reply::ok()
    );
    let mut sub = RawConn::new(port);
    sub.call(&["PSUBSCRIBE", "__key*__:*"]);
    for c in commands {
        raw(&mut conn, c);
    }
    raw(&mut conn, &["PUBLISH", "__keyevent@0__:zz-sentinel", "end"]);
    let mut out = Vec::new();
    loop {
        let f = String::from_utf8_lossy(&sub.frame()).into_owned();
        if f.contains("zz-sentinel") {
            return out;
        }
        // *4 $8 pmessage $pattern $channel $message: keep channel and message.
        let parts: Vec<&str> = f.split("\r\n").collect();
        out.push(format!("{} {}", parts[6], parts[8]));
    }
}

#[test]
fn keyspace_events_match_redis() {
    let commands: &[&[&str]] = &[
        SICILY,
        SICILY,
        &["GEOADD", "Sicily", "CH", "1", "1", "Palermo"],
        &["GEOADD", "Sicily", "NX", "2", "2", "Palermo"],
        &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "d"],
        &[
            "GEOSEARCHSTORE",
            "d2",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
            "STOREDIST",
        ],
        &[
            "GEOSEARCHSTORE",
            "d2",
            "Sicily",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "Sicily",
            "Catania",
            "1",
            "km",
            "STORE",
            "d",
        ],
        &[
            "GEORADIUS",
            "missing",
            "15",
            "37",
            "200",
            "km",
            "STORE",
            "d",
        ],
        &[
            "GEOSEARCHSTORE",
            "none",
            "Sicily",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ],
        &["ZREM", "Sicily", "Palermo", "Catania"],
    ];
    let basalt = Server::start();
    let got = events(basalt.port(), commands);
    let want: Vec<String> = [
        "__keyspace@0__:Sicily zadd",
        "__keyevent@0__:zadd Sicily",
        "__keyspace@0__:Sicily zadd",
        "__keyevent@0__:zadd Sicily",
        "__keyspace@0__:d georadiusstore",
        "__keyevent@0__:georadiusstore d",
        "__keyspace@0__:d2 geosearchstore",
        "__keyevent@0__:geosearchstore d2",
        "__keyspace@0__:d2 del",
        "__keyevent@0__:del d2",
        "__keyspace@0__:d georadiusstore",
        "__keyevent@0__:georadiusstore d",
        "__keyspace@0__:d del",
        "__keyevent@0__:del d",
        "__keyspace@0__:Sicily zrem",
        "__keyevent@0__:zrem Sicily",
        "__keyspace@0__:Sicily del",
        "__keyevent@0__:del Sicily",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);
    if let Some(redis) = RedisServer::start() {
        assert_eq!(events(redis.port(), commands), want, "redis-server");
    }
}

#[test]
fn geo_sets_survive_a_restart() {
    let mut basalt = Server::start();
    let mut c = basalt.client();
    assert_eq!(cmd(&mut c, SICILY), Reply::Int(2));
    drop(c);
    basalt.restart();
    let mut c = basalt.client();
    assert_eq!(
        cmd(
            &mut c,
            &["GEORADIUS", "Sicily", "15", "37", "200", "km", "ASC"]
        ),
        bulks(&["Catania", "Palermo"])
    );
    assert_eq!(
        cmd(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania"]),
        bulk("166274.1516")
    );
}
