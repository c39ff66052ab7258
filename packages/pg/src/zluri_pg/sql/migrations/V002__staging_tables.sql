-- Staging tables: clean rows of one run, tagged with flow_run_id so runs never read each other's rows.
-- No primary keys on business ids: the same id legitimately arrives on many days; a run replaces its
-- own rows (delete by flow_run_id + load) so retries are safe.
create table staging.stg_agents (
    flow_run_id text not null,
    day text not null,
    agent_id bigint not null,
    email text,
    name text,
    job_title text,
    contact_active boolean,
    deactivated boolean not null,
    created_at timestamptz,
    updated_at timestamptz,
    source_file text not null
);
create index stg_agents_run on staging.stg_agents (flow_run_id);

create table staging.stg_agent_details (
    flow_run_id text not null,
    day text not null,
    agent_id bigint not null,
    email text,
    name text,
    job_title text,
    contact_active boolean,
    deactivated boolean not null,
    created_at timestamptz,
    updated_at timestamptz,
    source_file text not null
);
create index stg_agent_details_run on staging.stg_agent_details (flow_run_id);

create table staging.stg_agent_roles (
    flow_run_id text not null,
    day text not null,
    agent_id bigint not null,
    role_id bigint not null
);
create index stg_agent_roles_run on staging.stg_agent_roles (flow_run_id);

create table staging.stg_roles (
    flow_run_id text not null,
    day text not null,
    role_id bigint not null,
    name text,
    description text,
    is_default boolean,
    agent_type integer,
    created_at timestamptz,
    updated_at timestamptz
);
create index stg_roles_run on staging.stg_roles (flow_run_id);

create table staging.stg_groups (
    flow_run_id text not null,
    day text not null,
    group_id bigint not null,
    name text,
    description text,
    parent_group_id bigint,
    created_at timestamptz,
    updated_at timestamptz
);
create index stg_groups_run on staging.stg_groups (flow_run_id);

create table staging.stg_group_memberships (
    flow_run_id text not null,
    day text not null,
    group_id bigint not null,
    agent_id bigint not null
);
create index stg_group_memberships_run on staging.stg_group_memberships (flow_run_id);

create table staging.stg_budgets (
    flow_run_id text not null,
    day text not null,
    budget_id text not null,
    budget_uuid text,
    name text,
    description text,
    retired boolean,
    start_date date,
    recurring_interval text,
    period_start_date date,
    period_limit numeric,
    period_overspend_buffer numeric,
    period_assigned numeric,
    spent_cleared numeric,
    spent_pending numeric,
    spent_total numeric
);
create index stg_budgets_run on staging.stg_budgets (flow_run_id);

create table staging.stg_cards (
    flow_run_id text not null,
    day text not null,
    card_id text not null,
    card_uuid text,
    name text,
    user_id text,
    user_uuid text,
    budget_id text,
    budget_uuid text,
    last_four text,
    valid_thru text,
    status text,
    card_type text,
    period_limit numeric,
    period_spent numeric,
    created_at timestamptz,
    updated_at timestamptz
);
create index stg_cards_run on staging.stg_cards (flow_run_id);

create table staging.stg_transactions (
    flow_run_id text not null,
    day text not null,
    transaction_id text not null,
    transaction_uuid text,
    transaction_type text,
    occurred_at timestamptz not null,
    updated_at timestamptz not null,
    user_id text,
    user_uuid text,
    user_name text,
    card_id text,
    card_uuid text,
    budget_id text,
    budget_uuid text,
    merchant_name text,
    raw_merchant_name text,
    original_amount numeric not null,
    original_currency char(3) not null,
    currency_exponent integer not null,
    amount_usd numeric not null,
    fx_rate numeric not null,
    fx_rate_date date not null,
    fx_source text not null,
    feed_amount_usd numeric,
    feed_exchange_rate numeric,
    source_file text not null
);
create index stg_transactions_run on staging.stg_transactions (flow_run_id);

-- The rates the run's conversions used, moved to core.fx_rates for audit.
create table staging.stg_fx_rates (
    flow_run_id text not null,
    day text not null,
    currency char(3) not null,
    rate_date date not null,
    usd_per_unit numeric not null,
    source text not null
);
create index stg_fx_rates_run on staging.stg_fx_rates (flow_run_id);

-- One row per staged input file of the run (for transaction_pipeline_state and audit).
create table staging.stg_input_files (
    flow_run_id text not null,
    day text not null,
    entity text not null,
    source_file text not null,
    sha256 text not null,
    records bigint
);
create index stg_input_files_run on staging.stg_input_files (flow_run_id, entity);
