//! The byte stream under the CSV parser: UTF-16 files transcoded to UTF-8,
//! and a watcher that follows the parser's quoting rules byte by byte to give
//! each record its spreadsheet row (blank lines count, newlines inside quoted
//! cells do not) and to notice a quote that is never closed.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use encoding_rs::{Decoder, Encoding};
use tokio::io::{AsyncRead, ReadBuf};

/// Where `csv_core`'s state machine (default quoting, `""` escapes, any of
/// `\r`, `\n`, `\r\n` ending a record) stands; kept in step with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StartRecord,
    StartField,
    InField,
    InQuoted,
    QuoteInQuoted,
    /// After a `\r`: a `\n` right after it belongs to the same line end.
    AfterCr,
}

/// A quoted cell still open at the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unclosed {
    /// The spreadsheet row of the record it is in.
    pub(crate) row: u64,
    /// 1-based column.
    pub(crate) column: usize,
    /// Line ends read after the quote opened.
    pub(crate) lines: u64,
}

impl std::fmt::Display for Unclosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a quote (\") opens column {} and is never closed, so the rest of the file ({} more \
             line{}) would be one cell; close the quote, or remove it",
            self.column,
            self.lines,
            crate::human::plural(self.lines)
        )
    }
}

/// No user row is this long: past it, the file is not read further (a quote
/// never closed, or not a CSV file at all), so memory stays bounded.
pub(crate) const MAX_ROW_BYTES: u64 = 1 << 20;

#[derive(Debug)]
pub(crate) struct Tracker {
    state: State,
    delimiter: u8,
    /// The spreadsheet row of the next record to start.
    row: u64,
    /// The rows of the records seen in the bytes but not yet taken.
    starts: VecDeque<u64>,
    field: usize,
    quote: Unclosed,
    unclosed: Option<Unclosed>,
    finished: bool,
    /// The row of the record in progress, and its bytes so far.
    current: (u64, u64),
    /// The row of a record longer than [`MAX_ROW_BYTES`].
    oversized: Option<u64>,
}

impl Tracker {
    pub(crate) fn new(delimiter: u8) -> Self {
        Tracker {
            state: State::StartRecord,
            delimiter,
            row: 1,
            starts: VecDeque::new(),
            field: 0,
            quote: Unclosed {
                row: 0,
                column: 0,
                lines: 0,
            },
            unclosed: None,
            finished: false,
            current: (0, 0),
            oversized: None,
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &c in bytes {
            self.step(c);
        }
        if self.current.1 > MAX_ROW_BYTES && self.oversized.is_none() {
            self.oversized = Some(self.current.0);
        }
    }

    /// The row of a record too long to be a user, once seen.
    pub(crate) fn oversized(&self) -> Option<u64> {
        self.oversized
    }

    fn step(&mut self, c: u8) {
        let term = c == b'\r' || c == b'\n';
        self.current.1 += 1;
        loop {
            match self.state {
                State::AfterCr => {
                    self.state = State::StartRecord;
                    if c == b'\n' {
                        return;
                    }
                    continue;
                }
                State::StartRecord => {
                    if term {
                        // A blank line: no record, but a spreadsheet row.
                        self.row += 1;
                        if c == b'\r' {
                            self.state = State::AfterCr;
                        }
                    } else {
                        self.starts.push_back(self.row);
                        self.current = (self.row, 1);
                        self.field = 0;
                        self.state = State::StartField;
                        continue;
                    }
                }
                State::StartField => {
                    if c == b'"' {
                        self.state = State::InQuoted;
                        self.quote = Unclosed {
                            row: self.row,
                            column: self.field + 1,
                            lines: 0,
                        };
                    } else if c == self.delimiter {
                        self.field += 1;
                    } else if term {
                        self.end_record(c);
                    } else {
                        self.state = State::InField;
                    }
                }
                State::InField => {
                    if c == self.delimiter {
                        self.field += 1;
                        self.state = State::StartField;
                    } else if term {
                        self.end_record(c);
                    }
                }
                State::InQuoted => {
                    if c == b'"' {
                        self.state = State::QuoteInQuoted;
                    } else if c == b'\n' {
                        self.quote.lines += 1;
                    }
                }
                State::QuoteInQuoted => {
                    if c == b'"' {
                        self.state = State::InQuoted;
                    } else if c == self.delimiter {
                        self.field += 1;
                        self.state = State::StartField;
                    } else if term {
                        self.end_record(c);
                    } else {
                        self.state = State::InField;
                    }
                }
            }
            return;
        }
    }

    fn end_record(&mut self, c: u8) {
        self.row += 1;
        self.state = if c == b'\r' {
            State::AfterCr
        } else {
            State::StartRecord
        };
    }

    /// The end of the input.
    pub(crate) fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            if self.state == State::InQuoted {
                self.unclosed = Some(self.quote);
            }
        }
    }

    /// The row of the next record the parser gives.
    pub(crate) fn take_row(&mut self) -> Option<u64> {
        self.starts.pop_front()
    }

    /// The quote left open at the end of the file, once it has been reached.
    pub(crate) fn unclosed(&self) -> Option<Unclosed> {
        self.unclosed
    }
}

pub(crate) type SharedTracker = Arc<Mutex<Tracker>>;

pub(crate) fn lock(t: &SharedTracker) -> std::sync::MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Passes bytes through, showing each to the tracker.
pub(crate) struct Watch<R> {
    inner: R,
    tracker: SharedTracker,
}

impl<R> Watch<R> {
    pub(crate) fn new(inner: R, tracker: SharedTracker) -> Self {
        Watch { inner, tracker }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Watch<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        let this = &mut *self;
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        let mut t = lock(&this.tracker);
        if !new.is_empty() {
            t.feed(new);
        } else if asked {
            t.finish();
        }
        if t.oversized().is_some() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "this row is longer than {} MiB, which no user is: is a quote (\") never \
                     closed, or is this not a CSV file?",
                    MAX_ROW_BYTES >> 20
                ),
            )));
        }
        Poll::Ready(Ok(()))
    }
}

/// UTF-16, when the file starts with its byte-order mark, or, without one,
/// with two text characters that have a zero byte each (`u\0s\0`): no
/// UTF-8 or Windows-1252 CSV does.
pub(crate) fn utf16(prefix: &[u8]) -> Option<&'static Encoding> {
    match prefix {
        [0xff, 0xfe, ..] => Some(encoding_rs::UTF_16LE),
        [0xfe, 0xff, ..] => Some(encoding_rs::UTF_16BE),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => Some(encoding_rs::UTF_16LE),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

/// Transcodes a UTF-16 stream (its byte-order mark removed) to UTF-8.
pub(crate) struct Utf16ToUtf8<R> {
    inner: R,
    decoder: Decoder,
    input: Box<[u8]>,
    output: Vec<u8>,
    taken: usize,
    done: bool,
}

impl<R> Utf16ToUtf8<R> {
    pub(crate) fn new(inner: R, encoding: &'static Encoding) -> Self {
        Utf16ToUtf8 {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 16 * 1024].into_boxed_slice(),
            output: Vec::new(),
            taken: 0,
            done: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Utf16ToUtf8<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.taken < this.output.len() {
                let n = buf.remaining().min(this.output.len() - this.taken);
                buf.put_slice(&this.output[this.taken..this.taken + n]);
                this.taken += n;
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut this.input);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            let last = n == 0;
            let want = this
                .decoder
                .max_utf8_buffer_length(n)
                .ok_or_else(|| io::Error::other("UTF-16 chunk too large"))?;
            this.output.clear();
            this.output.resize(want, 0);
            this.taken = 0;
            let (_, read, written, _) =
                this.decoder
                    .decode_to_utf8(&this.input[..n], &mut this.output, last);
            debug_assert_eq!(read, n);
            this.output.truncate(written);
            this.done = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(delimiter: u8, data: &[u8]) -> (Vec<u64>, Option<Unclosed>) {
        let mut t = Tracker::new(delimiter);
        // Fed in one-byte pieces: state carries across chunks.
        for b in data {
            t.feed(std::slice::from_ref(b));
        }
        t.finish();
        let mut out = Vec::new();
        while let Some(r) = t.take_row() {
            out.push(r);
        }
        (out, t.unclosed())
    }

    #[test]
    fn rows_count_blank_lines_not_quoted_newlines() {
        assert_eq!(rows(b',', b"h\na\nb\n").0, vec![1, 2, 3]);
        assert_eq!(rows(b',', b"h\r\n\r\na\r\n\n\rb").0, vec![1, 3, 6]);
        assert_eq!(
            rows(b',', b"h\n\"x\ny\n\"\"z\",\"\n\"\nb\n").0,
            vec![1, 2, 3]
        );
        assert_eq!(rows(b',', b"h\ra\rb").0, vec![1, 2, 3]);
        assert_eq!(rows(b';', b"h;\"a;\nb\";c\nd").0, vec![1, 2]);
        // A quote in the middle of a cell is a plain character.
        assert_eq!(rows(b',', b"h\n5'11\",x\nb\n").0, vec![1, 2, 3]);
        assert_eq!(rows(b',', b"\n\n").0, Vec::<u64>::new());
    }

    #[test]
    fn notices_an_unclosed_quote() {
        let (r, u) = rows(b',', b"h,i\na,\"b\nc,d\ne,f\n");
        assert_eq!(r, vec![1, 2]);
        assert_eq!(
            u,
            Some(Unclosed {
                row: 2,
                column: 2,
                lines: 3
            })
        );
        assert_eq!(rows(b',', b"h\n\"a\"\"\"\n").1, None);
        assert_eq!(rows(b',', b"h\n\"a\"").1, None);
        assert!(rows(b',', b"h\n\"a\"\"").1.is_some());
    }

    #[test]
    fn notices_a_row_too_long() {
        let mut t = Tracker::new(b',');
        t.feed(b"h\nshort\n\"");
        t.feed(&vec![b'x'; (1 << 20) - 1]);
        assert_eq!(t.oversized(), None);
        t.feed(b"x");
        assert_eq!(t.oversized(), Some(3));
    }

    #[tokio::test]
    async fn transcodes_utf16() {
        use tokio::io::AsyncReadExt;
        for (bom, enc) in [
            (&[0xff, 0xfe][..], true),
            (&[0xfe, 0xff], false),
            (&[], true),
            (&[], false),
        ] {
            let mut bytes = bom.to_vec();
            for u in "username\tZoë €\r\n".encode_utf16() {
                bytes.extend(if enc {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                });
            }
            let encoding = utf16(&bytes).unwrap();
            let mut r = Utf16ToUtf8::new(&bytes[..], encoding);
            let mut s = String::new();
            r.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, "username\tZoë €\r\n");
        }
        assert_eq!(utf16(b"us"), None);
        assert_eq!(utf16(b"u\0"), None);
        assert_eq!(utf16(b"user"), None);
        assert_eq!(utf16(b"\0\0\0\0"), None);
    }
}
