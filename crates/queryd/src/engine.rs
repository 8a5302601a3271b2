//! The query engine both front ends share: SQL text → checked, planned [`Query`] →
//! [`ResultStream`] of record batches.
//!
//! One DataFusion session template holds the functions, the `lakehouse.public` schema of
//! catalog datasets and the data store. Each query gets its own session over it with its
//! own memory pool (`[queryd] query_memory_limit`; sorts, joins and aggregates spill to
//! disk before failing) and a deadline (`[queryd] query_timeout`) covering planning and
//! every batch after it.

use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider};
use datafusion::common::ParamValues;
use datafusion::execution::context::{SQLOptions, SessionContext, SessionState};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Analyzer, AnalyzerRule};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use catalogd::Catalog;

use crate::error::QueryError;
use crate::float_wins::FloatWins;
use crate::readonly;
use crate::scientific::scientific_as_double;
use crate::tables::{DatasetSchema, STORE_URL};
use crate::vector_search::{VectorIndexes, VectorSearchFunction};

/// The catalog and schema every unqualified table name resolves in.
pub const CATALOG_NAME: &str = "lakehouse";
pub const SCHEMA_NAME: &str = "public";

/// Per-query limits and parallelism.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// `[queryd] query_timeout`: planning plus execution; zero for none.
    pub timeout: Duration,
    /// `[queryd] query_memory_limit`, in bytes, per query; zero for none.
    pub memory_limit: u64,
    /// Partitions a scan or operator is split into; the core count by default.
    pub target_partitions: usize,
    /// `[queryd] max_concurrent_queries`: queries executing at once; zero for no limit.
    pub max_concurrent: usize,
    /// `[queryd] query_queue_timeout`: how long a query waits for a slot before
    /// [`QueryError::Busy`].
    pub queue_timeout: Duration,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            timeout: Duration::from_secs(300),
            memory_limit: 2 << 30,
            target_partitions: std::thread::available_parallelism()
                .map(NonZeroUsize::get)
                .unwrap_or(1),
            max_concurrent: 8,
            queue_timeout: Duration::from_secs(10),
        }
    }
}

/// Cheap to clone.
#[derive(Clone)]
pub struct QueryEngine {
    inner: Arc<Inner>,
}

struct Inner {
    /// Queries execute here, apart from the runtime serving connections: a CPU-bound
    /// operator that runs long between yields cannot stall other requests, timers (the
    /// deadline) or health checks.
    executor: Executor,
    template: SessionState,
    runtime: Arc<RuntimeEnv>,
    catalog: Arc<MemoryCatalogProvider>,
    datasets: Arc<DatasetSchema>,
    options: QueryOptions,
    /// One permit per running query (`None`: no limit).
    slots: Option<Arc<Semaphore>>,
}

/// DataFusion's analyzer rules, with [`FloatWins`] first (before type coercion).
fn analyzer_rules() -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> = vec![Arc::new(FloatWins)];
    rules.extend(Analyzer::new().rules);
    rules
}

impl QueryEngine {
    /// `store` holds the data files (the same store as storaged's), `catalog` their
    /// manifests.
    pub fn new(
        catalog: Arc<dyn Catalog>,
        store: Arc<dyn object_store::ObjectStore>,
        options: QueryOptions,
    ) -> Result<QueryEngine, QueryError> {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        let url = url::Url::parse(STORE_URL).map_err(|e| QueryError::Internal(e.to_string()))?;
        runtime.register_object_store(&url, store);
        let mut config = SessionConfig::new()
            .with_target_partitions(options.target_partitions.max(1))
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
            .with_create_default_catalog_and_schema(false);
        // `0.06` is numeric, as in PostgreSQL: `0.06 + 0.01` must equal `0.07`, which
        // it does not in f64 (TPC-H Q6 lost rows that way). Against a float column the
        // float wins (float_wins.rs).
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        let datasets = Arc::new(DatasetSchema::new(catalog));
        let lakehouse = Arc::new(MemoryCatalogProvider::new());
        lakehouse.register_schema(SCHEMA_NAME, datasets.clone())?;
        let template = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.clone())
            .with_default_features()
            .with_analyzer_rules(analyzer_rules())
            .build();
        template
            .catalog_list()
            .register_catalog(CATALOG_NAME.to_string(), lakehouse.clone());
        let mut template = template;
        {
            use datafusion::execution::FunctionRegistry;
            // DataFusion's own `inner_product` and `cosine_distance` (over arrays) give way
            // to pgvector's, with their aliases (ours answer to `dot_product` too): a
            // query's session is rebuilt from the template's functions, and two of one
            // name would win in no fixed order.
            let ours = crate::vector::functions();
            let clashing: Vec<String> = template
                .scalar_functions()
                .iter()
                .filter(|(_, f)| ours.iter().any(|o| o.name() == f.name()))
                .map(|(key, _)| key.clone())
                .collect();
            for key in clashing {
                template.deregister_udf(&key)?;
            }
            for function in ours {
                template.register_udf(Arc::new(function))?;
            }
        }
        template.register_udtf(
            "vector_search",
            Arc::new(VectorSearchFunction { indexes: None }),
        );
        let executor = Executor::new(options.target_partitions.max(1))?;
        Ok(QueryEngine {
            inner: Arc::new(Inner {
                executor,
                template,
                runtime,
                catalog: lakehouse,
                datasets,
                slots: (options.max_concurrent > 0)
                    .then(|| Arc::new(Semaphore::new(options.max_concurrent))),
                options,
            }),
        })
    }

    pub fn options(&self) -> &QueryOptions {
        &self.inner.options
    }

    /// The datasets schema (names for catalogs, refresh).
    pub fn datasets(&self) -> &Arc<DatasetSchema> {
        &self.inner.datasets
    }

    /// Adds a schema beside `public` in the `lakehouse` catalog (the PostgreSQL front end's
    /// `pg_catalog`).
    pub fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<(), QueryError> {
        self.inner.catalog.register_schema(name, schema)?;
        Ok(())
    }

    /// Where `vector_search` finds indexes (until set, it answers that there are none).
    /// Only before the engine is cloned (it is set up once, at start).
    pub fn set_vector_indexes(
        &mut self,
        indexes: Arc<dyn VectorIndexes>,
    ) -> Result<(), QueryError> {
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            QueryError::Internal("vector indexes are set before the engine is shared".into())
        })?;
        inner.template.register_udtf(
            "vector_search",
            Arc::new(VectorSearchFunction {
                indexes: Some(indexes),
            }),
        );
        Ok(())
    }

    /// Registers a scalar function for every later query. Only before the engine is
    /// cloned (it is set up once, at start).
    pub fn register_udf(
        &mut self,
        udf: datafusion::logical_expr::ScalarUDF,
    ) -> Result<(), QueryError> {
        use datafusion::execution::FunctionRegistry;
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            QueryError::Internal("functions are registered before the engine is shared".into())
        })?;
        inner.template.register_udf(Arc::new(udf))?;
        Ok(())
    }

    /// Parses exactly one statement and applies the read-only rule.
    pub fn parse(&self, sql: &str) -> Result<DFStatement, QueryError> {
        self.parse_with(sql, |_| {})
    }

    /// As [`QueryEngine::parse`], with `adjust` applied to the statement before the
    /// read-only rule (the PostgreSQL front end's compatibility rewrites), so the rule
    /// judges the statement that will run.
    pub fn parse_with(
        &self,
        sql: &str,
        adjust: impl FnOnce(&mut DFStatement),
    ) -> Result<DFStatement, QueryError> {
        let mut statements = crate::dialect::parse_statements(sql)?;
        let mut statement = match (statements.pop_front(), statements.is_empty()) {
            (None, _) => return Err(QueryError::BadRequest("the query is empty".into())),
            (Some(statement), true) => statement,
            (Some(_), false) => {
                return Err(QueryError::Invalid(format!(
                    "one statement per query, found {}",
                    statements.len() + 1
                )));
            }
        };
        adjust(&mut statement);
        scientific_as_double(&mut statement);
        crate::vector::rewrite(&mut statement);
        readonly::check(&statement)?;
        Ok(statement)
    }

    /// Parses, checks and plans `sql`.
    pub async fn plan(&self, sql: &str) -> Result<Query, QueryError> {
        let statement = self.parse(sql)?;
        self.plan_statement(statement).await
    }

    /// Plans a statement [`QueryEngine::parse`] accepted. The query's deadline starts here.
    pub async fn plan_statement(&self, statement: DFStatement) -> Result<Query, QueryError> {
        let limit = self.inner.options.timeout;
        // No limit: a deadline past any query's life.
        let deadline = Instant::now()
            + if limit.is_zero() {
                Duration::from_secs(100 * 365 * 24 * 3600)
            } else {
                limit
            };
        let state = self.session_state();
        let planned = tokio::time::timeout_at(deadline, async {
            if self.lists_tables(&state, &statement) {
                self.inner.datasets.refresh_names().await?;
            }
            let plan = match state.statement_to_plan(statement).await {
                Ok(plan) => plan,
                Err(e) => return Err(self.planning_error(e).await),
            };
            read_only_options().verify_plan(&plan)?;
            Ok::<_, QueryError>(plan)
        })
        .await
        .map_err(|_| QueryError::Timeout { limit })??;
        Ok(Query {
            context: SessionContext::new_with_state(state),
            plan: planned,
            deadline,
            limit,
            executor: self.inner.executor.handle(),
            slots: self.inner.slots.clone(),
            queue_timeout: self.inner.options.queue_timeout,
        })
    }

    /// DataFusion's "table 'lakehouse.public.x' not found" becomes
    /// [`QueryError::UnknownTable`] with the closest dataset names.
    async fn planning_error(&self, e: datafusion::common::DataFusionError) -> QueryError {
        let error = QueryError::from(e);
        if let QueryError::Invalid(message) = &error
            && let Some(rest) = message.strip_prefix("table '")
            && let Some(reference) = rest.strip_suffix("' not found")
        {
            let name = reference.rsplit('.').next().unwrap_or(reference);
            return self.inner.datasets.unknown_table(name).await;
        }
        error
    }

    /// A session for one query: the template's functions and catalogs, its own memory
    /// pool.
    fn session_state(&self) -> SessionState {
        let limit = match self.inner.options.memory_limit {
            0 => usize::MAX,
            bytes => usize::try_from(bytes).unwrap_or(usize::MAX),
        };
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(limit),
            NonZeroUsize::new(3).expect("3 is not zero"),
        );
        let shared = &self.inner.runtime;
        let runtime = Arc::new(RuntimeEnv {
            memory_pool: Arc::new(pool),
            disk_manager: shared.disk_manager.clone(),
            cache_manager: shared.cache_manager.clone(),
            object_store_registry: shared.object_store_registry.clone(),
        });
        SessionStateBuilder::new_from_existing(self.inner.template.clone())
            .with_runtime_env(runtime)
            .build()
    }

    /// Whether the statement reads the table list (information_schema, `SHOW TABLES`,
    /// pg_catalog), which is then refreshed first so it is current.
    fn lists_tables(&self, state: &SessionState, statement: &DFStatement) -> bool {
        if let DFStatement::Statement(inner) = statement
            && matches!(inner.as_ref(), Statement::ShowTables { .. })
        {
            return true;
        }
        match state.resolve_table_references(statement) {
            Ok(references) => references
                .iter()
                .any(|r| matches!(r.schema(), Some("information_schema" | "pg_catalog"))),
            Err(_) => false,
        }
    }
}

fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// The most parameters (`$1` … `$65535`) a query takes: PostgreSQL's limit (a Bind message
/// counts them in 16 bits).
pub const MAX_PARAMETERS: usize = 65535;

/// A planned query, ready to run.
pub struct Query {
    context: SessionContext,
    plan: LogicalPlan,
    deadline: Instant,
    limit: Duration,
    executor: tokio::runtime::Handle,
    slots: Option<Arc<Semaphore>>,
    queue_timeout: Duration,
}

impl Query {
    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(self.plan.schema().as_arrow().clone())
    }

    pub fn plan(&self) -> &LogicalPlan {
        &self.plan
    }

    /// The types of `$1`, `$2`, ... in order (`None` where the query does not fix one).
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>, QueryError> {
        let mut types = self.plan.get_parameter_types()?;
        for (name, ty) in crate::vector_search::parameter_types(&self.plan) {
            let known = types.entry(name).or_insert(None);
            if known.is_none() {
                *known = ty;
            }
        }
        let mut ordered: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .filter_map(|(name, ty)| {
                let index = name.strip_prefix('$')?.parse::<usize>().ok()?;
                Some((index, ty))
            })
            .collect();
        ordered.sort_by_key(|(index, _)| *index);
        let count = ordered.last().map(|(index, _)| *index).unwrap_or(0);
        if count > MAX_PARAMETERS {
            // (Sized by the largest `$n`: `$4000000000` must not allocate for them all.)
            return Err(QueryError::Invalid(format!(
                "${count}: a query takes at most {MAX_PARAMETERS} parameters, as in PostgreSQL"
            )));
        }
        let mut out = vec![None; count];
        for (index, ty) in ordered {
            if index >= 1 {
                out[index - 1] = ty;
            }
        }
        Ok(out)
    }

    /// Binds `$1`, `$2`, ... to values.
    pub fn with_parameters(self, values: ParamValues) -> Result<Query, QueryError> {
        let plan = self.plan.with_param_values(values.clone())?;
        let plan = crate::vector_search::bind_parameters(plan, &values, &self.context.state())?;
        Ok(Query { plan, ..self })
    }

    /// Waits for one of the engine's query slots: at most the queue timeout (and never
    /// past the query's deadline), then [`QueryError::Busy`].
    async fn slot(&self) -> Result<Option<OwnedSemaphorePermit>, QueryError> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(Some(permit));
        }
        let start = Instant::now();
        let until = self.deadline.min(start + self.queue_timeout);
        match tokio::time::timeout_at(until, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) => Err(QueryError::Internal("the query slots are closed".into())),
            Err(_) => Err(QueryError::Busy {
                waited: until.saturating_duration_since(start),
            }),
        }
    }

    /// Runs the query on the engine's executor once a query slot is free; batches arrive
    /// as they are produced, at most two ahead of the reader. The slot is held until the
    /// result stream ends or is dropped.
    pub async fn execute(self) -> Result<ResultStream, QueryError> {
        let slot = self.slot().await?;
        let limit = self.limit;
        let deadline = self.deadline;
        let schema = self.schema();
        let (batches, receiver) = mpsc::channel(2);
        let (started, ready) = oneshot::channel();
        let Query {
            context,
            plan,
            executor,
            ..
        } = self;
        let task = executor.spawn(async move {
            let stream = async {
                let frame = context.execute_logical_plan(plan).await?;
                frame.execute_stream().await
            };
            let mut stream = match stream.await {
                Ok(stream) => {
                    let _ = started.send(Ok(()));
                    stream
                }
                Err(e) => {
                    let _ = started.send(Err(QueryError::from(e)));
                    return;
                }
            };
            while let Some(batch) = stream.next().await {
                let failed = batch.is_err();
                // The reader went away: dropping the stream stops the query.
                if batches.send(batch.map_err(QueryError::from)).await.is_err() || failed {
                    return;
                }
            }
        });
        let task = AbortOnDrop(task.abort_handle());
        match tokio::time::timeout_at(deadline, ready).await {
            Err(_) => return Err(QueryError::Timeout { limit }),
            Ok(Err(_)) => return Err(QueryError::Internal("the query task ended early".into())),
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Ok(Ok(()))) => {}
        }
        Ok(ResultStream {
            schema,
            receiver: Some(receiver),
            slot,
            _task: task,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            limit,
        })
    }
}

/// Aborts a query task when its reader is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The batches of a running query. Dropping it stops the query; past the deadline it
/// yields one [`QueryError::Timeout`] and ends.
pub struct ResultStream {
    schema: SchemaRef,
    receiver: Option<mpsc::Receiver<Result<RecordBatch, QueryError>>>,
    /// The query's slot, given back when the last batch (or an error) is read.
    slot: Option<OwnedSemaphorePermit>,
    _task: AbortOnDrop,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl ResultStream {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Stream for ResultStream {
    type Item = Result<RecordBatch, QueryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(receiver) = this.receiver.as_mut() else {
            this.slot = None;
            return Poll::Ready(None);
        };
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.receiver = None;
            this.slot = None;
            this._task.0.abort();
            return Poll::Ready(Some(Err(QueryError::Timeout { limit: this.limit })));
        }
        match receiver.poll_recv(cx) {
            Poll::Ready(Some(Err(e))) => {
                this.receiver = None;
                this.slot = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(batch))) => Poll::Ready(Some(Ok(batch))),
            Poll::Ready(None) => {
                this.receiver = None;
                this.slot = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The runtime queries execute on. Shut down in the background when the engine goes, so
/// dropping an engine inside async code does not block.
struct Executor {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Executor {
    fn new(threads: usize) -> Result<Executor, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("query")
            .enable_all()
            .build()
            .map_err(|e| QueryError::Internal(format!("starting the query runtime: {e}")))?;
        Ok(Executor {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.handle.clone()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
