-- The referral pipeline from counters (issue #13, DESIGN §5): a read gives a handful of rows instead of
-- counting distinct referral ids over the whole feed. A referral id counts once per kind of feed entry
-- (referral, revocation) and once per outcome reported — referral_firsts remembers which it has counted —
-- in the nation and in the referred member's province, district and group (a pawn customer: the nation).
create table referral_firsts (
    partner      text not null,
    referral_id  text not null,
    kind         text not null,  -- referral | revocation | contacted | approved | declined | loan_granted
    primary key (partner, referral_id, kind)
);
create table referral_counts (
    partner  text   not null,
    level    text   not null,  -- national | province | district | group
    code     text   not null,  -- '' for the nation
    kind     text   not null,
    n        bigint not null,
    primary key (partner, level, code, kind)
);
-- An outcome finds its referral (and member) by id.
create index referral_feed_referral on referral_feed (partner, referral_id);

-- backfill: what the feed and the outcomes hold already.
insert into referral_firsts (partner, referral_id, kind)
select distinct partner, referral_id, kind from referral_feed;
insert into referral_firsts (partner, referral_id, kind)
select distinct o.partner, o.referral_id, o.outcome from referral_outcomes o
where exists (select 1 from referral_feed f where f.partner = o.partner and f.referral_id = o.referral_id)
on conflict do nothing;
insert into referral_counts (partner, level, code, kind, n)
select f.partner, l.level, l.code, f.kind, count(*)
from referral_firsts f
left join lateral (
    select x.member_id from referral_feed x
    where x.partner = f.partner and x.referral_id = f.referral_id and x.member_id is not null limit 1
) s on true
left join referral_members m on m.member_id = s.member_id
cross join lateral (values ('national', ''), ('province', m.province_code), ('district', m.district_code),
                           ('group', m.group_id::text)) as l(level, code)
where l.code is not null
group by f.partner, l.level, l.code, f.kind;
