//! Geo operations: a geo key *is* a sorted set whose scores are Redis's 52-bit geohashes
//! (`util::geohash`), so these are sorted-set reads plus the geohash arithmetic. GEOADD is
//! ZADD with computed scores and needs nothing here.
//!
//! A search walks the score ranges of up to nine geohash cells (one seek each on the `zscore`
//! index), decodes each score and keeps the members inside the shape, then sorts by distance
//! with the C sorts Redis uses (`util::csort`) so ties come back in Redis's order.

use super::collection;
use super::zsets::{self, Entry, ScoreRange, Walk};
use super::Result;
use crate::storage::{Db, Meta, ValueType};
use crate::util::csort;
use crate::util::geohash::{self, Shape};
use std::collections::HashSet;

/// A member found by a search.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub member: Vec<u8>,
    pub longitude: f64,
    pub latitude: f64,
    /// Distance from the centre of the search, in meters.
    pub dist: f64,
    /// The stored score (the geohash).
    pub score: f64,
}

/// Order of search results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// As found: cell by cell, each in score order.
    None,
    Asc,
    Desc,
}

/// A GEOSEARCH / GEORADIUS query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Query {
    pub shape: Shape,
    pub sort: Sort,
    /// At most this many results (0: all).
    pub count: u64,
    /// With `count`: stop searching once that many matches were found (ANY).
    pub any: bool,
}

/// The live zset of `key` (WRONGTYPE if it holds something else).
fn read(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    collection::read(db, key, ValueType::ZSet)
}

/// The sorted set at `key`, if any (WRONGTYPE if it holds another type), for [`search_in`].
pub fn open(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    read(db, key)
}

/// GEOPOS: the (longitude, latitude) of each member, None where it (or the key) is missing.
pub fn positions(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<[f64; 2]>>> {
    Ok(zsets::mscore(db, key, members)?
        .into_iter()
        .map(|s| s.map(geohash::decode_score))
        .collect())
}

/// The position of one member (GEORADIUSBYMEMBER, FROMMEMBER).
pub fn position(db: &Db<'_>, key: &[u8], member: &[u8]) -> Result<Option<[f64; 2]>> {
    Ok(zsets::score(db, key, member)?.map(geohash::decode_score))
}

/// GEOHASH: the 11-character standard geohash of each member.
pub fn hashes(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<[u8; 11]>>> {
    Ok(zsets::mscore(db, key, members)?
        .into_iter()
        .map(|s| s.map(geohash::standard_geohash))
        .collect())
}

/// GEODIST: the distance in meters between two members, None if either is missing.
pub fn distance(db: &Db<'_>, key: &[u8], a: &[u8], b: &[u8]) -> Result<Option<f64>> {
    let scores = zsets::mscore(db, key, &[a, b])?;
    let (Some(sa), Some(sb)) = (scores[0], scores[1]) else {
        return Ok(None);
    };
    let [x1, y1] = geohash::decode_score(sa);
    let [x2, y2] = geohash::decode_score(sb);
    Ok(Some(geohash::distance(x1, y1, x2, y2)))
}

/// Rejections in a row after which a search looks for a block of scores to jump over.
const SKIP_AFTER_REJECTS: u32 = 4;

/// The members inside `shape`, in the order Redis finds them (`membersOfAllNeighbors`: cell
/// by cell, each in score order), stopping once `limit` (if not 0) were found. After a few
/// rejected points in a row the walk jumps over the block of scores around the last one that
/// the shape cannot reach (`Skipper`): that changes nothing found, only what is read.
fn find(db: &Db<'_>, key: &[u8], meta: &Meta, shape: &Shape, limit: u64) -> Result<Vec<Point>> {
    let cells = shape.cells();
    let ranges: Vec<ScoreRange> = cells
        .iter()
        .map(|&cell| {
            let (min, max) = geohash::cell_range(cell);
            ScoreRange {
                min,
                minex: false,
                max,
                maxex: true,
            }
        })
        .collect();
    let skipper = shape.skipper();
    let mut rejects = 0u32;
    let mut out: Vec<Point> = Vec::new();
    zsets::walk_score_ranges(db, key, meta, &ranges, |i, score, member| {
        let [longitude, latitude] = geohash::decode_score(score);
        // The latitude alone often rules a point out without the trigonometry.
        let within = if skipper.rejects_latitude(latitude) {
            None
        } else {
            shape.distance_if_within(longitude, latitude)
        };
        let Some(dist) = within else {
            rejects += 1;
            if rejects < SKIP_AFTER_REJECTS {
                return Walk::Next;
            }
            rejects = 0;
            return skipper
                .skip_to(cells[i], score)
                .map_or(Walk::Next, Walk::SkipTo);
        };
        rejects = 0;
        out.push(Point {
            member: member.to_vec(),
            longitude,
            latitude,
            dist,
            score,
        });
        if limit > 0 && out.len() as u64 >= limit {
            Walk::Stop
        } else {
            Walk::Next
        }
    })?;
    Ok(out)
}

/// Redis's `sort_gp_asc`.
fn by_distance(a: &(f64, u32), b: &(f64, u32)) -> i32 {
    if a.0 > b.0 {
        1
    } else if a.0 == b.0 {
        0
    } else {
        -1
    }
}

/// Sorts and cuts the found points as `georadiusGeneric` does: COUNT without a sort order (and
/// without ANY) sorts ascending; a full sort is glibc's `qsort`, a partial one (COUNT below
/// the number found) Redis's `pqsort` of the first COUNT ranks.
fn select(points: Vec<Point>, q: &Query) -> Vec<Point> {
    let mut sort = q.sort;
    if q.count != 0 && sort == Sort::None && !q.any {
        sort = Sort::Asc;
    }
    let len = points.len();
    let returned = if q.count == 0 || (len as u64) < q.count {
        len
    } else {
        q.count as usize
    };
    if sort == Sort::None {
        let mut points = points;
        points.truncate(returned);
        return points;
    }
    // Sort (distance, index) pairs and move the points once, as glibc sorts large elements
    // through pointers.
    let mut keys: Vec<(f64, u32)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.dist, i as u32))
        .collect();
    let desc = |a: &(f64, u32), b: &(f64, u32)| -by_distance(a, b);
    match (sort, returned == len) {
        (Sort::Asc, true) => csort::msort(&mut keys, &by_distance),
        (Sort::Desc, true) => csort::msort(&mut keys, &desc),
        (Sort::Asc, false) => csort::pqsort(&mut keys, &by_distance, 0, returned - 1),
        (_, false) => csort::pqsort(&mut keys, &desc, 0, returned - 1),
        (Sort::None, true) => {}
    }
    let mut slots: Vec<Option<Point>> = points.into_iter().map(Some).collect();
    keys.iter()
        .take(returned)
        .filter_map(|&(_, i)| slots.get_mut(i as usize).and_then(Option::take))
        .collect()
}

/// GEOSEARCH / GEORADIUS: the selected points in reply order (empty if the key is missing).
pub fn search(db: &Db<'_>, key: &[u8], q: &Query) -> Result<Vec<Point>> {
    match read(db, key)? {
        Some(meta) => search_in(db, key, &meta, q),
        None => Ok(Vec::new()),
    }
}

/// [`search`] in the sorted set `meta` describes (from [`open`]), saving a metadata read.
pub fn search_in(db: &Db<'_>, key: &[u8], meta: &Meta, q: &Query) -> Result<Vec<Point>> {
    let limit = if q.any { q.count } else { 0 };
    let found = find(db, key, meta, &q.shape, limit)?;
    Ok(select(found, q))
}

/// GEOSEARCHSTORE / GEORADIUS STORE|STOREDIST: stores the selected points of `src` as the
/// sorted set `dst` (replacing whatever `dst` held), scored by geohash or, with `storedist`,
/// by distance in the query's unit. An empty result deletes `dst`. Returns the count stored.
pub fn search_store(
    db: &Db<'_>,
    dst: &[u8],
    src: &[u8],
    q: &Query,
    storedist: bool,
) -> Result<u64> {
    let _guard = db.lock_keys([dst, src]);
    let points = search(db, src, q)?;
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(points.len());
    let mut entries: Vec<Entry> = Vec::with_capacity(points.len());
    // Distinct cells never overlap, so members are distinct; checked anyway because a repeated
    // member would miscount the stored set.
    for p in &points {
        if !seen.insert(p.member.as_slice()) {
            continue;
        }
        let score = if storedist {
            p.dist / q.shape.conversion
        } else {
            p.score
        };
        entries.push((p.member.clone(), score));
    }
    zsets::write_result(db, dst, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::geohash::ShapeKind;

    fn point(dist: f64, id: u8) -> Point {
        Point {
            member: vec![id],
            longitude: 0.0,
            latitude: 0.0,
            dist,
            score: f64::from(id),
        }
    }

    fn query(sort: Sort, count: u64, any: bool) -> Query {
        Query {
            shape: Shape {
                xy: [0.0, 0.0],
                conversion: 1.0,
                kind: ShapeKind::Radius(1.0),
            },
            sort,
            count,
            any,
        }
    }

    fn ids(points: &[Point]) -> Vec<u8> {
        points.iter().map(|p| p.member[0]).collect()
    }

    #[test]
    fn selection_sorts_and_cuts_like_redis() {
        let pts = || vec![point(3.0, 0), point(1.0, 1), point(2.0, 2), point(1.0, 3)];
        assert_eq!(
            ids(&select(pts(), &query(Sort::None, 0, false))),
            [0, 1, 2, 3]
        );
        assert_eq!(
            ids(&select(pts(), &query(Sort::Asc, 0, false))),
            [1, 3, 2, 0]
        );
        assert_eq!(
            ids(&select(pts(), &query(Sort::Desc, 0, false))),
            [0, 2, 1, 3]
        );
        // COUNT alone sorts ascending; with ANY it keeps the walk order.
        assert_eq!(ids(&select(pts(), &query(Sort::None, 2, false))), [1, 3]);
        assert_eq!(ids(&select(pts(), &query(Sort::None, 2, true))), [0, 1]);
        assert_eq!(ids(&select(pts(), &query(Sort::Desc, 1, false))), [0]);
        assert_eq!(
            ids(&select(pts(), &query(Sort::Asc, 9, false))),
            [1, 3, 2, 0]
        );
        assert!(select(Vec::new(), &query(Sort::Asc, 3, false)).is_empty());
    }
}
