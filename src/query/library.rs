//! The query library: `queries/*.sql`, one file per question.
//!
//! Each file starts with a comment header: the first line says what the query answers (shown by
//! `replaylake query --list`), further lines explain it, and `-- @param NAME DEFAULT  doc` lines
//! declare parameters. The SQL refers to them as `${NAME}`; [`LibraryQuery::render`] replaces
//! each placeholder textually (the same substitution the DuckDB and Spark test harnesses do), so
//! the files run unchanged in DataFusion, DuckDB and Spark SQL. A parameter whose default is a
//! quoted string (`'2026-01-01'`) takes any text, quoted and escaped; any other parameter takes a
//! number only, so no value can change the shape of the SQL.
//!
//! The files are read from a `queries/` directory at run time; the copies compiled into the binary
//! ([`builtin`]) serve `--list` and `--file NAME` when no such directory is at hand.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The library as compiled into the binary, from the repository's `queries/` directory.
pub const BUILTIN: &[(&str, &str)] = &[
    ("clicks", include_str!("../../queries/clicks.sql")),
    (
        "console_errors",
        include_str!("../../queries/console_errors.sql"),
    ),
    (
        "daily_rollup",
        include_str!("../../queries/daily_rollup.sql"),
    ),
    ("dead_clicks", include_str!("../../queries/dead_clicks.sql")),
    (
        "dead_clicks_by_element",
        include_str!("../../queries/dead_clicks_by_element.sql"),
    ),
    (
        "failed_requests",
        include_str!("../../queries/failed_requests.sql"),
    ),
    ("page_views", include_str!("../../queries/page_views.sql")),
    ("rage_clicks", include_str!("../../queries/rage_clicks.sql")),
    (
        "rage_clicks_by_element",
        include_str!("../../queries/rage_clicks_by_element.sql"),
    ),
    (
        "session_summary",
        include_str!("../../queries/session_summary.sql"),
    ),
    (
        "slowest_requests",
        include_str!("../../queries/slowest_requests.sql"),
    ),
    (
        "top_clicked_elements",
        include_str!("../../queries/top_clicked_elements.sql"),
    ),
    ("url_paths", include_str!("../../queries/url_paths.sql")),
];

/// A declared parameter of a library query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// The default as written in the header (SQL text: a number or a quoted string).
    pub default: String,
    /// Whether the parameter is a string (its default is quoted); otherwise it is a number.
    pub quoted: bool,
    pub doc: String,
}

/// One query of the library.
#[derive(Debug, Clone)]
pub struct LibraryQuery {
    /// File stem, e.g. `rage_clicks`.
    pub name: String,
    /// First header line: what the query answers.
    pub summary: String,
    /// The rest of the header's prose.
    pub description: String,
    pub params: Vec<Param>,
    /// The file's full text, placeholders included.
    pub text: String,
    /// Where it was read from (a path, or `builtin`).
    pub origin: String,
}

fn query_error(name: &str, message: impl Into<String>) -> Error {
    Error::Query {
        name: name.to_string(),
        message: message.into(),
    }
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Splits `'it''s' rest` or `42 rest` into (value, rest).
fn split_default(s: &str) -> Option<(&str, &str)> {
    if let Some(body) = s.strip_prefix('\'') {
        let mut i = 0;
        let b = body.as_bytes();
        while i < b.len() {
            if b[i] == b'\'' {
                if b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return Some((&s[..i + 2], &s[i + 2..]));
            }
            i += 1;
        }
        None
    } else {
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        (end > 0).then(|| (&s[..end], &s[end..]))
    }
}

/// Whether `s` is a plain SQL number literal (optionally negative, decimal, exponent).
fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.parse::<f64>().is_ok_and(f64::is_finite)
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
}

/// A SQL string literal for `s`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl LibraryQuery {
    /// Parses a query file's text.
    pub fn parse(name: &str, text: &str, origin: impl Into<String>) -> Result<Self> {
        let mut summary = None;
        let mut description = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            let Some(comment) = line.strip_prefix("--") else {
                if line.is_empty() {
                    continue;
                }
                break;
            };
            let comment = comment.trim();
            if let Some(decl) = comment.strip_prefix("@param") {
                let decl = decl.trim_start();
                let pname_end = decl.find(char::is_whitespace).unwrap_or(decl.len());
                let pname = &decl[..pname_end];
                if !is_ident(pname) {
                    return Err(query_error(name, format!("bad @param line: {line:?}")));
                }
                let (default, doc) = split_default(decl[pname_end..].trim_start())
                    .ok_or_else(|| query_error(name, format!("@param {pname} has no default")))?;
                let quoted = default.starts_with('\'');
                if !quoted && !is_number(default) {
                    return Err(query_error(
                        name,
                        format!(
                            "@param {pname}: default {default:?} is neither a number nor a quoted string"
                        ),
                    ));
                }
                if params.iter().any(|p| p.name == pname) {
                    return Err(query_error(name, format!("@param {pname} declared twice")));
                }
                params.push(Param {
                    name: pname.to_string(),
                    default: default.to_string(),
                    quoted,
                    doc: doc.trim().to_string(),
                });
            } else if summary.is_none() {
                if !comment.is_empty() {
                    summary = Some(comment.to_string());
                }
            } else {
                description.push(comment.to_string());
            }
        }
        let summary = summary.ok_or_else(|| {
            query_error(
                name,
                "the file has no header comment saying what it answers",
            )
        })?;
        let q = LibraryQuery {
            name: name.to_string(),
            summary,
            description: description.join("\n").trim().to_string(),
            params,
            text: text.to_string(),
            origin: origin.into(),
        };
        // Every placeholder must be declared.
        for p in placeholders(text) {
            if !q.params.iter().any(|d| d.name == p) {
                return Err(query_error(
                    name,
                    format!("${{{p}}} is used but not declared with -- @param"),
                ));
            }
        }
        Ok(q)
    }

    /// Reads one query file; its name is the file stem.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&name, &text, path.display().to_string())
    }

    /// The SQL with every `${name}` replaced by the given value or the declared default.
    /// String parameters are quoted; number parameters must be numbers.
    pub fn render(&self, values: &[(String, String)]) -> Result<String> {
        for (k, _) in values {
            if !self.params.iter().any(|p| &p.name == k) {
                let known: Vec<_> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(query_error(
                    &self.name,
                    format!("unknown parameter {k:?} (parameters: {})", known.join(", ")),
                ));
            }
        }
        let mut resolved = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let v = match values.iter().rev().find(|(k, _)| k == &p.name) {
                None => p.default.clone(),
                Some((_, v)) if p.quoted => quote(v),
                Some((_, v)) if is_number(v.trim()) => v.trim().to_string(),
                Some((_, v)) => {
                    return Err(query_error(
                        &self.name,
                        format!("parameter {} takes a number, got {v:?}", p.name),
                    ));
                }
            };
            resolved.push((p.name.clone(), v));
        }
        substitute(&self.text, &resolved, &self.name)
    }
}

/// Names of the `${name}` placeholders in `text`, in order (with repeats).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) if is_ident(&after[..j]) => {
                out.push(after[..j].to_string());
                rest = &after[j + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Replaces each `${name}` with its SQL text from `values`; an unknown name is an error.
pub fn substitute(text: &str, values: &[(String, String)], query: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) if is_ident(&after[..j]) => {
                let key = &after[..j];
                let v = values.iter().find(|(k, _)| k == key).ok_or_else(|| {
                    query_error(
                        query,
                        format!("no value for ${{{key}}} (give --param {key}=VALUE)"),
                    )
                })?;
                out.push_str(&v.1);
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Substitutes `--param` values into ad hoc SQL: numbers as they are, anything else quoted.
pub fn render_adhoc(sql: &str, values: &[(String, String)]) -> Result<String> {
    let resolved: Vec<(String, String)> = values
        .iter()
        .map(|(k, v)| {
            let v = if is_number(v.trim()) {
                v.trim().to_string()
            } else {
                quote(v)
            };
            (k.clone(), v)
        })
        .collect();
    substitute(sql, &resolved, "(command line)")
}

/// The queries compiled into the binary, by name.
pub fn builtin() -> Result<Vec<LibraryQuery>> {
    BUILTIN
        .iter()
        .map(|(name, text)| LibraryQuery::parse(name, text, "builtin"))
        .collect()
}

/// Whether a SQL text declares parameters the library's way (`-- @param` in its header).
pub fn declares_params(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("--"))
        .any(|l| l.trim_start_matches('-').trim_start().starts_with("@param"))
}

/// A file passed over by [`load_dir_lenient`], with the reason.
pub type Skipped = (PathBuf, String);

/// Every `*.sql` file of a directory that is a library query, sorted by name, and the others
/// with the reason they are not.
pub fn load_dir_lenient(dir: &Path) -> Result<(Vec<LibraryQuery>, Vec<Skipped>)> {
    let mut ok = vec![];
    let mut skipped = vec![];
    for p in sql_files(dir)? {
        match LibraryQuery::from_file(&p) {
            Ok(q) => ok.push(q),
            Err(e) => skipped.push((p, e.to_string())),
        }
    }
    Ok((ok, skipped))
}

fn sql_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every `*.sql` file of a directory, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<LibraryQuery>> {
    sql_files(dir)?
        .iter()
        .map(|p| LibraryQuery::from_file(p))
        .collect()
}

/// Finds a query: a path to a `.sql` file, else a name (with or without `.sql`) in `dir` (when
/// given), else in the built-in library.
pub fn find(spec: &str, dir: Option<&Path>) -> Result<LibraryQuery> {
    let path = Path::new(spec);
    if path.is_file() {
        return LibraryQuery::from_file(path);
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(dir) = dir {
        let p = dir.join(format!("{name}.sql"));
        if p.is_file() {
            return LibraryQuery::from_file(&p);
        }
    }
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => LibraryQuery::parse(n, text, "builtin"),
        None => {
            let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
            if let Some(dir) = dir
                && let Ok(entries) = std::fs::read_dir(dir)
            {
                names.extend(entries.filter_map(|e| {
                    let p = e.ok()?.path();
                    (p.extension()? == "sql")
                        .then(|| p.file_stem()?.to_str().map(str::to_string))?
                }));
            }
            let hint = crate::error::did_you_mean(&name, names.iter().map(String::as_str))
                .map(|n| format!(": did you mean {n}?"))
                .unwrap_or_default();
            Err(Error::Usage(format!(
                "no query file {spec:?} and no library query named {name:?}{hint} (see \
                 `replaylake query --list`)"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "-- What it answers.\n-- More text.\n--\n-- @param n 3  a number\n\
-- @param day '2026-01-01'  a date\nSELECT ${n} AS n, ${day} AS d, '${not a param}' AS s\n";

    #[test]
    fn parses_header_and_renders_defaults_and_values() {
        let q = LibraryQuery::parse("t", Q, "test").unwrap();
        assert_eq!(q.summary, "What it answers.");
        assert_eq!(q.description, "More text.");
        assert_eq!(q.params.len(), 2);
        assert_eq!(q.params[1].default, "'2026-01-01'");
        assert!(q.params[1].quoted);
        assert_eq!(q.params[0].doc, "a number");
        let sql = q.render(&[]).unwrap();
        assert!(sql.contains("SELECT 3 AS n, '2026-01-01' AS d, '${not a param}'"));
        let sql = q
            .render(&[("n".into(), "7.5".into()), ("day".into(), "it's".into())])
            .unwrap();
        assert!(sql.contains("SELECT 7.5 AS n, 'it''s' AS d"));
    }

    #[test]
    fn rejects_bad_values_and_undeclared_placeholders() {
        let q = LibraryQuery::parse("t", Q, "test").unwrap();
        assert!(q.render(&[("n".into(), "1; DROP".into())]).is_err());
        assert!(q.render(&[("nope".into(), "1".into())]).is_err());
        assert!(LibraryQuery::parse("t", "-- x\nSELECT ${y}", "test").is_err());
        assert!(LibraryQuery::parse("t", "SELECT 1", "test").is_err());
    }

    #[test]
    fn builtin_library_parses_and_every_query_renders() {
        let all = builtin().unwrap();
        assert_eq!(all.len(), BUILTIN.len());
        for q in all {
            let sql = q.render(&[]).unwrap();
            assert!(!sql.contains("${"), "{}", q.name);
        }
    }
}
