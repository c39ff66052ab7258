-- Transactions awaiting an FX rate are quarantined as retriable; metrics rows can carry a note; stored
-- FX rates keep a history of revisions.

-- Retriable: the record's only reason is a rate not published yet (staging writes the reason
-- 'awaiting FX rate: <ccy> on <date> (newest rate <date>)'); any other reason next to it is a data error.
alter table ops.quarantine
    add column retriable boolean generated always as (
        reason like 'awaiting FX rate:%' and strpos(reason, '; ') = 0) stored;
create index quarantine_retriable on ops.quarantine (day, flow_run_id) where retriable;

-- A note says why a successful step did something unusual (a mass change let through, a revised rate).
alter table ops.pipeline_metrics add column note text;

-- As in V004, plus the note: a step sets it with set_config('app.step_note', ..., true).
create or replace function ops.record_step(p_table text)
returns setof ops.pipeline_metrics
language plpgsql
as $$
declare
    counts jsonb;
begin
    select coalesce(jsonb_object_agg(metric, total), '{}'::jsonb)
      into counts
      from (select metric, sum(n) as total from step_counts group by metric) s;
    return query
    insert into ops.pipeline_metrics (
        flow_run_id, task_name, pipeline_name, table_name, day,
        rows_read, rows_inserted, rows_updated, rows_deleted, rows_skipped, rows_quarantined,
        duration_seconds, status, started_at, finished_at, note)
    values (
        current_setting('app.flow_run_id'), current_setting('app.task_name'),
        coalesce(nullif(current_setting('app.pipeline_name', true), ''), 'zluri_day_pipeline'),
        p_table, current_setting('app.day'),
        coalesce((counts ->> 'read')::bigint, 0),
        coalesce((counts ->> 'inserted')::bigint, 0),
        coalesce((counts ->> 'updated')::bigint, 0),
        coalesce((counts ->> 'deleted')::bigint, 0),
        coalesce((counts ->> 'skipped')::bigint, 0),
        coalesce((counts ->> 'quarantined')::bigint, 0),
        round(extract(epoch from clock_timestamp() - now())::numeric, 3),
        'success', now(), clock_timestamp(),
        nullif(current_setting('app.step_note', true), ''))
    returning *;
end
$$;

-- The days whose newest transactions staging still holds transactions awaiting a rate: what
-- `zluri reprocess --reason fx` re-runs. A day re-run after the rates arrived has a newer staging
-- run without such rows and drops out.
create view ops.fx_awaiting_days as
with latest as (
    select distinct on (day) day, flow_run_id, finished_at
    from ops.pipeline_metrics
    where task_name = 'stage_transactions' and status = 'success'
    order by day, finished_at desc nulls last, id desc
)
select l.day,
       l.flow_run_id,
       count(*) as transactions,
       max(substring(q.reason from '\(newest rate ([0-9-]+)\)$')) as newest_rate_date
from latest l
join ops.quarantine q on q.flow_run_id = l.flow_run_id and q.day = l.day and q.entity = 'transactions' and q.retriable
group by l.day, l.flow_run_id;

-- core.fx_rates keeps one value per (currency, rate_date, source); a different value seen later
-- (a corrected override file) replaces it only with the old one kept here and a metrics note.
create table core.fx_rate_revisions (
    id bigserial primary key,
    currency char(3) not null,
    rate_date date not null,
    source text not null,
    old_usd_per_unit numeric not null,
    new_usd_per_unit numeric not null,
    day text not null,
    flow_run_id text not null,
    revised_at timestamptz not null default now()
);
