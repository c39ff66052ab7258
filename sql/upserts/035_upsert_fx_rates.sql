-- reads: staging.stg_fx_rates; writes: core.fx_rates
-- Every rate a run's conversions used is kept, so any amount_usd can be re-derived later.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;

create temp table day_rates on commit drop as
select distinct currency, rate_date, usd_per_unit, source
from staging.stg_fx_rates
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads());

insert into step_counts select 'read', count(*) from day_rates;

with upserted as (
    insert into core.fx_rates as r (currency, rate_date, usd_per_unit, source, first_used_day)
    select currency, rate_date, usd_per_unit, source, current_setting('app.day')
    from day_rates
    on conflict (currency, rate_date, source) do update set usd_per_unit = excluded.usd_per_unit
    where r.usd_per_unit is distinct from excluded.usd_per_unit
    returning (xmax = 0) as inserted
),
counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted group by inserted
)
insert into step_counts
select 'skipped', (select count(*) from day_rates) - (select count(*) from upserted);

select * from ops.record_step('core.fx_rates');
