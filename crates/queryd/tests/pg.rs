//! The PostgreSQL front end over real datasets (ingested CSV in a temp dir): a driver
//! (tokio-postgres, binary formats), the raw extended protocol as JDBC speaks it (text
//! parameters, row limits), and psql itself when installed
//! (`apt-get install -y postgresql-client`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use catalogd::{Catalog, CommitMode, StoreCatalog};
use chrono::{NaiveDate, NaiveDateTime};
use common::server::{Shutdown, ShutdownTrigger};
use fallible_iterator::FallibleIterator;
use futures::StreamExt;
use ingestd::convert::csv::sniff::CsvOptions;
use ingestd::{Format, IngestRequest, Ingestor};
use postgres_protocol::message::{backend, frontend};
use queryd::{QueryEngine, QueryOptions, pg};
use rust_decimal::Decimal;
use storaged::{ObjectStoreBackend, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const TRIPS: &str = "id,fare,paid,city,day,at
1,12.5,true,Paris,2024-01-31,2024-01-31 08:00:00
2,7.25,false,,2024-02-01,2024-02-01 09:30:00.5
3,30,true,Berlin,2024-02-02,2024-02-02 23:59:59
";

/// Bounds every wait: a hung server fails the test instead of stalling the suite.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("timed out")
}

struct Server {
    addr: SocketAddr,
    trigger: ShutdownTrigger,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A server over one dataset, `trips`.
    async fn start(password: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
        let store: Arc<dyn Store> = backend.clone();
        let catalog: Arc<dyn Catalog> = Arc::new(StoreCatalog::new(store.clone(), 10));
        let ingestor = Ingestor::new(store, catalog.clone(), 0);
        let request = IngestRequest {
            name: "trips".parse().unwrap(),
            mode: CommitMode::Create,
            format: Format::Csv(CsvOptions::default()),
            gzip: false,
            idempotency_key: None,
            evolve: false,
            partition_by: None,
        };
        let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(TRIPS))]);
        within(ingestor.ingest(request, body)).await.unwrap();
        let mut engine =
            QueryEngine::new(catalog, backend.object_store(), QueryOptions::default()).unwrap();
        pg::install(&mut engine).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, shutdown) = Shutdown::new();
        let password = password.map(str::to_string);
        let task = tokio::spawn(pg::serve(
            engine,
            listener,
            shutdown,
            pg::PgOptions {
                password,
                ..pg::PgOptions::default()
            },
        ));
        Server {
            addr,
            trigger,
            task,
            _dir: dir,
        }
    }

    fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.addr.ip().to_string())
            .port(self.addr.port())
            .user("analyst")
            .dbname("lakehouse")
            .connect_timeout(Duration::from_secs(10));
        config
    }

    async fn connect(&self) -> Client {
        connect(self.config()).await.expect("connects")
    }
}

async fn connect(config: tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = within(config.connect(NoTls)).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

fn simple_rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn simple_protocol_runs_each_statement_of_a_string() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let messages = within(client.simple_query(
        "SET extra_float_digits = 3; SELECT id, city, fare, day, at FROM trips ORDER BY id; \
         SHOW extra_float_digits",
    ))
    .await
    .unwrap();
    let completions: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(completions, vec![0, 3, 1], "SET, the SELECT's 3 rows, SHOW");
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        simple_rows(&messages),
        vec![
            vec![
                s("1"),
                s("Paris"),
                s("12.5"),
                s("2024-01-31"),
                s("2024-01-31 08:00:00")
            ],
            vec![
                s("2"),
                None,
                s("7.25"),
                s("2024-02-01"),
                s("2024-02-01 09:30:00.5")
            ],
            vec![
                s("3"),
                s("Berlin"),
                s("30"),
                s("2024-02-02"),
                s("2024-02-02 23:59:59")
            ],
            vec![s("3")],
        ]
    );
}

#[tokio::test]
async fn results_have_postgres_types_and_binary_values() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let statement = within(client.prepare(
        "SELECT id, fare, paid, city, day, at, CAST(fare AS DECIMAL(10, 2)) AS price, \
         CAST(id AS INT) AS small FROM trips ORDER BY id",
    ))
    .await
    .unwrap();
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(
        types,
        vec![
            Type::INT8,
            Type::FLOAT8,
            Type::BOOL,
            Type::TEXT,
            Type::DATE,
            Type::TIMESTAMP,
            Type::NUMERIC,
            Type::INT4
        ]
    );
    let rows = within(client.query(&statement, &[])).await.unwrap();
    assert_eq!(rows.len(), 3);
    let second = &rows[1];
    assert_eq!(second.get::<_, i64>("id"), 2);
    assert_eq!(second.get::<_, f64>("fare"), 7.25);
    assert!(!second.get::<_, bool>("paid"));
    assert_eq!(second.get::<_, Option<String>>("city"), None);
    assert_eq!(
        second.get::<_, NaiveDate>("day"),
        NaiveDate::from_ymd_opt(2024, 2, 1).unwrap()
    );
    assert_eq!(
        second.get::<_, NaiveDateTime>("at"),
        NaiveDate::from_ymd_opt(2024, 2, 1)
            .unwrap()
            .and_hms_milli_opt(9, 30, 0, 500)
            .unwrap()
    );
    assert_eq!(second.get::<_, Decimal>("price"), Decimal::new(725, 2));
    assert_eq!(second.get::<_, i32>("small"), 2);
    assert_eq!(
        rows[0].get::<_, Option<String>>("city").as_deref(),
        Some("Paris")
    );
}

#[tokio::test]
async fn parameters_of_each_type_bind_in_binary() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let day = NaiveDate::from_ymd_opt(2024, 2, 2).unwrap();
    let at = day.and_hms_opt(23, 59, 59).unwrap();
    let price = Decimal::new(1250, 2);
    let cases: Vec<(&str, Box<dyn ToSql + Sync>, Type, i64)> = vec![
        ("id = $1", Box::new(2i64), Type::INT8, 2),
        ("fare = $1", Box::new(7.25f64), Type::FLOAT8, 2),
        ("paid = $1 AND id > 1", Box::new(true), Type::BOOL, 3),
        ("city = $1", Box::new("Berlin"), Type::TEXT, 3),
        ("day = $1", Box::new(day), Type::DATE, 3),
        ("at = $1", Box::new(at), Type::TIMESTAMP, 3),
        (
            "CAST(fare AS DECIMAL(10, 2)) = $1",
            Box::new(price),
            Type::NUMERIC,
            1,
        ),
    ];
    for (condition, value, ty, id) in cases {
        let sql = format!("SELECT id FROM trips WHERE {condition}");
        let statement = within(client.prepare(&sql)).await.unwrap();
        assert_eq!(statement.params(), &[ty], "{sql}");
        let rows = within(client.query(&statement, &[value.as_ref()]))
            .await
            .unwrap();
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(ids, vec![id], "{sql}");
    }
    // Declared types win over inference; an untyped parameter is text.
    let statement =
        within(client.prepare_typed("SELECT id FROM trips WHERE id = $1", &[Type::INT4]))
            .await
            .unwrap();
    let rows = within(client.query(&statement, &[&3i32])).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 3);
    let row = within(client.query_one("SELECT $1 AS echo", &[&"héllo"]))
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("echo"), "héllo");
    // A cast fixes a parameter's type, as in PostgreSQL.
    let row = within(client.query_one("SELECT $1::int8 + 1 AS n, $2::date AS d", &[&41i64, &day]))
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("n"), 42);
    assert_eq!(row.get::<_, NaiveDate>("d"), day);
    // A null parameter matches nothing.
    let rows = within(client.query("SELECT id FROM trips WHERE id = $1", &[&None::<i64>]))
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn errors_carry_sqlstates() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let unknown = within(client.simple_query("SELECT * FROM nosuch"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&unknown), "42P01");
    let syntax = within(client.simple_query("SELECT 1;\nSELECT * FORM trips"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&syntax), "42601");
    let position = syntax.as_db_error().and_then(|e| e.position()).cloned();
    assert_eq!(
        position,
        Some(tokio_postgres::error::ErrorPosition::Original(25)),
        "the position of `trips` in the whole string"
    );
    // A nesting whose every level the parser would retry: refused within its budget, over
    // both the simple and the extended protocol.
    let deep = format!("SELECT {}-E.(SELECT+1", "ARRAY[".repeat(30));
    let simple = within(client.simple_query(&deep)).await.unwrap_err();
    let extended = within(client.prepare(&deep)).await.unwrap_err();
    // A parameter number past PostgreSQL's 65535 is refused, not allocated for.
    let huge = within(client.prepare("SELECT $4000000000"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&huge), "42000", "{huge}");
    assert!(
        huge.as_db_error()
            .unwrap()
            .message()
            .contains("at most 65535 parameters"),
        "{huge}"
    );
    for refused in [simple, extended] {
        assert_eq!(sqlstate(&refused), "42601");
        let message = refused.as_db_error().unwrap().message().to_string();
        assert!(message.contains("nests too deeply to parse"), "{message}");
    }
    let insert = within(client.simple_query("INSERT INTO trips VALUES (9)"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&insert), "25006");
    let prepared = within(client.prepare("DELETE FROM trips"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&prepared), "25006");
    let zero = within(client.query("SELECT 1 / 0", &[])).await.unwrap_err();
    assert_eq!(sqlstate(&zero), "22012");
    let column = within(client.query("SELECT nope FROM trips", &[]))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&column), "42703");
    // The connection is still good after errors in either protocol.
    let row = within(client.query_one("SELECT count(*) FROM trips", &[]))
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
}

#[tokio::test]
async fn client_settings_and_transactions_are_accepted() {
    let server = Server::start(None).await;
    let mut client = server.connect().await;
    for sql in [
        "SET application_name = 'report'",
        "SET TIME ZONE 'UTC'",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "RESET ALL",
        "DISCARD ALL",
        "DEALLOCATE ALL",
    ] {
        within(client.simple_query(sql)).await.unwrap();
        within(client.execute(sql, &[])).await.unwrap();
    }
    within(client.simple_query("SET search_path = public"))
        .await
        .unwrap();
    let path = within(client.query_one("SHOW search_path", &[]))
        .await
        .unwrap();
    assert_eq!(path.get::<_, String>(0), "public");
    for (name, value) in [
        ("server_version", "16.0 (lakehouse)"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("TimeZone", "UTC"),
        ("transaction_isolation", "read committed"),
        ("standard_conforming_strings", "on"),
    ] {
        let row = within(client.query_one(&format!("SHOW {name}"), &[]))
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), value, "{name}");
    }
    let unknown = within(client.simple_query("SHOW no_such_setting"))
        .await
        .unwrap_err();
    assert!(unknown.code().is_some(), "{unknown}");
    // Other SHOWs are the engine's.
    let tables = within(client.simple_query("SHOW TABLES")).await.unwrap();
    assert!(
        simple_rows(&tables)
            .iter()
            .any(|row| row.contains(&Some("trips".to_string())))
    );
    let parameter = within(client.simple_query("SELECT $1")).await.unwrap_err();
    assert_eq!(sqlstate(&parameter), "42P02");
    let tx = within(client.transaction()).await.unwrap();
    let row = within(tx.query_one("SELECT max(id) FROM trips", &[]))
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
    within(tx.commit()).await.unwrap();
}

#[tokio::test]
async fn a_portal_returns_rows_in_chunks() {
    let server = Server::start(None).await;
    let mut client = server.connect().await;
    let tx = within(client.transaction()).await.unwrap();
    let statement = within(tx.prepare("SELECT value FROM generate_series(1, 5) ORDER BY value"))
        .await
        .unwrap();
    let portal = within(tx.bind(&statement, &[])).await.unwrap();
    let mut seen = Vec::new();
    for expected in [2, 2, 1, 0] {
        let rows = within(tx.query_portal(&portal, 2)).await.unwrap();
        assert_eq!(rows.len(), expected);
        seen.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    within(tx.commit()).await.unwrap();
}

#[tokio::test]
async fn a_large_result_streams() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let rows = within(client.query_raw(
        "SELECT value, value * 2 AS twice FROM generate_series(1, 2000000)",
        std::iter::empty::<i64>(),
    ))
    .await
    .unwrap();
    let mut rows = std::pin::pin!(rows);
    let mut count = 0i64;
    let mut sum = 0i64;
    within(async {
        while let Some(row) = rows.next().await {
            sum += row.unwrap().get::<_, i64>(0);
            count += 1;
        }
    })
    .await;
    assert_eq!(count, 2_000_000);
    assert_eq!(sum, 2_000_000 * 2_000_001 / 2);
    // Rows arrive while the query runs: the first of a practically endless result come
    // at once, which they could not if the result were gathered first.
    let rows = within(client.query_raw(
        "SELECT value FROM generate_series(1, 1000000000000)",
        std::iter::empty::<i64>(),
    ))
    .await
    .unwrap();
    let first: Vec<_> = within(rows.take(10_000).collect()).await;
    assert_eq!(first.len(), 10_000);
}

#[tokio::test]
async fn a_cancel_request_stops_a_running_query() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let token = client.cancel_token();
    let mut long = tokio::spawn(async move {
        client
            .simple_query("SELECT sum(value) FROM generate_series(1, 100000000000)")
            .await
    });
    // A cancel that arrives before the query starts stops nothing: cancel until the query
    // ends, rather than guess how long it takes to start.
    let start = std::time::Instant::now();
    let outcome = loop {
        within(token.cancel_query(NoTls)).await.unwrap();
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(200), &mut long).await {
            break done.unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never cancelled");
    };
    assert_eq!(sqlstate(&outcome.unwrap_err()), "57014");
}

#[tokio::test]
async fn a_password_is_required_when_set() {
    let server = Server::start(Some("s3cret")).await;
    let mut config = server.config();
    let missing = connect(config.clone())
        .await
        .expect_err("refused without a password");
    assert!(format!("{missing:?}").contains("password"), "{missing:?}");
    config.password("wrong");
    let wrong = connect(config.clone())
        .await
        .expect_err("refused with a wrong password");
    assert_eq!(sqlstate(&wrong), "28P01");
    config.password("s3cret");
    let client = connect(config).await.expect("accepted with the password");
    let row = within(client.query_one("SELECT 1::int8", &[]))
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

#[tokio::test]
async fn clients_find_the_catalog() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let row = within(client.query_one(
        "SELECT version(), current_database(), current_schema(), current_user",
        &[],
    ))
    .await
    .unwrap();
    assert!(
        row.get::<_, String>("version")
            .starts_with("PostgreSQL 16.0")
    );
    assert_eq!(row.get::<_, String>("current_database"), "lakehouse");
    assert_eq!(row.get::<_, String>("current_schema"), "public");
    assert_eq!(row.get::<_, String>("current_user"), "analyst");
    let tables = within(client.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        &[],
    ))
    .await
    .unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].get::<_, String>(0), "trips");
    let columns = within(client.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'trips' \
         ORDER BY ordinal_position",
        &[],
    ))
    .await
    .unwrap();
    assert_eq!(columns.len(), 6);
    let attributes = within(client.query(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
         WHERE a.attrelid = 'trips'::regclass AND a.attnum > 0 ORDER BY a.attnum",
        &[],
    ))
    .await
    .unwrap();
    let described: Vec<(String, String)> =
        attributes.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        described,
        [
            ("id", "bigint"),
            ("fare", "double precision"),
            ("paid", "boolean"),
            ("city", "text"),
            ("day", "date"),
            ("at", "timestamp without time zone"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Shapes BI tools and JDBC send: a column and the wildcard that repeats it, a
    // description join, a correlated lookup, regclass literals.
    for sql in [
        "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n \
         LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = n.oid AND d.objsubid = 0 \
         AND d.classoid = 'pg_namespace'::regclass ORDER BY nspname",
        "SELECT c.relname FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c \
         LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 \
         AND d.classoid = 'pg_class'::regclass) WHERE c.relnamespace = n.oid \
         AND n.nspname LIKE 'public' AND c.relkind IN ('r','p') ORDER BY 1",
        "SELECT t.typname FROM pg_catalog.pg_type t WHERE (t.typrelid = 0 OR \
         (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))",
        "SELECT current_schema(), session_user, pg_backend_pid(), txid_current()",
    ] {
        within(client.simple_query(sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let namespaces = within(client.query(
        "SELECT n.oid, n.* FROM pg_namespace n WHERE nspname = 'public'",
        &[],
    ))
    .await
    .unwrap();
    let names: Vec<&str> = namespaces[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["oid", "oid", "nspname", "nspowner", "nspacl"]);
    // Every emulated relation can be read (BI tools probe many).
    let relations = within(client.query(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
         ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog'",
        &[],
    ))
    .await
    .unwrap();
    assert!(relations.len() > 20);
    for relation in &relations {
        let name: String = relation.get(0);
        within(client.simple_query(&format!("SELECT * FROM pg_catalog.{name}")))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let server = Server::start(None).await;
    let client = server.connect().await;
    let config = server.config();
    server.trigger.trigger();
    within(server.task).await.unwrap().unwrap();
    assert!(within(client.simple_query("SELECT 1")).await.is_err());
    assert!(connect(config).await.is_err());
}

/// The raw extended protocol as JDBC speaks it: declared types, text parameters, a
/// Describe of the portal, and Executes with a row limit.
#[tokio::test]
async fn text_parameters_and_row_limits_on_the_wire() {
    let server = Server::start(None).await;
    let mut wire = Wire::connect(server.addr).await;
    let mut buf = BytesMut::new();
    frontend::parse(
        "s1",
        "SELECT id, city FROM trips WHERE id >= $1 AND day >= $2 ORDER BY id",
        [Type::INT4.oid(), 0],
        &mut buf,
    )
    .unwrap();
    frontend::describe(b'S', "s1", &mut buf).unwrap();
    bind(&mut buf, "p1", "s1", &["1", "2024-01-01"]);
    frontend::describe(b'P', "p1", &mut buf).unwrap();
    frontend::execute("p1", 2, &mut buf).unwrap();
    frontend::execute("p1", 2, &mut buf).unwrap();
    frontend::sync(&mut buf);
    let messages = wire.exchange(&buf).await;
    assert_eq!(
        messages,
        vec![
            "ParseComplete",
            "ParameterDescription [23, 1082]",
            "RowDescription [id:20, city:25]",
            "BindComplete",
            "RowDescription [id:20, city:25]",
            "DataRow [1, Paris]",
            "DataRow [2, NULL]",
            "PortalSuspended",
            "DataRow [3, Berlin]",
            "CommandComplete SELECT 1",
            "ReadyForQuery",
        ]
    );
    // A bad text value is an error (values are decoded when the portal runs), and the
    // connection recovers at Sync.
    let mut buf = BytesMut::new();
    bind(&mut buf, "", "s1", &["one", "2024-01-01"]);
    frontend::execute("", 0, &mut buf).unwrap();
    frontend::sync(&mut buf);
    let messages = wire.exchange(&buf).await;
    assert_eq!(
        messages,
        vec!["BindComplete", "Error 22P02", "ReadyForQuery"]
    );
    let mut buf = BytesMut::new();
    bind(&mut buf, "", "s1", &["3", "2024-01-01"]);
    frontend::execute("", 0, &mut buf).unwrap();
    frontend::sync(&mut buf);
    let messages = wire.exchange(&buf).await;
    assert_eq!(
        messages,
        vec![
            "BindComplete",
            "DataRow [3, Berlin]",
            "CommandComplete SELECT 1",
            "ReadyForQuery"
        ]
    );
}

/// A Bind of text `values` with text results.
fn bind(buf: &mut BytesMut, portal: &str, statement: &str, values: &[&str]) {
    let bound = frontend::bind(
        portal,
        statement,
        [0i16],
        values.iter(),
        |value, buf| {
            buf.extend_from_slice(value.as_bytes());
            Ok(postgres_protocol::IsNull::No)
        },
        [0i16],
        buf,
    );
    assert!(bound.is_ok(), "encodes the Bind");
}

/// A bare protocol connection.
struct Wire {
    socket: tokio::net::TcpStream,
    read: BytesMut,
}

impl Wire {
    async fn connect(addr: SocketAddr) -> Wire {
        let socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
        let mut wire = Wire {
            socket,
            read: BytesMut::new(),
        };
        let mut buf = BytesMut::new();
        frontend::startup_message([("user", "jdbc"), ("database", "lakehouse")], &mut buf).unwrap();
        let messages = wire.exchange(&buf).await;
        assert_eq!(messages.last().map(String::as_str), Some("ReadyForQuery"));
        wire
    }

    /// Sends `buf`, then reads messages up to ReadyForQuery, each summarised as text.
    async fn exchange(&mut self, buf: &[u8]) -> Vec<String> {
        within(self.socket.write_all(buf)).await.unwrap();
        let mut out = Vec::new();
        loop {
            let message = loop {
                if let Some(message) = backend::Message::parse(&mut self.read).unwrap() {
                    break message;
                }
                let n = within(self.socket.read_buf(&mut self.read)).await.unwrap();
                assert!(n > 0, "the server closed the connection after {out:?}");
            };
            let text = summary(message);
            let done = text == "ReadyForQuery";
            if !text.is_empty() {
                out.push(text);
            }
            if done {
                return out;
            }
        }
    }
}

fn summary(message: backend::Message) -> String {
    use backend::Message as M;
    match message {
        M::ParseComplete => "ParseComplete".into(),
        M::BindComplete => "BindComplete".into(),
        M::PortalSuspended => "PortalSuspended".into(),
        M::ReadyForQuery(_) => "ReadyForQuery".into(),
        M::NoData => "NoData".into(),
        M::ParameterDescription(body) => {
            let oids: Vec<u32> = body.parameters().collect().unwrap();
            format!("ParameterDescription {oids:?}")
        }
        M::RowDescription(body) => {
            let fields: Vec<String> = body
                .fields()
                .map(|f| Ok(format!("{}:{}", f.name(), f.type_oid())))
                .collect()
                .unwrap();
            format!("RowDescription [{}]", fields.join(", "))
        }
        M::DataRow(body) => {
            let buffer = body.buffer();
            let values: Vec<String> = body
                .ranges()
                .map(|r| {
                    Ok(r.map_or("NULL".to_string(), |r| {
                        String::from_utf8_lossy(&buffer[r]).into_owned()
                    }))
                })
                .collect()
                .unwrap();
            format!("DataRow [{}]", values.join(", "))
        }
        M::CommandComplete(body) => format!("CommandComplete {}", body.tag().unwrap()),
        M::ErrorResponse(body) => {
            let mut fields = body.fields();
            let mut code = String::new();
            while let Some(field) = fields.next().unwrap() {
                if field.type_() == b'C' {
                    code = String::from_utf8_lossy(field.value_bytes()).into_owned();
                }
            }
            format!("Error {code}")
        }
        // Startup chatter.
        M::AuthenticationOk | M::ParameterStatus(_) | M::BackendKeyData(_) => String::new(),
        _ => "other".into(),
    }
}

/// psql, when installed: `\dt`, `\d name`, `\l`, a query and errors, as a user sees them.
#[test]
fn psql_describes_and_queries() {
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("psql is not installed (apt-get install -y postgresql-client): skipping");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::start(None));
    let port = server.addr.port().to_string();
    let psql = |args: &[&str]| -> (bool, String, String) {
        let output = std::process::Command::new("timeout")
            .args([
                "30",
                "psql",
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
            ])
            .args(["-U", "analyst", "-d", "lakehouse"])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = psql(&["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "public|trips|table|lakehouse");
    let (ok, out, err) = psql(&["-c", "\\d trips"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "id|bigint|||\nfare|double precision|||\npaid|boolean|||\ncity|text|||\n\
         day|date|||\nat|timestamp without time zone|||"
    );
    let (ok, out, err) = psql(&["-c", "SELECT city, fare FROM trips WHERE id = 3"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Berlin|30");
    let (ok, _, err) = psql(&["-c", "SELECT * FROM trip"]);
    assert!(!ok);
    assert!(
        err.contains("ERROR:  table \"trip\" not found; did you mean \"trips\"?"),
        "{err}"
    );
    let (_, _, err) = psql(&["-c", "\\d nosuch"]);
    assert!(
        err.contains("Did not find any relation named \"nosuch\""),
        "{err}"
    );
    // The rest of the \d family answers (mostly "no relations"), never an error.
    for command in [
        "\\dn",
        "\\dt+",
        "\\d+ trips",
        "\\dT",
        "\\dp",
        "\\du",
        "\\df",
        "\\dv",
        "\\di",
        "\\dy",
        "\\des",
        "\\d",
    ] {
        let (_, _, err) = psql(&["-c", command]);
        assert!(!err.contains("ERROR"), "{command}: {err}");
    }
    let (ok, out, err) = psql(&["-c", "\\l"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("lakehouse|lakehouse|UTF8"), "{out}");
    let (ok, out, err) = psql(&[
        "-c",
        "SHOW server_version",
        "-c",
        "SELECT current_database()",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "16.0 (lakehouse)\nlakehouse");
    drop(server);
    drop(runtime);
}
