-- reads: staging.stg_roles; writes: core.roles
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.roles') as is_newest;

create temp table day_roles on commit drop as
select distinct on (role_id) *
from staging.stg_roles
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
order by role_id asc, updated_at desc nulls last;

insert into step_counts select 'read', count(*) from day_roles;

with upserted as (
    insert into core.roles as r (
        role_id, name, description, is_default, agent_type, created_at, updated_at, first_seen_day, last_seen_day
    )
    select
        role_id, name, description, is_default, agent_type, created_at, updated_at,
        current_setting('app.day'), current_setting('app.day')
    from day_roles
    where (select run_order.is_newest from run_order)
    -- not compared: last_seen_day (presence is bookkeeping, moved below without counting as an update)
    on conflict (role_id) do update
        set
            name = excluded.name,
            description = excluded.description,
            is_default = excluded.is_default,
            agent_type = excluded.agent_type,
            created_at = excluded.created_at,
            updated_at = excluded.updated_at,
            last_seen_day = excluded.last_seen_day
        where (r.name, r.description, r.is_default, r.agent_type, r.created_at, r.updated_at)
        is distinct from
        (
            excluded.name, excluded.description, excluded.is_default, excluded.agent_type, excluded.created_at,
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
select 'skipped', (select count(*) from day_roles) - (select count(*) from upserted);

-- Presence is bookkeeping, not a change: last_seen_day moves without counting as an update.
update core.roles t
set last_seen_day = current_setting('app.day')
from day_roles as d
where
    d.role_id = t.role_id
    and (select run_order.is_newest from run_order)
    and t.last_seen_day <> current_setting('app.day');

select ops.mark_day('core.roles');
select * from ops.record_step('core.roles');
