//! Fingerprints: a hash of everything that decides a table's contents, so
//! that a build can skip what is unchanged.
//!
//! A source's fingerprint covers its input files (path, size, and a hash of
//! the content, or the modification time of files too large to hash
//! cheaply) and the options it is read with. A model's covers its SQL
//! (normalised: whitespace and comments do not count), the settings that
//! shape its data, the fingerprints of what it reads and the `mart` version.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::spec::datatest::DataTest;
use crate::spec::project::{Model, Read, Source};
use crate::storage::warehouse::InputFile;

/// A hash in hex, with the parts it is made of fed in order.
struct Hasher(blake3::Hasher);

impl Hasher {
    fn new(kind: &str) -> Self {
        let mut h = Hasher(blake3::Hasher::new());
        h.part(kind).part(env!("CARGO_PKG_VERSION"));
        h
    }

    /// Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
    fn part(&mut self, s: &str) -> &mut Self {
        self.0.update(&(s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
        self
    }

    fn finish(&self) -> String {
        self.0.finalize().to_hex()[..32].to_string()
    }
}

pub fn source(source: &Source, inputs: &[InputFile]) -> String {
    let Read::Files(files) = &source.read else {
        unreachable!("a file source")
    };
    let mut h = Hasher::new("source");
    // The read options, and the rules of typing: "times" since timestamps
    // with an offset land as instants in UTC, and JSON times are typed.
    let declared: Vec<_> = source
        .columns
        .iter()
        .map(|c| (&c.name, &c.read_as))
        .collect();
    h.part(&format!(
        "{:?}|{}|{}|times|{declared:?}",
        files.format, files.delimiter, files.has_header
    ));
    for f in inputs {
        // The content when it was hashed, else when it was last modified.
        let version = f.hash.clone().unwrap_or_else(|| f.modified_ns.to_string());
        h.part(&f.path).part(&f.size.to_string()).part(&version);
    }
    h.finish()
}

/// What decides the rows of a source read from a database, but the data:
/// the server (never the password), what is read and how it is typed.
pub fn database(source: &Source, endpoint: &str) -> String {
    let Read::Database(db) = &source.read else {
        unreachable!("a database source")
    };
    let declared: Vec<_> = source
        .columns
        .iter()
        .map(|c| (&c.name, &c.read_as))
        .collect();
    let mut h = Hasher::new("database");
    h.part(db.system.as_str())
        .part(endpoint)
        .part(&format!("{:?}", db.relation))
        .part(&format!("{:?}", db.incremental))
        .part(&format!("{declared:?}"));
    h.finish()
}

/// A landing of a database source: its definition and what the server
/// says of the data (a change marker, or a landing's own stamp).
pub fn landing(definition: &str, data: &str) -> String {
    let mut h = Hasher::new("landing");
    h.part(definition).part(data);
    h.finish()
}

/// The fingerprint of a model's definition alone: its SQL and settings.
pub fn definition(model: &Model) -> String {
    let mut h = Hasher::new("model");
    h.part(&normalised_sql(&model.sql))
        .part(model.materialized.as_str())
        .part(&model.partition_by.join(","))
        .part(&format!("{:?}", model.incremental));
    h.finish()
}

/// The fingerprint of a model's data: its definition and what it reads.
pub fn model(definition: &str, upstream: &[&str]) -> String {
    let mut h = Hasher::new("data");
    h.part(definition);
    for u in upstream {
        h.part(u);
    }
    h.finish()
}

/// The fingerprint of a model's optimized query plan, as DataFusion
/// prints it: what decides its rows besides the rows it reads.
pub fn plan(text: &str) -> String {
    let mut h = Hasher::new("plan");
    h.part(text);
    h.finish()
}

/// The fingerprint of a table's data tests, with the data of the other
/// tables they read (`reads`): a version that passed tests of this
/// fingerprint need not be tested again. No tests: "".
pub fn tests(tests: &[DataTest], reads: &[&str]) -> String {
    if tests.is_empty() {
        return String::new();
    }
    let mut h = Hasher::new("tests");
    for t in tests {
        h.part(&format!("{:?}|{:?}|{:?}", t.check, t.column, t.severity));
    }
    for r in reads {
        h.part(r);
    }
    h.finish()
}

/// The SQL's tokens without whitespace and comments, one space apart.
/// Keywords and identifiers keep their case: it is rare to change only
/// that, and a quoted identifier's case matters.
fn normalised_sql(sql: &str) -> String {
    match Tokenizer::new(&GenericDialect {}, sql).tokenize() {
        Ok(tokens) => {
            let parts: Vec<String> = tokens
                .iter()
                .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF | Token::SemiColon))
                .map(Token::to_string)
                .collect();
            parts.join(" ")
        }
        Err(_) => sql.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::datatest::tests::test;
    use crate::spec::project::Materialized;
    use crate::spec::testing;

    #[test]
    fn a_definition_is_its_sql_and_the_settings_that_shape_its_data() {
        let base = definition(&testing::model("m", "select a from t"));
        assert_eq!(
            base,
            definition(&testing::model("m", "select a\n  from t -- all"))
        );
        assert_ne!(base, definition(&testing::model("m", "select b from t")));
        let mut view = testing::model("m", "select a from t");
        view.materialized = Materialized::View;
        assert_ne!(base, definition(&view));
        let mut partitioned = testing::model("m", "select a from t");
        partitioned.partition_by = vec!["a".into()];
        assert_ne!(base, definition(&partitioned));
        // Not its name, description or tags: renaming is not rebuilding.
        let mut described = testing::model("n", "select a from t");
        described.description = Some("the a of t".into());
        assert_eq!(base, definition(&described));
    }

    #[test]
    fn data_follows_the_definition_and_every_input_in_order() {
        let d = definition(&testing::model("m", "select 1"));
        let data = model(&d, &["x", "y"]);
        assert_eq!(data, model(&d, &["x", "y"]));
        assert_ne!(data, model(&d, &["y", "x"]));
        assert_ne!(data, model(&d, &["xy"]));
        assert_ne!(data, model(&d, &["x", "z"]));
    }

    #[test]
    fn tests_follow_their_declarations_and_what_they_read() {
        assert_eq!(tests(&[], &["x"]), "");
        let nn = test("not_null", "t", Some("a")).unwrap();
        let warn = test("{not_null: null, severity: warn}", "t", Some("a")).unwrap();
        let base = tests(std::slice::from_ref(&nn), &[]);
        assert_ne!(base, tests(&[warn], &[]));
        assert_ne!(base, tests(&[nn], &["users@1"]));
    }

    #[test]
    fn whitespace_and_comments_do_not_count() {
        let a = normalised_sql("select a,\n  b -- the b\nfrom t;");
        let b = normalised_sql("select a, b /* x */ from t");
        assert_eq!(a, b);
        assert_ne!(a, normalised_sql("select a, b from u"));
        assert_ne!(
            normalised_sql("select 'a  b'"),
            normalised_sql("select 'a b'")
        );
    }
}
