//! The project's descriptions as Postgres comments, where clients read
//! them: `pg_description` (SQLAlchemy, DBeaver), `obj_description` and
//! `col_description` (psql's `\dt+` and `\d+`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::serve::catalog;
use crate::spec::project::Project;

/// The class of tables in `pg_description.classoid`: `pg_class`.
const PG_CLASS: i64 = 1259;

/// A table's description, and its columns' by name.
type About = (Option<String>, HashMap<String, String>);

/// Descriptions by (schema, table).
#[derive(Debug, Default)]
pub struct Descriptions {
    tables: HashMap<(String, String), About>,
}

impl Descriptions {
    /// What the project says of its models (schema `public`) and sources (`raw`).
    pub fn of(project: &Project) -> Descriptions {
        let mut tables = HashMap::new();
        let models = project
            .models
            .iter()
            .map(|m| ("public", &m.name, &m.description, &m.columns));
        let sources = project
            .sources
            .iter()
            .map(|s| ("raw", &s.name, &s.description, &s.columns));
        for (schema, name, description, columns) in models.chain(sources) {
            let columns: HashMap<String, String> = columns
                .iter()
                .filter_map(|c| Some((c.name.clone(), c.description.clone()?)))
                .collect();
            if description.is_some() || !columns.is_empty() {
                let key = (schema.to_string(), name.clone());
                tables.insert(key, (description.clone(), columns));
            }
        }
        Descriptions { tables }
    }

    /// Put the descriptions into `ctx`'s functions, numbered as its
    /// `pg_class` (`oids`, by schema and table) and `pg_attribute` number
    /// the tables and columns; the `pg_description` table that holds them,
    /// to put in `pg_catalog`.
    pub async fn install(
        &self,
        ctx: &SessionContext,
        oids: &HashMap<(String, String), i64>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let mut comments: HashMap<(i64, i64), String> = HashMap::new();
        let mut described: HashMap<i64, &HashMap<String, String>> = HashMap::new();
        for (key, (about, columns)) in &self.tables {
            let Some(&oid) = oids.get(key) else {
                continue;
            };
            if let Some(about) = about {
                comments.insert((oid, 0), about.clone());
            }
            described.insert(oid, columns);
        }
        let sql = "select attrelid, attnum, attname from pg_catalog.pg_attribute";
        for batch in ctx.sql(sql).await?.collect().await? {
            let int = |i: usize| cast(batch.column(i), &DataType::Int64);
            let (oid, attnum) = (int(0)?, int(1)?);
            let column = cast(batch.column(2), &DataType::Utf8)?;
            let (oid, attnum) = (
                oid.as_primitive::<Int64Type>(),
                attnum.as_primitive::<Int64Type>(),
            );
            let column = column.as_string::<i32>();
            for row in 0..batch.num_rows() {
                if let Some(columns) = described.get(&oid.value(row))
                    && let Some(about) = columns.get(column.value(row))
                {
                    comments.insert((oid.value(row), attnum.value(row)), about.clone());
                }
            }
        }
        let described = self.described(ctx, &comments).await?;
        let comments = Arc::new(comments);
        ctx.register_udf(ScalarUDF::new_from_impl(Lookup::new(
            "obj_description",
            false,
            comments.clone(),
        )));
        ctx.register_udf(ScalarUDF::new_from_impl(Lookup::new(
            "col_description",
            true,
            comments,
        )));
        Ok(described)
    }

    /// `pg_catalog.pg_description`: the built-in rows and these comments.
    async fn described(
        &self,
        ctx: &SessionContext,
        comments: &HashMap<(i64, i64), String>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(builtin) = catalog::builtin(ctx, "pg_description").await? else {
            return Ok(None);
        };
        let schema = builtin.schema();
        let mut batches = ctx.read_table(builtin)?.collect().await?;
        let column = |values: ArrayRef, i: usize| cast(&values, schema.field(i).data_type());
        let oids = Int64Array::from_iter_values(comments.keys().map(|k| k.0));
        let classes = Int64Array::from_iter_values(comments.keys().map(|_| PG_CLASS));
        let subids = Int64Array::from_iter_values(comments.keys().map(|k| k.1));
        let texts = StringArray::from_iter_values(comments.values());
        let ours: Vec<ArrayRef> = vec![
            column(Arc::new(oids), 0)?,
            column(Arc::new(classes), 1)?,
            column(Arc::new(subids), 2)?,
            column(Arc::new(texts), 3)?,
        ];
        batches.push(RecordBatch::try_new(schema.clone(), ours)?);
        Ok(Some(Arc::new(MemTable::try_new(schema, vec![batches])?)))
    }
}

/// `obj_description(oid, catalog)` or `col_description(oid, column)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Lookup {
    name: &'static str,
    column: bool,
    signature: Signature,
    comments: SortedComments,
}

/// The comments, comparable and hashable as a UDF must be.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SortedComments(Vec<((i64, i64), String)>);

impl Lookup {
    fn new(name: &'static str, column: bool, comments: Arc<HashMap<(i64, i64), String>>) -> Lookup {
        let mut sorted: Vec<_> = comments.iter().map(|(k, v)| (*k, v.clone())).collect();
        sorted.sort();
        Lookup {
            name,
            column,
            signature: Signature::any(2, Volatility::Stable),
            comments: SortedComments(sorted),
        }
    }

    fn get(&self, oid: i64, sub: i64) -> Option<&str> {
        let key = (oid, if self.column { sub } else { 0 });
        let found = self
            .comments
            .0
            .binary_search_by(|(k, _)| k.cmp(&key))
            .ok()?;
        Some(&self.comments.0[found].1)
    }
}

impl ScalarUDFImpl for Lookup {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let oid = cast(&args.args[0].to_array(rows)?, &DataType::Int64)?;
        let oid = oid.as_primitive::<Int64Type>();
        let sub = match self.column {
            true => cast(&args.args[1].to_array(rows)?, &DataType::Int64)?,
            false => Arc::new(Int64Array::from(vec![0; rows])),
        };
        let sub = sub.as_primitive::<Int64Type>();
        let out: StringArray = (0..rows)
            .map(|i| match oid.is_null(i) || sub.is_null(i) {
                true => None,
                false => self.get(oid.value(i), sub.value(i)),
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
