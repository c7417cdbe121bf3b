//! Redis's CRC-64/Jones (reflected, polynomial 0xad93d23594c935a9, no final xor), the checksum
//! that ends an RDB file and a DUMP payload.

/// The reflected form of the Jones polynomial, as Redis's crc64.c uses it.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

/// Table for byte-at-a-time updates, built at compile time.
const TABLE: [u64; 256] = build_table();

const fn build_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Continues a CRC-64/Jones over `data` from `crc` (start with 0), as Redis's `crc64(crc, s, l)`.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    data.iter().fold(crc, |crc, &b| {
        TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::crc64;

    #[test]
    fn check_value_from_redis_test() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn incremental_matches_whole() {
        let whole = crc64(0, b"123456789");
        assert_eq!(crc64(crc64(0, b"1234"), b"56789"), whole);
    }
}
