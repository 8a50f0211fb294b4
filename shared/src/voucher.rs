//! Voucher codes: the alphabet they are made from and how a guest's typing becomes a code.
//!
//! Generated codes use [`ALPHABET`], which leaves out characters people confuse on a printed card
//! or a phone keyboard (`0 O 1 I L U`). Codes imported from elsewhere may use any ASCII letters and
//! digits; both kinds are compared in the normalised form [`normalize`] returns. The cloud's SQL
//! function `generate_voucher_code()` uses the same alphabet and length (a cloud test checks it).

/// Characters of generated codes: 8 digits and 22 letters, none mistakable for another.
pub const ALPHABET: &[u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of a generated code. 30^10 ≈ 5.9 × 10^14 codes (49 bits): with guessing throttled to a
/// few tries a minute per client, finding one of a site's live codes by chance is out of reach.
pub const CODE_LEN: usize = 10;

/// Shortest and longest code accepted from a guest or an import (after normalisation); the
/// longest is the width of `hotspot_vouchers.voucher_code VARCHAR(20)`.
pub const MIN_LEN: usize = 4;
pub const MAX_LEN: usize = 20;

/// Why what the guest typed cannot be a voucher code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("enter the code printed on your voucher")]
    Empty,
    #[error("a voucher code has at least {MIN_LEN} characters")]
    TooShort,
    #[error("a voucher code has at most {MAX_LEN} characters")]
    TooLong,
    #[error("a voucher code has only letters and digits")]
    BadCharacter,
}

/// Turns what a guest typed into the stored form: spaces and dashes dropped, letters upper-cased.
/// `" abcd-efgh 23 "` and `"ABCDEFGH23"` are the same code.
pub fn normalize(input: &str) -> Result<String, CodeError> {
    // Bound the work before looking at characters: a form field can be megabytes.
    if input.len() > MAX_LEN * 4 {
        return Err(CodeError::TooLong);
    }
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            ' ' | '\t' | '-' | '\u{a0}' => {}
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_uppercase()),
            _ => return Err(CodeError::BadCharacter),
        }
    }
    match out.len() {
        0 => Err(CodeError::Empty),
        n if n < MIN_LEN => Err(CodeError::TooShort),
        n if n > MAX_LEN => Err(CodeError::TooLong),
        _ => Ok(out),
    }
}

/// Builds a generated code from random bytes, by rejection sampling so every character of
/// [`ALPHABET`] is equally likely. Returns `None` if `random` runs out first (callers pass at least
/// `2 * CODE_LEN` bytes; the chance of needing more is below 10^-9).
pub fn from_random_bytes(random: &[u8]) -> Option<String> {
    // 240 = 8 × 30: bytes at or above it would favour the first characters.
    let mut code = String::with_capacity(CODE_LEN);
    for &b in random {
        if b < 240 {
            code.push(ALPHABET[(b % 30) as usize] as char);
            if code.len() == CODE_LEN {
                return Some(code);
            }
        }
    }
    None
}

/// True when `code` (normalised) could have come from [`from_random_bytes`].
pub fn is_generated_form(code: &str) -> bool {
    code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))
}

/// Compares two normalised codes in time that depends only on their lengths, not on where they
/// first differ, so response timing does not reveal how much of a guess was right.
pub fn codes_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The code as printed on a card: groups of five, `ABCDE-FGH23`.
pub fn display(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 5);
    for (i, c) in code.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_has_no_confusable_characters() {
        for c in b"01OILU" {
            assert!(!ALPHABET.contains(c), "{}", *c as char);
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), ALPHABET.len(), "no repeats");
    }

    #[test]
    fn guest_typing_is_case_and_space_insensitive() {
        assert_eq!(normalize(" abcde-fgh23 ").unwrap(), "ABCDEFGH23");
        assert_eq!(normalize("ABCDE FGH23").unwrap(), "ABCDEFGH23");
        assert_eq!(normalize("abcde\u{a0}fgh23").unwrap(), "ABCDEFGH23");
    }

    #[test]
    fn bad_input_gets_a_reason() {
        assert_eq!(normalize("  - "), Err(CodeError::Empty));
        assert_eq!(normalize("ab1"), Err(CodeError::TooShort));
        assert_eq!(normalize(&"A".repeat(MAX_LEN + 1)), Err(CodeError::TooLong));
        assert_eq!(normalize(&"A".repeat(10_000)), Err(CodeError::TooLong));
        assert_eq!(normalize("ABCD;DROP"), Err(CodeError::BadCharacter));
        assert_eq!(normalize("ABCDÉ"), Err(CodeError::BadCharacter));
    }

    #[test]
    fn generated_codes_use_the_alphabet_evenly() {
        // Every byte value once, repeated: each accepted byte maps to one character, 8 times each.
        let bytes: Vec<u8> = (0..=255u8).collect();
        let mut counts = [0usize; 30];
        for chunk in bytes.chunks(20) {
            if let Some(code) = from_random_bytes(chunk) {
                assert!(is_generated_form(&code), "{code}");
                for b in code.bytes() {
                    counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
                }
            }
        }
        let direct: Vec<char> = (0u8..240)
            .map(|b| ALPHABET[(b % 30) as usize] as char)
            .collect();
        assert_eq!(direct.iter().filter(|&&c| c == '2').count(), 8);
        assert_eq!(direct.iter().filter(|&&c| c == 'Z').count(), 8);
        assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    }

    #[test]
    fn rejected_bytes_are_skipped_and_shortage_reported() {
        assert_eq!(from_random_bytes(&[255; 40]), None);
        let mut bytes = vec![250u8; 5];
        bytes.extend([0u8; 10]);
        assert_eq!(from_random_bytes(&bytes).as_deref(), Some("2222222222"));
    }

    #[test]
    fn codes_compare_whole() {
        assert!(codes_equal("ABCDEFGH23", "ABCDEFGH23"));
        assert!(!codes_equal("ABCDEFGH23", "ABCDEFGH24"));
        assert!(!codes_equal("ABCDEFGH23", "ABCDEFGH2"));
        assert!(!codes_equal("", "A"));
        assert!(codes_equal("", ""));
    }

    #[test]
    fn display_groups_by_five() {
        assert_eq!(display("ABCDEFGH23"), "ABCDE-FGH23");
        assert_eq!(display("ABCD"), "ABCD");
    }
}
