-- Guards before the destructive steps: a day that would deactivate most active agents or remove most
-- memberships, or whose required agents or groups input has no valid record where the newest
-- applied day had some, is refused before anything is written, unless the run allows a mass change.
-- Settings (transaction-local, set by the runner from the run's options):
--   app.allow_mass_change            'true' lets a refused change through (the metrics row says so)
--   app.mass_change_max_share        refused above this share of the population (default 0.25)
--   app.mass_change_min_population   the share applies from this population on (default 20)

-- What the run's staging would change, against the newest applied state. A run of an older day
-- writes no sync-derived state, so it changes nothing and is never refused.
create function ops.mass_change_problems() returns text[]
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
        with day_active as (
            select l.agent_id
            from (select distinct on (agent_id) agent_id, deactivated from staging.stg_agents
                  where flow_run_id = run order by agent_id, updated_at desc nulls last) l
            left join (select distinct on (agent_id) agent_id, deactivated from staging.stg_agent_details
                       where flow_run_id = run order by agent_id, updated_at desc nulls last) d
                   on d.agent_id = l.agent_id
            where not (coalesce(l.deactivated, false) or coalesce(d.deactivated, false))
        )
        select count(*) filter (where a.listed),
               count(*) filter (where a.status = 'active'),
               count(*) filter (where a.status = 'active'
                                  and not exists (select 1 from day_active g where g.agent_id = a.agent_id))
          into listed_before, active_before, deactivating
          from core.agents a;
        select count(distinct agent_id) into listed_now from staging.stg_agents where flow_run_id = run;
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
        select count(distinct group_id) into groups_now from staging.stg_groups where flow_run_id = run;
        if groups_before > 0 and groups_now = 0 then
            problems := problems || format('admin_groups: %s valid records in this day''s input, the newest applied day (%s) had %s',
                                           groups_now, groups_day, groups_before);
        end if;
        select count(*),
               count(*) filter (where not exists (
                   select 1 from staging.stg_group_memberships m
                   where m.flow_run_id = run and m.group_id = gm.group_id and m.agent_id = gm.agent_id))
          into memberships_before, removing
          from core.group_memberships gm;
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

-- Refuses (raises, so the step's transaction rolls back) or, when the run allows it, sets the step's
-- metrics note. Called by the guard step before any upsert and again by 010 and 020 themselves.
create function ops.enforce_mass_change_guard() returns text
language plpgsql
as $$
declare
    problems text[] := ops.mass_change_problems();
    note text;
begin
    if cardinality(problems) = 0 then
        return null;
    end if;
    if coalesce(current_setting('app.allow_mass_change', true), '') <> 'true' then
        raise exception 'mass change refused for day %: %; nothing was written. If this change is real, re-run with --allow-mass-change',
            current_setting('app.day'), array_to_string(problems, '; ')
            using errcode = 'ZL001';
    end if;
    note := 'mass change allowed (--allow-mass-change): ' || array_to_string(problems, '; ');
    perform set_config('app.step_note',
                       concat_ws('; ', nullif(current_setting('app.step_note', true), ''), note), true);
    return note;
end
$$;
