//! Table models brought up to date from the rows appended to a table they
//! read, where that gives what a full rebuild would (`engine::delta`): a
//! model linear in the table that grew appends what the new rows give; an
//! aggregation folds them into the partial state it stored. Anything else
//! is rebuilt whole, with the reason on its line when rows were only
//! appended.
//!
//! A table grew when every file the model read of it is still there (the
//! same file: inode, size and time) beside new ones, and every other table
//! it reads has the very files it read; its SQL and its optimized plan are
//! the same. Files are written once and carried over into later versions by
//! hard links, so this holds exactly when rows were only appended.

use datafusion::common::TableReference;
use datafusion::prelude::DataFrame;

use crate::base::error::Result;
use crate::engine::delta::{Planned, Scanned, Shape};
use crate::engine::{Engine, KeptFile};
use crate::run::fingerprint;
use crate::spec::project::{Model, OnAppend};
use crate::storage::warehouse::{Reads, STATE, Scratch, StoredFile, Version, Warehouse};

/// How to write a table model's new version.
pub struct Written {
    pub parts: Vec<DataFrame>,
    pub kept: Vec<KeptFile>,
    /// What it reads now, for its record.
    pub reads: Option<Reads>,
    pub note: Option<String>,
    /// The state written aside, linked into the new version.
    pub scratch: Option<Scratch>,
}

impl Written {
    fn whole(df: DataFrame) -> Written {
        Written {
            parts: vec![df],
            kept: Vec::new(),
            reads: None,
            note: None,
            scratch: None,
        }
    }
}

/// How to write `model`'s new version from `df`, its query, over
/// `current` (none for a full refresh), stored with `definition`.
pub async fn plan(
    engine: &Engine,
    warehouse: &Warehouse,
    model: &Model,
    current: Option<&Version>,
    definition: &str,
    df: DataFrame,
) -> Result<Written> {
    if !model.partition_by.is_empty() || model.on_append == OnAppend::Rebuild {
        return Ok(Written::whole(df));
    }
    let planned = Planned::new(df.clone())?;
    let Some(scanned) = planned.scanned()? else {
        return Ok(Written::whole(df));
    };
    let mut reads = Reads {
        plan: fingerprint::plan(&planned.text()),
        tables: scanned
            .iter()
            .map(|s| (s.table.to_string(), s.files.clone()))
            .collect(),
        state_for: None,
    };
    let folding = Folding {
        engine,
        warehouse,
        model,
        planned: &planned,
    };
    let mut note = None;
    if let Some(current) = current {
        match grown(current, definition, &reads, &scanned) {
            Ok((x, delta)) => {
                let stored = current.record.meta.reads.as_ref();
                match planned.shape(&x.table) {
                    Ok(Shape::Linear) => {
                        return Ok(Written {
                            parts: vec![planned.over(&x.table, &delta)?],
                            kept: KeptFile::all_of(current)?,
                            note: Some(format!("appended from the rows new in {}", x.table)),
                            reads: Some(reads),
                            scratch: None,
                        });
                    }
                    Ok(Shape::Aggregate)
                        if stored.and_then(|r| r.state_for.as_deref())
                            == Some(&x.table.to_string())
                            && current.dir.join(STATE).is_file() =>
                    {
                        let state = current.dir.join(STATE);
                        let update = Some((delta.as_slice(), state.as_path()));
                        if let Some(mut written) = folding.fold(&x.table, update).await? {
                            reads.state_for = Some(x.table.to_string());
                            written.reads = Some(reads);
                            written.note = Some(format!("folded in the rows new in {}", x.table));
                            return Ok(written);
                        }
                    }
                    Ok(Shape::Aggregate) => {}
                    Err(why) => {
                        note = Some(format!("rows new in {}; rebuilt whole: {why}", x.table))
                    }
                }
            }
            Err(why) => note = why,
        }
    }
    // Whole, with the state of its aggregation over its largest table when
    // it has one, for the next build to fold new rows into.
    let mut by_size: Vec<&Scanned> = scanned.iter().collect();
    by_size.sort_by_key(|s| std::cmp::Reverse(s.files.iter().map(|f| f.size).sum::<u64>()));
    let target = by_size
        .into_iter()
        .find(|s| planned.shape(&s.table) == Ok(Shape::Aggregate));
    if let Some(t) = target
        && let Some(mut written) = folding.fold(&t.table, None).await?
    {
        reads.state_for = Some(t.table.to_string());
        written.reads = Some(reads);
        written.note = note;
        return Ok(written);
    }
    Ok(Written {
        reads: Some(reads),
        note,
        ..Written::whole(df)
    })
}

/// The table that grew and its new files, if exactly one did and nothing
/// else changed; otherwise why not, when rows were only appended.
fn grown<'a>(
    current: &Version,
    definition: &str,
    now: &Reads,
    scanned: &'a [Scanned],
) -> std::result::Result<(&'a Scanned, Vec<std::path::PathBuf>), Option<String>> {
    let meta = &current.record.meta;
    let Some(then) = meta.reads.as_ref() else {
        return Err(None);
    };
    if meta.definition != definition || then.plan != now.plan {
        return Err(None);
    }
    let mut grew = Vec::new();
    for s in scanned {
        let Some(before) = then.tables.get(&s.table.to_string()) else {
            return Err(None);
        };
        let kept = |f: &StoredFile| before.iter().any(|b| b.same(f));
        if before.iter().any(|b| !s.files.iter().any(|f| f.same(b))) {
            return Err(None); // a file it read is gone: not only appends
        }
        let new: Vec<_> = s
            .files
            .iter()
            .filter(|f| !kept(f))
            .map(|f| f.path.clone())
            .collect();
        if !new.is_empty() {
            grew.push((s, new));
        }
    }
    if then.tables.len() != scanned.len() {
        return Err(None);
    }
    match grew.len() {
        1 => Ok(grew.pop().expect("one")),
        0 => Err(None),
        _ => Err(Some(
            "rows new in more than one of its tables; rebuilt whole".to_string(),
        )),
    }
}

/// What folding needs.
struct Folding<'a> {
    engine: &'a Engine,
    warehouse: &'a Warehouse,
    model: &'a Model,
    planned: &'a Planned,
}

impl Folding<'_> {
    /// The model's rows from its aggregation's state over `x`, written
    /// aside (see `Planned::fold`); `None` when its plan does not allow it.
    async fn fold(
        &self,
        x: &TableReference,
        update: Option<(&[std::path::PathBuf], &std::path::Path)>,
    ) -> Result<Option<Written>> {
        let scratch = self.warehouse.scratch(&self.model.name)?;
        let Some(df) = self
            .planned
            .fold(&self.engine.ctx, x, update, &scratch.0)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Written {
            parts: vec![df],
            kept: vec![KeptFile {
                path: scratch.0.clone(),
                relative: STATE.into(),
                rows: 0,
                link: true,
            }],
            reads: None,
            note: None,
            scratch: Some(scratch),
        }))
    }
}
