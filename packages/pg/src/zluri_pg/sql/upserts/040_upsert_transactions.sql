-- reads: staging.stg_transactions, staging.stg_input_files, ops.transaction_pipeline_state; writes: core.transactions, ops.transaction_pipeline_state
-- Last write wins by updated_at: an older version, whenever it arrives, never overwrites a newer one,
-- and an unchanged repeat is skipped. Input already processed (same day, same file checksums, same
-- rates) is not processed again. The rates are part of the key: transactions that waited for a rate
-- are staged once it arrives, from the very same files, and must then be loaded.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
select ops.check_day_scheme(current_setting('app.day'));

create temp table run_input on commit drop as
with files as (
    select
        coalesce(string_agg(source_file || ':' || sha256, ',' order by source_file), 'none') as listed,
        coalesce(jsonb_agg(
            jsonb_build_object('file', source_file, 'sha256', sha256, 'records', records)
            order by source_file
        ), '[]'::jsonb) as files
    from staging.stg_input_files
    where
        flow_run_id = current_setting('app.flow_run_id')
        and entity = 'transactions'
        and load_id in (select ops.committed_loads())
),

rates as (
    select
        coalesce(string_agg(
            currency || ':' || rate_date || ':' || usd_per_unit || ':' || source, ','
            order by currency, rate_date, source
        ), '') as used
    from staging.stg_fx_rates
    where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
),

staged as (
    select count(*) as n
    from staging.stg_transactions
    where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
)

select
    encode(sha256(convert_to(f.listed || '|staged:' || s.n || '|rates:' || r.used, 'UTF8')), 'hex') as input_checksum,
    f.files
from files as f, rates as r, staged as s;

create temp table already_processed on commit drop as
select exists (
    select 1
    from ops.transaction_pipeline_state as s, run_input as i
    where
        s.day = current_setting('app.day')
        and s.input_checksum = i.input_checksum
        and s.flow_run_id <> current_setting('app.flow_run_id')
) as done;

-- Within the batch the latest updatedTime wins.
create temp table batch on commit drop as
select distinct on (transaction_id) *
from staging.stg_transactions
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
order by transaction_id asc, updated_at desc, source_file desc;

insert into step_counts
select 'read', count(*)
from staging.stg_transactions
where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads());

with upserted as (
    insert into core.transactions as t (
        transaction_id, transaction_uuid, transaction_type, occurred_at, updated_at, card_id, budget_id,
        user_id, user_name, merchant_name, raw_merchant_name, original_amount, original_currency,
        amount_usd, fx_rate, fx_rate_date, fx_source, feed_amount_usd, feed_exchange_rate,
        first_seen_day, last_written_day, flow_run_id
    )
    select
        transaction_id, transaction_uuid, transaction_type, occurred_at, updated_at, card_id, budget_id,
        user_id, user_name, merchant_name, raw_merchant_name, original_amount, original_currency,
        amount_usd, fx_rate, fx_rate_date, fx_source, feed_amount_usd, feed_exchange_rate,
        current_setting('app.day'), current_setting('app.day'), current_setting('app.flow_run_id')
    from batch
    where not (select already_processed.done from already_processed)
    on conflict (transaction_id) do update
        set
            transaction_uuid = excluded.transaction_uuid,
            transaction_type = excluded.transaction_type,
            occurred_at = excluded.occurred_at,
            updated_at = excluded.updated_at,
            card_id = excluded.card_id,
            budget_id = excluded.budget_id,
            user_id = excluded.user_id,
            user_name = excluded.user_name,
            merchant_name = excluded.merchant_name,
            raw_merchant_name = excluded.raw_merchant_name,
            original_amount = excluded.original_amount,
            original_currency = excluded.original_currency,
            amount_usd = excluded.amount_usd,
            fx_rate = excluded.fx_rate,
            fx_rate_date = excluded.fx_rate_date,
            fx_source = excluded.fx_source,
            feed_amount_usd = excluded.feed_amount_usd,
            feed_exchange_rate = excluded.feed_exchange_rate,
            last_written_day = excluded.last_written_day,
            flow_run_id = excluded.flow_run_id
        where t.updated_at < excluded.updated_at
    returning (xmax = 0) as inserted
),

counted as (
    insert into step_counts
    select case when inserted then 'inserted' else 'updated' end, count(*) from upserted
    group by inserted
),

state as (
    insert into ops.transaction_pipeline_state as s (
        flow_run_id, day, input_checksum, files, records_staged, records_written, records_skipped, high_water_mark
    )
    select
        current_setting('app.flow_run_id'), current_setting('app.day'), i.input_checksum, i.files,
        (select count(*) from batch),
        (select count(*) from upserted),
        (select count(*) from batch) - (select count(*) from upserted),
        (select max(batch.updated_at) from batch)
    from run_input as i
    where not (select already_processed.done from already_processed)
    on conflict (flow_run_id, day) do update set
        input_checksum = excluded.input_checksum,
        files = excluded.files,
        records_staged = excluded.records_staged,
        records_written = excluded.records_written,
        records_skipped = excluded.records_skipped,
        high_water_mark = excluded.high_water_mark,
        processed_at = now()
)

-- Skipped: in-batch duplicates, unchanged repeats, stale versions, or the whole batch when the same
-- input was already processed.
insert into step_counts
select
    'skipped',
    (
        select count(*) from staging.stg_transactions
        where flow_run_id = current_setting('app.flow_run_id') and load_id in (select ops.committed_loads())
    )
    - (select count(*) from upserted);

select * from ops.record_step('core.transactions');
