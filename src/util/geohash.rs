//! Redis 7.0's geohash arithmetic (`geohash.c`, `geohash_helper.c` and the pure helpers of
//! `geo.c`), reproduced operation for operation so scores, search areas, distances and printed
//! numbers match Redis digit for digit.
//!
//! A position is stored as a sorted-set score: the 26-bit latitude and 26-bit longitude cell
//! indexes interleaved (latitude on the even bits), over Redis's ranges of longitude -180..180
//! and latitude -85.05112878..85.05112878 (the Web Mercator limits). The arithmetic below is
//! plain IEEE double arithmetic in the order Redis does it, and `sin`/`cos`/`asin`/`sqrt` are
//! the C library's, so results are bit-identical to Redis built on the same libm.

use std::cmp::Ordering;

/// Bits per axis of a stored score.
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
/// `M_PI / 180.0`, folded at compile time exactly as C folds it.
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A cell: `step` bits per axis, interleaved into `bits`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis's `HASHISZERO`: the "no cell" marker of an excluded neighbour.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A closed interval of one coordinate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The extent of a cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the low 32 bits of `x` to the even bits and those of `y` to the odd bits.
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// The inverse of [`interleave64`]: even bits in the low half, odd bits in the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// C's `(uint32_t)` of a double in 0..=2^32, as x86-64 code converts it (through a 64-bit
/// truncation, keeping the low 32 bits).
fn c_f64_to_u32(v: f64) -> u32 {
    c_f64_to_i64(v) as u32
}

/// C's `(long long)` of a double as x86-64's `cvttsd2si` computes it: truncation, and the
/// "integer indefinite" `i64::MIN` for NaN and out-of-range values.
pub fn c_f64_to_i64(v: f64) -> i64 {
    // 2^63: every double below it and above -2^63 - 1 truncates into range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// C's `(uint64_t)` of a double as gcc compiles it for x86-64: values below 2^63 (negative
/// ones and -inf included) go through `cvttsd2si`, larger ones are converted after
/// subtracting 2^63 and get the top bit flipped back. A sorted set can hold any score, so
/// decoding one that GEOADD did not write must follow the same path.
pub fn c_f64_to_u64(v: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // `comisd` then `jnb`: NaN compares unordered and takes the first branch.
    if v.is_nan() || v < TWO_63 {
        c_f64_to_i64(v) as u64
    } else {
        (c_f64_to_i64(v - TWO_63) as u64) ^ (1 << 63)
    }
}

/// `geohashEncode`: the cell of `step` bits per axis holding a point, over the given ranges
/// (the point must also lie within Redis's WGS-84 limits). None when out of range.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    let scale = (1u64 << step) as f64;
    lat_offset *= scale;
    long_offset *= scale;
    Some(HashBits {
        bits: interleave64(c_f64_to_u32(lat_offset), c_f64_to_u32(long_offset)),
        step,
    })
}

/// `geohashEncodeWGS84`.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    encode(WGS84_LONG, WGS84_LAT, longitude, latitude, step)
}

/// `geohashDecode`: the extent of a cell over the given ranges.
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    // `ilato + 1` is unsigned 32-bit arithmetic in C.
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) / div) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) / div) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) / div) * long_scale,
        },
    })
}

/// The centre of a cell, clamped to the WGS-84 limits (`geohashDecodeAreaToLongLat`).
fn area_center(area: &Area) -> [f64; 2] {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// `decodeGeohash`: the (longitude, latitude) a sorted-set score stands for. Any score
/// decodes (scores GEOADD did not write land somewhere, clamped to the limits).
pub fn decode_score(score: f64) -> [f64; 2] {
    let hash = HashBits {
        bits: c_f64_to_u64(score),
        step: STEP_MAX,
    };
    decode(WGS84_LONG, WGS84_LAT, hash).map_or([0.0, 0.0], |a| area_center(&a))
}

/// The score GEOADD stores for a point: its 52-bit cell as a double. None when the point is
/// outside the limits.
pub fn score_of(longitude: f64, latitude: f64) -> Option<f64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(|h| align52(h) as f64)
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

/// The eight cells around one (`geohashNeighbors`); excluded ones are zeroed later.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

fn moved(hash: &HashBits, dx: i8, dy: i8) -> HashBits {
    let mut h = *hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

fn neighbors(hash: &HashBits) -> Neighbors {
    Neighbors {
        east: moved(hash, 1, 0),
        west: moved(hash, -1, 0),
        south: moved(hash, 0, -1),
        north: moved(hash, 0, 1),
        north_west: moved(hash, -1, 1),
        north_east: moved(hash, 1, 1),
        south_east: moved(hash, 1, -1),
        south_west: moved(hash, -1, -1),
    }
}

/// `geohashEstimateStepsByRadius`: cell size for the nine-cell search of a radius.
pub fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Wider range towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers: a circle or an axis-aligned box around a centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    /// BYRADIUS, in the request's unit.
    Radius(f64),
    /// BYBOX width and height, in the request's unit.
    Box { width: f64, height: f64 },
}

/// A search area (Redis's `GeoShape`): centre (longitude, latitude), size, and the factor from
/// the request's unit to meters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub xy: [f64; 2],
    pub conversion: f64,
    pub kind: ShapeKind,
}

impl Shape {
    /// `geohashBoundingBox`: [min lon, min lat, max lon, max lat] of the search area.
    pub fn bounding_box(&self) -> [f64; 4] {
        let [longitude, latitude] = self.xy;
        let (height, width) = match self.kind {
            ShapeKind::Radius(r) => (self.conversion * r, self.conversion * r),
            ShapeKind::Box { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let southern = latitude < 0.0;
        let long_delta = if southern {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            longitude - long_delta,
            latitude - lat_delta,
            longitude + long_delta,
            latitude + lat_delta,
        ]
    }

    /// `geoWithinShape`'s test for a decoded point: its distance from the centre in meters
    /// if it is inside.
    pub fn distance_if_within(&self, x2: f64, y2: f64) -> Option<f64> {
        let [x1, y1] = self.xy;
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(x1, y1, x2, y2);
                // `d > radius` rejects; a NaN distance (from a score GEOADD never wrote) is
                // kept, as in Redis.
                let rejected = d.partial_cmp(&(r * self.conversion)) == Some(Ordering::Greater);
                (!rejected).then_some(d)
            }
            ShapeKind::Box { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                if lat_distance(y2, y1) > height_m / 2.0 {
                    return None;
                }
                if distance(x2, y2, x1, y2) > width_m / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, x2, y2))
            }
        }
    }

    /// The cells to walk, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), without the
    /// excluded ones and a cell equal to the last one walked
    /// (`geohashCalculateAreasByShapeWGS84` + `membersOfAllNeighbors`).
    pub fn cells(&self) -> Vec<HashBits> {
        let mut out: Vec<HashBits> = Vec::with_capacity(9);
        for cell in self.search_cells() {
            if !cell.is_zero() && out.last() != Some(&cell) {
                out.push(cell);
            }
        }
        out
    }

    /// The score ranges `[min, max)` of [`Shape::cells`].
    pub fn score_ranges(&self) -> Vec<(f64, f64)> {
        self.cells().into_iter().map(cell_range).collect()
    }

    /// A helper that finds, around a point the shape rejected, a block of scores whose points
    /// the shape rejects too, so a search can jump over it.
    pub fn skipper(&self) -> Skipper {
        let limit = |m: f64| {
            let m = m + 1.0 + m.abs() * 1e-9;
            // sin^2 of half the angle: comparing there saves an asin and a sqrt per test. An
            // angle past a half turn can never be exceeded.
            let half = m / (2.0 * EARTH_RADIUS_IN_METERS);
            if half >= std::f64::consts::FRAC_PI_2 || half.is_nan() {
                f64::INFINITY
            } else {
                half.sin().powi(2)
            }
        };
        let (radius, half_w, half_h) = match self.kind {
            ShapeKind::Radius(r) => (limit(r * self.conversion), 0.0, 0.0),
            ShapeKind::Box { width, height } => {
                let (w, h) = (
                    width * self.conversion / 2.0,
                    height * self.conversion / 2.0,
                );
                let h = h + 1.0 + h.abs() * 1e-9;
                (0.0, limit(w), h / EARTH_RADIUS_IN_METERS)
            }
        };
        Skipper {
            shape: *self,
            cos0: deg_rad(self.xy[1]).cos(),
            radius,
            half_w,
            half_h,
        }
    }
    /// The nine cells covering the shape, excluded ones zeroed.
    fn search_cells(&self) -> [HashBits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let [longitude, latitude] = self.xy;
        let radius_meters = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps_by_radius(radius_meters, latitude);
        let at = |steps: u8| {
            let hash =
                encode(WGS84_LONG, WGS84_LAT, longitude, latitude, steps).unwrap_or(HashBits {
                    bits: 0,
                    step: steps,
                });
            let area = decode(WGS84_LONG, WGS84_LAT, hash).unwrap_or_default();
            (hash, neighbors(&hash), area)
        };
        let (mut hash, mut nb, mut area) = at(steps);
        // When the area is near a cell edge the estimated step may be too fine for the nine
        // cells to cover it: use one step less.
        let cell = |h: HashBits| decode(WGS84_LONG, WGS84_LAT, h).unwrap_or_default();
        let decrease = cell(nb.north).latitude.max < max_lat
            || cell(nb.south).latitude.min > min_lat
            || cell(nb.east).longitude.max < max_lon
            || cell(nb.west).longitude.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, nb, area) = at(steps);
        }
        // Exclude the cells the area does not reach.
        if steps >= 2 {
            let zero = HashBits::default();
            if area.latitude.min < min_lat {
                nb.south = zero;
                nb.south_west = zero;
                nb.south_east = zero;
            }
            if area.latitude.max > max_lat {
                nb.north = zero;
                nb.north_east = zero;
                nb.north_west = zero;
            }
            if area.longitude.min < min_lon {
                nb.west = zero;
                nb.south_west = zero;
                nb.north_west = zero;
            }
            if area.longitude.max > max_lon {
                nb.east = zero;
                nb.south_east = zero;
                nb.north_east = zero;
            }
        }
        [
            hash,
            nb.north,
            nb.south,
            nb.east,
            nb.west,
            nb.north_east,
            nb.north_west,
            nb.south_east,
            nb.south_west,
        ]
    }
}

/// `geohashAlign52Bits`: a cell's bits as the prefix of a 52-bit score.
pub fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// `scoresOfGeoHashBox`: the scores `[min, max)` of the points inside a cell.
fn scores_of_box(hash: HashBits) -> (u64, u64) {
    let min = align52(hash);
    let next = HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    };
    (min, align52(next))
}

/// The score range `[min, max)` of a cell.
pub fn cell_range(cell: HashBits) -> (f64, f64) {
    let (min, max) = scores_of_box(cell);
    (min as f64, max as f64)
}

/// How many steps below its cell [`Skipper::skip_to`] looks for a block to jump over.
const SKIP_DEPTH: u8 = 8;

/// Finds blocks of scores a search can jump over (see [`Shape::skipper`]).
///
/// A block is the score range of a sub-cell; it is jumped over only when a lower bound of
/// Redis's own tests over the whole sub-cell already fails them by more than a margin (1 m,
/// far above the formulas' rounding; haversine loses up to ~0.1 m near antipodes). So a
/// search finds exactly the points, in exactly the order, Redis finds; it just does not read
/// the ones Redis would decode, measure and reject.
#[derive(Clone, Copy, Debug)]
pub struct Skipper {
    shape: Shape,
    cos0: f64,
    /// Circle: the radius (plus margin) as sin^2 of half its angle.
    radius: f64,
    /// Box: half the width as sin^2 of half its angle, half the height in radians.
    half_w: f64,
    half_h: f64,
}

impl Skipper {
    /// Whether a point at latitude `lat` is outside the shape by its latitude alone: the
    /// great-circle distance is at least the meridian distance, and a box's first test is
    /// exactly that distance. Sound with the same margin as the block tests.
    pub fn rejects_latitude(&self, lat: f64) -> bool {
        let gap = (deg_rad(lat) - deg_rad(self.shape.xy[1])).abs();
        match self.shape.kind {
            ShapeKind::Radius(_) => (gap / 2.0).sin().powi(2) > self.radius,
            ShapeKind::Box { .. } => gap > self.half_h,
        }
    }

    /// The end of the largest block of `cell` (at most [`SKIP_DEPTH`] steps below it) holding
    /// `score` whose points all lie outside the shape; None if there is none. A block inside
    /// an outside block is outside, so the depth is found by bisection.
    pub fn skip_to(&self, cell: HashBits, score: f64) -> Option<f64> {
        let bits = c_f64_to_u64(score);
        let (lo, hi) = scores_of_box(cell);
        if bits < lo || bits >= hi {
            return None;
        }
        let block = |step: u8| HashBits {
            bits: bits >> (52 - 2 * u32::from(step)),
            step,
        };
        let outside =
            |step: u8| decode(WGS84_LONG, WGS84_LAT, block(step)).is_some_and(|a| self.outside(&a));
        let (mut shallow, mut deep) = (
            cell.step + 1,
            cell.step.saturating_add(SKIP_DEPTH).min(STEP_MAX),
        );
        if shallow > deep || !outside(deep) {
            return None;
        }
        // Invariant: `deep` is outside; find the shallowest outside step.
        while shallow < deep {
            let mid = shallow + (deep - shallow) / 2;
            if outside(mid) {
                deep = mid;
            } else {
                shallow = mid + 1;
            }
        }
        Some(scores_of_box(block(deep)).1 as f64)
    }

    /// Whether every point of `area` fails the shape's test: lower bounds of Redis's formulas
    /// over the area (all terms are monotone in the distances involved).
    fn outside(&self, area: &Area) -> bool {
        let [x0, y0] = self.shape.xy;
        let lat = area.latitude;
        let lon = area.longitude;
        // The smallest latitude difference, in radians.
        let gap = if lat.min <= y0 && y0 <= lat.max {
            0.0
        } else {
            deg_rad((y0 - lat.min).abs().min((y0 - lat.max).abs()))
        };
        // The smallest |sin(dlon / 2)| (dlon as the formulas compute it, unwrapped): |sin| has
        // no interior minimum on an interval free of 0 and +-180 degrees.
        let (h1, h2) = ((lon.min - x0) / 2.0, (lon.max - x0) / 2.0);
        let sin_min = if (h1 <= 0.0 && 0.0 <= h2) || h1 <= -180.0 || h2 >= 180.0 {
            0.0
        } else {
            deg_rad(h1).sin().abs().min(deg_rad(h2).sin().abs())
        };
        // The smallest cos(latitude): cos is concave over the limits.
        let cos_min = deg_rad(lat.min).cos().min(deg_rad(lat.max).cos());
        match self.shape.kind {
            ShapeKind::Radius(_) => {
                let a = (gap / 2.0).sin().powi(2) + self.cos0 * cos_min * sin_min * sin_min;
                a > self.radius
            }
            ShapeKind::Box { .. } => gap > self.half_h || (cos_min * sin_min).powi(2) > self.half_w,
        }
    }
}

/// `geohashGetLatDistance`: the distance between two latitudes on one meridian.
pub fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// `geohashGetDistance`: the haversine great-circle distance in meters.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    // Same longitude: skip the expensive part (Redis 7.0.6+).
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// GEOHASH's 11-character string for a score: the point re-encoded over the standard geohash
/// ranges (latitude -90..90), base-32, the 11th character always `0` (52 bits give 10.4).
pub fn standard_geohash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score);
    let std_long = Range {
        min: -180.0,
        max: 180.0,
    };
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    // The decoded point is clamped inside the limits, so encoding succeeds.
    let bits = encode(std_long, std_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

/// `fixedpoint_d2string(d, 4)`: how distances are printed (Redis 7.0.7+): the value times
/// 10^4 rounded to an integer by `llrint` (ties to even, after the multiplication's own
/// rounding), then written with four decimals.
pub fn fmt_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let v = c_llrint(d * 10_000.0);
    let mut digits = v.unsigned_abs().to_string();
    if digits.len() <= 4 {
        digits = format!("{:0>5}", digits);
    }
    let (int, frac) = digits.split_at(digits.len() - 4);
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// C's `llrint` on x86-64 (`cvtsd2si`): round to nearest, ties to even; `i64::MIN` for NaN
/// and out-of-range values.
fn c_llrint(v: f64) -> i64 {
    c_f64_to_i64(v.round_ties_even())
}

/// How Redis prints a coordinate (`addReplyHumanLongDouble`): `"%.17Lf"` of the value as a
/// long double, trailing zeros and dot removed, `-0` as `0`.
pub fn fmt_coordinate(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // A double widens to a long double exactly, so "%.17Lf" prints the double's exact value
    // rounded to 17 decimals (ties to even, as Rust's exact formatting does).
    let mut s = format!("{v:.17}");
    let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
    s.truncate(trimmed);
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let i = interleave64(x, y);
            let d = deinterleave64(i);
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
        assert_eq!(interleave64(1, 0), 1);
        assert_eq!(interleave64(0, 1), 2);
    }

    #[test]
    fn scores_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania (Redis 7.0).
        assert_eq!(
            score_of(13.361389, 38.115556),
            Some(3_479_099_956_230_698.0)
        );
        assert_eq!(
            score_of(15.087269, 37.502669),
            Some(3_479_447_370_796_909.0)
        );
        // The limits themselves are accepted: the cell index reaches 2^26 (bit 52/53 set).
        assert_eq!(score_of(180.0, LAT_MAX), Some(13_510_798_882_111_488.0));
        assert_eq!(score_of(-180.0, LAT_MIN), Some(0.0));
        assert_eq!(score_of(180.000001, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
        assert_eq!(score_of(f64::NAN, 0.0), None);
    }

    #[test]
    fn decoded_positions_print_as_redis() {
        let [lon, lat] = decode_score(3_479_099_956_230_698.0);
        assert_eq!(fmt_coordinate(lon), "13.36138933897018433");
        assert_eq!(fmt_coordinate(lat), "38.11555639549629859");
        // Scores outside 0..2^52 decode as Redis's C casts make them, clamped to the limits.
        let [lon, lat] = decode_score(-1.0);
        assert_eq!(
            (fmt_coordinate(lon), fmt_coordinate(lat)),
            ("180".into(), "85.0511287799999991".into())
        );
        let [lon, lat] = decode_score(1e300);
        assert_eq!(
            (fmt_coordinate(lon), fmt_coordinate(lat)),
            (
                "-179.99999731779098511".into(),
                "-85.05112751263942528".into()
            )
        );
        let [lon, lat] = decode_score(f64::NEG_INFINITY);
        assert_eq!(
            (fmt_coordinate(lon), fmt_coordinate(lat)),
            ("180".into(), "-85.05112751263942528".into())
        );
        assert_eq!(fmt_coordinate(-0.0), "0");
        assert_eq!(fmt_coordinate(2.5), "2.5");
        assert_eq!(fmt_coordinate(180.0), "180");
    }

    #[test]
    fn c_casts() {
        assert_eq!(c_f64_to_u64(-1.0), u64::MAX);
        assert_eq!(c_f64_to_u64(f64::INFINITY), 0);
        assert_eq!(c_f64_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_f64_to_u64(1e300), 0);
        assert_eq!(c_f64_to_u64(1.8e19), 18_000_000_000_000_000_000);
        assert_eq!(c_f64_to_u64(3.9), 3);
        assert_eq!(c_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_f64_to_i64(-2.7), -2);
    }

    #[test]
    fn distances_match_redis() {
        let [x1, y1] = decode_score(3_479_099_956_230_698.0);
        let [x2, y2] = decode_score(3_479_447_370_796_909.0);
        assert_eq!(fmt_distance(distance(x1, y1, x2, y2)), "166274.1516");
        assert_eq!(fmt_distance(distance(x1, y1, x2, y2) / 1000.0), "166.2742");
        assert_eq!(fmt_distance(0.0), "0.0000");
        assert_eq!(fmt_distance(0.0001), "0.0001");
        assert_eq!(fmt_distance(6.064_295_159_839_17e-5), "0.0001");
        assert_eq!(fmt_distance(0.00001), "0.0000");
        assert_eq!(fmt_distance(10.01), "10.0100");
        // llrint after the multiplication: 0.00005 * 10^4 is exactly 0.5, which rounds to even.
        assert_eq!(fmt_distance(0.00005), "0.0000");
        // 0.00015 is slightly below itself in binary: 1.4999999999999998 after scaling.
        assert_eq!(fmt_distance(0.00015), "0.0001");
        assert_eq!(fmt_distance(0.00025), "0.0002");
        assert_eq!(fmt_distance(-0.01), "-0.0100");
        assert_eq!(fmt_distance(f64::NAN), "-922337203685477.5808");
        // Same longitude: the simplified formula.
        assert_eq!(distance(10.0, 0.0, 10.0, 1.0), lat_distance(0.0, 1.0));
    }

    #[test]
    fn standard_geohash_strings() {
        assert_eq!(&standard_geohash(3_479_099_956_230_698.0), b"sqc8b49rny0");
        assert_eq!(&standard_geohash(3_479_447_370_796_909.0), b"sqdtr74hyu0");
        assert_eq!(&standard_geohash(13_510_798_882_111_488.0), b"bp05b5048p0");
        assert_eq!(&standard_geohash(-1.0), b"bp05b5048p0");
        assert_eq!(&standard_geohash(0.0), b"00bh0hbj200");
    }

    #[test]
    fn steps_by_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(100_000.0, 0.0), 7);
        assert_eq!(estimate_steps_by_radius(100_000.0, 70.0), 6);
        assert_eq!(estimate_steps_by_radius(100_000.0, -85.0), 5);
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(0.5, 0.0), 25);
        assert_eq!(estimate_steps_by_radius(0.1, 0.0), 26);
    }

    #[test]
    fn neighbours_move_one_cell() {
        let h = encode_wgs84(13.0, 38.0, 10).unwrap();
        let n = neighbors(&h);
        let c = decode(WGS84_LONG, WGS84_LAT, h).unwrap();
        let north = decode(WGS84_LONG, WGS84_LAT, n.north).unwrap();
        let east = decode(WGS84_LONG, WGS84_LAT, n.east).unwrap();
        assert_eq!(north.latitude.min, c.latitude.max);
        assert_eq!(north.longitude, c.longitude);
        assert_eq!(east.longitude.min, c.longitude.max);
        assert_eq!(east.latitude, c.latitude);
        // Back and forth is the identity.
        assert_eq!(moved(&n.south_west, 1, 1), h);
    }

    #[test]
    fn search_ranges_cover_the_area() {
        let shape = Shape {
            xy: [15.0, 37.0],
            conversion: 1000.0,
            kind: ShapeKind::Radius(200.0),
        };
        let ranges = shape.score_ranges();
        assert!(!ranges.is_empty() && ranges.len() <= 9);
        assert_eq!(ranges.len(), shape.cells().len());
        for p in [3_479_099_956_230_698.0, 3_479_447_370_796_909.0] {
            assert!(ranges.iter().any(|&(lo, hi)| lo <= p && p < hi));
        }
        // A huge radius works on the whole world at step 1 without repeating a cell.
        let world = Shape {
            xy: [0.0, 0.0],
            conversion: 1000.0,
            kind: ShapeKind::Radius(20_000.0),
        };
        let ranges = world.score_ranges();
        for w in ranges.windows(2) {
            assert_ne!(w[0], w[1]);
        }
    }

    #[test]
    fn skipped_blocks_hold_only_points_the_shape_rejects() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut skips, mut skipped_points) = (0usize, 0usize);
        for case in 0..300 {
            let center = if case % 5 == 0 {
                // Near the poles and the antimeridian.
                [
                    rng.random_range(170.0..=180.0),
                    rng.random_range(75.0..=85.05),
                ]
            } else {
                [
                    rng.random_range(-180.0..=180.0),
                    rng.random_range(-85.0..=85.0),
                ]
            };
            let conversion = [1.0, 1000.0, 0.3048, 1609.34][case % 4];
            let meters = match case % 3 {
                0 => rng.random_range(0.0..5_000.0),
                1 => rng.random_range(5_000.0..500_000.0),
                _ => rng.random_range(500_000.0..22_000_000.0),
            };
            let kind = if case % 2 == 0 {
                ShapeKind::Radius(meters / conversion)
            } else {
                ShapeKind::Box {
                    width: meters / conversion * rng.random_range(0.2..3.0),
                    height: meters / conversion * rng.random_range(0.2..3.0),
                }
            };
            let shape = Shape {
                xy: center,
                conversion,
                kind,
            };
            // Points around the centre out to a few times the size, plus anywhere.
            let spread = (meters / 111_000.0 * 3.0).clamp(0.001, 180.0);
            let mut scores: Vec<f64> = (0..2000)
                .filter_map(|i| {
                    let (lon, lat) = if i % 10 == 0 {
                        (
                            rng.random_range(-180.0..=180.0),
                            rng.random_range(LAT_MIN..=LAT_MAX),
                        )
                    } else {
                        (
                            (center[0] + rng.random_range(-spread..=spread))
                                .clamp(LONG_MIN, LONG_MAX),
                            (center[1] + rng.random_range(-spread..=spread))
                                .clamp(LAT_MIN, LAT_MAX),
                        )
                    };
                    score_of(lon, lat)
                })
                .collect();
            scores.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let inside = |s: f64| {
                let [x, y] = decode_score(s);
                shape.distance_if_within(x, y).is_some()
            };
            let skipper = shape.skipper();
            for &s in &scores {
                let [_, y] = decode_score(s);
                if skipper.rejects_latitude(y) {
                    assert!(!inside(s), "{shape:?}: latitude {y} wrongly rejected");
                }
            }
            for cell in shape.cells() {
                let (lo, hi) = cell_range(cell);
                let start = scores.partition_point(|&s| s < lo);
                let in_cell: Vec<f64> = scores[start..]
                    .iter()
                    .copied()
                    .take_while(|&s| s < hi)
                    .collect();
                for (i, &s) in in_cell.iter().enumerate() {
                    let Some(to) = skipper.skip_to(cell, s) else {
                        continue;
                    };
                    assert!(to > s && to <= hi, "{shape:?}: {s} -> {to}");
                    skips += 1;
                    for &t in in_cell[i..].iter().take_while(|&&t| t < to) {
                        assert!(!inside(t), "{shape:?}: skipping {s}..{to} loses {t}");
                        skipped_points += 1;
                    }
                }
            }
        }
        assert!(
            skips > 1000 && skipped_points > skips,
            "{skips} {skipped_points}"
        );
    }

    #[test]
    fn box_test_checks_latitude_then_longitude() {
        let shape = Shape {
            xy: [0.0, 0.0],
            conversion: 1000.0,
            kind: ShapeKind::Box {
                width: 200.0,
                height: 100.0,
            },
        };
        assert!(shape.distance_if_within(0.0, 0.4).is_some());
        assert!(shape.distance_if_within(0.0, 0.5).is_none());
        assert!(shape.distance_if_within(0.8, 0.0).is_some());
        assert!(shape.distance_if_within(0.95, 0.0).is_none());
    }
}
