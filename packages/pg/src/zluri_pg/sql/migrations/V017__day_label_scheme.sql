-- One day-label scheme per database: 'day<N>' (no leading zeros) or ISO dates 'YYYY-MM-DD'. The two
-- do not order against each other, so the first day applied fixes the scheme and the other is refused.
create table ops.day_scheme (
    singleton boolean primary key default true check (singleton),
    scheme text not null check (scheme in ('day<N>', 'YYYY-MM-DD')),
    first_day text not null,
    fixed_at timestamptz not null default now()
);

-- The scheme of a label, or null for a label of neither.
create function ops.day_label_scheme(p_day text) returns text
language plpgsql immutable strict parallel safe
as $$
begin
    if p_day ~ '^day[1-9][0-9]*$' then
        return 'day<N>';
    end if;
    if p_day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then
        begin
            if to_char(p_day::date, 'YYYY-MM-DD') = p_day then
                return 'YYYY-MM-DD';
            end if;
        exception when others then
            return null;
        end;
    end if;
    return null;
end
$$;

-- The database's scheme: fixed, else the one of the days already applied (a database older than
-- this rule), else null.
create function ops.database_day_scheme() returns table (scheme text, first_day text)
language sql stable
as $$
    select scheme, first_day from ops.day_scheme
    union all
    select ops.day_label_scheme(day), day
    from (select day from ops.latest_day order by updated_at limit 1) d
    where not exists (select 1 from ops.day_scheme)
    limit 1
$$;

-- Raises unless p_day is a valid label of the database's scheme (or no scheme is fixed yet).
create function ops.check_day_scheme(p_day text) returns text
language plpgsql stable
as $$
declare
    own text := ops.day_label_scheme(p_day);
    held record;
begin
    if own is null then
        raise exception 'invalid day label %: use day<N> without leading zeros (day1, day2, ...) or an ISO date YYYY-MM-DD',
            quote_literal(p_day) using errcode = 'ZL002';
    end if;
    select * into held from ops.database_day_scheme();
    if held.scheme is not null and held.scheme <> own then
        raise exception 'day label % is of the % scheme, but this database holds % labels (first day %); one database holds one scheme',
            quote_literal(p_day), own, held.scheme, quote_literal(held.first_day) using errcode = 'ZL002';
    end if;
    return own;
end
$$;

-- Checks the label and fixes the scheme with the first day applied.
create function ops.claim_day_scheme(p_day text) returns text
language plpgsql
as $$
declare
    own text := ops.check_day_scheme(p_day);
begin
    insert into ops.day_scheme (scheme, first_day) values (own, p_day) on conflict (singleton) do nothing;
    return own;
end
$$;

-- As in V004, plus the scheme: every step that records its day claims (or checks) it in its own
-- transaction, so a day of the other scheme rolls back whatever the step wrote.
create or replace function ops.mark_day(p_family text) returns void
language plpgsql
as $$
begin
    perform ops.claim_day_scheme(current_setting('app.day'));
    insert into ops.latest_day (family, day, day_key, flow_run_id)
    values (p_family, current_setting('app.day'), ops.day_key(current_setting('app.day')),
            current_setting('app.flow_run_id'))
    on conflict (family) do update set
        day = excluded.day, day_key = excluded.day_key, flow_run_id = excluded.flow_run_id, updated_at = now()
    where excluded.day_key > ops.latest_day.day_key;
end
$$;
