-- reads: core.groups, core.group_memberships, core.agents; writes: core.groups, ops.quarantine
-- A group is active iff it or any descendant group (following parent_group_id downward, any depth) has
-- an active direct member. Equivalently: walk UP from every group with an active member and mark every
-- group reached. UNION (not UNION ALL) visits each group once, so a cycle cannot loop forever.
-- Time is linear in groups x depth: no step copies a path or revisits a group.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.groups') as is_newest;

-- Each step of a walk touches a handful of groups: look them up by key. The planner cannot know the
-- frontier stays small and would hash the whole table at every step (groups x depth: 30 s for one
-- 5,000-deep chain instead of 0.1 s), so hash and merge joins are off for
-- the two walks only.
set local enable_hashjoin = off;
set local enable_mergejoin = off;

create temp table active_groups on commit drop as
with recursive active_direct as (
    select distinct m.group_id
    from core.group_memberships as m
    inner join core.agents as a on m.agent_id = a.agent_id
    where a.status = 'active'
),

reached (group_id) as (
    select group_id from active_direct
    union
    select g.parent_group_id
    from reached as r
    inner join core.groups as g on r.group_id = g.group_id
    where g.parent_group_id is not null
)

select group_id from reached;

set local enable_hashjoin to default;
set local enable_mergejoin to default;

-- Cycles, by pointer doubling: after round k, hop.up is the 2^k-th ancestor of the group and hop.low
-- the smallest group among the 2^k groups walked from it; a group whose walk leaves the known groups
-- drops out, since it cannot lead into a cycle. Once 2^k >= the number of groups, every group left
-- leads into a cycle, its up lies on one, every cycle member is some group's up, and a member's low is
-- its cycle's smallest member. At most ceil(log2(groups)) rounds of one hash join each, and none past
-- the depth of an acyclic hierarchy.
create temp table hop on commit drop as
select g.group_id, g.parent_group_id as up, g.group_id as low
from core.groups as g
where exists (
    select 1 from core.groups as p
    where p.group_id = g.parent_group_id
);

do $$
declare
    groups_total bigint := (select count(*) from core.groups);
    window_size bigint := 1;
begin
    while window_size < groups_total and exists (select 1 from hop) loop
        create temp table hop_next on commit drop as
        select h.group_id, ahead.up, least(h.low, ahead.low) as low
        from hop h
        join hop ahead on ahead.group_id = h.up;
        drop table hop;
        alter table hop_next rename to hop;
        window_size := window_size * 2;
    end loop;
end
$$;

create temp table group_cycles on commit drop as
select h.group_id, h.low as cycle_min
from hop as h
where h.group_id in (select hop.up from hop);

-- Each cycle once, walked up from its smallest member back to it (steps = the cycle's length).
set local enable_hashjoin = off;
set local enable_mergejoin = off;

create temp table cycle_paths on commit drop as
with recursive walk (cycle_min, group_id, step) as (
    select cycle_min, cycle_min as group_id, 0 from group_cycles
    where group_id = cycle_min
    union all
    select w.cycle_min, g.parent_group_id, w.step + 1
    from walk as w
    inner join core.groups as g on w.group_id = g.group_id
    where w.step = 0 or w.group_id <> w.cycle_min
)

select cycle_min, array_agg(group_id order by step) as path
from walk
group by cycle_min;

set local enable_hashjoin to default;
set local enable_mergejoin to default;

insert into step_counts select 'read', count(*) from core.groups;

with changed as (
    update core.groups g
    set
        status = s.status,
        in_cycle = s.in_cycle,
        status_day = current_setting('app.day')
    from (
        select
            g2.group_id,
            case when a.group_id is not null then 'active' else 'inactive' end as status,
            c.group_id is not null as in_cycle
        from core.groups as g2
        left join active_groups as a on g2.group_id = a.group_id
        left join group_cycles as c on g2.group_id = c.group_id
    ) as s
    where
        s.group_id = g.group_id
        and (select run_order.is_newest from run_order)
        and (g.status, g.in_cycle) is distinct from (s.status, s.in_cycle)
    returning 1
)

insert into step_counts select 'updated', count(*) from changed;

insert into step_counts
select
    'skipped',
    (select count(*) from core.groups)
    - (
        select coalesce(sum(step_counts.n), 0) from step_counts
        where step_counts.metric = 'updated'
    );

-- Each cycle is reported once per run (written from its smallest member), so it shows in the run's
-- quarantine report; the groups themselves are kept and flagged in_cycle.
with reported as (
    insert into ops.quarantine (flow_run_id, day, entity, source_file, reason, raw_record)
    select
        current_setting('app.flow_run_id'), current_setting('app.day'), 'admin_groups', null,
        'cycle in group hierarchy: ' || array_to_string(c.path, ' -> '),
        json_build_object('cycle', c.path)::text
    from cycle_paths as c
    order by c.cycle_min
    returning 1
)

insert into step_counts select 'quarantined', count(*) from reported;

select * from ops.record_step('core.groups');
