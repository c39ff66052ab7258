-- reads: staging.stg_agents, staging.stg_agent_details; writes: core.agents, core.agent_status_history
-- An agent is active for a day iff it is in that day's agents list and not deactivated; agents seen
-- before but absent today become inactive; returning agents become active again.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.agents') as is_newest;

-- The day's master list: the union of agents and agent_details (attributes from the agents list
-- when the agent is there, else from its details file).
create temp table day_agents on commit drop as
with listed as (
    select distinct on (agent_id) *
    from staging.stg_agents
    where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
    order by agent_id asc, updated_at desc nulls last
),

detailed as (
    select distinct on (agent_id) *
    from staging.stg_agent_details
    where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
    order by agent_id asc, updated_at desc nulls last
),

merged as (
    select
        coalesce(l.agent_id, d.agent_id) as agent_id,
        case when l.agent_id is not null then l.email else d.email end as email,
        case when l.agent_id is not null then l.name else d.name end as name,
        case when l.agent_id is not null then l.job_title else d.job_title end as job_title,
        case when l.agent_id is not null then l.created_at else d.created_at end as created_at,
        case when l.agent_id is not null then l.updated_at else d.updated_at end as updated_at,
        coalesce(l.deactivated, false) or coalesce(d.deactivated, false) as deactivated,
        l.agent_id is not null as listed
    from listed as l
    full join detailed as d on l.agent_id = d.agent_id
)

select
    merged.*,
    case when merged.listed and not merged.deactivated then 'active' else 'inactive' end as status
from merged;

insert into step_counts select 'read', count(*) from day_agents;

-- Before anything is written: refuse a day that would deactivate far more agents than usual.
select ops.enforce_mass_change_guard();

with upserted as (
    insert into core.agents as a (
        agent_id, email, name, job_title, status, deactivated, listed, created_at, updated_at,
        first_seen_day, last_seen_day, status_day
    )
    select
        agent_id, email, name, job_title, status, deactivated, listed, created_at, updated_at,
        current_setting('app.day'), current_setting('app.day'), current_setting('app.day')
    from day_agents
    where (select run_order.is_newest from run_order)
    -- not compared: last_seen_day, status_day (bookkeeping: presence moves below without counting as
    -- an update; status_day follows status, which is compared)
    on conflict (agent_id) do update
        set
            email = excluded.email,
            name = excluded.name,
            job_title = excluded.job_title,
            status = excluded.status,
            deactivated = excluded.deactivated,
            listed = excluded.listed,
            created_at = excluded.created_at,
            updated_at = excluded.updated_at,
            last_seen_day = excluded.last_seen_day,
            status_day = case when a.status = excluded.status then a.status_day else excluded.status_day end
        where (a.email, a.name, a.job_title, a.status, a.deactivated, a.listed, a.created_at, a.updated_at)
        is distinct from
        (
            excluded.email, excluded.name, excluded.job_title, excluded.status, excluded.deactivated,
            excluded.listed, excluded.created_at, excluded.updated_at
        )
    returning (xmax = 0) as inserted
),

counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted
    group by inserted
)

insert into step_counts
select 'skipped', (select count(*) from day_agents) - (select count(*) from upserted);

-- Agents known from earlier days but absent from today's lists.
with absent as (
    update core.agents a
    set status = 'inactive', listed = false, status_day = current_setting('app.day')
    where
        (select run_order.is_newest from run_order)
        and not exists (
            select 1 from day_agents as d
            where d.agent_id = a.agent_id
        )
        and (a.status, a.listed) is distinct from ('inactive', false)
    returning 1
)

insert into step_counts select 'updated', count(*) from absent;

-- Status history: one row per agent known on that day. It is that day's own record, so it is written
-- for an older day too; re-runs change nothing.
with day_status as (
    select agent_id, status, deactivated, listed from day_agents
    union all
    select a.agent_id, 'inactive', a.deactivated, false
    from core.agents as a
    where
        not exists (
            select 1 from day_agents as d
            where d.agent_id = a.agent_id
        )
        and ops.day_key(a.first_seen_day) <= ops.day_key(current_setting('app.day'))
)

insert into core.agent_status_history as h (agent_id, day, status, deactivated, listed, flow_run_id)
select s.agent_id, current_setting('app.day'), s.status, s.deactivated, s.listed, current_setting('app.flow_run_id')
from day_status as s
inner join core.agents as a on s.agent_id = a.agent_id
-- not compared: flow_run_id, recorded_at (which run recorded the day's status, and when)
on conflict (agent_id, day) do update set
    status = excluded.status,
    deactivated = excluded.deactivated,
    listed = excluded.listed,
    flow_run_id = excluded.flow_run_id,
    recorded_at = now()
where (h.status, h.deactivated, h.listed) is distinct from (excluded.status, excluded.deactivated, excluded.listed);

-- Presence is bookkeeping, not a change: last_seen_day moves without counting as an update.
update core.agents t
set last_seen_day = current_setting('app.day')
from day_agents as d
where
    d.agent_id = t.agent_id
    and (select run_order.is_newest from run_order)
    and t.last_seen_day <> current_setting('app.day');

select ops.mark_day('core.agents');
select * from ops.record_step('core.agents');
