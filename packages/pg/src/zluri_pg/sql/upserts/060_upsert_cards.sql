-- reads: staging.stg_cards; writes: core.cards
-- Cards carry updatedTime: a newer day's snapshot wins unless it holds an older version of the card.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
create temp table run_order on commit drop as select ops.is_newest_day('core.cards') as is_newest;

create temp table day_cards on commit drop as
select distinct on (card_id) *
from staging.stg_cards
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
order by card_id asc, updated_at desc nulls last;

insert into step_counts select 'read', count(*) from day_cards;

with upserted as (
    insert into core.cards as c (
        card_id, card_uuid, name, user_id, user_uuid, budget_id, budget_uuid, last_four, valid_thru, status,
        card_type, period_limit, period_spent, created_at, updated_at, first_seen_day, last_seen_day
    )
    select
        card_id, card_uuid, name, user_id, user_uuid, budget_id, budget_uuid, last_four, valid_thru, status,
        card_type, period_limit, period_spent, created_at, updated_at,
        current_setting('app.day'), current_setting('app.day')
    from day_cards
    where (select run_order.is_newest from run_order)
    -- not compared: last_seen_day (presence is bookkeeping, moved below without counting as an update)
    on conflict (card_id) do update
        set
            card_uuid = excluded.card_uuid,
            name = excluded.name,
            user_id = excluded.user_id,
            user_uuid = excluded.user_uuid,
            budget_id = excluded.budget_id,
            budget_uuid = excluded.budget_uuid,
            last_four = excluded.last_four,
            valid_thru = excluded.valid_thru,
            status = excluded.status,
            card_type = excluded.card_type,
            period_limit = excluded.period_limit,
            period_spent = excluded.period_spent,
            created_at = excluded.created_at,
            updated_at = excluded.updated_at,
            last_seen_day = excluded.last_seen_day
        where (c.updated_at is null or excluded.updated_at is null or c.updated_at <= excluded.updated_at)
        and (
            c.card_uuid, c.name, c.user_id, c.user_uuid, c.budget_id, c.budget_uuid, c.last_four, c.valid_thru,
            c.status, c.card_type, c.period_limit, c.period_spent, c.created_at, c.updated_at
        )
        is distinct from
        (
            excluded.card_uuid, excluded.name, excluded.user_id, excluded.user_uuid, excluded.budget_id,
            excluded.budget_uuid, excluded.last_four, excluded.valid_thru, excluded.status, excluded.card_type,
            excluded.period_limit, excluded.period_spent, excluded.created_at, excluded.updated_at
        )
    returning (xmax = 0) as inserted
),

counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted
    group by inserted
)

insert into step_counts
select 'skipped', (select count(*) from day_cards) - (select count(*) from upserted);

-- Presence is bookkeeping, not a change: last_seen_day moves without counting as an update.
update core.cards t
set last_seen_day = current_setting('app.day')
from day_cards as d
where
    d.card_id = t.card_id
    and (select run_order.is_newest from run_order)
    and t.last_seen_day <> current_setting('app.day');

select ops.mark_day('core.cards');
select * from ops.record_step('core.cards');
