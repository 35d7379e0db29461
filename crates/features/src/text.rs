//! Framing of delimited text files: records, fields and exact physical line numbers.
//!
//! We drive `csv-core` ourselves instead of using the `csv` crate's reader because the latter reports a
//! record's line as the first *blank* line before it and miscounts after a CRLF inside quotes, and it
//! accepts an unterminated quote at the end of a file as one long field. Here every byte a record
//! consumes is seen, so a record's line is the physical line its first character is on (header = 1),
//! after blank lines, quoted newlines and CRLF alike.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How fields are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// One byte, e.g. `,`, `;`, `\t` or `|`. Fields may be quoted with `"` (RFC 4180).
    Byte(u8),
    /// Runs of spaces and tabs, no quoting (fixed-width exports such as CDNOW's).
    Whitespace,
}

/// The shape of a delimited text input.
#[derive(Debug, Clone)]
pub struct TextFormat {
    /// Field separator; `,` by default.
    pub delimiter: Delimiter,
    /// Whether the first record names the columns; `true` by default.
    pub has_header: bool,
    /// Column names to use instead of (or in the absence of) a header.
    pub column_names: Option<Vec<String>>,
}

impl Default for TextFormat {
    fn default() -> Self {
        TextFormat {
            delimiter: Delimiter::Byte(b','),
            has_header: true,
            column_names: None,
        }
    }
}

/// Opens a file for reading, transparently decompressing gzip (detected by its magic bytes, so a
/// `.csv` that is really gzip, or the reverse, is still read correctly).
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(|e| Error::io("cannot read", path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            GzipErrors { inner: decoder },
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Makes a corrupt or truncated gzip stream an `InvalidData` error with a useful message.
struct GzipErrors<R> {
    inner: R,
}

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::ErrorKind::InvalidData
            } else {
                e.kind()
            };
            std::io::Error::new(kind, format!("gzip stream is corrupt or truncated ({e})"))
        })
    }
}

/// A pull reader of records. After `next_record` returns a line number, `field(i)` gives the raw bytes
/// of field `i` and `n_fields()` their count.
pub(crate) struct RecordReader {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    delimiter: Delimiter,
    core: csv_core::Reader,
    /// The physical line the next unread byte is on.
    line: u64,
    eof: bool,
    started: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    n_fields: usize,
    line_buf: Vec<u8>,
}

impl RecordReader {
    pub(crate) fn open(path: &Path, delimiter: Delimiter) -> Result<Self> {
        let input = open_text(path)?;
        Ok(RecordReader {
            path: path.to_path_buf(),
            input,
            delimiter,
            core: csv_core::ReaderBuilder::new()
                .delimiter(match delimiter {
                    Delimiter::Byte(b) => b,
                    Delimiter::Whitespace => b' ',
                })
                .build(),
            line: 1,
            eof: false,
            started: false,
            out: vec![0; 4096],
            ends: vec![0; 64],
            n_fields: 0,
            line_buf: Vec::new(),
        })
    }

    pub(crate) fn n_fields(&self) -> usize {
        self.n_fields
    }

    pub(crate) fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.out[start..self.ends[i]]
    }

    /// Reads the next record; returns the physical line it starts on, or `None` at the end.
    pub(crate) fn next_record(&mut self) -> Result<Option<u64>> {
        if !self.started {
            self.started = true;
            self.check_encoding()?;
        }
        match self.delimiter {
            Delimiter::Byte(_) => self.next_csv_record(),
            Delimiter::Whitespace => self.next_whitespace_record(),
        }
    }

    fn fill(&mut self) -> Result<&[u8]> {
        if self.eof {
            return Ok(&[]);
        }
        let buf = self
            .input
            .fill_buf()
            .map_err(|e| Error::io("cannot read", &self.path, e))?;
        if buf.is_empty() {
            self.eof = true;
        }
        Ok(buf)
    }

    /// Rejects encodings we cannot read, with a hint, and skips a UTF-8 byte order mark.
    fn check_encoding(&mut self) -> Result<()> {
        let path = self.path.clone();
        let head = self.fill()?;
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(Error::BadFile {
                path,
                reason: "file is UTF-16 encoded; re-export it as UTF-8".to_string(),
            });
        }
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.input.consume(3);
        }
        Ok(())
    }

    fn next_csv_record(&mut self) -> Result<Option<u64>> {
        let mut out_pos = 0;
        let mut ends_pos = 0;
        let mut first_line: Option<u64> = None;
        let mut quotes = QuoteTracker::default();
        loop {
            // Borrow juggling: copy the line counter out, scan the consumed bytes, then consume.
            let mut line = self.line;
            let input: &[u8] = if self.eof {
                &[]
            } else {
                self.input
                    .fill_buf()
                    .map_err(|e| Error::io("cannot read", &self.path, e))?
            };
            let at_eof = input.is_empty();
            if at_eof {
                self.eof = true;
            }
            let (result, n_in, n_out, n_ends) =
                self.core
                    .read_record(input, &mut self.out[out_pos..], &mut self.ends[ends_pos..]);
            let delimiter = match self.delimiter {
                Delimiter::Byte(b) => b,
                Delimiter::Whitespace => b' ',
            };
            for &byte in &input[..n_in] {
                if first_line.is_none() {
                    // Terminators before the first character are blank lines (or the `\n` of a
                    // previous record's CRLF): they move the line, they do not start the record.
                    if byte == b'\n' {
                        line += 1;
                        continue;
                    }
                    if byte == b'\r' {
                        continue;
                    }
                    first_line = Some(line);
                }
                if byte == 0 {
                    return Err(Error::BadLine {
                        path: self.path.clone(),
                        line,
                        reason: "contains a NUL byte; the file is binary or corrupt".to_string(),
                    });
                }
                quotes.push(byte, delimiter);
                if byte == b'\n' {
                    line += 1;
                }
            }
            self.line = line;
            if !at_eof {
                self.input.consume(n_in);
            }
            out_pos += n_out;
            ends_pos += n_ends;
            match result {
                csv_core::ReadRecordResult::InputEmpty => continue,
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.out.len();
                    self.out.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    let start = first_line.unwrap_or(self.line);
                    if quotes.open() {
                        return Err(Error::BadLine {
                            path: self.path.clone(),
                            line: start,
                            reason: "a quoted field is never closed (unterminated '\"'); \
                                     the file may be truncated"
                                .to_string(),
                        });
                    }
                    self.n_fields = ends_pos;
                    return Ok(Some(start));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }

    fn next_whitespace_record(&mut self) -> Result<Option<u64>> {
        loop {
            self.line_buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.line_buf)
                .map_err(|e| Error::io("cannot read", &self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            let line = self.line;
            self.line += 1;
            if self.line_buf.contains(&0) {
                return Err(Error::BadLine {
                    path: self.path.clone(),
                    line,
                    reason: "contains a NUL byte; the file is binary or corrupt".to_string(),
                });
            }
            self.out.clear();
            self.ends.clear();
            for field in self
                .line_buf
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty())
            {
                self.out.extend_from_slice(field);
                self.ends.push(self.out.len());
            }
            if self.ends.is_empty() {
                continue; // a blank line
            }
            self.n_fields = self.ends.len();
            return Ok(Some(line));
        }
    }
}

/// Follows RFC 4180 quoting over a record's raw bytes, to notice a quote left open at the end of the
/// input (which `csv-core` would silently accept as one long field).
#[derive(Default)]
struct QuoteTracker {
    state: QuoteState,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum QuoteState {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl QuoteTracker {
    fn push(&mut self, byte: u8, delimiter: u8) {
        use QuoteState::*;
        let is_end = byte == delimiter || byte == b'\n' || byte == b'\r';
        self.state = match (self.state, byte) {
            (FieldStart, b'"') => Quoted,
            (FieldStart | Unquoted, _) if is_end => FieldStart,
            (FieldStart | Unquoted, _) => Unquoted,
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (QuoteInQuoted, b'"') => Quoted,
            (QuoteInQuoted, _) if is_end => FieldStart,
            (QuoteInQuoted, _) => Unquoted,
        };
    }

    fn open(&self) -> bool {
        self.state == QuoteState::Quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn records(content: &[u8], delimiter: Delimiter) -> Result<Vec<(u64, Vec<String>)>> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(content).expect("write");
        let mut reader = RecordReader::open(file.path(), delimiter)?;
        let mut all = Vec::new();
        while let Some(line) = reader.next_record()? {
            let fields = (0..reader.n_fields())
                .map(|i| String::from_utf8_lossy(reader.field(i)).into_owned())
                .collect();
            all.push((line, fields));
        }
        Ok(all)
    }

    #[test]
    fn line_numbers_are_physical_after_blank_lines_quoted_newlines_and_crlf() {
        let data = b"a,b\n1,x\n\n\n2,\"q\nq\"\r\n3,z\n\n4,w";
        let lines: Vec<u64> = records(data, Delimiter::Byte(b','))
            .expect("reads")
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(lines, vec![1, 2, 5, 7, 9]);
    }

    #[test]
    fn crlf_files_number_lines_like_lf_files() {
        let data = b"a,b\r\n1,x\r\n\r\n2,y\r\n";
        let got = records(data, Delimiter::Byte(b',')).expect("reads");
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(got[2].1, vec!["2", "y"]);
    }

    #[test]
    fn an_unterminated_quote_at_the_end_is_an_error() {
        let err = records(b"a,b\n1,\"x\n2,y\n", Delimiter::Byte(b',')).expect_err("must fail");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(err.to_string().contains("never closed"), "{err}");
    }

    #[test]
    fn escaped_quotes_and_literal_quotes_are_not_unterminated() {
        let got = records(b"a,b\n\"say \"\"hi\"\"\",12\" vinyl\n", Delimiter::Byte(b',')).expect("reads");
        assert_eq!(got[1].1, vec!["say \"hi\"", "12\" vinyl"]);
    }

    #[test]
    fn nul_bytes_are_rejected_with_their_line() {
        let err = records(b"a,b\n1,2\n3,\x004\n", Delimiter::Byte(b',')).expect_err("must fail");
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn utf16_files_are_named_as_such() {
        let err = records(b"\xFF\xFEa\x00,\x00", Delimiter::Byte(b',')).expect_err("must fail");
        assert!(err.to_string().contains("UTF-16"), "{err}");
    }

    #[test]
    fn a_utf8_bom_is_skipped() {
        let got = records(b"\xEF\xBB\xBFa,b\n1,2\n", Delimiter::Byte(b',')).expect("reads");
        assert_eq!(got[0].1, vec!["a", "b"]);
    }

    #[test]
    fn whitespace_delimited_files_split_on_runs_of_blanks() {
        let got = records(
            b" id  date\r\n 00001 19970101 \r\n\r\n 00002\t19970102\r\n",
            Delimiter::Whitespace,
        )
        .expect("reads");
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(got[1].1, vec!["00001", "19970101"]);
    }

    #[test]
    fn gzip_is_detected_by_content() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"a,b\n1,2\n").expect("compress");
        let gz = encoder.finish().expect("finish");
        let got = records(&gz, Delimiter::Byte(b',')).expect("reads");
        assert_eq!(got[1], (2, vec!["1".to_string(), "2".to_string()]));
        let err = records(&gz[..gz.len() - 6], Delimiter::Byte(b',')).expect_err("truncated gzip");
        assert!(err.to_string().contains("gzip"), "{err}");
    }
}
