/**
 * The SQLite file behind the embedded service: jobs, their events and the queue.
 *
 * WAL with synchronous=NORMAL: a committed transaction survives the process being killed (kill -9),
 * since the OS already holds it; only a power loss can drop the last few commits. One process, the
 * server, opens the file (exclusively); the worker processes never do.
 */
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { makeDirectory, whyNotWritable } from '../executor/make-directory.ts';

export type Db = Database.Database;

/** Each entry moves the schema from version i to i+1; never edit a shipped one, append. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     cursor INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     name TEXT,
     status TEXT NOT NULL,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     source TEXT NOT NULL,
     plan TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     resume INTEGER NOT NULL DEFAULT 0,
     cancel_requested INTEGER NOT NULL DEFAULT 0,
     phase INTEGER,
     phase_name TEXT,
     epoch INTEGER,
     metrics TEXT,
     result TEXT,
     export_path TEXT,
     error TEXT,
     last_seq INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX jobs_status ON jobs (status, cursor);
   CREATE TABLE events (
     job_id TEXT NOT NULL REFERENCES jobs (id),
     seq INTEGER NOT NULL,
     attempt INTEGER NOT NULL,
     type TEXT NOT NULL,
     at TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (job_id, seq)
   ) WITHOUT ROWID;
   CREATE TABLE queue (
     pos INTEGER PRIMARY KEY,
     job_id TEXT NOT NULL UNIQUE REFERENCES jobs (id)
   );`,
  // Jobs that search a learning rate (NULL task: train), and what they found.
  `ALTER TABLE jobs ADD COLUMN task TEXT;
   ALTER TABLE jobs ADD COLUMN lr_found TEXT;`,
  // What jobs that score another job's model measured.
  `ALTER TABLE jobs ADD COLUMN evaluation TEXT;`,
];

/**
 * Opens (creating when missing) and migrates the file, holding an exclusive lock until `close()`:
 * two servers on one database would both run its queued jobs. The OS drops the lock when the
 * process dies, so a restart after kill -9 gets it back.
 */
export function openDatabase(file: string): Db {
  let db: Db;
  try {
    makeDirectory(dirname(file));
    db = new Database(file);
  } catch (err) {
    throw new Error(`cannot open the database ${file}: ${whyNotWritable(err)}`, { cause: err });
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('busy_timeout = 1000');
    db.pragma('journal_mode = WAL');
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY') throw new Error(`the database ${file} is in use by another process (another tl serve?)`);
    if (code === 'SQLITE_NOTADB') throw new Error(`${file} exists but is not an SQLite database`);
    throw err;
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw new Error(`the database was written by a newer TL (schema version ${version}, this one knows ${MIGRATIONS.length})`);
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
