//! Workbooks read directly: an `.xlsx` and an `.ods` of 1,000 users import
//! exactly as the same data as CSV (the portal receives the same bodies);
//! the awkward cells each have a test; a damaged workbook is named as such.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::support::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::Value;

/// A cell to write.
enum Cell {
    Text(String),
    Number(f64),
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

/// The 1,000 users, as rows of cells: zip codes with leading zeros (text),
/// phone numbers stored as numbers.
fn users() -> Vec<Vec<Cell>> {
    let mut rows = vec![
        [
            "username",
            "email",
            "first_name",
            "zip_code",
            "phone_number",
            "group",
            "language",
        ]
        .map(text)
        .into(),
    ];
    for i in 1..=1000_u32 {
        let k = (i % 3) as usize;
        rows.push(vec![
            text(&format!("user{i:04}")),
            text(&format!("user{i:04}@westeros.com")),
            text(&format!("Zoë {i}")),
            text(&format!("{:05}", i * 7)),
            Cell::Number(15_145_550_000.0 + f64::from(i)),
            text(["Winterfell", "Casterly Rock", ""][k]),
            text(["en", "FR", ""][k]),
        ]);
    }
    rows
}

/// The same rows as the CSV a person would write of them.
fn csv_of(rows: &[Vec<Cell>]) -> String {
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(s) => s.clone(),
                Cell::Number(n) => format!("{n:.0}"),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn write_xlsx(path: &Path, rows: &[Vec<Cell>]) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Users").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (u32::try_from(r).unwrap(), u16::try_from(c).unwrap());
            match cell {
                Cell::Text(s) if s.is_empty() => {}
                Cell::Text(s) => {
                    sheet.write_string(r, c, s).unwrap();
                }
                Cell::Number(n) => {
                    sheet.write_number(r, c, *n).unwrap();
                }
            }
        }
    }
    book.save(path).unwrap();
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An `OpenDocument` spreadsheet, as `LibreOffice` writes its essentials.
fn write_ods(path: &Path, rows: &[Vec<Cell>]) {
    use zip::write::SimpleFileOptions;
    let mut content = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Users">"#,
    );
    for row in rows {
        content.push_str("<table:table-row>");
        for cell in row {
            match cell {
                Cell::Text(s) if s.is_empty() => content.push_str("<table:table-cell/>"),
                Cell::Text(s) => write!(
                    content,
                    r#"<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>"#,
                    xml_escape(s)
                )
                .unwrap(),
                Cell::Number(n) => write!(
                    content,
                    r#"<table:table-cell office:value-type="float" office:value="{n}"><text:p>{n}</text:p></table:table-cell>"#
                )
                .unwrap(),
            }
        }
        content.push_str("</table:table-row>");
    }
    content.push_str("</table:table></office:spreadsheet></office:body></office:document-content>");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
    )
    .unwrap();
    zip.start_file("content.xml", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap();
}

/// The POST bodies a sandbox received for a file, by username.
fn bodies_for(name: &str, write: impl Fn(&Path)) -> Vec<Value> {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.path(name);
    write(&path);
    ws.cmd(&["-c", "16", "-r", "0", "-q"], &path)
        .assert()
        .success();
    let mut bodies = sb.post_bodies();
    bodies.sort_by(|a, b| {
        a["user"]["username"]
            .as_str()
            .cmp(&b["user"]["username"].as_str())
    });
    bodies
}

#[test]
fn xlsx_and_ods_import_exactly_like_the_same_csv() {
    let rows = users();
    let from_csv = bodies_for("users.csv", |p| std::fs::write(p, csv_of(&rows)).unwrap());
    assert_eq!(from_csv.len(), 1000);
    assert_eq!(from_csv[0]["user"]["zip_code"], "00007");
    assert_eq!(from_csv[0]["user"]["phone_number"], "15145550001");
    let from_xlsx = bodies_for("users.xlsx", |p| write_xlsx(p, &rows));
    assert_eq!(from_xlsx, from_csv, "the xlsx sends what the CSV sends");
    let from_ods = bodies_for("users.ods", |p| write_ods(p, &rows));
    assert_eq!(from_ods, from_csv, "the ods sends what the CSV sends");
}

#[test]
fn awkward_cells_read_as_a_person_reads_them() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.path("awkward.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["username", "email", "zip_code", "phone_number", "job_title"]
        .iter()
        .enumerate()
    {
        sheet
            .write_string(0, u16::try_from(c).unwrap(), *h)
            .unwrap();
    }
    sheet.write_string(1, 0, "jon").unwrap();
    sheet.write_string(1, 1, "jon@westeros.com").unwrap();
    sheet.write_string(1, 2, "01234").unwrap(); // a cell formatted as text
    sheet.write_number(1, 3, 15_145_550_123.0).unwrap(); // 1.5145550123E10 on screen
    sheet
        .write_formula(
            1,
            4,
            Formula::new("=\"Lord \"&\"Commander\"").set_result("Lord Commander"),
        )
        .unwrap();
    book.save(&path).unwrap();
    ws.cmd(&["-q"], &path).assert().success();
    let u = &sb.created()[0];
    assert_eq!(u["zip_code"], "01234", "leading zeros kept");
    assert_eq!(u["phone_number"], "15145550123", "no .0, no exponent");
    assert_eq!(
        u["job_title"], "Lord Commander",
        "the formula's cached value"
    );
}

#[test]
fn a_date_in_a_text_column_names_its_cell() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.path("dates.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "username").unwrap();
    sheet.write_string(0, 1, "email").unwrap();
    sheet.write_string(0, 2, "zip_code").unwrap();
    for r in 1..=6 {
        sheet.write_string(r, 0, format!("u{r}")).unwrap();
        sheet.write_string(r, 1, format!("u{r}@x.io")).unwrap();
    }
    let date = ExcelDateTime::from_ymd(2026, 1, 2).unwrap();
    sheet
        .write_datetime_with_format(6, 2, &date, &Format::new().set_num_format("yyyy-mm-dd"))
        .unwrap();
    book.save(&path).unwrap();
    ws.cmd(&[], &path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cell C7 holds a date"));
    assert!(sb.received().is_empty(), "nothing sent");
}

/// A typical HR sheet: a hire date in a column the import does not know is
/// ignored like any unknown column, not an error.
#[test]
fn a_date_in_an_ignored_column_is_ignored() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.path("hr.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, name) in (0u16..).zip(["username", "email", "hire_date"]) {
        sheet.write_string(0, c, name).unwrap();
    }
    let date = ExcelDateTime::from_ymd(2026, 1, 2).unwrap();
    let format = Format::new().set_num_format("yyyy-mm-dd");
    for r in 1..=3 {
        sheet.write_string(r, 0, format!("u{r}")).unwrap();
        sheet.write_string(r, 1, format!("u{r}@x.io")).unwrap();
        sheet
            .write_datetime_with_format(r, 2, &date, &format)
            .unwrap();
    }
    book.save(&path).unwrap();
    let out = run_code(&mut ws.cmd(&["-r", "0"], &path), 0);
    assert_has(&stderr_of(&out), "unknown column \"hire_date\" is ignored");
    assert_has(&stderr_of(&out), "3 rows: 3 created");
    assert!(
        sb.post_bodies()
            .iter()
            .all(|b| b["user"].get("hire_date").is_none()),
        "{:?}",
        sb.post_bodies()
    );
}

#[test]
fn the_sheet_can_be_named_and_failed_rows_are_written_as_csv() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.path("two.xlsx");
    let mut book = Workbook::new();
    let first = book.add_worksheet();
    first.write_string(0, 0, "notes").unwrap();
    let second = book.add_worksheet();
    second.set_name("Leavers").unwrap();
    second.write_string(0, 0, "username").unwrap();
    second.write_string(0, 1, "email").unwrap();
    second.write_string(1, 0, "jon").unwrap();
    second.write_string(1, 1, "jon@westeros.com").unwrap();
    second.write_string(3, 0, "bad name").unwrap();
    second.write_string(3, 1, "bad@westeros.com").unwrap();
    book.save(&path).unwrap();
    let out = ws
        .cmd(&["--sheet", "leavers", "--failed", "failed.csv"], &path)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = stdout_of(&out);
    // Row 4 of the sheet (row 3 is empty): the spreadsheet's numbers.
    assert_has(
        &stdout,
        "bad@westeros.com... Failed: line 4: username \"bad name\"",
    );
    assert_has(&stderr_of(&out), "written as CSV");
    assert_eq!(
        std::fs::read_to_string(ws.path("failed.csv")).unwrap(),
        "username,email\nbad name,bad@westeros.com\n"
    );
    assert_eq!(sb.created().len(), 1);
    ws.cmd(&["--sheet", "Nope"], &path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "has no sheet \"Nope\"; its sheets are: Sheet1, Leavers",
        ));
}

#[test]
fn a_damaged_workbook_is_named_and_nothing_is_sent() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.write("broken.xlsx", b"PK\x03\x04 this is not a real workbook");
    ws.cmd(&[], &path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "broken.xlsx cannot be read as a workbook",
        ))
        .stderr(predicates::str::contains("save it as CSV"));
    assert!(sb.received().is_empty());
}

/// A workbook's own problems name it a workbook, not a CSV file.
#[test]
fn a_workbook_without_a_usable_header_is_named_a_workbook() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let empty = ws.path("empty.xlsx");
    write_xlsx(&empty, &[]);
    let out = run_code(&mut ws.cmd(&[], &empty), 2);
    assert_has(
        &stderr_of(&out),
        &format!("workbook {} is empty", empty.display()),
    );
    let typo = ws.path("typo.xlsx");
    write_xlsx(
        &typo,
        &[
            vec![text("username"), text("emial")],
            vec![text("jon"), text("jon@x.io")],
        ],
    );
    let out = run_code(&mut ws.cmd(&[], &typo), 2);
    assert_has(
        &stderr_of(&out),
        &format!(
            "workbook {}, line 1: the header row has no \"email\" column",
            typo.display()
        ),
    );
    assert!(sb.received().is_empty());
}
