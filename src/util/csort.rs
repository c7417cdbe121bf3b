//! The two C sorts whose tie order shows in GEO replies: glibc's `qsort` (a stable top-down
//! merge sort for the element sizes Redis uses) and Redis's `pqsort` (NetBSD's quicksort
//! that only finishes the partitions overlapping a rank range). Points at equal distances
//! come back in the order these leave them, so both are reproduced step for step.
//!
//! Comparators return C's `int` convention (< 0, 0, > 0) and may be inconsistent (NaN): like
//! their C originals, these sorts then produce some permutation and never panic.

/// glibc's `qsort` as `msort_with_tmp` runs it: split at `n / 2`, sort both halves, merge
/// taking from the left while `cmp(left, right) <= 0`.
pub fn msort<T: Clone>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    if v.len() <= 1 {
        return;
    }
    let mut tmp: Vec<T> = Vec::with_capacity(v.len());
    msort_with_tmp(v, &mut tmp, cmp);
}

fn msort_with_tmp<T: Clone>(v: &mut [T], tmp: &mut Vec<T>, cmp: &impl Fn(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (a, b) = v.split_at_mut(n1);
        msort_with_tmp(a, tmp, cmp);
        msort_with_tmp(b, tmp, cmp);
    }
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            tmp.push(v[i].clone());
            i += 1;
        } else {
            tmp.push(v[j].clone());
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    // What is left of the right half is already in place.
    let merged = tmp.len();
    for (dst, src) in v[..merged].iter_mut().zip(tmp.drain(..)) {
        *dst = src;
    }
}

/// Redis's `pqsort(a, n, es, cmp, lrange, rrange)`: afterwards `v[lrange..=rrange]` hold the
/// elements of those ranks in order; elsewhere the order is whatever the partial quicksort
/// left. As Redis 7.0 ships it (checked against its binary), a partition that moved nothing
/// does not switch to an insertion sort, unlike the NetBSD original.
pub fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32, lrange: usize, rrange: usize) {
    pqsort_range(v, 0, cmp, lrange, rrange);
}

/// Median of three, as NetBSD's `med3` picks it.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

fn insertion_sort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    for m in 1..v.len() {
        let mut l = m;
        while l > 0 && cmp(&v[l - 1], &v[l]) > 0 {
            v.swap(l, l - 1);
            l -= 1;
        }
    }
}

/// Swaps the `n` elements starting at `a` with the `n` starting at `b` (`vecswap`).
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// `_pqsort` on the whole of `v`, which starts at index `base` of the original array (the rank
/// range is in original indexes).
fn pqsort_range<T>(
    mut v: &mut [T],
    mut base: usize,
    cmp: &impl Fn(&T, &T) -> i32,
    lrange: usize,
    rrange: usize,
) {
    // Whether the sub-array at `start` with `len` elements overlaps the rank range.
    let overlaps = |start: usize, len: usize| !(rrange < start || lrange >= start + len);
    loop {
        let n = v.len();
        if n < 7 {
            insertion_sort(v, cmp);
            return;
        }
        let mut pm = n / 2;
        if n > 7 {
            let mut pl = 0;
            let mut pn = n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(0, pm);
        let (mut pa, mut pb) = (1usize, 1usize);
        // `pc` and `pd` may step to just before the start; track them as signed.
        let (mut pc, mut pd) = (n as isize - 1, n as isize - 1);
        loop {
            while pb as isize <= pc {
                let r = cmp(&v[pb], &v[0]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let r = cmp(&v[pc as usize], &v[0]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = n;
        let r = pa.min(pb - pa);
        vecswap(v, 0, pb - r, r);
        let (pc, pd) = (pc as usize, pd as usize);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(base, left) {
            pqsort_range(&mut v[..left], base, cmp, lrange, rrange);
        }
        let right = pd - pc;
        if right > 1 {
            // Iterate rather than recurse.
            let start = pn - right;
            if overlaps(base + start, right) {
                v = &mut v[start..];
                base += start;
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asc(a: &(f64, u32), b: &(f64, u32)) -> i32 {
        if a.0 > b.0 {
            1
        } else if a.0 == b.0 {
            0
        } else {
            -1
        }
    }

    /// A small deterministic generator for the tests.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *seed >> 33
    }

    fn sample(seed: &mut u64, n: usize, distinct: u64) -> Vec<(f64, u32)> {
        (0..n)
            .map(|i| ((lcg(seed) % distinct) as f64, i as u32))
            .collect()
    }

    #[test]
    fn msort_is_a_stable_sort() {
        let mut seed = 7;
        for n in [0, 1, 2, 3, 10, 100, 1000] {
            let mut v = sample(&mut seed, n, 13);
            let mut want = v.clone();
            want.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            msort(&mut v, &asc);
            assert_eq!(v, want);
        }
        // Inconsistent comparisons (NaN) still give a permutation.
        let mut v = vec![(f64::NAN, 0), (1.0, 1), (f64::NAN, 2), (0.0, 3)];
        msort(&mut v, &asc);
        let mut ids: Vec<u32> = v.iter().map(|e| e.1).collect();
        ids.sort();
        assert_eq!(ids, vec![0, 1, 2, 3]);
    }

    #[test]
    fn pqsort_orders_the_requested_ranks() {
        let mut seed = 11;
        for n in [1, 5, 7, 8, 40, 41, 100, 1000, 5000] {
            for distinct in [3, 1000] {
                let v = sample(&mut seed, n, distinct);
                let mut sorted: Vec<f64> = v.iter().map(|e| e.0).collect();
                sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
                for count in [1, 3, n / 2, n] {
                    if count == 0 || count > n {
                        continue;
                    }
                    let mut w = v.clone();
                    pqsort(&mut w, &asc, 0, count - 1);
                    let got: Vec<f64> = w[..count].iter().map(|e| e.0).collect();
                    assert_eq!(got, sorted[..count], "n={n} count={count}");
                    let mut ids: Vec<u32> = w.iter().map(|e| e.1).collect();
                    ids.sort();
                    assert_eq!(ids, (0..n as u32).collect::<Vec<_>>());
                }
            }
        }
        let mut v = vec![(f64::NAN, 0), (1.0, 1), (f64::NAN, 2), (0.0, 3)];
        pqsort(&mut v, &asc, 0, 1);
        assert_eq!(v.len(), 4);
    }

    /// Permutations Redis 7.0.15's own `pqsort` produced for these inputs (called inside a
    /// running redis-server through a debugger), including its order of equal elements.
    #[test]
    fn pqsort_matches_redis_binary() {
        let cases: &[(&[f64], usize, &[u32])] = &[
            (
                &[0.07, 0.07, 0.07, 888.0, 2665.0, 2665.0, 4441.0],
                1,
                &[0, 1, 2, 3, 4, 5, 6],
            ),
            (
                &[1.0, 1.0, 1.0, 5.0, 3.0, 4.0, 3.0],
                0,
                &[1, 2, 0, 6, 4, 5, 3],
            ),
            (
                &[4.0, 0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 0.0, 3.0],
                3,
                &[6, 1, 2, 7, 4, 5, 3, 8, 0],
            ),
            (
                &[5.0, 0.0, 3.0, 2.0, 0.0, 1.0, 0.0, 1.0, 8.0],
                4,
                &[1, 6, 4, 5, 7, 3, 2, 0, 8],
            ),
            (&[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 2, &[1, 3, 5, 0, 2, 4]),
        ];
        for (dists, r, want) in cases {
            let mut v: Vec<(f64, u32)> = dists
                .iter()
                .enumerate()
                .map(|(i, &d)| (d, i as u32))
                .collect();
            pqsort(&mut v, &asc, 0, *r);
            let ids: Vec<u32> = v.iter().map(|e| e.1).collect();
            assert_eq!(&ids, want, "{dists:?} 0..={r}");
        }
    }
}
