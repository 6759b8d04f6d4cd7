-- The referral pipeline as of a date (#15 item 6): beside each counter's total, the same counter by the day its
-- entries were first counted (a referral: the refresh's business date; a revocation: the withdrawal's or exit's;
-- an outcome: the day the partner reported it). "The pipeline on 31 March" sums an area's days up to then: about
-- kinds × days rows, never the feed.
create table referral_counts_daily (
    partner  text   not null,
    level    text   not null,  -- national | province | district | group
    code     text   not null,  -- '' for the nation
    kind     text   not null,
    day      date   not null,
    n        bigint not null,
    primary key (partner, level, code, kind, day)
);

-- backfill: the counters so far, each by the Bangkok day of its first entry (the feed's and the outcomes' clocks).
insert into referral_counts_daily (partner, level, code, kind, day, n)
select f.partner, l.level, l.code, f.kind, d.day, count(*)
from referral_firsts f
left join lateral (
    select x.member_id from referral_feed x
    where x.partner = f.partner and x.referral_id = f.referral_id and x.member_id is not null limit 1
) s on true
cross join lateral (
    select (coalesce(
        (select min(x.created_at) from referral_feed x
         where x.partner = f.partner and x.referral_id = f.referral_id and x.kind = f.kind),
        (select o.noted_at from referral_outcomes o
         where o.partner = f.partner and o.referral_id = f.referral_id and o.outcome = f.kind)
    ) at time zone 'Asia/Bangkok')::date as day
) d
left join referral_members m on m.member_id = s.member_id
cross join lateral (values ('national', ''), ('province', m.province_code), ('district', m.district_code),
                           ('group', m.group_id::text)) as l(level, code)
where l.code is not null and d.day is not null
group by f.partner, l.level, l.code, f.kind, d.day;
