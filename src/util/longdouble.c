/*
 * INCRBYFLOAT / HINCRBYFLOAT arithmetic, done exactly as Redis 7.0 does it.
 *
 * Redis parses both operands with strtold(), adds them as C `long double`
 * (80-bit x87 extended precision on x86-64) and prints the sum with
 * "%.17Lf". Rust has no `long double`, and emulating extended-precision
 * parsing, addition and fixed-point printing bit-for-bit is far riskier than
 * letting the C library do what it does for Redis, so this one operation
 * stays in C. The safe wrapper is `crate::util::num::incr_by_float`.
 *
 * The helpers below mirror string2ld() and ld2string(LD_STR_HUMAN) from
 * Redis 7.0 src/util.c; they are static so nothing else links against them.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: the parse buffer size, so inputs of this
 * length or longer are rejected, and the print buffer size. */
#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Return codes shared with src/util/num.rs. */
#define BASALT_LD_OK 0
#define BASALT_LD_CUR_NOT_FLOAT 1
#define BASALT_LD_INCR_NOT_FLOAT 2
#define BASALT_LD_RESULT_NAN_OR_INF 3
#define BASALT_LD_BUFFER_TOO_SMALL 4
#define BASALT_LD_INCR_NAN_OR_INF 5

/* string2ld(): 1 if s[0..slen) is a valid long double, 0 otherwise.
 * Rejects: empty input, input too long for the buffer, leading whitespace
 * (strtold would skip it), anything strtold does not consume (trailing bytes,
 * including an embedded NUL), overflow to +-HUGE_VAL, underflow to zero, and
 * NaN. "inf"/"infinity" and hex floats are accepted, as strtold accepts them. */
static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';

    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        (size_t)(eptr - buf) != slen ||
        (errno == ERANGE &&
         (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;

    *dp = value;
    return 1;
}

/* ld2string(..., LD_STR_HUMAN) for a finite value: "%.17Lf", then drop
 * trailing zeroes and a trailing '.', and turn "-0" into "0".
 * Returns the length, or 0 if buf is too small (as Redis does). */
static size_t ld2string_human(char *buf, size_t len, long double value) {
    int n = snprintf(buf, len, "%.17Lf", value);
    if (n < 0) return 0;
    size_t l = (size_t)n;
    if (l + 1 > len) return 0;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = '\0';
    return l;
}

/* Sum and format; both operands are already parsed. */
static int add_and_format(long double value, long double incr, char *out,
                          size_t out_cap, size_t *out_len) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    size_t l;

    value += incr;
    if (isnan(value) || isinf(value)) return BASALT_LD_RESULT_NAN_OR_INF;

    l = ld2string_human(buf, sizeof(buf), value);
    /* Cannot happen for a finite long double (at most ~4952 chars), but
     * never hand back a truncated number. */
    if (l == 0 || l > out_cap) return BASALT_LD_BUFFER_TOO_SMALL;
    memcpy(out, buf, l);
    *out_len = l;
    return BASALT_LD_OK;
}

/* INCRBYFLOAT (t_string.c incrbyfloatCommand): the stored value is parsed
 * first, then the increment; `cur == NULL` means the key is absent (0).
 * Returns one of the BASALT_LD_* codes (never BASALT_LD_INCR_NAN_OR_INF). */
int basalt_incrbyfloat(const char *cur, size_t cur_len, const char *incr,
                       size_t incr_len, char *out, size_t out_cap,
                       size_t *out_len) {
    long double value = 0, by = 0;

    if (cur != NULL && !string2ld(cur, cur_len, &value))
        return BASALT_LD_CUR_NOT_FLOAT;
    if (!string2ld(incr, incr_len, &by)) return BASALT_LD_INCR_NOT_FLOAT;
    return add_and_format(value, by, out, out_cap, out_len);
}

/* HINCRBYFLOAT (t_hash.c hincrbyfloatCommand): the increment is checked
 * first, and an infinite increment is an error of its own, before the
 * field is looked at. `cur == NULL` means the field is absent (0). */
int basalt_hincrbyfloat(const char *cur, size_t cur_len, const char *incr,
                        size_t incr_len, char *out, size_t out_cap,
                        size_t *out_len) {
    long double value = 0, by = 0;

    if (!string2ld(incr, incr_len, &by)) return BASALT_LD_INCR_NOT_FLOAT;
    if (isnan(by) || isinf(by)) return BASALT_LD_INCR_NAN_OR_INF;
    if (cur != NULL && !string2ld(cur, cur_len, &value))
        return BASALT_LD_CUR_NOT_FLOAT;
    return add_and_format(value, by, out, out_cap, out_len);
}
