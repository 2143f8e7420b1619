//! Finding line ends and colons fast, without `unsafe`.
//!
//! The decoder needs, for every line, where it ends (`\n`) and where its key ends (the
//! first `:`). AMI lines are short (a key of ~10 bytes, a value of ~15), so searching each
//! line with a SIMD `memchr` pays a set-up cost per line that tiny haystacks never earn back.
//! Instead [`Lines`] classifies 64 bytes at a time into a bit mask, one bit per byte ("is
//! `\n`"), using plain `u64` arithmetic (SIMD within a register), and finds each line's end
//! with a count of trailing zeros. The colon is searched from the line's start 8 bytes at a
//! time: keys are short, so that is one or two words. (A colon mask over every byte, values
//! included, measured ~6 % more instructions per pass.)

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HI: u64 = 0x8080_8080_8080_8080;
const BLOCK: usize = 64;

/// Bit 7 of each byte of the result is set where the byte of `x` is zero (exactly: no
/// carries cross bytes, so there are no false matches).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7).wrapping_add(LO7)) | x) & HI
}

/// Gathers bit 7 of each byte into the low 8 bits (byte `i` → bit `i`).
#[inline(always)]
fn movemask(m: u64) -> u64 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Mask of `\n` for the 64 bytes at `hay[base..]` (zero-padded past the end).
#[inline(always)]
fn classify(hay: &[u8], base: usize) -> u64 {
    let mut block = [0u8; BLOCK];
    let bytes = match hay.get(base..base + BLOCK) {
        Some(full) => full,
        None => {
            let rest = &hay[base.min(hay.len())..];
            block[..rest.len()].copy_from_slice(rest);
            &block[..]
        }
    };
    let mut nl = 0u64;
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        nl |= movemask(zero_bytes(x ^ 0x0a0a_0a0a_0a0a_0a0a)) << (8 * i);
    }
    nl
}

/// The first `:` of a line. Keys are short, so this usually looks at one or two words.
#[inline(always)]
fn first_colon(line: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 8 <= line.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&line[i..i + 8]);
        let found = zero_bytes(u64::from_le_bytes(word) ^ 0x3a3a_3a3a_3a3a_3a3a);
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    line[i..].iter().position(|&b| b == b':').map(|p| i + p)
}

/// Walks the lines of `hay` from a starting offset.
pub(crate) struct Lines<'a> {
    hay: &'a [u8],
    base: usize,
    nl: u64,
}

/// One line: where its first `:` is (if before the line's end) and where its `\n` is.
pub(crate) struct Line {
    pub(crate) colon: Option<usize>,
    pub(crate) newline: usize,
}

impl<'a> Lines<'a> {
    /// Ready to read the line that starts at `start`.
    pub(crate) fn new(hay: &'a [u8], start: usize) -> Lines<'a> {
        Lines {
            hay,
            base: start,
            nl: classify(hay, start),
        }
    }

    /// The line starting at `start` (which must be at or after the previous line's end);
    /// `None` when `hay` holds no `\n` from there on.
    #[inline]
    pub(crate) fn line(&mut self, start: usize) -> Option<Line> {
        let mut from = start;
        loop {
            let offset = from.wrapping_sub(self.base);
            if offset < BLOCK {
                let nl = self.nl & (!0u64 << offset);
                if nl != 0 {
                    let newline = self.base + nl.trailing_zeros() as usize;
                    return Some(Line {
                        colon: first_colon(&self.hay[start..newline]).map(|c| start + c),
                        newline,
                    });
                }
                from = self.base + BLOCK;
            }
            if from >= self.hay.len() {
                return None;
            }
            self.base = from;
            self.nl = classify(self.hay, from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;
    use proptest::prelude::*;

    /// Every line of `hay` from `start`, the slow way: (first colon before the end, end).
    fn plain(hay: &[u8], mut start: usize) -> Vec<(Option<usize>, usize)> {
        let mut out = Vec::new();
        while let Some(nl) = hay[start..].iter().position(|&b| b == b'\n') {
            let line = &hay[start..start + nl];
            out.push((
                line.iter().position(|&b| b == b':').map(|c| start + c),
                start + nl,
            ));
            start += nl + 1;
        }
        out
    }

    fn fast(hay: &[u8], mut start: usize) -> Vec<(Option<usize>, usize)> {
        let mut lines = Lines::new(hay, start);
        let mut out = Vec::new();
        while let Some(l) = lines.line(start) {
            out.push((l.colon, l.newline));
            start = l.newline + 1;
        }
        out
    }

    proptest! {
        #[test]
        fn agrees_with_a_plain_search(hay in proptest::collection::vec(any::<u8>(), 0..300), start in 0usize..20) {
            let start = start.min(hay.len());
            prop_assert_eq!(fast(&hay, start), plain(&hay, start));
        }

        #[test]
        fn agrees_on_text(hay in "[a-z:;\x0b \r\n\u{80}-\u{ff}]{0,300}", start in 0usize..5) {
            let hay = hay.as_bytes();
            let start = start.min(hay.len());
            prop_assert_eq!(fast(hay, start), plain(hay, start));
        }
    }
}
