//! Workbooks read directly (`.xlsx`, `.xlsm`, `.xls`, `.ods`) with calamine:
//! the first sheet or `--sheet NAME`, its cells as a person reads them.
//! A workbook is not streamed: the sheet is read whole, then its rows go
//! through the same header rules, row rules and pipeline as a CSV's.

use std::path::Path;

use calamine::{Data, Range, Reader, open_workbook_auto};

use super::columns::Header;
use super::mapping::Reading;
use super::{InputError, ReadAll, Record};

/// The file extensions read as workbooks.
const EXTENSIONS: [&str; 4] = ["xlsx", "xlsm", "xls", "ods"];

/// A path whose extension names a workbook.
pub(crate) fn is_workbook(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|w| w.eq_ignore_ascii_case(e)))
}

/// The workbook's sheet, read: its header and every data row, each on its
/// spreadsheet row number. Returns the header warnings too.
pub(crate) fn read(
    path: &Path,
    sheet: Option<&str>,
    need: impl Into<Reading>,
) -> Result<(Header, ReadAll, Vec<String>), InputError> {
    let shown = path.display().to_string();
    let unreadable = |reason: String| InputError::Workbook {
        path: shown.clone(),
        reason,
    };
    let (name, range) = open_sheet(path, sheet).map_err(unreadable)?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut rows = range.rows().enumerate().map(|(i, cells)| {
        // The row number the spreadsheet shows.
        let line = u64::from(first_row) + i as u64 + 1;
        (line, cells)
    });
    let sheet_text = SheetText {
        path: &shown,
        first_col,
    };
    // The header is the first row holding anything.
    let (header_line, header_cells) = loop {
        let Some((line, cells)) = rows.next() else {
            return Err(InputError::Empty { path: shown });
        };
        let cells = sheet_text.cells(line, cells, &|_| true)?;
        if cells.iter().any(|c| !c.trim().is_empty()) {
            break (line, cells);
        }
    };
    let (header, warnings) =
        Header::parse(trim_end(header_cells), need).map_err(|source| InputError::Header {
            path: shown.clone(),
            line: header_line,
            source,
        })?;
    let records = records(rows, &header, &sheet_text)?;
    let warnings = warnings
        .into_iter()
        .map(|w| format!("workbook {shown}, sheet \"{name}\", row {header_line}: {w}"))
        .collect();
    Ok((
        header,
        ReadAll {
            records,
            header_line,
            path: shown,
        },
        warnings,
    ))
}

/// How a sheet's cells become text, naming the cell that cannot.
struct SheetText<'a> {
    path: &'a str,
    first_col: u32,
}

impl SheetText<'_> {
    /// The row's cells as text. `used`: whether a column is sent (the
    /// header row: all are). A cell of a column that is not is read as the
    /// spreadsheet shows it, a date too.
    fn cells(
        &self,
        line: u64,
        cells: &[Data],
        used: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<String>, InputError> {
        cells
            .iter()
            .enumerate()
            .map(|(c, d)| {
                if !used(c) {
                    return Ok(d.to_string());
                }
                cell_text(d).map_err(|what| InputError::Cell {
                    path: self.path.to_owned(),
                    cell: cell_name(
                        u32::try_from(c)
                            .unwrap_or(u32::MAX)
                            .saturating_add(self.first_col),
                        line,
                    ),
                    what,
                })
            })
            .collect()
    }
}

/// The user rows after the header: empty rows skipped, the sheet's extra
/// empty cells past the header's columns dropped, derived values filled in.
fn records<'a>(
    rows: impl Iterator<Item = (u64, &'a [Data])>,
    header: &Header,
    sheet_text: &SheetText<'_>,
) -> Result<Vec<Record>, InputError> {
    let width = header.len();
    let mut records = Vec::new();
    for (line, cells) in rows {
        let mut fields = sheet_text.cells(line, cells, &|c| header.is_used(c))?;
        if fields.iter().all(|c| c.trim().is_empty()) {
            continue; // an empty row of the sheet
        }
        // A sheet's rows are as wide as its widest: cells past the header's
        // columns that are empty are not cells of the row.
        while fields.len() > width && fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        let mut record = Record::new(line, fields);
        record.derive(header);
        records.push(record);
    }
    Ok(records)
}

/// The sheet named `sheet` (exactly, else in any case), or the first.
fn open_sheet(path: &Path, sheet: Option<&str>) -> Result<(String, Range<Data>), String> {
    let mut book = open_workbook_auto(path).map_err(|e| why(&e))?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(s)))
            .cloned()
            .ok_or_else(|| format!("has no sheet \"{s}\"; its sheets are: {}", names.join(", ")))?,
        None => names.first().cloned().ok_or("has no sheet")?,
    };
    let range = book.worksheet_range(&name).map_err(|e| why(&e))?;
    Ok((name, range))
}

/// The header's cells without the empty ones past its last named column.
fn trim_end(mut cells: Vec<String>) -> Vec<String> {
    while cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    cells
}

/// A cell as a person reads it: text as it is (a cell formatted as text
/// keeps its leading zeros), a whole number without `.0` or an exponent.
/// A date or an error is not text a column of users takes.
fn cell_text(d: &Data) -> Result<String, String> {
    Ok(match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
            // Exact: whole and under 2^53.
            #[allow(clippy::cast_possible_truncation)]
            let whole = *f as i64;
            whole.to_string()
        }
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(_) | Data::DateTimeIso(_) => {
            return Err(
                "holds a date, and this column takes text: format the column as text, or type \
                 the value again"
                    .into(),
            );
        }
        Data::DurationIso(_) => return Err("holds a duration, not text".into()),
        Data::Error(e) => return Err(format!("holds the spreadsheet error {e}: fix the formula")),
    })
}

/// `C7`: the column's letters and the row's number.
fn cell_name(col: u32, line: u64) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &line.to_string()
}

/// Why calamine could not read it, in a sentence that says what to do.
fn why(e: &calamine::Error) -> String {
    let text = e.to_string();
    if text.to_lowercase().contains("password") {
        "is password-protected: save it again without a password (or as CSV), then run again".into()
    } else {
        format!(
            "cannot be read as a workbook ({text}): is it damaged, or not the kind its name says? \
             Open it and save it again, or save it as CSV"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_a_person_reads_them() {
        assert_eq!(
            cell_text(&Data::Float(15_145_550_123.0)).unwrap(),
            "15145550123"
        );
        assert_eq!(cell_text(&Data::Float(1.5)).unwrap(), "1.5");
        assert_eq!(cell_text(&Data::Int(42)).unwrap(), "42");
        assert_eq!(cell_text(&Data::String("01234".into())).unwrap(), "01234");
        assert_eq!(cell_text(&Data::Empty).unwrap(), "");
        assert!(cell_text(&Data::DateTimeIso("2026-11-25".into())).is_err());
    }

    #[test]
    fn cells_are_named_like_a_spreadsheet_does() {
        assert_eq!(cell_name(0, 1), "A1");
        assert_eq!(cell_name(2, 7), "C7");
        assert_eq!(cell_name(25, 2), "Z2");
        assert_eq!(cell_name(26, 2), "AA2");
        assert_eq!(cell_name(701, 3), "ZZ3");
    }

    #[test]
    fn workbooks_are_known_by_their_extension() {
        assert!(is_workbook(Path::new("HR.XLSX")));
        assert!(is_workbook(Path::new("a.ods")));
        assert!(!is_workbook(Path::new("a.csv")));
    }
}
