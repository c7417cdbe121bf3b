//! Number formatting as C's `printf("%.<p>g")` does it (Lua's `tostring` uses `%.14g`, cjson
//! `%.14g`, `redis.call` arguments `%.17g`), and Redis's `rand48` generator behind
//! `math.random`.

/// `printf("%.<p>g")`, shared with the replies' and the RDB writer's number formatting.
pub use crate::util::num::fmt_g as format_g;

/// C's `(long long)` cast of a double as x86-64 performs it: truncation, and `i64::MIN` for
/// NaN and anything out of range (Redis converts Lua numbers to integer replies this way).
pub fn c_cast_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// C's `(int)` cast of a double on x86-64 (`i32::MIN` when out of range), as `luaL_checkint`.
pub fn c_cast_i32(v: f64) -> i32 {
    if v.is_nan() || v >= 2_147_483_648.0 || v <= -2_147_483_649.0 {
        i32::MIN
    } else {
        v as i32
    }
}

/// Redis's `rand48` (the POSIX `drand48` family's generator, so `math.random` gives the same
/// sequence for the same seed on every platform).
#[derive(Clone, Copy)]
pub struct Rand48 {
    x: u64,
}

/// `REDIS_LRAND48_MAX`.
pub const LRAND48_MAX: i32 = i32::MAX;

impl Default for Rand48 {
    fn default() -> Self {
        let mut r = Rand48 { x: 0 };
        r.seed(0);
        r
    }
}

impl Rand48 {
    /// `redisSrand48`.
    pub fn seed(&mut self, seed: i32) {
        self.x = ((u64::from(seed as u32) << 16) | 0x330E) & ((1 << 48) - 1);
    }

    /// `redisLrand48`: 31 random bits.
    pub fn next(&mut self) -> i32 {
        self.x = (self.x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.x >> 17) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formats_like_printf() {
        let cases: &[(f64, usize, &str)] = &[
            (0.0, 14, "0"),
            (-0.0, 14, "-0"),
            (1.0, 14, "1"),
            (0.1, 14, "0.1"),
            (0.1, 17, "0.10000000000000001"),
            (1e14, 14, "1e+14"),
            (123456789012345.0, 14, "1.2345678901234e+14"),
            (12345678901234.0, 14, "12345678901234"),
            (0.0001, 14, "0.0001"),
            (0.00001, 14, "1e-05"),
            (2.71875, 14, "2.71875"),
            (-2.5, 14, "-2.5"),
            (1e300, 17, "1.0000000000000001e+300"),
            (f64::INFINITY, 14, "inf"),
            (f64::NEG_INFINITY, 14, "-inf"),
            (100.0, 17, "100"),
        ];
        for &(v, p, want) in cases {
            assert_eq!(format_g(v, p), want, "{v} %.{p}g");
        }
    }

    #[test]
    fn casts_follow_x86() {
        assert_eq!(c_cast_i64(3.99), 3);
        assert_eq!(c_cast_i64(-3.99), -3);
        assert_eq!(c_cast_i64(1e20), i64::MIN);
        assert_eq!(c_cast_i64(f64::NAN), i64::MIN);
        assert_eq!(c_cast_i32(1e10), i32::MIN);
        assert_eq!(c_cast_i32(-7.5), -7);
    }

    #[test]
    fn rand48_matches_redis() {
        // redis 7.0: math.randomseed(7); math.random(100), math.random(100) -> 27, 69
        let mut r = Rand48::default();
        r.seed(7);
        let mut pick = |u: i32| {
            let f = f64::from(r.next() % LRAND48_MAX) / f64::from(LRAND48_MAX);
            (f * f64::from(u)).floor() as i32 + 1
        };
        assert_eq!((pick(100), pick(100)), (27, 69));
    }
}
