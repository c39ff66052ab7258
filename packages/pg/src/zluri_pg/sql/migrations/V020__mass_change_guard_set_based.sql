-- ops.mass_change_problems (V016), same checks and messages, in time linear in the population:
--   * "active agents the day would deactivate" and "memberships the day would remove" were counted
--     with a NOT EXISTS inside an aggregate's FILTER, which Postgres runs as a correlated subplan:
--     the day's de-duplicated agents were sorted again for every core agent (20,000 agents: minutes).
--     They are anti-joins now, each input read once.
--   * the run's staging rows are read only through ops.committed_loads(), as every upsert reads
--     them: rows of a load that failed or was killed never count.
create or replace function ops.mass_change_problems() returns text[]
language plpgsql
as $$
declare
    run text := current_setting('app.flow_run_id');
    max_share numeric := coalesce(nullif(current_setting('app.mass_change_max_share', true), '')::numeric, 0.25);
    min_population bigint := coalesce(nullif(current_setting('app.mass_change_min_population', true), '')::bigint, 20);
    agents_day text := (select day from ops.latest_day where family = 'core.agents');
    groups_day text := (select day from ops.latest_day where family = 'core.groups');
    listed_before bigint;
    listed_now bigint;
    active_before bigint;
    deactivating bigint;
    groups_before bigint;
    groups_now bigint;
    memberships_before bigint;
    removing bigint;
    problems text[] := '{}';
begin
    if agents_day is not null and ops.is_newest_day('core.agents') then
        with listed as (
            select distinct on (agent_id) agent_id, deactivated
            from staging.stg_agents
            where flow_run_id = run and load_id in (select ops.committed_loads())
            order by agent_id, updated_at desc nulls last
        ),
        details as (
            select distinct on (agent_id) agent_id, deactivated
            from staging.stg_agent_details
            where flow_run_id = run and load_id in (select ops.committed_loads())
            order by agent_id, updated_at desc nulls last
        ),
        day_active as (
            select l.agent_id
            from listed l
            left join details d on d.agent_id = l.agent_id
            where not (coalesce(l.deactivated, false) or coalesce(d.deactivated, false))
        )
        select count(*) filter (where a.listed),
               count(*) filter (where a.status = 'active'),
               count(*) filter (where a.status = 'active' and g.agent_id is null)
          into listed_before, active_before, deactivating
          from core.agents a
          left join day_active g on g.agent_id = a.agent_id;
        select count(distinct agent_id) into listed_now
          from staging.stg_agents
         where flow_run_id = run and load_id in (select ops.committed_loads());
        if listed_before > 0 and listed_now = 0 then
            problems := problems || format('agents: %s valid records in this day''s input, the newest applied day (%s) listed %s',
                                           listed_now, agents_day, listed_before);
        end if;
        if active_before >= min_population and deactivating > max_share * active_before then
            problems := problems || format(
                'agents: would deactivate %s of %s active agents (%s%%), more than the %s%% threshold (applies from %s active agents)',
                deactivating, active_before, round(100.0 * deactivating / active_before, 1),
                round(100 * max_share, 1), min_population);
        end if;
    end if;
    if groups_day is not null and ops.is_newest_day('core.groups') then
        select count(*) into groups_before from core.groups where last_seen_day = groups_day;
        select count(distinct group_id) into groups_now
          from staging.stg_groups
         where flow_run_id = run and load_id in (select ops.committed_loads());
        if groups_before > 0 and groups_now = 0 then
            problems := problems || format('admin_groups: %s valid records in this day''s input, the newest applied day (%s) had %s',
                                           groups_now, groups_day, groups_before);
        end if;
        with day_memberships as (
            select distinct group_id, agent_id
            from staging.stg_group_memberships
            where flow_run_id = run and load_id in (select ops.committed_loads())
        )
        select count(*), count(*) filter (where m.group_id is null)
          into memberships_before, removing
          from core.group_memberships gm
          left join day_memberships m on m.group_id = gm.group_id and m.agent_id = gm.agent_id;
        if memberships_before >= min_population and removing > max_share * memberships_before then
            problems := problems || format(
                'group_memberships: would remove %s of %s memberships (%s%%), more than the %s%% threshold (applies from %s memberships)',
                removing, memberships_before, round(100.0 * removing / memberships_before, 1),
                round(100 * max_share, 1), min_population);
        end if;
    end if;
    return problems;
end
$$;
