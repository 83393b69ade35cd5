//! Table models brought up to date from appended rows: a model linear in
//! the table that grew appends what the new rows give, an aggregation folds
//! them into its stored state; both equal a full rebuild. Anything else is
//! rebuilt whole, saying why when rows were only appended.

use crate::common::{Lcg, TestProject};

const YAML: &str = "\
sources:
  - {name: sales, path: data/sales.csv}
  - {name: regions, path: data/regions.csv}
models:
  - {name: clean}
  - {name: by_day}
  - {name: by_region}
  - {name: totals}
  - {name: ranked}
  - {name: top_days}
  - {name: by_day_again, sql: sql/by_day.sql, on_append: rebuild}
";

const TABLES: [&str; 7] = [
    "clean",
    "by_day",
    "by_region",
    "totals",
    "ranked",
    "top_days",
    "by_day_again",
];

fn project() -> TestProject {
    let p = TestProject::empty();
    p.write("marts/m.yml", YAML);
    p.write(
        "sql/clean.sql",
        "select id, day, customer, amount from raw.sales where amount > 0",
    );
    p.write(
        "sql/by_day.sql",
        "select day, count(*) as n, sum(amount) as total, min(amount) as lo, max(amount) as hi,
                count(distinct customer) as customers, avg(amount) as mean
         from clean group by day",
    );
    p.write(
        "sql/by_region.sql",
        "select r.region, count(*) as n, sum(s.amount) as total
         from raw.sales s join raw.regions r on r.customer = s.customer
         group by r.region order by total desc",
    );
    p.write(
        "sql/totals.sql",
        "select count(*) as n, sum(amount) as total, max(day) as last_day from raw.sales",
    );
    p.write(
        "sql/ranked.sql",
        "select id, rank() over (order by amount desc, id) as place from clean",
    );
    p.write(
        "sql/top_days.sql",
        "select day, total from by_day order by total desc, day limit 3",
    );
    let mut regions = String::from("customer,region\n");
    for c in 0..20 {
        regions.push_str(&format!("{c},{}\n", ["north", "south", "east"][c % 3]));
    }
    p.write("data/regions.csv", &regions);
    p
}

fn sales(rng: &mut Lcg, ids: std::ops::Range<u64>, days: std::ops::Range<u64>) -> String {
    let mut csv = String::new();
    for id in ids {
        let day = days.start + rng.next(days.end - days.start);
        let amount = rng.next(120) as i64 - 20;
        csv.push_str(&format!(
            "{id},2026-03-{day:02},{},{amount}\n",
            rng.next(20)
        ));
    }
    csv
}

/// Every table equals the same table rebuilt whole in another warehouse.
fn assert_as_full_rebuild(p: &TestProject, step: &str, stdout: &str) {
    let name: String = step
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let full = format!("full-{name}");
    p.mart(&["--warehouse", &full, "build", "--full-refresh"])
        .success();
    for table in TABLES {
        assert_eq!(
            p.sorted_rows("warehouse", table),
            p.sorted_rows(&full, table),
            "{step}: {table} differs from a full rebuild\n{stdout}"
        );
    }
}

#[test]
fn appended_rows_are_added_or_folded_in_and_equal_a_full_rebuild() {
    let p = project();
    let mut rng = Lcg(5);
    let mut csv = format!("id,day,customer,amount\n{}", sales(&mut rng, 0..300, 1..20));
    p.write("data/sales.csv", &csv);
    let first = p.mart(&["build"]);
    first.success();
    assert_as_full_rebuild(&p, "first", &first.stdout);

    // Rows appended to the sales file: each table says how it took them.
    csv.push_str(&sales(&mut rng, 300..340, 15..25));
    p.write("data/sales.csv", &csv);
    let run = p.mart(&["build"]);
    run.success();
    let line = |t: &str| run.line_for(t).to_string();
    assert!(
        line("clean").contains("(appended from the rows new in raw.sales)"),
        "{}",
        run.stdout
    );
    assert!(line("clean").contains("written)"), "{}", run.stdout);
    for (table, from) in [
        ("by_day", "clean"),
        ("by_region", "raw.sales"),
        ("totals", "raw.sales"),
    ] {
        let said = format!("(folded in the rows new in {from})");
        assert!(line(table).contains(&said), "{table}:\n{}", run.stdout);
    }
    assert!(
        line("ranked")
            .contains("(rows new in clean; rebuilt whole: a window function sees all rows)"),
        "{}",
        run.stdout
    );
    assert!(!line("by_day_again").contains('('), "{}", run.stdout);
    assert_as_full_rebuild(&p, "append", &run.stdout);

    // Twice more, the second time into the state the first one wrote.
    for round in 0..2 {
        let ids = 340 + round * 10..350 + round * 10;
        csv.push_str(&sales(&mut rng, ids, 20..28));
        p.write("data/sales.csv", &csv);
        let run = p.mart(&["build"]);
        assert!(run.line_for("by_day").contains("folded"), "{}", run.stdout);
        assert_as_full_rebuild(&p, &format!("append-{round}"), &run.stdout);
    }

    // A row corrected in the middle: every table is rebuilt whole.
    csv = csv.replacen(",2026-03-", ",2026-02-", 1);
    p.write("data/sales.csv", &csv);
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        !run.stdout.contains("folded") && !run.stdout.contains("appended from"),
        "{}",
        run.stdout
    );
    assert_as_full_rebuild(&p, "correct", &run.stdout);

    // New rows in two tables at once: each table's new rows joined with
    // the other as it is now, and as it was; and an edited query: whole.
    csv.push_str(&sales(&mut rng, 400..410, 25..28));
    p.write("data/sales.csv", &csv);
    p.write(
        "data/regions.csv",
        &format!(
            "{}20,west\n",
            std::fs::read_to_string(p.path().join("data/regions.csv")).unwrap()
        ),
    );
    p.write(
        "sql/by_day.sql",
        "select day, count(*) as n, sum(amount) as total, min(amount) as lo, max(amount) as hi,
                count(distinct customer) as customers, avg(amount) as mean
         from clean where customer <> 3 group by day",
    );
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        run.line_for("by_region")
            .contains("(folded in the rows new in raw.sales and raw.regions)"),
        "{}",
        run.stdout
    );
    assert!(!run.line_for("by_day").contains("folded"), "{}", run.stdout);
    assert_as_full_rebuild(&p, "edit", &run.stdout);
}

#[test]
fn the_stored_state_is_not_read_as_rows() {
    let p = project();
    let mut rng = Lcg(9);
    p.write(
        "data/sales.csv",
        &format!("id,day,customer,amount\n{}", sales(&mut rng, 0..50, 1..5)),
    );
    p.mart(&["build", "-s", "+by_day"]).success();
    let dir = p.warehouse().join("mart/by_day");
    assert!(dir.join("_mart.state").is_file());
    let rows = p.query_csv("select count(*) as n from by_day");
    let days = p.query_csv("select count(distinct day) as n from clean");
    assert_eq!(rows, days);
}

/// The property: whatever the edits between builds (rows appended to one
/// table or both, in the last file or a new one; a row corrected; a file
/// removed; a query edited), every table equals a full rebuild.
#[test]
fn tables_equal_full_rebuilds_after_random_edits() {
    let mut lines = String::new();
    for seed in [3u64, 11, 17, 29] {
        let p = project();
        p.write(
            "marts/m.yml",
            &YAML
                .replace("data/sales.csv", "data/sales")
                .replace("data/regions.csv", "data/regions"),
        );
        std::fs::remove_file(p.path().join("data/regions.csv")).unwrap();
        let mut rng = Lcg(seed);
        let mut sales_files = vec![format!(
            "id,day,customer,amount\n{}",
            sales(&mut rng, 0..100, 1..10)
        )];
        let mut regions = String::from("customer,region\n0,north\n1,south\n");
        let (mut next_id, mut next_customer, mut limit) = (100, 2, 0);
        let mut log = Vec::new();
        for step in 0..8 {
            match if step == 0 { 9 } else { rng.next(9) } {
                0..=2 => {
                    let n = 1 + rng.next(20);
                    let rows = sales(&mut rng, next_id..next_id + n, 5..30);
                    next_id += 30;
                    match rng.next(2) {
                        0 => sales_files.last_mut().unwrap().push_str(&rows),
                        _ => sales_files.push(format!("id,day,customer,amount\n{rows}")),
                    }
                    log.push("append sales");
                }
                3 => {
                    regions.push_str(&format!("{next_customer},west\n"));
                    next_customer += 1;
                    log.push("append regions");
                }
                4 => {
                    sales_files.last_mut().unwrap().push_str(&sales(
                        &mut rng,
                        next_id..next_id + 5,
                        5..30,
                    ));
                    next_id += 5;
                    regions.push_str(&format!("{next_customer},east\n"));
                    next_customer += 1;
                    log.push("append both");
                }
                5 => {
                    let f = rng.next(sales_files.len() as u64) as usize;
                    sales_files[f] = sales_files[f].replacen(",2026-03-", ",2026-02-", 1);
                    log.push("correct a row");
                }
                6 if sales_files.len() > 1 => {
                    sales_files.remove(0);
                    std::fs::remove_dir_all(p.path().join("data/sales")).unwrap();
                    log.push("remove a file");
                }
                7 => {
                    limit += 1;
                    p.write(
                        "sql/clean.sql",
                        &format!(
                            "select id, day, customer, amount from raw.sales where amount > {limit}"
                        ),
                    );
                    log.push("edit clean");
                }
                _ => log.push("nothing"),
            }
            for (i, csv) in sales_files.iter().enumerate() {
                p.write(&format!("data/sales/part-{i}.csv"), csv);
            }
            p.write("data/regions/all.csv", &regions);
            let run = p.mart(&["build"]);
            run.success();
            lines.push_str(&run.stdout);
            assert_as_full_rebuild(&p, &format!("seed {seed} step {step} {log:?}"), &run.stdout);
        }
    }
    for said in [
        "(appended from the rows new in raw.sales)",
        "(folded in the rows new in raw.sales and raw.regions)",
        "(folded in the rows new in raw.regions)",
        "(folded in the rows new in clean)",
    ] {
        assert!(lines.contains(said), "no build said {said}:\n{lines}");
    }
}
