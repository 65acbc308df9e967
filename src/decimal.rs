//! Decimal formatting of integers without `fmt`'s machinery, for the hot
//! paths that write log lines (xferlog lines, forensic blocks).

/// The decimal digits of `n`, written into `buf`.
pub fn decimal(n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn digits() {
        let mut b = [0u8; 20];
        for n in [0, 7, 10, 12345, u64::MAX] {
            assert_eq!(decimal(n, &mut b), n.to_string());
        }
    }
}
