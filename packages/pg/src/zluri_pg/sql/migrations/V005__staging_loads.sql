-- Staging loads written from the Spark executors, partition by partition. Every row a load writes
-- carries the load's id and its partition; a load becomes visible to the upserts only when the
-- driver records it in ops.staging_loads, in the same transaction that removes the run's rows of
-- earlier attempts. A failed or killed load therefore leaves nothing the upserts read.
create table ops.staging_loads (
    flow_run_id text not null,
    entity text not null,
    load_id text not null unique,
    day text not null,
    rows jsonb not null,
    committed_at timestamptz not null default now(),
    primary key (flow_run_id, entity)
);

alter table staging.stg_agents add column load_id text, add column load_part integer;
alter table staging.stg_agent_details add column load_id text, add column load_part integer;
alter table staging.stg_agent_roles add column load_id text, add column load_part integer;
alter table staging.stg_roles add column load_id text, add column load_part integer;
alter table staging.stg_groups add column load_id text, add column load_part integer;
alter table staging.stg_group_memberships add column load_id text, add column load_part integer;
alter table staging.stg_budgets add column load_id text, add column load_part integer;
alter table staging.stg_cards add column load_id text, add column load_part integer;
alter table staging.stg_transactions add column load_id text, add column load_part integer;
alter table staging.stg_fx_rates add column load_id text, add column load_part integer;
alter table staging.stg_input_files add column load_id text, add column load_part integer;
-- Quarantine rows written by a staging load carry it too (rows written by SQL steps have none).
alter table ops.quarantine add column load_id text, add column load_part integer;

-- The committed loads of the current run: what every upsert reads its staging rows through.
create or replace function ops.committed_loads() returns setof text
language sql stable parallel safe
as $$
    select load_id from ops.staging_loads where flow_run_id = current_setting('app.flow_run_id', true)
$$;

-- Quarantine rows that count: written by a committed staging load, or by a SQL step (no load).
-- What a failed or killed load copied before it died stays out of reports until pruned.
create view ops.quarantine_committed as
select q.*
from ops.quarantine as q
where q.load_id is null or exists (select 1 from ops.staging_loads as l where l.load_id = q.load_id);
