//! Punycode encoding (RFC 3492), as CPython uses it to name the init hooks of extension
//! modules whose names are not ASCII (`PyInitU_<punycode>`).
//!
//! Only encoding is needed. Basic (ASCII) code points are copied unchanged, case included,
//! like Python's `"punycode"` codec, and the delimiter `-` is written only when there are some.

const BASE: u64 = 36;
const T_MIN: u64 = 1;
const T_MAX: u64 = 26;
const SKEW: u64 = 38;
const DAMP: u64 = 700;
const INITIAL_BIAS: u64 = 72;
const INITIAL_N: u64 = 0x80;

/// Longest input encoded, in code points. A module is a file, and file names are at most
/// 255 bytes (Linux, macOS) or 255 UTF-16 units (Windows), so no importable module name part
/// is longer; the encoder costs (code points)^2, which for a 65,535-byte zip member name
/// is a second each.
pub const MAX_CODE_POINTS: usize = 255;

/// Encodes `input` with Punycode. Returns `None` when `input` has more than
/// [`MAX_CODE_POINTS`] code points (no module can be called that), or on arithmetic overflow.
pub fn encode(input: &str) -> Option<String> {
    if input.chars().nth(MAX_CODE_POINTS).is_some() {
        return None;
    }
    let code_points: Vec<u64> = input.chars().map(|c| u64::from(u32::from(c))).collect();
    let mut output: String = input.chars().filter(char::is_ascii).collect();
    let basic = output.len() as u64;
    if basic > 0 {
        output.push('-');
    }
    let total = code_points.len() as u64;
    let mut n = INITIAL_N;
    let mut delta: u64 = 0;
    let mut bias = INITIAL_BIAS;
    let mut handled = basic;
    while handled < total {
        // The smallest code point not yet handled.
        let m = *code_points.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &code_points {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    output.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                output.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n += 1;
    }
    Some(output)
}

fn adapt(delta: u64, num_points: u64, first_time: bool) -> u64 {
    let mut delta = if first_time { delta / DAMP } else { delta / 2 };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + ((BASE - T_MIN + 1) * delta) / (delta + SKEW)
}

fn digit(d: u64) -> char {
    match d {
        0..=25 => char::from(b'a' + d as u8),
        _ => char::from(b'0' + (d - 26) as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    /// Resource check regression: a wheel of 50 members, each named by 21,000 different CJK
    /// characters plus an extension suffix (6.3 MB), took 68 s to list, all in this
    /// quadratic encoder. Names longer than any file name are no longer encoded.
    #[test]
    fn names_longer_than_a_file_name_are_not_encoded() {
        let long: String = (0..21_000)
            .map(|i| char::from_u32(0x4e00 + i).unwrap())
            .collect();
        assert_eq!(encode(&long), None);
        let longest: String = long.chars().take(super::MAX_CODE_POINTS).collect();
        assert!(encode(&longest).is_some());
    }

    #[test]
    fn rfc3492_and_python_vectors() {
        let cases = [
            // RFC 3492 §7.1 sample strings.
            (
                "\u{4ED6}\u{4EEC}\u{4E3A}\u{4EC0}\u{4E48}\u{4E0D}\u{8BF4}\u{4E2D}\u{6587}",
                "ihqwcrb4cv8a8dqg056pqjye",
            ),
            (
                "\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}",
                "egbpdaj6bu4bxfgehfvwxn",
            ),
            (
                "3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}",
                "3B-ww4c5e180e575a65lsy2b",
            ),
            (
                "\u{5B89}\u{5BA4}\u{5948}\u{7F8E}\u{6075}-with-SUPER-MONKEYS",
                "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n",
            ),
            (
                "Hello-Another-Way-\u{305D}\u{308C}\u{305E}\u{308C}\u{306E}\u{5834}\u{6240}",
                "Hello-Another-Way--fc4qua05auwb3674vfr0b",
            ),
            (
                "\u{3072}\u{3068}\u{3064}\u{5C4B}\u{6839}\u{306E}\u{4E0B}2",
                "2-u9tlzr9756bt3uc0v",
            ),
            (
                "\u{30D1}\u{30D5}\u{30A3}\u{30FC}de\u{30EB}\u{30F3}\u{30D0}",
                "de-jg4avhby1noc0d",
            ),
            ("-> $1.00 <-", "-> $1.00 <--"),
            // What Python's "punycode" codec gives.
            ("bücher", "bcher-kva"),
            ("café", "caf-dma"),
            ("é", "9ca"),
            ("müller_ext", "mller_ext-q9a"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(encode(input).as_deref(), Some(want), "{input:?}");
        }
    }
}
