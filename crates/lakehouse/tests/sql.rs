//! SQL through the real binary (standalone): answers compared with DuckDB (an independent
//! engine, from PyPI) on the same CSV files, the read-only refusals, errors, result formats,
//! versions, a large result streamed with bounded memory, the timeout and memory limits.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Lakehouse, Launch, lakehouse_bin, post_csv};

/// A deterministic generator (the tests must not depend on a seed source).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NAMES: &[&str] = &[
    "Ada", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Günther", "Hiro", "Ines", "José", "Kwame",
    "Léa", "Mei", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tomás",
];
const COUNTRIES: &[&str] = &["DE", "FR", "JP", "BR", "IN", "US", "NG"];
const STATUSES: &[&str] = &["new", "paid", "shipped", "returned", "cancelled"];

/// customers, orders and items CSVs, with nulls in dates, booleans, text and numbers.
fn tables() -> Vec<(&'static str, String)> {
    let mut r = Lcg(42);
    let mut customers = String::from("id,name,country,signup,vip\n");
    for id in 1..=200 {
        let name = format!(
            "{} {}",
            NAMES[r.below(NAMES.len() as u64) as usize],
            ["A.", "B.", "C.", "D."][r.below(4) as usize]
        );
        let vip = match r.below(5) {
            0 => "",
            1 | 2 => "true",
            _ => "false",
        };
        let _ = writeln!(
            customers,
            "{id},{name},{},2023-{:02}-{:02},{vip}",
            COUNTRIES[r.below(COUNTRIES.len() as u64) as usize],
            1 + r.below(12),
            1 + r.below(28)
        );
    }
    let mut orders =
        String::from("id,customer_id,amount,status,ordered_at,shipped,priority,note\n");
    for id in 1..=2000 {
        let month = 1 + r.below(12);
        let day = 1 + r.below(28);
        let shipped = if r.below(4) == 0 {
            String::new()
        } else {
            format!("2024-{month:02}-{:02}", (day + r.below(3)).min(28))
        };
        let priority = ["true", "false", ""][r.below(3) as usize];
        let note = ["", "gift", "fragile, handle with care", "rush"][r.below(4) as usize];
        let note = if note.contains(',') {
            format!("\"{note}\"")
        } else {
            note.to_string()
        };
        let _ = writeln!(
            orders,
            "{id},{},{}.{:02},{},2024-{month:02}-{day:02} {:02}:{:02}:{:02},{shipped},{priority},{note}",
            1 + r.below(210), // some customers do not exist
            r.below(1000),
            r.below(100),
            STATUSES[r.below(STATUSES.len() as u64) as usize],
            r.below(24),
            r.below(60),
            r.below(60),
        );
    }
    let mut items = String::from("order_id,sku,qty,price\n");
    for _ in 0..6000 {
        let _ = writeln!(
            items,
            "{},SKU-{:03},{},{}.{:02}",
            1 + r.below(2000),
            r.below(300),
            1 + r.below(9),
            r.below(200),
            r.below(100)
        );
    }
    vec![
        ("customers", customers),
        ("orders", orders),
        ("items", items),
    ]
}

/// (query, whether its ORDER BY fixes the row order).
const QUERIES: &[(&str, bool)] = &[
    ("SELECT count(*) FROM orders", false),
    (
        "SELECT status, count(*), sum(amount) FROM orders GROUP BY status",
        false,
    ),
    (
        "SELECT c.country, count(*) AS n, avg(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.country",
        false,
    ),
    (
        "SELECT c.id, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id",
        false,
    ),
    (
        "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.customer_id = c.id WHERE c.id IS NULL",
        false,
    ),
    (
        "SELECT c.country, o.status, count(*) FROM orders o FULL OUTER JOIN customers c ON o.customer_id = c.id GROUP BY c.country, o.status",
        false,
    ),
    (
        "SELECT id, customer_id, amount, row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC, id) AS rn FROM orders",
        false,
    ),
    (
        "SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders",
        false,
    ),
    (
        "SELECT id, customer_id, rank() OVER (PARTITION BY customer_id ORDER BY amount), dense_rank() OVER (PARTITION BY customer_id ORDER BY status) FROM orders",
        false,
    ),
    (
        "SELECT id, lag(amount) OVER (ORDER BY id), lead(amount, 2) OVER (ORDER BY id) FROM orders",
        false,
    ),
    (
        "SELECT id, avg(amount) OVER (PARTITION BY status ORDER BY id ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) FROM orders",
        false,
    ),
    (
        "SELECT id, ntile(4) OVER (ORDER BY amount, id) FROM orders",
        false,
    ),
    (
        "SELECT status, sum(amount) / sum(sum(amount)) OVER () FROM orders GROUP BY status",
        false,
    ),
    (
        "SELECT date_trunc('month', ordered_at) AS m, count(*) FROM orders GROUP BY m",
        false,
    ),
    (
        "SELECT extract(year FROM signup) AS y, extract(month FROM signup) AS mo, count(*) FROM customers GROUP BY y, mo",
        false,
    ),
    (
        "SELECT count(*) FROM orders WHERE shipped BETWEEN DATE '2024-03-01' AND DATE '2024-06-30'",
        false,
    ),
    (
        "SELECT count(*) FROM orders WHERE ordered_at >= TIMESTAMP '2024-06-01 00:00:00' AND ordered_at < TIMESTAMP '2024-07-01 00:00:00'",
        false,
    ),
    (
        "SELECT min(ordered_at), max(ordered_at), min(shipped), max(shipped) FROM orders",
        false,
    ),
    (
        "SELECT count(*), count(shipped), count(priority), count(note), count(DISTINCT status) FROM orders",
        false,
    ),
    (
        "SELECT id, coalesce(note, '(none)') FROM orders WHERE id < 50",
        false,
    ),
    (
        "SELECT priority, count(*) FROM orders GROUP BY priority",
        false,
    ),
    (
        "SELECT count(*) FROM orders WHERE priority IS NULL AND shipped IS NOT NULL",
        false,
    ),
    (
        "SELECT upper(name), lower(name), length(name), substr(name, 2, 3) FROM customers",
        false,
    ),
    (
        "SELECT count(*) FROM customers WHERE name LIKE 'J%' OR name LIKE '%é%'",
        false,
    ),
    (
        "SELECT name || ' (' || country || ')' FROM customers",
        false,
    ),
    (
        "SELECT country, string_agg(name, ',' ORDER BY name, id) FROM customers GROUP BY country",
        false,
    ),
    (
        "SELECT replace(note, ' ', '_'), trim(note), position('a' IN coalesce(note, '')) FROM orders WHERE id <= 100",
        false,
    ),
    (
        "SELECT status, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders GROUP BY status",
        false,
    ),
    (
        "SELECT status, percentile_cont(0.9) WITHIN GROUP (ORDER BY amount) FROM orders GROUP BY status",
        false,
    ),
    (
        "SELECT customer_id, median(amount) FROM orders GROUP BY customer_id",
        false,
    ),
    (
        "SELECT customer_id, count(*) FROM orders GROUP BY customer_id HAVING count(*) > 12",
        false,
    ),
    (
        "SELECT count(*) FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE vip)",
        false,
    ),
    (
        "SELECT count(*) FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.amount > 900)",
        false,
    ),
    (
        "SELECT count(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
        false,
    ),
    (
        "SELECT id, amount - (SELECT avg(amount) FROM orders) FROM orders WHERE id <= 20",
        false,
    ),
    (
        "WITH t AS (SELECT customer_id, sum(amount) AS s FROM orders GROUP BY customer_id) SELECT max(s), min(s), count(*) FROM t",
        false,
    ),
    (
        "SELECT country FROM customers UNION SELECT status FROM orders",
        false,
    ),
    (
        "SELECT customer_id FROM orders UNION ALL SELECT id FROM customers",
        false,
    ),
    (
        "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders",
        false,
    ),
    (
        "SELECT CASE WHEN amount > 500 THEN 'big' WHEN amount > 100 THEN 'mid' ELSE 'small' END AS b, count(*) FROM orders GROUP BY b",
        false,
    ),
    (
        "SELECT c.country, sum(i.qty * i.price) FROM items i JOIN orders o ON i.order_id = o.id JOIN customers c ON c.id = o.customer_id GROUP BY c.country",
        false,
    ),
    (
        "SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 10 OFFSET 5",
        true,
    ),
    (
        "SELECT id, shipped FROM orders ORDER BY shipped NULLS FIRST, id LIMIT 20",
        true,
    ),
    ("SELECT DISTINCT status, priority FROM orders", false),
    // Literals with a decimal point are numeric, as in PostgreSQL and DuckDB: in f64,
    // 0.06 + 0.01 < 0.07 and qty = 7 would drop out (TPC-H Q6's shape).
    (
        "SELECT qty, count(*) FROM items WHERE qty * 0.01 BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 GROUP BY qty",
        false,
    ),
    ("SELECT 0.06 + 0.01 = 0.07, 0.1 + 0.2", false),
    // A float column against exact literals compares in float (PostgreSQL, DuckDB).
    (
        "SELECT count(*), sum(price) FROM items WHERE price BETWEEN 10.5 AND 20.25 OR price IN (0.5, 199.99)",
        false,
    ),
    (
        "SELECT id, CASE WHEN amount > 500.5 THEN amount ELSE 0.5 END, coalesce(amount, 1.25) FROM orders WHERE id <= 50",
        false,
    ),
    (
        "SELECT count(*) FILTER (WHERE priority), sum(amount) FILTER (WHERE status = 'shipped') FROM orders",
        false,
    ),
    (
        "SELECT min(name), max(name), min(signup), max(signup) FROM customers",
        false,
    ),
    (
        "SELECT country, count(DISTINCT vip), bool_and(vip), bool_or(vip) FROM customers GROUP BY country",
        false,
    ),
    (
        "SELECT round(amount), abs(amount - 500), floor(amount), ceil(amount) FROM orders WHERE id <= 100",
        false,
    ),
    (
        "SELECT sku, sum(qty), max(price), stddev_samp(price), var_pop(price) FROM items GROUP BY sku",
        false,
    ),
];

/// Values compared loosely: numbers within a relative 1e-9 (engines sum in different
/// orders), everything else exactly.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

fn sort_key(row: &Value) -> String {
    // Numbers rounded so float noise does not reorder rows.
    row.as_array()
        .unwrap()
        .iter()
        .map(|v| match v {
            Value::Number(n) => format!("{:.6}", n.as_f64().unwrap()),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\u{1}")
}

fn compare(sql: &str, ordered: bool, ours: &[Value], theirs: &[Value]) -> Result<(), String> {
    let (mut ours, mut theirs) = (ours.to_vec(), theirs.to_vec());
    if !ordered {
        ours.sort_by_key(sort_key);
        theirs.sort_by_key(sort_key);
    }
    if ours.len() != theirs.len() {
        return Err(format!(
            "{sql}\n  row counts differ: ours {} vs DuckDB {}",
            ours.len(),
            theirs.len()
        ));
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
        if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| !same_value(x, y)) {
            return Err(format!(
                "{sql}\n  row {i} differs:\n    ours:   {a:?}\n    DuckDB: {b:?}"
            ));
        }
    }
    Ok(())
}

async fn sql(lh: &Lakehouse, sql: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sql", lh.url))
        .json(&json!({"sql": sql}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ingest_tables(lh: &Lakehouse, dir: &Path) -> Vec<Value> {
    let mut specs = Vec::new();
    for (name, csv) in tables() {
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, &csv).unwrap();
        let (status, manifest) = post_csv(&format!("{}/v1/ingest/{name}", lh.url), csv).await;
        assert_eq!(status, 201, "{manifest}");
        let columns: Vec<Value> = manifest["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| json!([f["name"], f["type"]]))
            .collect();
        specs.push(json!({"name": name, "csv": path, "columns": columns}));
    }
    specs
}

fn duckdb(tables: &[Value], queries: &[&str]) -> Vec<Value> {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql_duckdb.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let input = json!({"tables": tables, "queries": queries}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "DuckDB failed (scripts/test installs duckdb from PyPI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn answers_match_duckdb_on_the_same_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    let specs = ingest_tables(&lh, dir.path()).await;
    let queries: Vec<&str> = QUERIES.iter().map(|(q, _)| *q).collect();
    let expected = duckdb(&specs, &queries);
    let mut failures = Vec::new();
    let mut compared_rows = 0;
    for ((query, ordered), theirs) in QUERIES.iter().zip(&expected) {
        let (status, ours) = sql(&lh, query).await;
        if status != 200 {
            failures.push(format!("{query}\n  ours failed with {status}: {ours}"));
            continue;
        }
        let Some(their_rows) = theirs["rows"].as_array() else {
            failures.push(format!("{query}\n  DuckDB failed: {}", theirs["error"]));
            continue;
        };
        assert_eq!(
            ours["row_count"].as_u64(),
            Some(ours["rows"].as_array().unwrap().len() as u64)
        );
        compared_rows += their_rows.len();
        if let Err(e) = compare(
            query,
            *ordered,
            ours["rows"].as_array().unwrap(),
            their_rows,
        ) {
            failures.push(e);
        }
    }
    assert!(QUERIES.len() >= 30);
    assert!(compared_rows > 10_000, "only {compared_rows} rows compared");
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from DuckDB:\n{}",
        failures.len(),
        QUERIES.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn writes_and_file_reads_are_refused_with_403_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    let (status, _) = post_csv(&format!("{}/v1/ingest/trips", lh.url), "id,km\n1,2.5\n").await;
    assert_eq!(status, 201);
    let outside = dir.path().join("outside.csv");
    std::fs::write(&outside, "a\n1\n").unwrap();
    let outside = outside.display().to_string();
    let written = dir.path().join("written.csv").display().to_string();
    let cases = [
        ("INSERT INTO trips VALUES (2, 3.5)".to_string(), "INSERT"),
        ("UPDATE trips SET km = 0".into(), "UPDATE"),
        ("DELETE FROM trips".into(), "DELETE"),
        ("CREATE TABLE t AS SELECT 1".into(), "CREATE TABLE"),
        ("CREATE VIEW v AS SELECT * FROM trips".into(), "CREATE VIEW"),
        ("DROP TABLE trips".into(), "DROP"),
        ("ALTER TABLE trips ADD COLUMN x INT".into(), "ALTER TABLE"),
        ("TRUNCATE trips".into(), "TRUNCATE"),
        ("SET datafusion.execution.batch_size = 1".into(), "SET"),
        (format!("COPY trips TO '{written}'"), "COPY"),
        (
            format!("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{outside}'"),
            "CREATE EXTERNAL TABLE",
        ),
        ("SELECT * INTO trips2 FROM trips".into(), "SELECT INTO"),
        (
            format!("SELECT * FROM '{outside}'"),
            "a file path or URL as a table",
        ),
        (
            "SELECT * FROM \"s3://bucket/data.parquet\"".into(),
            "a file path or URL as a table",
        ),
        (
            format!("SELECT * FROM read_csv('{outside}')"),
            "the table function read_csv",
        ),
        ("EXPLAIN INSERT INTO trips VALUES (1, 1.0)".into(), "INSERT"),
    ];
    for (query, kind) in &cases {
        let (status, body) = sql(&lh, query).await;
        assert_eq!(status, 403, "{query}: {body}");
        assert_eq!(body["error"]["code"], "read_only", "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{kind} is not allowed")),
            "{query}: {message}"
        );
    }
    assert!(!Path::new(&written).exists(), "COPY wrote a file");
    let (status, body) = sql(&lh, "SELECT count(*) AS n, sum(km) FROM trips").await;
    assert_eq!((status, &body["rows"]), (200, &json!([[1, 2.5]])));
    let (_, list) = sql(
        &lh,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!(list["rows"], json!([["trips"]]));
}

#[tokio::test]
async fn errors_name_the_table_and_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    for name in ["trips", "trip_stats", "orders"] {
        let (status, _) = post_csv(&format!("{}/v1/ingest/{name}", lh.url), "id\n1\n").await;
        assert_eq!(status, 201);
    }
    let (status, body) = sql(&lh, "SELECT * FROM trip").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_table");
    assert_eq!(body["error"]["table"], "trip");
    assert_eq!(body["error"]["suggestions"], json!(["trips"]));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"trips\"")
    );

    let (status, body) = sql(&lh, "SELECT id FROM trips WHERE").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "syntax_error");
    assert_eq!(
        (
            body["error"]["line"].as_u64(),
            body["error"]["column"].as_u64()
        ),
        (Some(1), Some(27))
    );

    // Nestings that do not parse made the parser retry every level (2ⁿ work): refused
    // within the parse budget, without a position.
    let deep = format!("SELECT {}-E.(SELECT+1 FROM trips", "CAST(".repeat(30));
    let started = std::time::Instant::now();
    let (status, body) = sql(&lh, &deep).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "syntax_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("nests too deeply"), "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let (status, body) = sql(&lh, "SELECT nope FROM trips").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("nope"),
        "{body}"
    );

    let (status, body) = sql(&lh, "SELECT 1; SELECT 2").await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = sql(&lh, "").await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = sql(&lh, "SELECT 1 / 0").await;
    assert!(matches!(status, 400 | 422), "{status} {body}");

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/sql", lh.url))
        .body("SELECT 1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let response = client
        .post(format!("{}/v1/sql", lh.url))
        .json(&json!({"sql": "SELECT 1", "format": "xml"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("xml"));
}

#[tokio::test]
async fn formats_versions_and_fresh_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    let url = format!("{}/v1/ingest/t", lh.url);
    assert_eq!(post_csv(&url, "id,name\n1,a\n2,\"b,c\"\n").await.0, 201);
    // Visible to the very next query.
    assert_eq!(
        sql(&lh, "SELECT count(*) FROM t").await.1["rows"],
        json!([[2]])
    );
    assert_eq!(
        post_csv(&format!("{url}?mode=append"), "id,name\n3,\n")
            .await
            .0,
        201
    );
    assert_eq!(
        sql(&lh, "SELECT count(*) FROM t").await.1["rows"],
        json!([[3]])
    );
    assert_eq!(
        post_csv(&format!("{url}?mode=overwrite"), "id,name\n9,z\n")
            .await
            .0,
        201
    );
    assert_eq!(
        sql(&lh, "SELECT * FROM t").await.1["rows"],
        json!([[9, "z"]])
    );
    // Older kept versions by name@vN.
    assert_eq!(
        sql(&lh, "SELECT count(*) FROM \"t@v1\"").await.1["rows"],
        json!([[2]])
    );
    assert_eq!(
        sql(&lh, "SELECT count(*) FROM \"t@v2\"").await.1["rows"],
        json!([[3]])
    );
    let (status, body) = sql(&lh, "SELECT * FROM \"t@v7\"").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_version");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("v1, v2, v3"),
        "{body}"
    );

    let (status, body) = sql(&lh, "SELECT * FROM \"t@v2\" ORDER BY id").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["columns"],
        json!([{"name": "id", "type": "int64"}, {"name": "name", "type": "utf8"}])
    );
    assert_eq!(body["rows"], json!([[1, "a"], [2, "b,c"], [3, null]]));

    let client = reqwest::Client::new();
    let fetch = |format: &'static str| {
        let client = client.clone();
        let url = format!("{}/v1/sql", lh.url);
        async move {
            let response = client
                .post(url)
                .json(&json!({"sql": "SELECT * FROM \"t@v2\" ORDER BY id", "format": format}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (content_type, response.bytes().await.unwrap())
        }
    };
    let (ct, body) = fetch("csv").await;
    assert!(ct.starts_with("text/csv"));
    assert_eq!(&body[..], b"id,name\r\n1,a\r\n2,\"b,c\"\r\n3,\r\n");
    let (ct, body) = fetch("ndjson").await;
    assert_eq!(ct, "application/x-ndjson");
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b,c\"}\n{\"id\":3,\"name\":null}\n"
    );
    let (ct, body) = fetch("arrow").await;
    assert_eq!(ct, "application/vnd.apache.arrow.stream");
    // An IPC stream: continuation marker, then the schema message.
    assert_eq!(&body[..4], &[0xff, 0xff, 0xff, 0xff]);
    assert!(body.len() > 100);
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_ten_million_row_result_streams_in_bounded_memory() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    let before = peak_rss_kib(lh.pid());
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sql", lh.url))
        .json(&json!({
            "sql": "SELECT value, value * 2 AS twice, 'row ' || value AS label FROM generate_series(1, 10000000)",
            "format": "csv"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let (mut bytes, mut lines) = (0u64, 0u64);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    while let Some(chunk) = tokio::time::timeout_at(deadline, body.next())
        .await
        .expect("the result took over 240 s")
    {
        let chunk = chunk.unwrap();
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    assert_eq!(lines, 10_000_001, "header + 10M rows");
    let grown_mib = (peak_rss_kib(lh.pid()) - before) / 1024;
    assert!(bytes > 250_000_000, "{bytes}");
    // The result is ~270 MB as CSV; streaming holds a few batches at a time.
    assert!(grown_mib < 150, "peak RSS grew by {grown_mib} MiB");
}

#[tokio::test]
async fn runaway_queries_end_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(&dir.path().join("data"))
        .env("LAKEHOUSE_QUERYD_QUERY_TIMEOUT", "3s")
        .env("LAKEHOUSE_QUERYD_QUERY_MEMORY_LIMIT", "20000000");
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let started = std::time::Instant::now();
    let (status, body) = sql(
        &lh,
        "SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3",
    )
    .await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], "query_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    let (status, body) = sql(
        &lh,
        "SELECT array_agg(value) FROM generate_series(1, 20000000)",
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "query_memory_exceeded");
    // The server is fine afterwards.
    assert_eq!(sql(&lh, "SELECT 41 + 1").await.1["rows"], json!([[42]]));
}

#[tokio::test]
async fn the_cli_prints_tables_csv_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    let csv = "city,temp,day\nOslo,-3.5,2024-01-02\nLima,21,2024-01-02\nOslo,,2024-01-03\n";
    assert_eq!(
        post_csv(&format!("{}/v1/ingest/weather", lh.url), csv)
            .await
            .0,
        201
    );
    let server = lh.url.clone();
    let cli = move |args: &[&str]| {
        let mut all = vec!["sql", "--server", server.as_str()];
        all.extend_from_slice(args);
        test_support::run(lakehouse_bin!(), &all, &[])
    };
    let (code, out, err) = cli(&[
        "SELECT city, count(*) AS n, max(temp) AS hottest FROM weather GROUP BY city ORDER BY city",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "city  n  hottest\nLima  1     21.0\nOslo  2     -3.5\n"
    );
    assert!(err.contains("(2 rows)"), "{err}");
    let (code, out, _) = cli(&[
        "--format",
        "csv",
        "SELECT * FROM weather ORDER BY day, city",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "city,temp,day\r\nLima,21.0,2024-01-02\r\nOslo,-3.5,2024-01-02\r\nOslo,,2024-01-03\r\n"
    );
    let (code, out, _) = cli(&[
        "--format",
        "ndjson",
        "SELECT city FROM weather WHERE temp IS NULL",
    ]);
    assert_eq!((code, out.as_str()), (0, "{\"city\":\"Oslo\"}\n"));
    let (code, _, err) = cli(&["SELECT * FROM wether"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean \"weather\""), "{err}");
    let (code, _, err) = cli(&["DROP TABLE weather"]);
    assert_eq!(code, 1);
    assert!(err.contains("DROP is not allowed"), "{err}");
    let (code, _, _) = cli(&["--format", "xml", "SELECT 1"]);
    assert_eq!(code, 2);
}
