//! A strict JSON reader that fills the payload structs in one pass over the plaintext.
//!
//! Why not serde_json: reading vector A's 393 bytes into the typed payload through serde's
//! visitors took ~485 ns of an ~850 ns decrypt (a derived struct of borrowed `&str` fields:
//! ~550 ns; bare validation into `IgnoredAny`: ~220 ns). This reader validates the same
//! grammar and reads the fields as [`Span`]s as it goes, in ~300 ns (BENCHMARKS.md, crypto).
//! serde_json stays the reference it is tested against (`tests/parser.rs` compares the two
//! on mutated payloads) and still checks every unknown value that is kept (`RawValue`).
//!
//! What it accepts is what serde_json accepts for the same target types:
//! - RFC 8259 syntax; whitespace is space, tab, CR and LF; nothing may follow the value.
//! - Strings: no raw control characters; escapes `\" \\ \/ \b \f \n \r \t \uXXXX`. Where the
//!   text is kept (keys, known fields) UTF-16 surrogate escapes must pair up; inside unknown
//!   values any `\uXXXX` passes, since the text is kept verbatim.
//! - Integers: `-?(0|[1-9][0-9]*)` in range, no fraction or exponent, and not `-0` (serde_json
//!   reads that as a float, which no integer field accepts).
//! - Unknown values: any JSON value, nested to any depth (an explicit stack, no recursion).

use std::fmt;

use zeroize::Zeroize;

/// Why a plaintext is not a valid payload: the kind of problem and the byte offset where it
/// was found. Never holds any of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at byte {offset}")]
pub struct PayloadError {
    problem: Problem,
    offset: u32,
}

impl PayloadError {
    /// The byte offset in the plaintext where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset as usize
    }
}

/// What went wrong, without saying anything about the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The text ended inside a value.
    Eof,
    /// Not JSON at this point.
    Syntax,
    /// The plaintext is not UTF-8.
    Utf8,
    /// The plaintext is longer than any payload could be.
    TooLong,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A malformed escape, or an unpaired surrogate in a kept string.
    Escape,
    /// Valid JSON of a type the field does not take.
    Type,
    /// An integer outside the field's range.
    Range,
    /// A key given twice.
    Duplicate,
    /// A required field is absent.
    Missing,
    /// Something after the payload object.
    Trailing,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::Eof => "unexpected end of input",
            Problem::Syntax => "syntax error",
            Problem::Utf8 => "invalid UTF-8",
            Problem::TooLong => "plaintext too long",
            Problem::ControlCharacter => "control character in string",
            Problem::Escape => "invalid escape",
            Problem::Type => "wrong type",
            Problem::Range => "integer out of range",
            Problem::Duplicate => "duplicate key",
            Problem::Missing => "missing field",
            Problem::Trailing => "trailing characters",
        })
    }
}

pub(crate) type Result<T> = std::result::Result<T, PayloadError>;

/// Where a string's text is in the reader's buffer (and later in the payload's [`Text`]).
/// 32-bit, so that a `Result<Span>` comes back in registers ([`MAX_PLAINTEXT`] keeps every
/// position in range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The longest plaintext read (1 GiB, far beyond any request body): the buffer, decoded
/// escapes included, then stays below 2^32 bytes.
const MAX_PLAINTEXT: usize = 1 << 30;

/// The buffer a payload was read from: the plaintext, then the decoded text of any string
/// that had escapes. The payload's string fields are [`Span`]s into it. Wiped when dropped,
/// so the payload's personal data does not outlive it on the heap.
#[derive(Clone, Default)]
pub(crate) struct Text(String);

impl Text {
    /// The text of `span`. Spans are cut by the reader next to ASCII delimiters or around
    /// text it appended whole, so the lookup cannot fail; an empty string keeps it panic-free.
    pub(crate) fn get(&self, span: Span) -> &str {
        self.0.get(span.range()).unwrap_or_default()
    }
}

impl Drop for Text {
    fn drop(&mut self) {
        wipe(&mut std::mem::take(&mut self.0).into_bytes());
    }
}

/// Zeroes `bytes` behind an optimisation barrier (`<[u8]>::zeroize`: one `memset`, where
/// `Zeroizing<Vec<u8>>` writes byte by byte), unless there are none.
///
/// The empty case matters: an empty `Vec` has a dangling pointer (0x1), glibc's AVX-512
/// `memset` writes short lengths with a masked store, and on this AMD EPYC a masked store
/// with an empty mask to an unmapped address takes a fault-suppression assist of hundreds of
/// cycles: ~60 ns per decrypt for the two empty buffers dropped on the way.
pub(crate) fn wipe(bytes: &mut [u8]) {
    if !bytes.is_empty() {
        bytes.zeroize();
    }
}

/// A cursor over a plaintext it owns. It reads bytes up to `end`; strings with escapes are
/// decoded into the same buffer after `end`, so every string is a [`Span`] of one buffer.
/// UTF-8 is checked once, at the end ([`Reader::into_text`]), or where a piece of text is
/// taken out before that ([`Reader::string_at`]).
pub(crate) struct Reader {
    buf: Vec<u8>,
    end: usize,
    pos: usize,
}

impl Drop for Reader {
    fn drop(&mut self) {
        wipe(&mut self.buf);
    }
}

impl Reader {
    /// A reader over `plaintext`, which it takes over (and wipes unless it becomes a
    /// [`Text`]).
    pub(crate) fn new(plaintext: Vec<u8>) -> Result<Self> {
        let reader = Reader {
            end: plaintext.len(),
            buf: plaintext,
            pos: 0,
        };
        if reader.end > MAX_PLAINTEXT {
            return Err(reader.error(Problem::TooLong));
        }
        Ok(reader)
    }

    /// Checks that only whitespace is left, then hands the buffer over as the payload's text.
    pub(crate) fn into_text(mut self) -> Result<Text> {
        if self.peek_token().is_ok() {
            return Err(self.error(Problem::Trailing));
        }
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(text) => Ok(Text(text)),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to() as u32;
                wipe(&mut e.into_bytes());
                Err(PayloadError {
                    problem: Problem::Utf8,
                    offset,
                })
            }
        }
    }

    /// An error of kind `problem` at the current position.
    pub(crate) fn error(&self, problem: Problem) -> PayloadError {
        PayloadError {
            problem,
            offset: self.pos as u32,
        }
    }

    /// The JSON text (not what was appended after it).
    fn input(&self) -> &[u8] {
        &self.buf[..self.end]
    }

    /// The bytes of `span`.
    pub(crate) fn bytes_at(&self, span: Span) -> &[u8] {
        &self.buf[span.range()]
    }

    /// The text of `span` as an owned string (it must be UTF-8).
    pub(crate) fn string_at(&self, span: Span) -> Result<String> {
        String::from_utf8(self.bytes_at(span).to_vec()).map_err(|_| PayloadError {
            problem: Problem::Utf8,
            offset: span.start,
        })
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline]
    fn peek_token(&mut self) -> Result<u8> {
        while let Some(&b) = self.input().get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                _ => return Ok(b),
            }
        }
        Err(self.error(Problem::Eof))
    }

    /// Skips whitespace and consumes the next byte.
    #[inline]
    fn next_token(&mut self) -> Result<u8> {
        let b = self.peek_token()?;
        self.pos += 1;
        Ok(b)
    }

    /// Consumes `expected` (after whitespace) or fails.
    #[inline]
    fn expect(&mut self, expected: u8) -> Result<()> {
        if self.peek_token()? == expected {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(Problem::Syntax))
        }
    }

    /// The byte at the cursor, consumed.
    fn next_byte(&mut self) -> Result<u8> {
        match self.input().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.error(Problem::Eof)),
        }
    }

    /// Reads an object, handing each key to `field`, which must read the value.
    pub(crate) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, Span) -> Result<()>,
    ) -> Result<()> {
        match self.peek_token()? {
            b'{' => self.pos += 1,
            _ => return Err(self.error(Problem::Type)),
        }
        if self.peek_token()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"')?;
            let key = self.string_body()?;
            self.expect(b':')?;
            field(self, key)?;
            match self.next_token()? {
                b',' => {}
                b'}' => return Ok(()),
                _ => return Err(self.error(Problem::Syntax)),
            }
        }
    }

    /// Reads an array, calling `item` for each element, which must read it.
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        match self.peek_token()? {
            b'[' => self.pos += 1,
            _ => return Err(self.error(Problem::Type)),
        }
        if self.peek_token()? == b']' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.next_token()? {
                b',' => {}
                b']' => return Ok(()),
                _ => return Err(self.error(Problem::Syntax)),
            }
        }
    }

    /// A string value: where its text is, escapes decoded.
    pub(crate) fn string(&mut self) -> Result<Span> {
        match self.peek_token()? {
            b'"' => self.pos += 1,
            _ => return Err(self.error(Problem::Type)),
        }
        self.string_body()
    }

    /// The rest of a string whose opening quote was consumed, escapes decoded strictly.
    #[inline(always)]
    fn string_body(&mut self) -> Result<Span> {
        let start = self.pos;
        let stop;
        (self.pos, stop) = scan_plain(self.input(), start);
        match stop {
            Some(b'"') => {
                self.pos += 1;
                Ok(Span::new(start, self.pos - 1))
            }
            Some(b'\\') => self.string_escaped(start),
            Some(_) => Err(self.error(Problem::ControlCharacter)),
            None => Err(self.error(Problem::Eof)),
        }
    }

    /// Slow path of [`Self::string_body`], with the cursor on the first backslash: the
    /// decoded text is appended to the buffer.
    #[cold]
    fn string_escaped(&mut self, start: usize) -> Result<Span> {
        // The decoded text is never longer than the rest of the input: make room for that
        // much up front, so the buffer (holding plaintext) is never moved by a growing push
        // and left unwiped behind.
        let room = self.end - start;
        if self.buf.capacity() - self.buf.len() < room {
            let mut bigger = Vec::with_capacity(self.buf.len() + room);
            bigger.extend_from_slice(&self.buf);
            wipe(&mut self.buf);
            self.buf = bigger;
        }
        let out = self.buf.len();
        self.buf.extend_from_within(start..self.pos);
        loop {
            match self.next_byte()? {
                b'"' => {
                    return Ok(Span::new(out, self.buf.len()));
                }
                b'\\' => {
                    let c = self.escape()?;
                    self.buf
                        .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.error(Problem::ControlCharacter));
                }
            }
            let (plain, _) = scan_plain(self.input(), self.pos);
            self.buf.extend_from_within(self.pos..plain);
            self.pos = plain;
        }
    }

    /// Decodes one escape after its backslash; surrogate escapes must pair up.
    fn escape(&mut self) -> Result<char> {
        let unit = match self.next_byte()? {
            b'"' => return Ok('"'),
            b'\\' => return Ok('\\'),
            b'/' => return Ok('/'),
            b'b' => return Ok('\u{8}'),
            b'f' => return Ok('\u{c}'),
            b'n' => return Ok('\n'),
            b'r' => return Ok('\r'),
            b't' => return Ok('\t'),
            b'u' => self.hex4()?,
            _ => return Err(self.error(Problem::Escape)),
        };
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.next_byte()? != b'\\' || self.next_byte()? != b'u' {
                    return Err(self.error(Problem::Escape));
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error(Problem::Escape));
                }
                0x1_0000 + (((u32::from(unit) - 0xD800) << 10) | (u32::from(low) - 0xDC00))
            }
            _ => u32::from(unit),
        };
        // Only a lone trailing surrogate (DC00–DFFF) is left to fail here.
        char::from_u32(code).ok_or_else(|| self.error(Problem::Escape))
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let digit = match self.next_byte()? {
                b @ b'0'..=b'9' => b - b'0',
                b @ b'a'..=b'f' => b - b'a' + 10,
                b @ b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(self.error(Problem::Escape)),
            };
            n = (n << 4) | u16::from(digit);
        }
        Ok(n)
    }

    /// An integer in i64 range.
    pub(crate) fn i64(&mut self) -> Result<i64> {
        let (negative, magnitude, _) = self.integer()?;
        if negative {
            // 1..=2^63; `-0` is a float to serde_json.
            match magnitude {
                1..=0x8000_0000_0000_0000 => Ok(0i64.wrapping_sub_unsigned(magnitude)),
                _ => Err(self.error(Problem::Range)),
            }
        } else {
            i64::try_from(magnitude).map_err(|_| self.error(Problem::Range))
        }
    }

    /// A string, or an integer (u64 or i64 range) as its decimal text.
    pub(crate) fn string_or_integer(&mut self) -> Result<Span> {
        if self.peek_token()? == b'"' {
            return self.string();
        }
        let (negative, magnitude, text) = self.integer()?;
        if negative && !(1..=0x8000_0000_0000_0000).contains(&magnitude) {
            return Err(self.error(Problem::Range));
        }
        // The grammar allows no `+` or leading zeros: the text is already canonical.
        Ok(text)
    }

    /// `-?(0|[1-9][0-9]*)` as sign, magnitude and text; a fraction or exponent after it
    /// makes it a float, which no field here takes.
    fn integer(&mut self) -> Result<(bool, u64, Span)> {
        let negative = self.peek_token()? == b'-';
        let start = self.pos + usize::from(negative);
        self.pos = start;
        let magnitude: u64 = match self.input().get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                0
            }
            Some(b'1'..=b'9') => {
                let mut n = 0u64;
                while let Some(&b @ b'0'..=b'9') = self.input().get(self.pos) {
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(b - b'0')))
                        .ok_or_else(|| self.error(Problem::Range))?;
                    self.pos += 1;
                }
                n
            }
            Some(_) if negative => return Err(self.error(Problem::Syntax)),
            Some(_) => return Err(self.error(Problem::Type)),
            None => return Err(self.error(Problem::Eof)),
        };
        match self.input().get(self.pos) {
            Some(b'0'..=b'9') => return Err(self.error(Problem::Syntax)),
            Some(b'.' | b'e' | b'E') => return Err(self.error(Problem::Type)),
            _ => {}
        }
        let text = Span::new(start - usize::from(negative), self.pos);
        Ok((negative, magnitude, text))
    }

    /// Reads and validates one value of any kind; returns where its exact text is.
    pub(crate) fn raw_value(&mut self) -> Result<Span> {
        self.peek_token()?;
        let start = self.pos;
        // The containers we are inside of, innermost last: `[` or `{`.
        let mut open: Vec<u8> = Vec::new();
        loop {
            // One value, or the opening of a container.
            match self.next_token()? {
                b'"' => self.skip_string_body()?,
                b @ (b'[' | b'{') => {
                    let close = if b == b'[' { b']' } else { b'}' };
                    if self.peek_token()? == close {
                        self.pos += 1;
                    } else {
                        open.push(b);
                        if b == b'{' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                b'-' | b'0'..=b'9' => {
                    self.pos -= 1;
                    self.skip_number()?;
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.error(Problem::Syntax));
                }
            }
            // A value is complete: close what it completes, up to the next element.
            loop {
                let Some(&container) = open.last() else {
                    return Ok(Span::new(start, self.pos));
                };
                match (self.next_token()?, container) {
                    (b',', b'[') => break,
                    (b',', _) => {
                        self.skip_key()?;
                        break;
                    }
                    (b']', b'[') | (b'}', b'{') => {
                        open.pop();
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.error(Problem::Syntax));
                    }
                }
            }
        }
    }

    /// `"key":` inside a skipped object.
    fn skip_key(&mut self) -> Result<()> {
        self.expect(b'"')?;
        self.skip_string_body()?;
        self.expect(b':')
    }

    /// The rest of a string that is only validated: any `\uXXXX` passes, as in serde_json.
    fn skip_string_body(&mut self) -> Result<()> {
        loop {
            (self.pos, _) = scan_plain(self.input(), self.pos);
            match self.next_byte()? {
                b'"' => return Ok(()),
                b'\\' => match self.next_byte()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        self.hex4()?;
                    }
                    _ => return Err(self.error(Problem::Escape)),
                },
                _ => {
                    self.pos -= 1;
                    return Err(self.error(Problem::ControlCharacter));
                }
            }
        }
    }

    /// The rest of `true`, `false` or `null` after its first letter.
    fn literal(&mut self, rest: &[u8]) -> Result<()> {
        if self.input()[self.pos..].starts_with(rest) {
            self.pos += rest.len();
            Ok(())
        } else {
            Err(self.error(Problem::Syntax))
        }
    }

    /// Any JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn skip_number(&mut self) -> Result<()> {
        let bytes = self.input();
        let digits = |pos: &mut usize| {
            let from = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos - from
        };
        let mut pos = self.pos;
        if bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        let ok = match bytes.get(pos) {
            Some(b'0') => {
                pos += 1;
                !bytes.get(pos).is_some_and(u8::is_ascii_digit)
            }
            Some(b'1'..=b'9') => digits(&mut pos) > 0,
            _ => false,
        } && {
            if bytes.get(pos) == Some(&b'.') {
                pos += 1;
                digits(&mut pos) > 0
            } else {
                true
            }
        } && {
            if matches!(bytes.get(pos), Some(b'e' | b'E')) {
                pos += 1;
                if matches!(bytes.get(pos), Some(b'+' | b'-')) {
                    pos += 1;
                }
                digits(&mut pos) > 0
            } else {
                true
            }
        };
        self.pos = pos;
        if ok {
            Ok(())
        } else {
            Err(self.error(Problem::Syntax))
        }
    }
}

/// The first `"`, `\` or control character at or after `from`: its index and the byte
/// (the byte is handed back so the caller does not wait on loading it again), or the length
/// and `None`.
///
/// Eight bytes at a time: the classic "has a byte below n" bit trick flags, in each byte's
/// top bit, bytes below 0x20 and bytes equal to `"` or `\`. A flag can also appear above a
/// flagged byte (borrows), never below one, so the lowest flag is the right answer. UTF-8
/// bytes (0x80 and up) are never flagged.
#[inline(always)]
fn scan_plain(bytes: &[u8], from: usize) -> (usize, Option<u8>) {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let rest = bytes.get(from..).unwrap_or_default();
    let (chunks, tail) = rest.as_chunks::<8>();
    for (i, chunk) in chunks.iter().enumerate() {
        let v = u64::from_le_bytes(*chunk);
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let flags = (v.wrapping_sub(ONES * 0x20)
            | (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash))
            & !v
            & HIGH;
        if flags != 0 {
            let bit = flags.trailing_zeros();
            return (
                from + i * 8 + (bit / 8) as usize,
                Some((v >> (bit & !7)) as u8),
            );
        }
    }
    let done = from + chunks.len() * 8;
    match tail
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
    {
        Some(i) => (done + i, Some(tail[i])),
        None => (done + tail.len(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_naive(bytes: &[u8], from: usize) -> (usize, Option<u8>) {
        match bytes[from..]
            .iter()
            .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        {
            Some(i) => (from + i, Some(bytes[from + i])),
            None => (bytes.len(), None),
        }
    }

    #[test]
    fn scan_agrees_with_a_byte_loop() {
        let alphabet = [
            b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xe4, 0xff, b'!',
        ];
        // Every placement of one or two special bytes in a 20-byte run.
        for i in 0..20 {
            for j in i..20 {
                for &x in &alphabet {
                    for &y in &alphabet {
                        let mut v = vec![b'x'; 20];
                        v[i] = x;
                        v[j] = y;
                        for from in [0, 1, 7, 8, 13] {
                            assert_eq!(scan_plain(&v, from), scan_naive(&v, from), "{v:?} {from}");
                        }
                    }
                }
            }
        }
    }

    fn reader(text: &str) -> Reader {
        Reader::new(text.as_bytes().to_vec()).unwrap()
    }

    fn raw(text: &str) -> Result<String> {
        let mut r = reader(text);
        let span = r.raw_value()?;
        let value = r.string_at(span)?;
        r.into_text()?;
        Ok(value)
    }

    #[test]
    fn raw_values_follow_the_grammar() {
        for ok in [
            "0",
            "-0",
            "1.5",
            "-12e+3",
            "1E9",
            "0.0e-0",
            "true",
            "null",
            "\"\\u00e9\\ud800\"",
            "[]",
            "{}",
            "[1,[2,[3,{}]],{\"a\":{\"b\":[]}}]",
            " [ 1 , 2 ] ",
        ] {
            assert_eq!(raw(ok).as_deref(), Ok(ok.trim()), "{ok}");
        }
        for bad in [
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1 2]",
            "{1:2}",
            "\"\\x\"",
            "\"a\u{1}\"",
            "[",
            "{\"a\":[}]",
            "\"\\u12g4\"",
            "1 2",
        ] {
            assert!(raw(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_uses_no_recursion() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(raw(&deep).map(|v| v.len()), Ok(200_000));
    }

    #[test]
    fn integers_follow_serde_json() {
        let int = |t: &str| reader(t).i64();
        assert_eq!(int("0"), Ok(0));
        assert_eq!(int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(int("9223372036854775807"), Ok(i64::MAX));
        for bad in [
            "-0",
            "9223372036854775808",
            "-9223372036854775809",
            "1.0",
            "1e3",
            "01",
        ] {
            assert!(int(bad).is_err(), "{bad}");
        }
        let soi = |t: &str| {
            let mut r = reader(t);
            let span = r.string_or_integer()?;
            r.string_at(span)
        };
        assert_eq!(
            soi("18446744073709551615").as_deref(),
            Ok("18446744073709551615")
        );
        assert_eq!(soi("-86").as_deref(), Ok("-86"));
        assert!(soi("18446744073709551616").is_err() && soi("-0").is_err());
    }

    #[test]
    fn kept_strings_decode_escapes_strictly_into_the_text() {
        let s = |t: &str| {
            let mut r = reader(t);
            let span = r.string()?;
            let text = r.into_text()?;
            Ok::<_, PayloadError>(text.get(span).to_owned())
        };
        assert_eq!(s(r#""plain""#).as_deref(), Ok("plain"));
        assert_eq!(
            s(r#""a\"\\\/\b\f\n\r\tz""#).as_deref(),
            Ok("a\"\\/\u{8}\u{c}\n\r\tz")
        );
        assert_eq!(s(r#""\u5fae\ud83d\ude00""#).as_deref(), Ok("微😀"));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#""\ud83dx""#,
        ] {
            assert!(s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_utf8_is_refused_at_the_end() {
        let mut r = Reader::new(b"\"\xff\"".to_vec()).unwrap();
        assert!(r.string().is_ok());
        assert!(r.into_text().is_err());
    }
}
