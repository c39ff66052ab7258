-- reads: staging.stg_budgets; writes: core.budgets
-- Budgets carry no update timestamp: the newest day's snapshot wins.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.budgets') as is_newest;

create temp table day_budgets on commit drop as
select distinct on (budget_id) *
from staging.stg_budgets
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
order by budget_id;

insert into step_counts select 'read', count(*) from day_budgets;

with upserted as (
    insert into core.budgets as b (
        budget_id, budget_uuid, name, description, retired, start_date, recurring_interval, period_start_date,
        period_limit, period_overspend_buffer, period_assigned, spent_cleared, spent_pending, spent_total,
        first_seen_day, last_seen_day
    )
    select
        budget_id, budget_uuid, name, description, retired, start_date, recurring_interval, period_start_date,
        period_limit, period_overspend_buffer, period_assigned, spent_cleared, spent_pending, spent_total,
        current_setting('app.day'), current_setting('app.day')
    from day_budgets
    where (select run_order.is_newest from run_order)
    -- not compared: last_seen_day (presence is bookkeeping, moved below without counting as an update)
    on conflict (budget_id) do update
        set
            budget_uuid = excluded.budget_uuid,
            name = excluded.name,
            description = excluded.description,
            retired = excluded.retired,
            start_date = excluded.start_date,
            recurring_interval = excluded.recurring_interval,
            period_start_date = excluded.period_start_date,
            period_limit = excluded.period_limit,
            period_overspend_buffer = excluded.period_overspend_buffer,
            period_assigned = excluded.period_assigned,
            spent_cleared = excluded.spent_cleared,
            spent_pending = excluded.spent_pending,
            spent_total = excluded.spent_total,
            last_seen_day = excluded.last_seen_day
        where (
            b.budget_uuid, b.name, b.description, b.retired, b.start_date, b.recurring_interval,
            b.period_start_date, b.period_limit, b.period_overspend_buffer, b.period_assigned, b.spent_cleared,
            b.spent_pending, b.spent_total
        )
        is distinct from
        (
            excluded.budget_uuid, excluded.name, excluded.description, excluded.retired, excluded.start_date,
            excluded.recurring_interval, excluded.period_start_date, excluded.period_limit,
            excluded.period_overspend_buffer, excluded.period_assigned, excluded.spent_cleared,
            excluded.spent_pending, excluded.spent_total
        )
    returning (xmax = 0) as inserted
),

counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted
    group by inserted
)

insert into step_counts
select 'skipped', (select count(*) from day_budgets) - (select count(*) from upserted);

-- Presence is bookkeeping, not a change: last_seen_day moves without counting as an update.
update core.budgets t
set last_seen_day = current_setting('app.day')
from day_budgets as d
where
    d.budget_id = t.budget_id
    and (select run_order.is_newest from run_order)
    and t.last_seen_day <> current_setting('app.day');

select ops.mark_day('core.budgets');
select * from ops.record_step('core.budgets');
