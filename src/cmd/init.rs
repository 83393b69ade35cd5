//! `mart init [DIR]`: a new project that builds at once: one source, one
//! model with a data test, the schema editors check its YAML with, and
//! what to run next.

use std::path::Path;

use crate::base::error::{Error, Result};
use crate::cmd::ExitStatus;
use crate::run::report::Printer;
use crate::spec::project::json_schema;

/// Where the JSON Schema of the YAML goes (`mart schema` writes it again
/// after an upgrade).
const SCHEMA: &str = "mart.schema.json";

/// The files of a new project, by path under its directory.
const FILES: &[(&str, &str)] = &[
    (
        "marts/project.yml",
        "# yaml-language-server: $schema=../mart.schema.json
# The project: sources (raw files, landed as Parquet by `mart build`),
# models (one SQL query each, under sql/) and their data tests.
sources:
  - name: orders
    path: data/orders.csv

models:
  - name: daily_orders
    description: Orders and revenue per day.
    columns:
      - name: order_date
        tests: [not_null, unique]
",
    ),
    (
        "sql/daily_orders.sql",
        "select
    order_date,
    count(*) as orders,
    sum(amount) as revenue
from raw.orders
group by order_date
",
    ),
    (
        "data/orders.csv",
        "order_id,order_date,customer,amount
1,2026-01-01,ann,12.50
2,2026-01-01,bob,40.00
3,2026-01-02,ann,7.25
4,2026-01-03,cy,19.90
",
    ),
    (".gitignore", "warehouse/\n"),
];

pub fn run(dir: &Path, printer: &dyn Printer) -> Result<ExitStatus> {
    let schema = json_schema();
    let files = FILES.iter().copied().chain([(SCHEMA, schema.as_str())]);
    // Nothing is written if anything would be overwritten.
    for (path, _) in files.clone() {
        let path = dir.join(path);
        if path.exists() {
            return Err(Error::usage(format!(
                "`{}` exists: `mart init` writes a new project and overwrites nothing",
                path.display()
            ))
            .help("run it in an empty directory, or name a new one: `mart init DIR`"));
        }
    }
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
    }
    let cd = match dir == Path::new(".") || dir.as_os_str().is_empty() {
        true => String::new(),
        false => format!("cd {} && ", dir.display()),
    };
    printer.line(&format!(
        "A new mart project in {}: one source (data/orders.csv), one model (sql/daily_orders.sql) and its tests (marts/project.yml).\nNext: {cd}mart build && mart show daily_orders",
        dir.display()
    ))?;
    Ok(ExitStatus::Success)
}
