-- reads: core.groups, core.group_memberships, core.agents; writes: core.groups, ops.quarantine
-- A group is active iff it or any descendant group (following parent_group_id downward, any depth) has
-- an active direct member. Equivalently: walk UP from every group with an active member and mark every
-- group reached. UNION (not UNION ALL) visits each group once, so a cycle cannot loop forever.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.groups') as is_newest;

create temp table active_groups on commit drop as
with recursive active_direct as (
    select distinct m.group_id
    from core.group_memberships m
    join core.agents a on a.agent_id = m.agent_id
    where a.status = 'active'
),
reached(group_id) as (
    select group_id from active_direct
    union
    select g.parent_group_id
    from reached r
    join core.groups g on g.group_id = r.group_id
    where g.parent_group_id is not null
)
select group_id from reached;

-- Cycles: a walk up from a group that comes back to itself. Each walk stops at its first repeated
-- group, so walks are bounded by the number of groups.
create temp table group_cycles on commit drop as
with recursive walk(start_id, group_id, path, is_cycle) as (
    select group_id, group_id, array[group_id], false
    from core.groups
    union all
    select w.start_id, g.parent_group_id, w.path || g.parent_group_id, g.parent_group_id = any(w.path)
    from walk w
    join core.groups g on g.group_id = w.group_id
    where g.parent_group_id is not null and not w.is_cycle
)
select start_id, path
from walk
where is_cycle and group_id = start_id;

insert into step_counts select 'read', count(*) from core.groups;

with changed as (
    update core.groups g
    set status = s.status,
        in_cycle = s.in_cycle,
        status_day = current_setting('app.day')
    from (
        select g2.group_id,
               case when a.group_id is not null then 'active' else 'inactive' end as status,
               exists (select 1 from group_cycles c where c.start_id = g2.group_id) as in_cycle
        from core.groups g2
        left join active_groups a on a.group_id = g2.group_id
    ) s
    where s.group_id = g.group_id
      and (select is_newest from run_order)
      and (g.status, g.in_cycle) is distinct from (s.status, s.in_cycle)
    returning 1
)
insert into step_counts select 'updated', count(*) from changed;

insert into step_counts
select 'skipped', (select count(*) from core.groups) - (select coalesce(sum(n), 0) from step_counts where metric = 'updated');

-- Each cycle is reported once per run (written from its smallest member), so it shows in the run's
-- quarantine report; the groups themselves are kept and flagged in_cycle.
with reported as (
    insert into ops.quarantine (flow_run_id, day, entity, source_file, reason, raw_record)
    select current_setting('app.flow_run_id'), current_setting('app.day'), 'admin_groups', null,
           'cycle in group hierarchy: ' || array_to_string(c.path, ' -> '),
           json_build_object('cycle', c.path)::text
    from group_cycles c
    where c.start_id = (select min(x) from unnest(c.path) as x)
    returning 1
)
insert into step_counts select 'quarantined', count(*) from reported;

select * from ops.record_step('core.groups');
