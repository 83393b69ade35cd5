//! One error type for the whole tool, and the one place that renders it.
//!
//! Every error an analyst can cause carries, where the input has one, the
//! location it came from (file, line, column) and a hint of what to do. The
//! renderer shows the offending line with a caret under it, as rustc does:
//! analysts fix what they can see.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad flags, a bad project (YAML, SQL, names, cycles) or a bad query: exit 2.
    Usage,
    /// A model or a landing failed while running: exit 1.
    Failed,
}

/// A place in an input file. Lines and columns start at 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// How many characters to underline (at least one).
    pub len: usize,
    /// The text of the line, kept by declarations so that an error found
    /// later (a test that fails, a column missing) shows it without
    /// reading the file again.
    pub text: Option<String>,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line,
            column,
            len: 1,
            text: None,
        }
    }

    /// Keep the line's text, taken from `file_text`, the whole file.
    pub fn in_text(self, file_text: &str) -> Self {
        let line = line_of(file_text, self.line);
        self.with_text(line.as_deref())
    }

    /// Keep `line`, the text of the line (from a file's lines at hand:
    /// finding it in the whole text again for each item of a long file
    /// would be quadratic).
    pub fn with_text(mut self, line: Option<&str>) -> Self {
        self.text = line.map(|l| l.trim_end_matches('\r').to_string());
        self
    }

    pub fn with_len(mut self, len: usize) -> Self {
        self.len = len.max(1);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        Ok(())
    }
}

/// What happened, as a value: set once where the error enters `mart`
/// (from DataFusion, from the file system), so that callers act on it (a
/// hint to give, a retry, a SQLSTATE to answer with) without reading the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Other,
    /// The memory limit was reached where the engine cannot spill.
    OutOfMemory,
    /// A division by zero in a query.
    DivideByZero,
    /// A value that does not convert to a type (a cast, or text read as a number).
    Cast,
    /// A column a query names that its tables do not have.
    UnknownColumn(String),
    /// A table a query names that is not registered (as the query wrote it).
    UnknownTable(String),
    /// A statement that would write, refused by a read-only session.
    ReadOnly,
    /// SQL that does not parse.
    Syntax,
    /// A file could not be read or written.
    Io(std::io::ErrorKind),
    /// A database connection failed or was lost: worth a retry.
    Connection,
}

impl Cause {
    /// What a DataFusion error says happened. DataFusion reports unknown
    /// tables and refused statements only as text: this is the one place
    /// that reads it.
    pub fn of(err: &datafusion::error::DataFusionError) -> Cause {
        use datafusion::arrow::error::ArrowError as A;
        use datafusion::common::SchemaError;
        use datafusion::error::DataFusionError as E;
        for e in err.iter().chain([err.find_root()]) {
            if let E::SchemaError(e, _) = e
                && let SchemaError::FieldNotFound { field, .. } = e.as_ref()
            {
                return Cause::UnknownColumn(field.name.clone());
            }
        }
        match err.find_root() {
            E::ResourcesExhausted(_) => Cause::OutOfMemory,
            E::ArrowError(e, _) => match e.as_ref() {
                A::DivideByZero => Cause::DivideByZero,
                A::CastError(_) | A::ParseError(_) => Cause::Cast,
                A::IoError(_, e) => Cause::Io(e.kind()),
                _ => Cause::Other,
            },
            E::IoError(e) => Cause::Io(e.kind()),
            E::SQL(..) => Cause::Syntax,
            E::Plan(m)
                if m.starts_with("DDL not supported") || m.starts_with("DML not supported") =>
            {
                Cause::ReadOnly
            }
            E::Plan(m) => match m.strip_prefix("table '").and_then(|r| r.split('\'').next()) {
                Some(name) if m.ends_with("' not found") => Cause::UnknownTable(name.to_string()),
                _ => Cause::Other,
            },
            // The CSV and JSON readers report a value they cannot read as
            // the column's type as text of an external error.
            other => {
                let m = other.to_string();
                let cast = ["Error while parsing value", "Cannot cast", "not a valid"];
                match cast.iter().any(|c| m.contains(c)) {
                    true => Cause::Cast,
                    false => Cause::Other,
                }
            }
        }
    }
}

/// An error: boxed, so that a `Result` stays one pointer wide on the
/// happy path; its details are read and changed through it.
#[derive(Debug)]
pub struct Error(Box<Details>);

#[derive(Debug, Clone)]
pub struct Details {
    pub kind: Kind,
    pub cause: Cause,
    pub message: String,
    pub location: Option<Location>,
    /// The text of the line at `location`, to show under the message.
    pub source_line: Option<String>,
    pub help: Option<String>,
    /// Further places that matter (the first declaration of a duplicate, say).
    pub notes: Vec<(String, Location)>,
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error(Box::new(Details {
            kind: Kind::Usage,
            cause: Cause::Other,
            message: message.into(),
            location: None,
            source_line: None,
            help: None,
            notes: Vec::new(),
        }))
    }

    pub fn failed(message: impl Into<String>) -> Self {
        let mut err = Error::usage(message);
        err.kind = Kind::Failed;
        err
    }

    /// Point the error at `location`; `text` is the whole file, if at hand,
    /// from which the offending line is taken for display.
    pub fn at(mut self, location: Location, text: Option<&str>) -> Self {
        self.source_line = match text {
            Some(t) => line_of(t, location.line),
            None => location.text.clone(),
        };
        self.location = Some(location);
        self
    }

    /// Keep a location already found (or none).
    pub fn at_opt(mut self, location: Option<Location>, source_line: Option<String>) -> Self {
        self.location = location;
        self.source_line = source_line;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, message: impl Into<String>, location: Location) -> Self {
        self.notes.push((message.into(), location));
        self
    }

    /// An I/O error on `path`, as something the user must look at.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        Error::failed(format!("cannot {action} `{}`: {err}", path.display()))
            .caused_by(Cause::Io(err.kind()))
    }

    /// The same error, as bad input (a query or model that does not plan):
    /// exit status 2.
    pub fn into_usage(mut self) -> Self {
        self.kind = Kind::Usage;
        self
    }

    pub fn caused_by(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            Kind::Usage => ExitCode::from(2),
            Kind::Failed => ExitCode::from(1),
        }
    }
}

/// A long line (minified data, generated SQL) cut to the part around
/// `column`, with the column moved to match.
fn window(line: &str, column: usize) -> (String, usize) {
    const BEFORE: usize = 60;
    const WIDTH: usize = 140;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= WIDTH {
        return (line.to_string(), column);
    }
    let start = column
        .saturating_sub(1)
        .saturating_sub(BEFORE)
        .min(chars.len());
    let end = (start + WIDTH).min(chars.len());
    let mut out = String::new();
    let mut column = column - start.min(column.saturating_sub(1));
    if start > 0 {
        out.push('…');
        column += 1;
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    (out, column)
}

fn line_of(text: &str, line: usize) -> Option<String> {
    let line = text.lines().nth(line.checked_sub(1)?)?;
    Some(line.trim_end_matches('\r').to_string())
}

impl std::ops::Deref for Error {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if let Some(loc) = &self.location {
            let gutter = loc.line.to_string().len();
            writeln!(f, "{:gutter$}--> {loc}", "")?;
            if let Some(line) = &self.source_line {
                let (shown, column) = window(&line.replace('\t', " "), loc.column);
                let pad = column.saturating_sub(1).min(shown.chars().count());
                let rest = shown.chars().count().saturating_sub(pad).max(1);
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {shown}", loc.line)?;
                writeln!(
                    f,
                    "{:gutter$} | {:pad$}{}",
                    "",
                    "",
                    "^".repeat(loc.len.min(rest))
                )?;
            }
        }
        for (message, loc) in &self.notes {
            writeln!(f, "note: {message}\n --> {loc}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(err: datafusion::error::DataFusionError) -> Self {
        match ours(&err) {
            Some(e) => Error(Box::new(e.0.as_ref().clone())),
            None => Error::failed(df_message(&err)).caused_by(Cause::of(&err)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(err: datafusion::arrow::error::ArrowError) -> Self {
        datafusion::error::DataFusionError::from(err).into()
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    /// Our error through DataFusion (from a stream it reads), to be taken
    /// back whole on the way out.
    fn from(err: Error) -> Self {
        datafusion::error::DataFusionError::External(Box::new(err))
    }
}

/// An error of ours that DataFusion carried.
fn ours(err: &datafusion::error::DataFusionError) -> Option<&Error> {
    use datafusion::arrow::error::ArrowError as A;
    use datafusion::error::DataFusionError as E;
    err.iter().find_map(|e| match e {
        E::External(inner) => inner.downcast_ref::<Error>(),
        E::ArrowError(a, _) => match a.as_ref() {
            A::ExternalError(inner) => inner.downcast_ref::<Error>(),
            _ => None,
        },
        _ => None,
    })
}

/// DataFusion's message without the layers of context prefixes it adds
/// ("Error during planning: ", "External error: ", ...).
pub fn df_message(err: &datafusion::error::DataFusionError) -> String {
    use datafusion::error::DataFusionError as E;
    match err.find_root() {
        E::Plan(m) | E::Execution(m) | E::NotImplemented(m) | E::Configuration(m) => m.clone(),
        E::SchemaError(e, _) => e.to_string(),
        E::ArrowError(e, _) => e.to_string(),
        E::ParquetError(e) => e.to_string(),
        E::IoError(e) => e.to_string(),
        E::SQL(e, _) => e.to_string(),
        other => other.strip_backtrace(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_read_off_datafusion_errors_once() {
        use datafusion::common::{DFSchema, TableReference, field_not_found};
        use datafusion::error::DataFusionError as E;
        let oom = || E::ResourcesExhausted("no room".into());
        assert_eq!(Cause::of(&oom()), Cause::OutOfMemory);
        let wrapped = E::Context("while building".into(), Box::new(oom()));
        assert_eq!(Cause::of(&wrapped), Cause::OutOfMemory);
        let table = E::Plan("table 'datafusion.public.ordrs' not found".into());
        let name = "datafusion.public.ordrs".to_string();
        assert_eq!(Cause::of(&table), Cause::UnknownTable(name));
        let ddl = E::Plan("DDL not supported: CreateMemoryTable".into());
        assert_eq!(Cause::of(&ddl), Cause::ReadOnly);
        let column = field_not_found(None::<TableReference>, "amount", &DFSchema::empty());
        assert_eq!(Cause::of(&column), Cause::UnknownColumn("amount".into()));
        let io = E::IoError(std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(
            Cause::of(&io),
            Cause::Io(std::io::ErrorKind::PermissionDenied)
        );
        assert_eq!(Cause::of(&E::Plan("something else".into())), Cause::Other);
        let err = Error::from(oom());
        assert_eq!((err.kind, &err.cause), (Kind::Failed, &Cause::OutOfMemory));
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = "x".repeat(100) + "HERE" + &"y".repeat(300);
        let (shown, column) = window(&line, 101);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(shown.chars().nth(column - 1), Some('H'));
        assert_eq!(window("short", 3), ("short".to_string(), 3));
    }
}
