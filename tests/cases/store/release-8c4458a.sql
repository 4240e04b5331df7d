PRAGMA user_version=2;
BEGIN TRANSACTION;
CREATE TABLE check_state (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    status TEXT NOT NULL,
    pending TEXT,
    pending_count INTEGER NOT NULL DEFAULT 0,
    history TEXT NOT NULL DEFAULT '[]',
    flapping INTEGER NOT NULL DEFAULT 0,
    value REAL,
    since REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (host, play, check_name)
);
INSERT INTO "check_state" VALUES('localhost','watch','held','ok','critical',2,'["ok", "critical", "critical"]',0,95.0,1.79631851450687289239e+09,1.79631852536598253253e+09);
INSERT INTO "check_state" VALUES('localhost','watch','partly','critical',NULL,0,'["ok", "critical", "critical"]',0,95.0,1.79631851953108549117e+09,1.79631852536598253253e+09);
INSERT INTO "check_state" VALUES('localhost','watch','spent','critical',NULL,0,'["ok", "critical", "critical"]',0,95.0,1.79631851953108549117e+09,1.79631852536598253253e+09);
CREATE TABLE escalation (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (host, play, check_name)
);
INSERT INTO "escalation" VALUES('localhost','watch','spent',1.79631851974903869626e+09,'every remediation''s budget is spent and the check has not recovered');
CREATE TABLE host_lease (
    host TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    controller TEXT NOT NULL,
    source TEXT NOT NULL,
    acquired REAL NOT NULL,
    expires REAL NOT NULL
);
INSERT INTO "host_lease" VALUES('db7','20261201T000000Z-0a1b2c',4242,'another-controller','daemon',1.0,2.0);
CREATE TABLE remediation_attempt (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    rung TEXT NOT NULL,
    at REAL NOT NULL,
    outcome TEXT NOT NULL
);
INSERT INTO "remediation_attempt" VALUES('localhost','watch','partly','1:run',1.79631851953529858589e+09,'attempted');
INSERT INTO "remediation_attempt" VALUES('localhost','watch','spent','1:run',1.79631851959888792042e+09,'attempted');
INSERT INTO "remediation_attempt" VALUES('localhost','watch','partly','1:run',1.79631852536878800397e+09,'attempted');
CREATE TABLE run_host (
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (run_id, host)
);
INSERT INTO "run_host" VALUES('20261203T172154Z-82a8ef','localhost');
INSERT INTO "run_host" VALUES('20261203T172159Z-c34815','localhost');
INSERT INTO "run_host" VALUES('20261203T172205Z-027fd7','localhost');
CREATE TABLE run_index (
    run_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    source TEXT NOT NULL,
    user TEXT NOT NULL,
    controller TEXT NOT NULL,
    pid INTEGER NOT NULL,
    playbooks TEXT NOT NULL DEFAULT '[]',
    counts TEXT NOT NULL DEFAULT '{}',
    records INTEGER,
    last_hash TEXT
);
INSERT INTO "run_index" VALUES('20261203T172154Z-82a8ef',1.79631851441751980774e+09,1796318514.50818,'ok','run','cli','root','vm',5475,'["play.yml"]','{"ok": 3, "warning": 0, "critical": 0, "unknown": 0, "changed": 0, "unreachable": 0, "failed": 0, "interrupted": 0, "skipped": 0}',10,'sha256:90aa3e3dd7f056672ea52555b38ac9041785175a0bb6e251bcaef7dcc27d681b');
INSERT INTO "run_index" VALUES('20261203T172159Z-c34815',1.79631851938432335856e+09,1.79631851974982738491e+09,'not_ok','run','cli','root','vm',5830,'["play.yml"]','{"ok": 1, "warning": 0, "critical": 2, "unknown": 0, "changed": 2, "unreachable": 0, "failed": 0, "interrupted": 0, "skipped": 0}',18,'sha256:8e5e960a2ce5f6cc30c2fbd5d6fe2645256c13ed28ebebe981e096e19ce059d4');
INSERT INTO "run_index" VALUES('20261203T172205Z-027fd7',1.79631852523923897738e+09,1.79631852542419385909e+09,'not_ok','run','cli','root','vm',6088,'["play.yml"]','{"ok": 1, "warning": 0, "critical": 2, "unknown": 0, "changed": 1, "unreachable": 0, "failed": 0, "interrupted": 0, "skipped": 0}',15,'sha256:d8697f1b30ad12f2045ab5767e111527d29162085238a4eda682b4076495f62a');
CREATE INDEX remediation_attempt_key
    ON remediation_attempt (host, play, check_name, rung);
CREATE INDEX run_index_started ON run_index (started);
CREATE INDEX run_host_host ON run_host (host);
COMMIT;
