-- ops.quarantine_committed (V005) was expanded from ops.quarantine's columns of that time, so it
-- lacks those added since (retriable, V015). Redefined with every column, committed rows as before.
create or replace view ops.quarantine_committed as
select q.*
from ops.quarantine as q
where q.load_id is null or exists (select 1 from ops.staging_loads as l where l.load_id = q.load_id);
