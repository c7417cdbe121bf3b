//! GEO commands (Redis 7.0's `geo.c`): GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms, with Redis's argument
//! order, error texts and reply formatting (distances with four decimals, coordinates as
//! `addReplyHumanLongDouble` prints them, a RESP3 double in RESP3).
//!
//! A geo key is a sorted set: GEOADD is ZADD with computed scores (and announces `zadd`), and
//! the searches read the `zscore` index through `types::geo`.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::geo::{self, Point, Query, Sort};
use crate::types::zsets::{self, AddFlags};
use crate::util::geohash::{self, Shape, ShapeKind};
use bytes::Bytes;

const G: &str = "geo";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("geoadd", -5, WRITE | DENYOOM, Keys::one(1), geoadd)
        .group(G)
        .doc("Adds one or more members to a geospatial index. The key is created if it doesn't exist."),
    Spec::new("geodist", -4, READONLY, Keys::one(1), geodist)
        .group(G)
        .doc("Returns the distance between two members of a geospatial index."),
    Spec::new("geohash", -2, READONLY, Keys::one(1), geohash_cmd)
        .group(G)
        .doc("Returns members from a geospatial index as geohash strings."),
    Spec::new("geopos", -2, READONLY, Keys::one(1), geopos)
        .group(G)
        .doc("Returns the longitude and latitude of members from a geospatial index."),
    Spec::new("georadius", -6, WRITE | DENYOOM | MOVABLEKEYS, Keys::one(1), georadius)
        .group(G)
        .doc("Queries a geospatial index for members within a distance from a coordinate, optionally stores the result."),
    Spec::new("georadius_ro", -6, READONLY, Keys::one(1), georadius_ro)
        .group(G)
        .doc("Returns members from a geospatial index that are within a distance from a coordinate."),
    Spec::new(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM | MOVABLEKEYS,
        Keys::one(1),
        georadiusbymember,
    )
    .group(G)
    .doc("Queries a geospatial index for members within a distance from a member, optionally stores the result."),
    Spec::new("georadiusbymember_ro", -5, READONLY, Keys::one(1), georadiusbymember_ro)
        .group(G)
        .doc("Returns members from a geospatial index that are within a distance from a member."),
    Spec::new("geosearch", -7, READONLY, Keys::one(1), geosearch)
        .group(G)
        .doc("Queries a geospatial index for members inside an area of a box or a circle."),
    Spec::new("geosearchstore", -8, WRITE | DENYOOM, Keys::range(1, 2, 1), geosearchstore)
        .group(G)
        .doc("Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result."),
];

/// Where GEORADIUS / GEORADIUSBYMEMBER look for their STORE / STOREDIST keyword (Redis's
/// keyword key specs: from argument 6, resp. 5, on), None for other commands.
pub(super) fn store_keyword_start(name: &str) -> Option<usize> {
    match name {
        "georadius" => Some(6),
        "georadiusbymember" => Some(5),
        _ => None,
    }
}

/// Key positions of GEORADIUS / GEORADIUSBYMEMBER as Redis's key specs find them: the source,
/// then the argument after the first STORE, then after the first STOREDIST (searched from
/// `start`, the keyword not being the last argument).
pub(super) fn key_positions(args: &Args<'_>, start: usize) -> Vec<usize> {
    let mut keys = vec![1];
    for keyword in ["store", "storedist"] {
        if let Some(i) = (start..args.len().saturating_sub(1)).find(|&i| args.is(i, keyword)) {
            keys.push(i + 1);
        }
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Argument parsing
// ---------------------------------------------------------------------------------------------

/// `extractLongLatOrReply`: longitude and latitude at `i`, `i + 1`, within Redis's limits.
fn lon_lat(args: &Args<'_>, i: usize) -> Result<[f64; 2], CmdError> {
    let lon = args.f64(i)?;
    let lat = args.f64(i + 1)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::msg(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok([lon, lat])
}

/// `extractUnitOrReply`: the factor from the unit to meters.
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    let u = |s: &str| arg.eq_ignore_ascii_case(s.as_bytes());
    if u("m") {
        Ok(1.0)
    } else if u("km") {
        Ok(1000.0)
    } else if u("ft") {
        Ok(0.3048)
    } else if u("mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::msg(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// A double argument with a command-specific error text.
fn f64_or(args: &Args<'_>, i: usize, msg: &'static str) -> Result<f64, CmdError> {
    args.f64(i).map_err(|_| CmdError::msg(msg))
}

/// `extractDistanceOrReply`: `radius unit` at `i` -> (radius, conversion).
fn radius_arg(args: &Args<'_>, i: usize) -> Result<(f64, f64), CmdError> {
    let r = f64_or(args, i, "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(CmdError::msg("ERR radius cannot be negative"));
    }
    Ok((r, unit(args.get(i + 1))?))
}

/// `extractBoxOrReply`: `width height unit` at `i` -> (width, height, conversion).
fn box_arg(args: &Args<'_>, i: usize) -> Result<(f64, f64, f64), CmdError> {
    let w = f64_or(args, i, "ERR need numeric width")?;
    let h = f64_or(args, i + 1, "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::msg("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(args.get(i + 2))?))
}

fn no_member() -> CmdError {
    CmdError::msg("ERR could not decode requested zset member")
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

fn coordinate(v: f64) -> Reply {
    Reply::FormattedDouble(Bytes::from(geohash::fmt_coordinate(v)))
}

fn coordinates([lon, lat]: [f64; 2]) -> Reply {
    Reply::Array(vec![coordinate(lon), coordinate(lat)])
}

fn distance(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(geohash::fmt_distance(d)))
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD with the members' geohashes.
fn geoadd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut i = 2;
    while i < args.len() {
        if args.is(i, "nx") {
            nx = true;
        } else if args.is(i, "xx") {
            xx = true;
        } else if args.is(i, "ch") {
            ch = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = args.len() - i;
    // No element at all is ZADD's own syntax error.
    if !rest.is_multiple_of(3) || (xx && nx) || rest == 0 {
        return Err(CmdError::Syntax);
    }
    let mut pairs = Vec::with_capacity(rest / 3);
    for j in (i..args.len()).step_by(3) {
        let [lon, lat] = lon_lat(args, j)?;
        let score = geohash::score_of(lon, lat).ok_or(CmdError::Syntax)?;
        pairs.push((score, args.get(j + 2)));
    }
    let flags = AddFlags {
        nx,
        xx,
        ..AddFlags::default()
    };
    let key = args.get(1);
    let out = zsets::add(&cx.db(), key, flags, &pairs)?;
    if out.added + out.updated > 0 {
        cx.notify(class::ZSET, "zadd", key);
    }
    let n = if ch {
        out.added + out.updated
    } else {
        out.added
    };
    Ok(Reply::Int(n as i64))
}

/// GEODIST key member1 member2 [unit]
fn geodist(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let to_meter = match args.len() {
        5 => unit(args.get(4))?,
        4 => 1.0,
        _ => return Err(CmdError::Syntax),
    };
    let d = geo::distance(&cx.db(), args.get(1), args.get(2), args.get(3))?;
    Ok(d.map_or(Reply::Nil, |d| distance(d / to_meter)))
}

/// GEOHASH key [member ...]
fn geohash_cmd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let members: Vec<&[u8]> = args.iter().skip(2).collect();
    let hashes = geo::hashes(&cx.db(), args.get(1), &members)?;
    Ok(Reply::Array(
        hashes
            .into_iter()
            .map(|h| h.map_or(Reply::Nil, |h| Reply::bulk(&h)))
            .collect(),
    ))
}

/// GEOPOS key [member ...]
fn geopos(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let members: Vec<&[u8]> = args.iter().skip(2).collect();
    let positions = geo::positions(&cx.db(), args.get(1), &members)?;
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|p| p.map_or(Reply::NilArray, coordinates))
            .collect(),
    ))
}

/// The variant of `georadiusGeneric` a command is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS (`store` allowed) / GEORADIUS_RO.
    Radius {
        store: bool,
    },
    /// GEORADIUSBYMEMBER / GEORADIUSBYMEMBER_RO.
    ByMember {
        store: bool,
    },
    GeoSearch,
    GeoSearchStore,
}

impl Variant {
    fn is_search(self) -> bool {
        matches!(self, Variant::GeoSearch | Variant::GeoSearchStore)
    }

    fn accepts_store(self) -> bool {
        matches!(
            self,
            Variant::Radius { store: true } | Variant::ByMember { store: true }
        )
    }
}

/// `georadiusGeneric`: parses in Redis's order (the source's type first, then the centre and
/// size, then the options one by one, then the combinations), runs the search and replies or
/// stores.
fn georadius_generic(cx: &mut Context<'_>, args: &Args<'_>, v: Variant) -> CmdResult {
    let src_idx = if v == Variant::GeoSearchStore { 2 } else { 1 };
    let src = args.get(src_idx);
    let meta = geo::open(&cx.db(), src)?;
    let exists = meta.is_some();
    let mut shape = Shape {
        xy: [0.0, 0.0],
        conversion: 1.0,
        kind: ShapeKind::Radius(0.0),
    };
    let mut store: Option<&[u8]> = None;
    let base = match v {
        Variant::Radius { .. } => {
            shape.xy = lon_lat(args, 2)?;
            let (r, conv) = radius_arg(args, 4)?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conv);
            6
        }
        // Without a source the member cannot be looked up: the options are still parsed, to
        // know which empty reply to give.
        Variant::ByMember { .. } if !exists => 5,
        Variant::ByMember { .. } => {
            shape.xy = geo::position(&cx.db(), src, args.get(2))?.ok_or_else(no_member)?;
            let (r, conv) = radius_arg(args, 3)?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conv);
            5
        }
        Variant::GeoSearch => 2,
        Variant::GeoSearchStore => {
            store = Some(args.get(1));
            3
        }
    };

    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut storedist = false;
    let n = args.len();
    let mut i = base;
    while i < n {
        // Arguments left after this one.
        let more = n - i - 1;
        let a = |w: &str| args.is(i, w);
        if a("withdist") {
            withdist = true;
        } else if a("withhash") {
            withhash = true;
        } else if a("withcoord") {
            withcoord = true;
        } else if a("any") {
            any = true;
        } else if a("asc") {
            sort = Sort::Asc;
        } else if a("desc") {
            sort = Sort::Desc;
        } else if a("count") && more >= 1 {
            count = args.i64(i + 1)?;
            if count <= 0 {
                return Err(CmdError::msg("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (a("store") || a("storedist")) && more >= 1 && v.accepts_store() {
            storedist = a("storedist");
            store = Some(args.get(i + 1));
            i += 1;
        } else if a("storedist") && v == Variant::GeoSearchStore {
            storedist = true;
        } else if a("frommember") && more >= 1 && v.is_search() && !fromloc {
            if exists {
                shape.xy = geo::position(&cx.db(), src, args.get(i + 1))?.ok_or_else(no_member)?;
            }
            frommember = true;
            i += 1;
        } else if a("fromlonlat") && more >= 2 && v.is_search() && !frommember {
            shape.xy = lon_lat(args, i + 1)?;
            fromloc = true;
            i += 2;
        } else if a("byradius") && more >= 2 && v.is_search() && !bybox {
            let (r, conv) = radius_arg(args, i + 1)?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conv);
            byradius = true;
            i += 2;
        } else if a("bybox") && more >= 3 && v.is_search() && !byradius {
            let (width, height, conv) = box_arg(args, i + 1)?;
            (shape.kind, shape.conversion) = (ShapeKind::Box { width, height }, conv);
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if v == Variant::GeoSearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::msg(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if v.is_search() && !(frommember || fromloc) {
        return Err(CmdError::msg(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            args.text(0)
        )));
    }
    if v.is_search() && !(byradius || bybox) {
        return Err(CmdError::msg(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            args.text(0)
        )));
    }
    if any && count == 0 {
        return Err(CmdError::msg(
            "ERR the ANY argument requires COUNT argument",
        ));
    }

    let q = Query {
        shape,
        sort,
        count: count as u64,
        any,
    };
    if let Some(dst) = store {
        let existed = cx.notifying(class::GENERIC) && cx.db().meta(dst)?.is_some();
        let stored = geo::search_store(&cx.db(), dst, src, &q, storedist)?;
        if stored > 0 {
            let event = if v.is_search() {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            cx.notify(class::ZSET, event, dst);
        } else if existed {
            cx.notify(class::GENERIC, "del", dst);
        }
        return Ok(Reply::Int(stored as i64));
    }
    let Some(meta) = meta else {
        return Ok(Reply::Array(Vec::new()));
    };
    let points = geo::search_in(&cx.db(), src, &meta, &q)?;
    let conversion = shape.conversion;
    Ok(Reply::Array(
        points
            .into_iter()
            .map(|p| result(p, conversion, withdist, withhash, withcoord))
            .collect(),
    ))
}

/// One search result: the member alone, or [member, dist?, hash?, [lon, lat]?].
fn result(p: Point, conversion: f64, withdist: bool, withhash: bool, withcoord: bool) -> Reply {
    let member = Reply::Bulk(Bytes::from(p.member));
    if !(withdist || withhash || withcoord) {
        return member;
    }
    let mut item = Vec::with_capacity(4);
    item.push(member);
    if withdist {
        item.push(distance(p.dist / conversion));
    }
    if withhash {
        item.push(Reply::Int(geohash::c_f64_to_i64(p.score)));
    }
    if withcoord {
        item.push(coordinates([p.longitude, p.latitude]));
    }
    Reply::Array(item)
}

fn georadius(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    georadius_generic(cx, args, Variant::Radius { store: true })
}

fn georadius_ro(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    georadius_generic(cx, args, Variant::Radius { store: false })
}

fn georadiusbymember(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    georadius_generic(cx, args, Variant::ByMember { store: true })
}

fn georadiusbymember_ro(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    georadius_generic(cx, args, Variant::ByMember { store: false })
}

fn geosearch(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    georadius_generic(cx, args, Variant::GeoSearch)
}

fn geosearchstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    georadius_generic(cx, args, Variant::GeoSearchStore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(words: &[&str]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
        let mut base = Vec::new();
        let mut ranges = Vec::new();
        for w in words {
            ranges.push(base.len()..base.len() + w.len());
            base.extend_from_slice(w.as_bytes());
        }
        (base, ranges)
    }

    #[test]
    fn store_keys_follow_redis_key_specs() {
        let keys = |words: &[&str]| {
            let (base, ranges) = args_of(words);
            let args = Args::new(&base, &ranges);
            let start = store_keyword_start(&args.name_lower()).unwrap();
            key_positions(&args, start)
        };
        assert_eq!(keys(&["georadius", "k", "1", "2", "3", "km"]), vec![1]);
        assert_eq!(
            keys(&[
                "georadius",
                "k",
                "1",
                "2",
                "3",
                "km",
                "storedist",
                "d2",
                "store",
                "d"
            ]),
            vec![1, 9, 7]
        );
        assert_eq!(
            keys(&[
                "GEORADIUS",
                "k",
                "1",
                "2",
                "3",
                "km",
                "store",
                "a",
                "STORE",
                "b"
            ]),
            vec![1, 7]
        );
        // The keyword as the last argument names nothing; before the start it is not looked at.
        assert_eq!(
            keys(&["georadius", "k", "1", "2", "3", "km", "store"]),
            vec![1]
        );
        assert_eq!(
            keys(&["georadiusbymember", "k", "m", "3", "store", "a"]),
            vec![1]
        );
        assert_eq!(
            keys(&["georadiusbymember", "k", "m", "3", "km", "store", "a"]),
            vec![1, 6]
        );
        assert_eq!(store_keyword_start("geosearch"), None);
    }

    #[test]
    fn units_and_coordinates() {
        assert_eq!(unit(b"KM").unwrap(), 1000.0);
        assert_eq!(unit(b"mi").unwrap(), 1609.34);
        assert_eq!(unit(b"Ft").unwrap(), 0.3048);
        assert!(unit(b"yd").is_err());
        let (base, ranges) = args_of(&["x", "200", "1", "13.5", "nan"]);
        let args = Args::new(&base, &ranges);
        assert_eq!(
            lon_lat(&args, 1).unwrap_err().to_string(),
            "ERR invalid longitude,latitude pair 200.000000,1.000000"
        );
        assert!(matches!(lon_lat(&args, 3), Err(CmdError::NotFloat)));
    }
}
