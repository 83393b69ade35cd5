//! Models brought up to date from the rows appended to the tables they
//! read, where that gives what a full rebuild would (`engine::delta`): a
//! model linear in the tables that grew appends what their new rows give;
//! an aggregation folds them into the partial state it stored. Anything
//! else is rebuilt whole, with the reason on its line when rows were only
//! appended.
//!
//! A table grew when every file the model read of it is still there (the
//! same file: inode, size and time) beside new ones; the others must have
//! the very files it read, and its SQL and optimized plan be the same.
//! Files are written once and carried into later versions by hard links,
//! so this holds exactly when rows were only appended. With several tables
//! grown, the new rows are those of each table's new files joined with the
//! tables before it as they are now and those after it as they were:
//! Q(X', Y') - Q(X, Y) = Q(ΔX, Y) + Q(X', ΔY) for Q linear in each.

use std::path::PathBuf;

use datafusion::common::TableReference;
use datafusion::prelude::DataFrame;

use crate::base::error::Result;
use crate::engine::delta::{Planned, Scanned, Shape, Term};
use crate::engine::{Engine, KeptFile};
use crate::run::fingerprint;
use crate::spec::project::{Model, OnAppend};
use crate::storage::warehouse::{Reads, STATE, Scratch, StoredFile, Version, Warehouse};

/// How to write a model's new version.
pub struct Written {
    pub parts: Vec<DataFrame>,
    pub kept: Vec<KeptFile>,
    pub note: Option<String>,
    /// The state written aside, linked into the new version.
    pub scratch: Option<Scratch>,
}

/// A model's query, with the files of every table it reads.
pub struct Appended<'a> {
    engine: &'a Engine,
    warehouse: &'a Warehouse,
    model: &'a Model,
    planned: Planned,
    scanned: Vec<Scanned>,
    /// What its new version records of what it read.
    pub reads: Reads,
}

/// A table that grew: its files read before (where they are now), and its
/// new files.
struct Grown<'s> {
    table: &'s TableReference,
    old: Vec<PathBuf>,
    new: Vec<PathBuf>,
}

impl<'a> Appended<'a> {
    /// `None` when the model does not take appended rows: partitioned,
    /// opted out, or reading what is not a table of files.
    pub fn new(
        engine: &'a Engine,
        warehouse: &'a Warehouse,
        model: &'a Model,
        df: &DataFrame,
    ) -> Result<Option<Appended<'a>>> {
        if !model.partition_by.is_empty() || model.on_append == OnAppend::Rebuild {
            return Ok(None);
        }
        let planned = Planned::new(df.clone())?;
        let Some(scanned) = planned.scanned()? else {
            return Ok(None);
        };
        let reads = Reads {
            plan: fingerprint::plan(&planned.text()),
            tables: scanned
                .iter()
                .map(|s| (s.table.to_string(), s.files.clone()))
                .collect(),
            state_for: None,
        };
        Ok(Some(Appended {
            engine,
            warehouse,
            model,
            planned,
            scanned,
            reads,
        }))
    }

    /// The new version from the rows appended since `current` (stored with
    /// `definition`), when that gives what a full rebuild would; `fold`:
    /// whether an aggregation may fold them in (else only rows are
    /// appended). Otherwise why not, when rows were only appended.
    pub async fn update(
        &mut self,
        current: &Version,
        definition: &str,
        fold: bool,
    ) -> Result<std::result::Result<Written, Option<String>>> {
        let grown = match self.grown(current, definition) {
            Ok(grown) => grown,
            Err(why) => return Ok(Err(why)),
        };
        let names: Vec<String> = grown.iter().map(|g| g.table.to_string()).collect();
        let new_in = format!("rows new in {}", names.join(" and "));
        // Each table's new rows, with the tables before it as they are now
        // and those after it as they were.
        let terms: Vec<Term> = (0..grown.len())
            .map(|i| {
                let before = grown[i + 1..]
                    .iter()
                    .map(|g| (g.table.clone(), g.old.clone()));
                std::iter::once((grown[i].table.clone(), grown[i].new.clone()))
                    .chain(before)
                    .collect()
            })
            .collect();
        let stored = current.record.meta.reads.as_ref();
        let state_for = stored.and_then(|r| r.state_for.clone());
        let mut tables: Vec<&TableReference> = grown.iter().map(|g| g.table).collect();
        let shape = self.planned.shape(&tables);
        match shape {
            Ok(Shape::Linear) => {
                let parts = terms
                    .iter()
                    .map(|t| self.planned.over(t))
                    .collect::<Result<_>>()?;
                Ok(Ok(Written {
                    parts,
                    kept: KeptFile::all_of(current)?,
                    note: Some(format!("appended from the {new_in}")),
                    scratch: None,
                }))
            }
            Ok(Shape::Aggregate) if fold => {
                let state_table = state_for
                    .as_deref()
                    .and_then(|t| self.scanned.iter().find(|s| s.table.to_string() == t));
                let state = current.dir.join(STATE);
                if let Some(s) = state_table
                    && state.is_file()
                {
                    tables.push(&s.table);
                    if self.planned.shape(&tables) == Ok(Shape::Aggregate) {
                        let table = s.table.clone();
                        // Any failure (a state of another DataFusion's making,
                        // a query error) is left to the full rebuild to meet.
                        let folded = self.fold(&table, &terms, Some(&state)).await;
                        if let Ok(Some(written)) = folded {
                            return Ok(Ok(Written {
                                note: Some(format!("folded in the {new_in}")),
                                ..written
                            }));
                        }
                    }
                }
                Ok(Err(None))
            }
            Ok(Shape::Aggregate) => Ok(Err(None)),
            Err(why) => Ok(Err(Some(format!("{new_in}; rebuilt whole: {why}")))),
        }
    }

    /// The tables that grew since `current`, if rows were only appended to
    /// them and nothing else changed.
    fn grown(
        &self,
        current: &Version,
        definition: &str,
    ) -> std::result::Result<Vec<Grown<'_>>, Option<String>> {
        let meta = &current.record.meta;
        let Some(then) = meta.reads.as_ref() else {
            return Err(None);
        };
        if meta.definition != definition || then.plan != self.reads.plan {
            return Err(None);
        }
        if then.tables.len() != self.scanned.len() {
            return Err(None);
        }
        let mut grown = Vec::new();
        for s in &self.scanned {
            let before = then.tables.get(&s.table.to_string()).ok_or(None)?;
            let was = |f: &StoredFile| before.iter().any(|b| b.same(f));
            if before.iter().any(|b| !s.files.iter().any(|f| f.same(b))) {
                return Err(None); // a file it read is gone: not only appends
            }
            let (old, new): (Vec<&StoredFile>, Vec<&StoredFile>) =
                s.files.iter().partition(|f| was(f));
            if !new.is_empty() {
                let paths =
                    |files: Vec<&StoredFile>| files.into_iter().map(|f| f.path.clone()).collect();
                grown.push(Grown {
                    table: &s.table,
                    old: paths(old),
                    new: paths(new),
                });
            }
        }
        match grown.is_empty() {
            true => Err(None),
            false => Ok(grown),
        }
    }

    /// The whole new version from `df`, with the state of its aggregation
    /// over its largest table when it has one, for the next build to fold
    /// new rows into.
    pub async fn whole(&mut self, df: DataFrame, note: Option<String>) -> Result<Written> {
        let mut by_size: Vec<&Scanned> = self.scanned.iter().collect();
        by_size.sort_by_key(|s| std::cmp::Reverse(s.files.iter().map(|f| f.size).sum::<u64>()));
        let target = by_size
            .into_iter()
            .find(|s| self.planned.shape(&[&s.table]) == Ok(Shape::Aggregate))
            .map(|s| {
                (
                    s.table.clone(),
                    s.files.iter().map(|f| f.path.clone()).collect(),
                )
            });
        if let Some((table, files)) = target
            && let Ok(Some(written)) = self
                .fold(&table, &[vec![(table.clone(), files)]], None)
                .await
        {
            return Ok(Written { note, ..written });
        }
        Ok(Written {
            parts: vec![df],
            kept: Vec::new(),
            note,
            scratch: None,
        })
    }

    /// The model's rows from its aggregation's state, written aside (see
    /// `Planned::fold`), the state kept for `table`; `None` when its plan
    /// does not allow it.
    async fn fold(
        &mut self,
        table: &TableReference,
        terms: &[Term],
        stored: Option<&std::path::Path>,
    ) -> Result<Option<Written>> {
        let scratch = self.warehouse.scratch(&self.model.name)?;
        let folded = self
            .planned
            .fold(&self.engine.ctx, terms, stored, &scratch.0)
            .await?;
        let Some(df) = folded else {
            return Ok(None);
        };
        self.reads.state_for = Some(table.to_string());
        Ok(Some(Written {
            parts: vec![df],
            kept: vec![KeptFile {
                path: scratch.0.clone(),
                relative: STATE.into(),
                rows: 0,
                link: true,
            }],
            note: None,
            scratch: Some(scratch),
        }))
    }
}
