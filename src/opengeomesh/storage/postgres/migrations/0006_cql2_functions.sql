-- Functions of the PostgreSQL feature store and its CQL2 filters.

-- Times in CQL2 filters as the cql2 package reads them (features/timeval.py, cql2_seconds),
-- for properties other than a collection's temporal property: POSIX seconds in UTC, or NULL
-- for anything else. No input makes them raise (an error would fail the whole query): every
-- field is checked before it is used, offsets up to 23:59 as Python allows, fractions cut
-- to microseconds as Python does.
CREATE OR REPLACE FUNCTION ogm_instant(value text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    v text := replace(value, ' ', 'T');
    m text[];
    year int; month int; day int;
    micros numeric;
    offset_seconds int := 0;
    seconds double precision;
BEGIN
    v := v || CASE length(v) WHEN 4 THEN '-01-01T00:00:00Z' WHEN 7 THEN '-01T00:00:00Z'
        WHEN 10 THEN 'T00:00:00Z' WHEN 13 THEN ':00:00Z' WHEN 16 THEN ':00Z' WHEN 19 THEN 'Z'
        ELSE '' END;
    m := regexp_match(v, '^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})'
        '(?:\.([0-9]{1,9}))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    year := m[1]::int; month := m[2]::int; day := m[3]::int;
    IF year < 1 OR month NOT BETWEEN 1 AND 12 OR day < 1 OR m[4]::int > 23 OR m[5]::int > 59
            OR m[6]::int > 59 THEN
        RETURN NULL;
    END IF;
    IF day > extract(day FROM make_date(year, month, 1) + interval '1 month - 1 day') THEN
        RETURN NULL;
    END IF;
    IF m[8] IS NOT NULL THEN
        offset_seconds := m[9]::int * 3600 + m[10]::int * 60;
        IF offset_seconds >= 86400 THEN
            RETURN NULL;
        END IF;
        IF m[8] = '-' THEN
            offset_seconds := -offset_seconds;
        END IF;
    END IF;
    micros := ((make_date(year, month, day) - date '1970-01-01')::numeric * 86400
        + m[4]::int * 3600 + m[5]::int * 60 + m[6]::int - offset_seconds) * 1000000
        + rpad(coalesce(left(m[7], 6), ''), 6, '0')::int;
    seconds := (micros / 1000000)::double precision;
    IF seconds < -62135596800 OR seconds > 253402300799.999 THEN
        RETURN NULL;
    END IF;
    RETURN seconds;
END
$$;

-- Where a time ends beside a DATE in an interval relation: the day's last millisecond for a
-- date (no time part), else the instant itself.
CREATE OR REPLACE FUNCTION ogm_day_end(value text) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(value, 'T') = 0 AND strpos(value, ' ') = 0
        THEN ogm_instant(value) + 86399.999 ELSE ogm_instant(value) END
$$;

-- A property used as an INTERVAL bound: '..' is the open end.
CREATE OR REPLACE FUNCTION ogm_bound(value text, open_end double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value = '..' THEN open_end ELSE ogm_instant(value) END
$$;

-- Properties as jsonb for filters: jsonb cannot hold U+0000, which JSON text may (as \u0000).
-- Read for filters only, it becomes U+0001 (a control character, like NUL never a name a filter
-- may use); the text served keeps it. Escaped backslashes are first spelled \u005c, so every
-- backslash left starts an escape and "\u0000" is always one.
CREATE OR REPLACE FUNCTION ogm_nul_free(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(value, '\u0000') = 0 THEN value
        ELSE replace(replace(value, '\\', '\u005c'), '\u0000', '\u0001') END
$$;
