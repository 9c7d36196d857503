-- scripts/bench: the SQLite workload (inserts, indexes, sorts, updates),
-- about 400,000 allocations; fed to the sqlite3 shell on stdin
-- (-batch -init /dev/null).  Deterministic: no random(), no date('now'); no
-- fsync (synchronous = OFF): the disk must not time the run.
PRAGMA cache_size = 500;
PRAGMA synchronous = OFF;
PRAGMA journal_mode = MEMORY;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 250000)
INSERT INTO t(grp, name, val) SELECT x % 97, 'name-' || x, x * 0.5 FROM c;
COMMIT;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(val) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(DISTINCT name) FROM t;
SELECT name FROM t WHERE grp = 42 ORDER BY val DESC LIMIT 3;
SELECT grp % 5 AS g, avg(val), length(group_concat(name)) FROM t GROUP BY g ORDER BY g;
SELECT upper(substr(name, 1, 4)), count(*) FROM t GROUP BY 1;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.grp < 20 GROUP BY a.grp ORDER BY 2 DESC LIMIT 3;
BEGIN;
UPDATE t SET val = val + 1 WHERE grp < 10;
DELETE FROM t WHERE id % 3 = 0;
COMMIT;
SELECT count(*), total(val) FROM t;
SELECT grp, count(*), sum(val) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(DISTINCT name) FROM t;
SELECT name FROM t WHERE grp = 42 ORDER BY val DESC LIMIT 3;
SELECT grp % 5 AS g, avg(val), length(group_concat(name)) FROM t GROUP BY g ORDER BY g;
SELECT upper(substr(name, 1, 4)), count(*) FROM t GROUP BY 1;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.grp < 20 GROUP BY a.grp ORDER BY 2 DESC LIMIT 3;
