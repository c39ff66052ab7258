-- reads: staging.stg_fx_rates; writes: core.fx_rates, core.fx_rate_revisions
-- Every rate a run's conversions used is kept, so any amount_usd can be re-derived later. A stored
-- rate is audited: a different value for the same currency, date and source replaces it only with
-- the old value kept in core.fx_rate_revisions and a note on the metrics row.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
select ops.check_day_scheme(current_setting('app.day'));

create temp table day_rates on commit drop as
select distinct currency, rate_date, usd_per_unit, source
from staging.stg_fx_rates
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads());

insert into step_counts select 'read', count(*) from day_rates;

create temp table revised on commit drop as
select r.currency, r.rate_date, r.source, r.usd_per_unit as old_usd_per_unit, d.usd_per_unit as new_usd_per_unit
from day_rates as d
inner join core.fx_rates as r on d.currency = r.currency and d.rate_date = r.rate_date and d.source = r.source
where r.usd_per_unit is distinct from d.usd_per_unit;

insert into core.fx_rate_revisions (currency, rate_date, source, old_usd_per_unit, new_usd_per_unit, day, flow_run_id)
select
    currency, rate_date, source, old_usd_per_unit, new_usd_per_unit,
    current_setting('app.day'), current_setting('app.flow_run_id')
from revised;

select set_config('app.step_note', coalesce((
    select
        count(*) || ' stored rate(s) revised, old values kept in core.fx_rate_revisions: '
        || string_agg(
            currency || ' ' || rate_date || ' ' || source || ' ' || old_usd_per_unit || ' -> '
            || new_usd_per_unit, ', ' order by currency, rate_date, source
        )
    from revised
    having count(*) > 0
), ''), true);

with upserted as (
    insert into core.fx_rates as r (currency, rate_date, usd_per_unit, source, first_used_day)
    select currency, rate_date, usd_per_unit, source, current_setting('app.day')
    from day_rates
    on conflict (currency, rate_date, source) do update
        set usd_per_unit = excluded.usd_per_unit
        where r.usd_per_unit is distinct from excluded.usd_per_unit
    returning (xmax = 0) as inserted
),

counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted
    group by inserted
)

insert into step_counts
select 'skipped', (select count(*) from day_rates) - (select count(*) from upserted);

select * from ops.record_step('core.fx_rates');
