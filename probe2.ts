import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { EmbeddedServer } from './src/embedded/embedded-server.ts';

const dst = await EmbeddedServer.start({ version: 15, dataDir: '/tmp/probe/dst', password: 'bench-pw' });
try {
  const stmts = Array.from({ length: 2000 }, (_, i) => `CREATE TABLE public.t_${i} (id int NOT NULL, n int NOT NULL, v text)`);
  writeFileSync('/tmp/probe/p2.sql', stmts.map((s) => s + ';').join('\n'));
  for (let round = 0; round < 2; round++) {
    const mk = async () => { const db = `p2_${Date.now()}_${Math.random().toString(36).slice(2, 6)}`; await dst.createDatabase(db); return db; };
    let db = await mk();
    let t = performance.now();
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '/tmp/probe/p2.sql', dst.url(db)]);
    console.log('psql autocommit', ((performance.now() - t) / 1000).toFixed(2));
    db = await mk();
    let c = new pg.Client({ connectionString: dst.url(db) }); await c.connect();
    t = performance.now();
    for (const s of stmts) await c.query(s);
    console.log('node-pg one per query', ((performance.now() - t) / 1000).toFixed(2));
    await c.end();
    db = await mk();
    c = new pg.Client({ connectionString: dst.url(db) }); await c.connect();
    t = performance.now();
    for (let i = 0; i < stmts.length; i += 50) await c.query(stmts.slice(i, i + 50).join(';\n'));
    console.log('node-pg batches of 50', ((performance.now() - t) / 1000).toFixed(2));
    await c.end();
  }
} finally { await dst.stop(); }
