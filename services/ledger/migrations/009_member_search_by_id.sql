-- A member found by a whole national ID anywhere the caller may search (the department: the nation) reads the one
-- register row with that keyed hash, not the register.
create index member_register_national_id_hash on member_register (national_id_hash);
