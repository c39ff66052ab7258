-- reads: staging.stg_agent_roles, staging.stg_agent_details, core.agents, core.roles; writes: core.agent_roles
-- The assignments are exactly those the day's agent_details list: added ones inserted, others
-- deleted (an agent without a details file today has none). A day without any agent_details (an
-- optional entity) leaves the assignments alone.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.agent_roles') as is_newest;

create temp table details_staged on commit drop as
select exists(
    select 1
    from staging.stg_agent_details
    where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
) as present;

create temp table day_assignments on commit drop as
select distinct agent_id, role_id
from staging.stg_agent_roles
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads());

insert into step_counts select 'read', count(*) from day_assignments;

-- Staging already quarantined unknown roles; anything still unresolvable is quarantined here, not lost.
with unresolved as (
    select d.*
    from day_assignments as d
    where
        not exists (
            select 1 from core.agents as a
            where a.agent_id = d.agent_id
        )
        or not exists (
            select 1 from core.roles as r
            where r.role_id = d.role_id
        )
),

quarantined as (
    insert into ops.quarantine (flow_run_id, day, entity, source_file, reason, raw_record)
    select
        current_setting('app.flow_run_id'), current_setting('app.day'), 'agent_roles', null,
        'role assignment names an unknown agent or role',
        json_build_object('agent_id', agent_id, 'role_id', role_id)::text
    from unresolved
    returning 1
)

insert into step_counts select 'quarantined', count(*) from quarantined;

with removed as (
    delete from core.agent_roles ar
    where
        (select run_order.is_newest from run_order)
        and (select present from details_staged)
        and not exists (
            select 1 from day_assignments as x
            where x.agent_id = ar.agent_id and x.role_id = ar.role_id
        )
    returning 1
)

insert into step_counts select 'deleted', count(*) from removed;

with added as (
    insert into core.agent_roles (agent_id, role_id, assigned_day)
    select d.agent_id, d.role_id, current_setting('app.day')
    from day_assignments as d
    inner join core.agents as a on d.agent_id = a.agent_id
    inner join core.roles as r on d.role_id = r.role_id
    where (select run_order.is_newest from run_order)
    on conflict (agent_id, role_id) do nothing
    returning 1
),

counted as (
    insert into step_counts select 'inserted', count(*) from added
)

insert into step_counts
select
    'skipped', (select count(*) from day_assignments) - (select count(*) from added)
    - (
        select coalesce(sum(n), 0) from step_counts
        where metric = 'quarantined'
    );

select ops.mark_day('core.agent_roles');
select * from ops.record_step('core.agent_roles');
