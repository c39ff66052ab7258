-- Core entities. Every row remembers the day that last wrote it so an older day never overwrites it.
create table core.agents (
    agent_id bigint primary key,
    email text,
    name text,
    job_title text,
    status text not null check (status in ('active', 'inactive')),
    deactivated boolean not null default false,
    listed boolean not null,
    created_at timestamptz,
    updated_at timestamptz,
    first_seen_day text not null,
    last_seen_day text not null,
    status_day text not null
);
create index agents_status on core.agents (status);

create table core.agent_status_history (
    agent_id bigint not null references core.agents (agent_id),
    day text not null,
    status text not null check (status in ('active', 'inactive')),
    deactivated boolean not null,
    listed boolean not null,
    flow_run_id text not null,
    recorded_at timestamptz not null default now(),
    primary key (agent_id, day)
);

create table core.roles (
    role_id bigint primary key,
    name text,
    description text,
    is_default boolean,
    agent_type integer,
    created_at timestamptz,
    updated_at timestamptz,
    first_seen_day text not null,
    last_seen_day text not null
);

create table core.agent_roles (
    agent_id bigint not null references core.agents (agent_id),
    role_id bigint not null references core.roles (role_id),
    assigned_day text not null,
    primary key (agent_id, role_id)
);
create index agent_roles_role on core.agent_roles (role_id);

create table core.groups (
    group_id bigint primary key,
    name text,
    description text,
    parent_group_id bigint,
    status text not null default 'inactive' check (status in ('active', 'inactive')),
    in_cycle boolean not null default false,
    created_at timestamptz,
    updated_at timestamptz,
    first_seen_day text not null,
    last_seen_day text not null,
    status_day text
);
create index groups_parent on core.groups (parent_group_id);

create table core.group_memberships (
    group_id bigint not null references core.groups (group_id),
    agent_id bigint not null references core.agents (agent_id),
    added_day text not null,
    primary key (group_id, agent_id)
);
create index group_memberships_agent on core.group_memberships (agent_id);

create table core.budgets (
    budget_id text primary key,
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
    spent_total numeric,
    first_seen_day text not null,
    last_seen_day text not null
);

create table core.cards (
    card_id text primary key,
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
    updated_at timestamptz,
    first_seen_day text not null,
    last_seen_day text not null
);

create table core.fx_rates (
    currency char(3) not null,
    rate_date date not null,
    usd_per_unit numeric not null check (usd_per_unit > 0),
    source text not null check (source in ('ecb', 'override', 'feed')),
    first_used_day text not null,
    primary key (currency, rate_date, source)
);

-- card_id / budget_id are soft references: spend is kept even when the card or budget is unknown.
create table core.transactions (
    transaction_id text primary key,
    transaction_uuid text,
    transaction_type text,
    occurred_at timestamptz not null,
    updated_at timestamptz not null,
    card_id text,
    budget_id text,
    user_id text,
    user_name text,
    merchant_name text,
    raw_merchant_name text,
    original_amount numeric not null,
    original_currency char(3) not null,
    amount_usd numeric not null,
    fx_rate numeric not null,
    fx_rate_date date not null,
    fx_source text not null,
    feed_amount_usd numeric,
    feed_exchange_rate numeric,
    first_seen_day text not null,
    last_written_day text not null,
    flow_run_id text not null
);
create index transactions_occurred on core.transactions (occurred_at);
create index transactions_card on core.transactions (card_id);
