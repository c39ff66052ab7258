-- reads: staging.stg_groups, staging.stg_group_memberships, core.agents; writes: core.groups, core.group_memberships
-- Groups are upserted (parents may move); each group's memberships are replaced by today's list, and a
-- group absent from today's feed has none. Status is computed later (030), once agents and memberships
-- are final: data-modifying statements of one WITH share a snapshot, so it cannot be done here.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.groups') as is_newest;

create temp table day_groups on commit drop as
select distinct on (group_id) *
from staging.stg_groups
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
order by group_id asc, updated_at desc nulls last;

create temp table day_memberships on commit drop as
select distinct m.group_id, m.agent_id
from staging.stg_group_memberships as m
where m.flow_run_id = current_setting('app.flow_run_id') and m.load_id in (select ops.committed_loads());

insert into step_counts select 'read', count(*) from day_groups;

-- Before anything is written: refuse a day that would remove far more memberships than usual.
select ops.enforce_mass_change_guard();

with upserted as (
    insert into core.groups as g (
        group_id, name, description, parent_group_id, created_at, updated_at, first_seen_day, last_seen_day
    )
    select
        group_id, name, description, parent_group_id, created_at, updated_at,
        current_setting('app.day'), current_setting('app.day')
    from day_groups
    where (select run_order.is_newest from run_order)
    -- not compared: last_seen_day (presence is bookkeeping, moved below without counting as an update)
    on conflict (group_id) do update
        set
            name = excluded.name,
            description = excluded.description,
            parent_group_id = excluded.parent_group_id,
            created_at = excluded.created_at,
            updated_at = excluded.updated_at,
            last_seen_day = excluded.last_seen_day
        where (g.name, g.description, g.parent_group_id, g.created_at, g.updated_at)
        is distinct from
        (
            excluded.name, excluded.description, excluded.parent_group_id, excluded.created_at,
            excluded.updated_at
        )
    returning (xmax = 0) as inserted
),

counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted
    group by inserted
)

insert into step_counts
select 'skipped', (select count(*) from day_groups) - (select count(*) from upserted);

-- Staging quarantined members unknown that day; a member still unknown to core is quarantined, not lost.
with quarantined as (
    insert into ops.quarantine (flow_run_id, day, entity, source_file, reason, raw_record)
    select
        current_setting('app.flow_run_id'), current_setting('app.day'), 'group_memberships', null,
        'membership names unknown agent ' || m.agent_id,
        json_build_object('group_id', m.group_id, 'agent_id', m.agent_id)::text
    from day_memberships as m
    where
        not exists (
            select 1 from core.agents as a
            where a.agent_id = m.agent_id
        )
    returning 1
)

insert into step_counts select 'quarantined', count(*) from quarantined;

with removed as (
    delete from core.group_memberships gm
    where
        (select run_order.is_newest from run_order)
        and not exists (
            select 1 from day_memberships as m
            where m.group_id = gm.group_id and m.agent_id = gm.agent_id
        )
    returning 1
)

insert into step_counts select 'deleted', count(*) from removed;

with added as (
    insert into core.group_memberships (group_id, agent_id, added_day)
    select m.group_id, m.agent_id, current_setting('app.day')
    from day_memberships as m
    inner join core.groups as g on m.group_id = g.group_id
    inner join core.agents as a on m.agent_id = a.agent_id
    where (select run_order.is_newest from run_order)
    on conflict (group_id, agent_id) do nothing
    returning 1
)

insert into step_counts select 'inserted', count(*) from added;

-- Presence is bookkeeping, not a change: last_seen_day moves without counting as an update.
update core.groups t
set last_seen_day = current_setting('app.day')
from day_groups as d
where
    d.group_id = t.group_id
    and (select run_order.is_newest from run_order)
    and t.last_seen_day <> current_setting('app.day');

select ops.mark_day('core.groups');
select * from ops.record_step('core.groups, core.group_memberships');
