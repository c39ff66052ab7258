-- Operational tables: metrics, quarantine, transaction processing state, natural day ordering.
create schema if not exists staging;
create schema if not exists core;
create schema if not exists ops;

-- Day labels order naturally: digit runs compare as numbers (day2 < day10, 2026-01-05 by date).
create or replace function ops.day_key(day text) returns text
language sql immutable strict parallel safe
as $$
    select string_agg(
        case when part ~ '^[0-9]+$' then lpad(part, 20, '0') else lower(part) end,
        '' order by ord)
    from regexp_matches(day, '[0-9]+|[^0-9]+', 'g') with ordinality as m(parts, ord),
         lateral (select m.parts[1] as part) p
$$;

create table ops.pipeline_metrics (
    id bigserial primary key,
    flow_run_id text not null,
    task_name text not null,
    pipeline_name text not null,
    table_name text not null,
    day text not null,
    rows_read bigint not null default 0 check (rows_read >= 0),
    rows_inserted bigint not null default 0 check (rows_inserted >= 0),
    rows_updated bigint not null default 0 check (rows_updated >= 0),
    rows_deleted bigint not null default 0 check (rows_deleted >= 0),
    rows_skipped bigint not null default 0 check (rows_skipped >= 0),
    rows_quarantined bigint not null default 0 check (rows_quarantined >= 0),
    duration_seconds numeric(12, 3) not null default 0,
    status text not null check (status in ('success', 'failure')),
    error_message text,
    started_at timestamptz,
    finished_at timestamptz,
    check ((status = 'failure') = (error_message is not null))
);
create index pipeline_metrics_run on ops.pipeline_metrics (flow_run_id);
create index pipeline_metrics_day on ops.pipeline_metrics (day);

create table ops.quarantine (
    id bigserial primary key,
    flow_run_id text not null,
    day text not null,
    entity text not null,
    source_file text,
    reason text not null,
    raw_record text,
    quarantined_at timestamptz not null default now()
);
create index quarantine_run on ops.quarantine (flow_run_id, entity);

-- What the transactions step processed, per run: the input files with checksums and the
-- high-water mark of updated_at, so a re-run of the same input is recognised and does no work.
create table ops.transaction_pipeline_state (
    flow_run_id text not null,
    day text not null,
    input_checksum text not null,
    files jsonb not null default '[]'::jsonb,
    records_staged bigint not null,
    records_written bigint not null,
    records_skipped bigint not null,
    high_water_mark timestamptz,
    processed_at timestamptz not null default now(),
    primary key (flow_run_id, day)
);
create index transaction_pipeline_state_input on ops.transaction_pipeline_state (day, input_checksum);
