//! Incremental models: an incremental build equals a full rebuild of the
//! same data, keeps what it does not replace, and refuses a changed schema.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::common::{Lcg, TestProject, parquet_files};

const YAML: &str = "\
sources:
  - name: sales
    path: data/sales.csv
models:
  - name: daily
    materialized: incremental
    incremental: {strategy: time, column: day, lookback: 2}
  - name: daily_parts
    sql: sql/daily.sql
    materialized: incremental
    partition_by: [day]
    incremental: {strategy: time, column: day, lookback: 2}
  - name: by_update
    materialized: incremental
    incremental: {strategy: time, column: updated, lookback: 3}
  - name: latest
    materialized: incremental
    incremental: {strategy: key, unique_key: [id], column: updated}
";

/// Sales rows: `id,day,amount,updated`. `updated` grows with every write,
/// so the latest version of an id is the one with the highest.
fn project() -> TestProject {
    let p = TestProject::empty();
    p.write("marts/models.yml", YAML);
    p.write(
        "sql/daily.sql",
        "select day, count(*) as n, sum(amount) as total from raw.sales group by day",
    );
    p.write(
        "sql/by_update.sql",
        "select updated, id, amount from raw.sales",
    );
    p.write(
        "sql/latest.sql",
        "select id, day, amount, updated from (
            select *, row_number() over (partition by id order by updated desc) as rn from raw.sales
         ) where rn = 1",
    );
    p
}

fn date(day: u64) -> String {
    // Days of 2026 from January 1st, within one year.
    let mut d = day as u32;
    let months = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut m = 0;
    while d >= months[m] {
        d -= months[m];
        m += 1;
    }
    format!("2026-{:02}-{:02}", m + 1, d + 1)
}

/// The project of the property test: the incremental models read `clean`,
/// a model over the source's folder of CSV files whose SQL (`factor`) and
/// materialization the test changes.
fn edited_project(p: &TestProject, factor: u64, clean_is_view: bool) {
    let materialized = if clean_is_view { "view" } else { "table" };
    p.write(
        "marts/models.yml",
        &format!(
            "sources:\n  - name: sales\n    path: data/sales\nmodels:\n  - name: clean\n    materialized: {materialized}\n{}{}",
            YAML.split("models:\n").nth(1).unwrap(),
            "  - name: over_daily\n    materialized: incremental\n    incremental: {strategy: time, column: day, lookback: 2}\n\
             \x20 - {name: kept_rows}\n  - {name: by_day}\n  - {name: top_days}\n  - {name: repeat_ids}\n  - {name: by_size}\n"
        ),
    );
    p.write(
        "sql/clean.sql",
        &format!("select id, day, amount * {factor} as amount, updated from raw.sales"),
    );
    for (file, sql) in [
        (
            "sql/daily.sql",
            "select day, count(*) as n, sum(amount) as total from clean group by day",
        ),
        ("sql/by_update.sql", "select updated, id, amount from clean"),
        // An incremental model over an incremental model.
        (
            "sql/over_daily.sql",
            "select day, n, total * 2 as doubled from daily",
        ),
        (
            "sql/latest.sql",
            "select id, day, amount, updated from (
                select *, row_number() over (partition by id order by updated desc) as rn from clean
             ) where rn = 1",
        ),
        // Tables that appended rows are folded into: linear in `clean`,
        // aggregations of it (and one over such an aggregation), and a
        // join with a model that is not appended to.
        (
            "sql/kept_rows.sql",
            "select id, day, amount from clean where amount % 3 <> 0",
        ),
        (
            "sql/by_day.sql",
            "select day, count(*) as n, sum(amount) as total, min(amount) as lo, max(amount) as hi,
                    count(distinct id) as ids, avg(amount * 4) as mean4
             from clean group by day",
        ),
        (
            "sql/top_days.sql",
            "select day, total from by_day order by total desc, day limit 3",
        ),
        (
            "sql/repeat_ids.sql",
            "select id, sum(amount) as total from kept_rows group by id having count(*) > 1 order by id",
        ),
        (
            "sql/by_size.sql",
            "select d.n, count(*) as rows, sum(k.amount) as amount
             from kept_rows k join daily d on d.day = k.day group by d.n",
        ),
    ] {
        p.write(file, sql);
    }
}

/// Incremental builds give exactly what a full rebuild gives, whatever
/// the edits between them: appends (most of them, within the lookback),
/// but also rows corrected or deleted in old files, files deleted, the
/// upstream model's SQL edited and switched between view and table, an
/// upstream incremental model rebuilt whole. An edit that is not an
/// append makes the models rebuild whole, saying why. The seeds are chosen
/// so that every kind of edit occurs (seed 7: appends alone; 21 and 26
/// delete files; 2026 rebuilds `daily` whole and switches `clean`).
#[test]
fn incremental_builds_equal_full_rebuilds_after_any_edits() {
    let mut lines = String::new();
    for seed in [1u64, 7, 21, 26, 42, 2026] {
        let p = TestProject::empty();
        let mut rng = Lcg(seed);
        let (mut next_id, mut updated) = (1u64, 1u64);
        let (mut factor, mut clean_is_view) = (1u64, true);
        // Files of rows (id, day, amount, updated).
        let mut files: Vec<Vec<(u64, u64, u64, u64)>> = Vec::new();
        let mut log = Vec::new();
        for step in 0..7 {
            let newest = files
                .iter()
                .flatten()
                .map(|r| r.1)
                .max()
                .unwrap_or(10)
                .max(2);
            let edit = if step == 0 { 0 } else { rng.next(10) };
            match edit {
                // Appends, to the last file or in a new one, within the lookback.
                0..=4 => {
                    if files.is_empty() || rng.next(2) == 0 {
                        files.push(Vec::new());
                    }
                    for _ in 0..1 + rng.next(8) {
                        let id = if next_id > 1 && rng.next(3) == 0 {
                            1 + rng.next(next_id - 1)
                        } else {
                            next_id += 1;
                            next_id - 1
                        };
                        let day = if step == 0 {
                            rng.next(11)
                        } else {
                            newest - 2 + rng.next(5)
                        };
                        files
                            .last_mut()
                            .unwrap()
                            .push((id, day, rng.next(100), updated));
                        updated += 1;
                    }
                    log.push("append");
                }
                5 => {
                    let f = rng.next(files.len() as u64) as usize;
                    if let Some(row) = files[f].first_mut() {
                        row.2 += 1 + rng.next(50);
                    }
                    log.push("correct an old row");
                }
                6 => {
                    let f = rng.next(files.len() as u64) as usize;
                    if !files[f].is_empty() {
                        let r = rng.next(files[f].len() as u64) as usize;
                        files[f].remove(r);
                    }
                    log.push("delete a row");
                }
                7 if files.len() > 1 => {
                    let f = rng.next(files.len() as u64 - 1) as usize;
                    files.remove(f);
                    fs::remove_dir_all(p.path().join("data/sales")).unwrap();
                    log.push("delete a file");
                }
                8 if rng.next(2) == 0 => {
                    factor += 1;
                    log.push("edit the upstream SQL");
                }
                8 => {
                    p.mart(&["build", "--full-refresh", "-s", "daily"])
                        .success();
                    log.push("rebuild daily whole");
                }
                _ => {
                    clean_is_view = !clean_is_view;
                    log.push("switch view/table");
                }
            }
            edited_project(&p, factor, clean_is_view);
            for (i, rows) in files.iter().enumerate() {
                let mut csv = String::from("id,day,amount,updated\n");
                for (id, day, amount, updated) in rows {
                    csv.push_str(&format!("{id},{},{amount},{updated}\n", date(*day)));
                }
                p.write(&format!("data/sales/part-{i:03}.csv"), &csv);
            }
            let run = p.mart(&["build"]);
            run.success();
            lines.push_str(&run.stdout);
            let full = format!("full-{step}");
            p.mart(&["--warehouse", &full, "build", "--full-refresh"])
                .success();
            let tables = [
                "daily",
                "daily_parts",
                "by_update",
                "latest",
                "over_daily",
                "kept_rows",
                "by_day",
                "top_days",
                "repeat_ids",
                "by_size",
            ];
            for table in tables {
                assert_eq!(
                    p.sorted_rows("warehouse", table),
                    p.sorted_rows(&full, table),
                    "seed {seed}, step {step}: incremental {table} differs from a full rebuild after {log:?}\nbuild:\n{}",
                    run.stdout
                );
            }
        }
    }
    // The seeds make every way of bringing a table up to date happen.
    for said in [
        "(appended from the rows new in raw.sales)",
        "(folded in the rows new in raw.sales)",
        "(folded in the rows new in kept_rows)",
    ] {
        assert!(lines.contains(said), "no build said {said}:\n{lines}");
    }
}

#[test]
fn an_incremental_build_keeps_older_partitions_and_writes_only_new_rows() {
    let p = project();
    let mut csv = String::from("id,day,amount,updated\n");
    for day in 0..10 {
        for i in 0..3 {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                day * 3 + i,
                date(day),
                10 + i,
                day * 3 + i
            ));
        }
    }
    p.write("data/sales.csv", &csv);
    let run = p.mart(&["build"]);
    run.success();
    assert!(run.line_for("daily").contains("10 rows"), "{}", run.stdout);
    let old_file = |p: &TestProject| {
        let files = parquet_files(&p.warehouse().join("mart/daily_parts/day=2026-01-02"));
        fs::metadata(&files[0]).unwrap().ino()
    };
    let before = old_file(&p);

    // A row of a new day, and a late one of day 8.
    csv.push_str(&format!("100,{},5,100\n", date(10)));
    csv.push_str(&format!("102,{},5,102\n", date(8)));
    p.write("data/sales.csv", &csv);
    let run = p.mart(&["build"]);
    run.success();
    // Days from 7 on are recomputed (the newest stored, 9, minus a lookback
    // of 2): days 7 to 10. The partitioned table keeps older day folders;
    // the other rewrites the older rows of its one file, apart.
    assert!(
        run.line_for("daily_parts").contains("11 rows (4 written)"),
        "{}",
        run.stdout
    );
    assert!(run.line_for("daily").contains("11 rows"), "{}", run.stdout);
    // The key strategy adds the two new rows.
    assert!(
        run.line_for("latest").contains("32 rows (2 written)"),
        "{}",
        run.stdout
    );
    // The old partition's file is carried over, not rewritten.
    assert_eq!(before, old_file(&p));
    assert_eq!(
        parquet_files(&p.warehouse().join("mart/daily_parts")).len(),
        11
    );

    // Next time the file of older rows is kept whole: only the files
    // holding day 8 or later are rewritten.
    csv.push_str(&format!("101,{},5,101\n", date(11)));
    csv.push_str(&format!("103,{},5,103\n", date(9)));
    p.write("data/sales.csv", &csv);
    let run = p.mart(&["build"]);
    let line = run.line_for("daily");
    let written: u64 = line
        .split('(')
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((4..=5).contains(&written), "{line}");
    assert!(
        run.line_for("daily_parts").contains("12 rows (4 written)"),
        "{}",
        run.stdout
    );

    // Rows of a new day alone: the days recomputed are those stored, so
    // every stored file is kept and the new day is written.
    let inodes = |p: &TestProject| {
        let mut files = parquet_files(&p.warehouse().join("mart/daily"));
        files.sort();
        files
            .iter()
            .map(|f| fs::metadata(f).unwrap().ino())
            .collect::<Vec<_>>()
    };
    let kept = inodes(&p);
    csv.push_str(&format!("104,{},5,104\n", date(12)));
    p.write("data/sales.csv", &csv);
    let run = p.mart(&["build"]);
    assert!(
        run.line_for("daily").contains("13 rows (1 written)"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("daily_parts").contains("13 rows (1 written)"),
        "{}",
        run.stdout
    );
    assert!(kept.iter().all(|i| inodes(&p).contains(i)));

    // Unchanged data: nothing to do.
    let run = p.mart(&["build"]);
    assert!(
        run.line_for("daily").starts_with("up to date"),
        "{}",
        run.stdout
    );

    // A change of the SQL rebuilds the table whole.
    p.write(
        "sql/daily.sql",
        "select day, count(*) as n, sum(amount) * 1 as total from raw.sales group by day",
    );
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        run.line_for("daily").contains("13 rows") && !run.line_for("daily").contains("written"),
        "{}",
        run.stdout
    );
}

/// A source that gains a column is landed whole again, so an incremental
/// model over it is rebuilt whole, with the new column, and says why.
#[test]
fn a_changed_schema_upstream_rebuilds_the_model_whole() {
    let p = project();
    p.write("sql/latest.sql", "select * from raw.sales");
    p.write(
        "data/sales.csv",
        "id,day,amount,updated\n1,2026-01-01,5,1\n",
    );
    p.mart(&["build"]).success();
    p.write(
        "data/sales.csv",
        "id,day,amount,updated,channel\n1,2026-01-01,5,1,x\n2,2026-01-02,6,2,y\n",
    );
    let run = p.mart(&["build", "-s", "latest"]);
    run.success();
    assert!(
        run.line_for("latest").contains(
            "(incremental \u{2192} full: raw.sales was landed whole again, not only appended to)"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        p.query_csv("select id, channel from latest order by id"),
        ["id,channel", "1,x", "2,y"]
    );
}

#[test]
fn bad_incremental_settings_are_refused() {
    let p = project();
    p.write(
        "data/sales.csv",
        "id,day,amount,updated\n1,2026-01-01,5,1\n",
    );
    p.write(
        "marts/models.yml",
        "models:\n  - name: daily\n    materialized: incremental\n",
    );
    p.mart(&["build"])
        .code(2)
        .stderr_has("`materialized: incremental` needs an `incremental:` strategy")
        .stderr_has("marts/models.yml:2:");
    p.write(
        "marts/models.yml",
        "models:\n  - name: daily\n    incremental: {strategy: time, column: day}\n",
    );
    p.mart(&["build"])
        .code(2)
        .stderr_has("`incremental:` is set but the model is materialized as `table`");
    p.write("marts/models.yml", "models:\n  - name: daily\n    materialized: incremental\n    incremental: {strategy: tme, column: day}\n");
    p.mart(&["build"])
        .code(2)
        .stderr_has("unknown variant `tme`")
        .stderr_has("did you mean `time`?");
    p.write("marts/models.yml", "sources:\n  - name: sales\n    path: data/sales.csv\nmodels:\n  - name: daily\n    materialized: incremental\n    incremental: {strategy: time, column: nope}\n");
    p.mart(&["build"])
        .code(2)
        .stderr_has("incremental column `nope` is not in its output")
        .stderr_has("the query's columns are: day, n, total");
    p.write("marts/models.yml", "sources:\n  - name: sales\n    path: data/sales.csv\nmodels:\n  - name: latest\n    materialized: incremental\n    incremental: {strategy: key, unique_key: [], column: updated}\n");
    p.mart(&["build"])
        .code(2)
        .stderr_has("`unique_key` names no column");
}
