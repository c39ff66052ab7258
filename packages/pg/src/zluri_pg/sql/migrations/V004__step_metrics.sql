-- ops.record_step: the one metrics row an upsert file writes, inside its own transaction.
-- Counts come from the transaction's temp table step_counts(metric, n); the context from app.* settings.
-- current_setting without missing_ok raises if the runner did not set the context.
create function ops.record_step(p_table text)
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
        duration_seconds, status, started_at, finished_at)
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
        'success', now(), clock_timestamp())
    returning *;
end
$$;

-- The newest day applied per table family. Sync-derived state (agent status, memberships, roles,
-- groups, budgets, cards) follows the newest day: a run of an older day leaves it unchanged and counts
-- its rows as skipped. Transactions do not need this: they are last-write-wins by updated_at.
create table ops.latest_day (
    family text primary key,
    day text not null,
    day_key text not null,
    flow_run_id text not null,
    updated_at timestamptz not null default now()
);

-- True when the run's day is the newest applied so far for the family (or equal: a re-run).
create function ops.is_newest_day(p_family text) returns boolean
language sql stable
as $$
    select ops.day_key(current_setting('app.day'))
           >= coalesce((select day_key from ops.latest_day where family = p_family), '')
$$;

create function ops.mark_day(p_family text) returns void
language sql
as $$
    insert into ops.latest_day (family, day, day_key, flow_run_id)
    values (p_family, current_setting('app.day'), ops.day_key(current_setting('app.day')),
            current_setting('app.flow_run_id'))
    on conflict (family) do update set
        day = excluded.day, day_key = excluded.day_key, flow_run_id = excluded.flow_run_id, updated_at = now()
    where excluded.day_key > ops.latest_day.day_key
$$;
