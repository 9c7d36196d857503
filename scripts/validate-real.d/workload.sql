-- memprof validate-real: deterministic SQLite workload, fed to the sqlite3
-- shell on stdin (-batch -init /dev/null: no readline, no ~/.sqliterc).
-- No random(), no date('now'): same statements, same results, every run.
PRAGMA cache_size = 500;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t(grp, name, val) SELECT x % 97, 'name-' || x, x * 0.5 FROM c;
COMMIT;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(val) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(DISTINCT name) FROM t;
SELECT name FROM t WHERE grp = 42 ORDER BY val DESC LIMIT 3;
SELECT grp % 5 AS g, avg(val), length(group_concat(name)) FROM t GROUP BY g ORDER BY g;
BEGIN;
UPDATE t SET val = val + 1 WHERE grp < 10;
DELETE FROM t WHERE id % 3 = 0;
COMMIT;
SELECT count(*), total(val) FROM t;
SELECT upper(substr(name, 1, 4)), count(*) FROM t GROUP BY 1;
