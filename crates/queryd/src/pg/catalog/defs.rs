//! The columns of every emulated `pg_catalog` relation, in PostgreSQL 16's order, written
//! as `name type` lists: `oid` is an unsigned 32-bit id, `name`/`char`/`text` are text,
//! `T[]` a list.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// A relation: its name, whether PostgreSQL has it as a view, and its columns. Those in
/// [`EMPTY`] never have rows here (no indexes, constraints, policies, ...).
pub struct Relation {
    pub name: &'static str,
    pub view: bool,
    pub columns: &'static str,
}

const fn table(name: &'static str, columns: &'static str) -> Relation {
    Relation {
        name,
        view: false,
        columns,
    }
}

const fn view(name: &'static str, columns: &'static str) -> Relation {
    Relation {
        name,
        view: true,
        columns,
    }
}

pub const RELATIONS: &[Relation] = &[
    table(
        "pg_namespace",
        "oid oid, nspname name, nspowner oid, nspacl text[]",
    ),
    table(
        "pg_class",
        "oid oid, relname name, relnamespace oid, reltype oid, reloftype oid, relowner oid, \
         relam oid, relfilenode oid, reltablespace oid, relpages int4, reltuples float4, \
         relallvisible int4, reltoastrelid oid, relhasindex bool, relisshared bool, \
         relpersistence char, relkind char, relnatts int2, relchecks int2, relhasrules bool, \
         relhastriggers bool, relhassubclass bool, relrowsecurity bool, \
         relforcerowsecurity bool, relispopulated bool, relreplident char, \
         relispartition bool, relrewrite oid, relfrozenxid int8, relminmxid int8, \
         relacl text[], reloptions text[], relpartbound text",
    ),
    table(
        "pg_attribute",
        "attrelid oid, attname name, atttypid oid, attstattarget int4, attlen int2, \
         attnum int2, attndims int4, attcacheoff int4, atttypmod int4, attbyval bool, \
         attalign char, attstorage char, attcompression char, attnotnull bool, \
         atthasdef bool, atthasmissing bool, attidentity char, attgenerated char, \
         attisdropped bool, attislocal bool, attinhcount int4, attcollation oid, \
         attacl text[], attoptions text[], attfdwoptions text[], attmissingval text",
    ),
    table(
        "pg_type",
        "oid oid, typname name, typnamespace oid, typowner oid, typlen int2, typbyval bool, \
         typtype char, typcategory char, typispreferred bool, typisdefined bool, \
         typdelim char, typrelid oid, typsubscript text, typelem oid, typarray oid, \
         typinput text, typoutput text, typreceive text, typsend text, typmodin text, \
         typmodout text, typanalyze text, typalign char, typstorage char, typnotnull bool, \
         typbasetype oid, typtypmod int4, typndims int4, typcollation oid, \
         typdefaultbin text, typdefault text, typacl text[]",
    ),
    table(
        "pg_database",
        "oid oid, datname name, datdba oid, encoding int4, datlocprovider char, \
         datistemplate bool, datallowconn bool, datconnlimit int4, datfrozenxid int8, \
         datminmxid int8, dattablespace oid, datcollate text, datctype text, \
         daticulocale text, daticurules text, datcollversion text, datacl text[]",
    ),
    table("pg_am", "oid oid, amname name, amhandler text, amtype char"),
    table(
        "pg_tablespace",
        "oid oid, spcname name, spcowner oid, spcacl text[], spcoptions text[]",
    ),
    view(
        "pg_roles",
        "rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, \
         rolcreatedb bool, rolcanlogin bool, rolreplication bool, rolconnlimit int4, \
         rolpassword text, rolvaliduntil timestamptz, rolbypassrls bool, rolconfig text[], \
         oid oid",
    ),
    view(
        "pg_user",
        "usename name, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, \
         usebypassrls bool, passwd text, valuntil timestamptz, useconfig text[]",
    ),
    view(
        "pg_settings",
        "name text, setting text, unit text, category text, short_desc text, \
         extra_desc text, context text, vartype text, source text, min_val text, \
         max_val text, enumvals text[], boot_val text, reset_val text, sourcefile text, \
         sourceline int4, pending_restart bool",
    ),
    view(
        "pg_tables",
        "schemaname name, tablename name, tableowner name, tablespace name, \
         hasindexes bool, hasrules bool, hastriggers bool, rowsecurity bool",
    ),
    view(
        "pg_views",
        "schemaname name, viewname name, viewowner name, definition text",
    ),
    view(
        "pg_matviews",
        "schemaname name, matviewname name, matviewowner name, tablespace name, \
         hasindexes bool, ispopulated bool, definition text",
    ),
    table(
        "pg_description",
        "objoid oid, classoid oid, objsubid int4, description text",
    ),
    table(
        "pg_shdescription",
        "objoid oid, classoid oid, description text",
    ),
    table(
        "pg_inherits",
        "inhrelid oid, inhparent oid, inhseqno int4, inhdetachpending bool",
    ),
    table(
        "pg_index",
        "indexrelid oid, indrelid oid, indnatts int2, indnkeyatts int2, indisunique bool, \
         indnullsnotdistinct bool, indisprimary bool, indisexclusion bool, \
         indimmediate bool, indisclustered bool, indisvalid bool, indcheckxmin bool, \
         indisready bool, indislive bool, indisreplident bool, indkey int2[], \
         indcollation oid[], indclass oid[], indoption int2[], indexprs text, indpred text",
    ),
    table(
        "pg_constraint",
        "oid oid, conname name, connamespace oid, contype char, condeferrable bool, \
         condeferred bool, convalidated bool, conrelid oid, contypid oid, conindid oid, \
         conparentid oid, confrelid oid, confupdtype char, confdeltype char, \
         confmatchtype char, conislocal bool, coninhcount int4, connoinherit bool, \
         conkey int2[], confkey int2[], conpfeqop oid[], conppeqop oid[], \
         conffeqop oid[], confdelsetcols int2[], conexclop oid[], conbin text",
    ),
    table(
        "pg_trigger",
        "oid oid, tgrelid oid, tgparentid oid, tgname name, tgfoid oid, tgtype int2, \
         tgenabled char, tgisinternal bool, tgconstrrelid oid, tgconstrindid oid, \
         tgconstraint oid, tgdeferrable bool, tginitdeferred bool, tgnargs int2, \
         tgattr int2[], tgargs text, tgqual text, tgoldtable name, tgnewtable name",
    ),
    table(
        "pg_rewrite",
        "oid oid, rulename name, ev_class oid, ev_type char, ev_enabled char, \
         is_instead bool, ev_qual text, ev_action text",
    ),
    table(
        "pg_policy",
        "oid oid, polname name, polrelid oid, polcmd char, polpermissive bool, \
         polroles oid[], polqual text, polwithcheck text",
    ),
    table(
        "pg_statistic_ext",
        "oid oid, stxrelid oid, stxname name, stxnamespace oid, stxowner oid, \
         stxstattarget int4, stxkeys int2[], stxkind text[], stxexprs text",
    ),
    table(
        "pg_publication",
        "oid oid, pubname name, pubowner oid, puballtables bool, pubinsert bool, \
         pubupdate bool, pubdelete bool, pubtruncate bool, pubviaroot bool",
    ),
    table(
        "pg_publication_rel",
        "oid oid, prpubid oid, prrelid oid, prqual text, prattrs int2[]",
    ),
    table(
        "pg_publication_namespace",
        "oid oid, pnpubid oid, pnnspid oid",
    ),
    table("pg_attrdef", "oid oid, adrelid oid, adnum int2, adbin text"),
    table(
        "pg_collation",
        "oid oid, collname name, collnamespace oid, collowner oid, collprovider char, \
         collisdeterministic bool, collencoding int4, collcollate text, collctype text, \
         colliculocale text, collicurules text, collversion text",
    ),
    table(
        "pg_proc",
        "oid oid, proname name, pronamespace oid, proowner oid, prolang oid, \
         procost float4, prorows float4, provariadic oid, prosupport text, prokind char, \
         prosecdef bool, proleakproof bool, proisstrict bool, proretset bool, \
         provolatile char, proparallel char, pronargs int2, pronargdefaults int2, \
         prorettype oid, proargtypes oid[], proallargtypes oid[], proargmodes text[], \
         proargnames text[], proargdefaults text, protrftypes oid[], prosrc text, \
         probin text, prosqlbody text, proconfig text[], proacl text[]",
    ),
    table(
        "pg_extension",
        "oid oid, extname name, extowner oid, extnamespace oid, extrelocatable bool, \
         extversion text, extconfig oid[], extcondition text[]",
    ),
    table(
        "pg_enum",
        "oid oid, enumtypid oid, enumsortorder float4, enumlabel name",
    ),
    table(
        "pg_range",
        "rngtypid oid, rngsubtype oid, rngmultitypid oid, rngcollation oid, \
         rngsubopc oid, rngcanonical text, rngsubdiff text",
    ),
    table(
        "pg_depend",
        "classid oid, objid oid, objsubid int4, refclassid oid, refobjid oid, \
         refobjsubid int4, deptype char",
    ),
    table(
        "pg_foreign_table",
        "ftrelid oid, ftserver oid, ftoptions text[]",
    ),
    table(
        "pg_partitioned_table",
        "partrelid oid, partstrat char, partnatts int2, partdefid oid, partattrs int2[], \
         partclass oid[], partcollation oid[], partexprs text",
    ),
    table(
        "pg_sequence",
        "seqrelid oid, seqtypid oid, seqstart int8, seqincrement int8, seqmax int8, \
         seqmin int8, seqcache int8, seqcycle bool",
    ),
    table(
        "pg_language",
        "oid oid, lanname name, lanowner oid, lanispl bool, lanpltrusted bool, \
         lanplcallfoid oid, laninline oid, lanvalidator oid, lanacl text[]",
    ),
    table(
        "pg_auth_members",
        "oid oid, roleid oid, member oid, grantor oid, admin_option bool",
    ),
    table(
        "pg_foreign_server",
        "oid oid, srvname name, srvowner oid, srvfdw oid, srvtype text, srvversion text, \
         srvacl text[], srvoptions text[]",
    ),
    table(
        "pg_foreign_data_wrapper",
        "oid oid, fdwname name, fdwowner oid, fdwhandler oid, fdwvalidator oid, \
         fdwacl text[], fdwoptions text[]",
    ),
    table(
        "pg_user_mapping",
        "oid oid, umuser oid, umserver oid, umoptions text[]",
    ),
    table(
        "pg_event_trigger",
        "oid oid, evtname name, evtevent name, evtowner oid, evtfoid oid, evtenabled char, \
         evttags text[]",
    ),
    table(
        "pg_cast",
        "oid oid, castsource oid, casttarget oid, castfunc oid, castcontext char, \
         castmethod char",
    ),
    table(
        "pg_operator",
        "oid oid, oprname name, oprnamespace oid, oprowner oid, oprkind char, \
         oprcanmerge bool, oprcanhash bool, oprleft oid, oprright oid, oprresult oid, \
         oprcom oid, oprnegate oid, oprcode text, oprrest text, oprjoin text",
    ),
    table(
        "pg_opclass",
        "oid oid, opcmethod oid, opcname name, opcnamespace oid, opcowner oid, \
         opcfamily oid, opcintype oid, opcdefault bool, opckeytype oid",
    ),
    view(
        "pg_stat_activity",
        "datid oid, datname name, pid int4, leader_pid int4, usesysid oid, usename name, \
         application_name text, client_addr text, client_hostname text, client_port int4, \
         backend_start timestamptz, xact_start timestamptz, query_start timestamptz, \
         state_change timestamptz, wait_event_type text, wait_event text, state text, \
         backend_xid int8, backend_xmin int8, query_id int8, query text, backend_type text",
    ),
];

/// Relations that never hold a row: a query whose rows must come from one of them is
/// known to be empty without running it.
pub const EMPTY: &[&str] = &[
    "pg_description",
    "pg_shdescription",
    "pg_inherits",
    "pg_index",
    "pg_constraint",
    "pg_trigger",
    "pg_rewrite",
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_attrdef",
    "pg_collation",
    "pg_proc",
    "pg_extension",
    "pg_enum",
    "pg_range",
    "pg_depend",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_sequence",
    "pg_language",
    "pg_auth_members",
    "pg_views",
    "pg_matviews",
    "pg_foreign_server",
    "pg_foreign_data_wrapper",
    "pg_user_mapping",
    "pg_event_trigger",
    "pg_cast",
    "pg_operator",
    "pg_opclass",
    "pg_stat_activity",
];

pub fn relation(name: &str) -> Option<(usize, &'static Relation)> {
    RELATIONS
        .iter()
        .enumerate()
        .find(|(_, r)| r.name.eq_ignore_ascii_case(name))
}

pub fn is_empty_relation(name: &str) -> bool {
    EMPTY.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// The Arrow type of a column type in the lists above.
pub fn column_type(name: &str) -> DataType {
    let item = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    match name {
        "oid" => DataType::UInt32,
        "bool" => DataType::Boolean,
        "int2" => DataType::Int16,
        "int4" => DataType::Int32,
        "int8" => DataType::Int64,
        "float4" => DataType::Float32,
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        "oid[]" => item(DataType::UInt32),
        "int2[]" => item(DataType::Int16),
        "text[]" => item(DataType::Utf8),
        _ => DataType::Utf8,
    }
}

pub fn schema(relation: &Relation) -> SchemaRef {
    let fields: Vec<Field> = relation
        .columns
        .split(',')
        .filter_map(|column| {
            let (name, ty) = column.trim().split_once(' ')?;
            Some(Field::new(name, column_type(ty.trim()), true))
        })
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_a_name_and_type() {
        for relation in RELATIONS {
            let expected = relation.columns.split(',').count();
            assert_eq!(
                schema(relation).fields().len(),
                expected,
                "{}",
                relation.name
            );
        }
        for name in EMPTY {
            assert!(relation(name).is_some(), "{name}");
        }
    }
}
