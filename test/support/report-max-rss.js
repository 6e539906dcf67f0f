// Preloaded into a child node process (`NODE_OPTIONS=--import <this file's URL>`): at exit, writes the
// process's peak resident set size (getrusage ru_maxrss, kB: `process.resourceUsage().maxRSS`) to the
// file named by PGDTS_MAX_RSS_FILE. The 'exit' event also fires on process.exit(), which the CLI calls.
// Plain JavaScript so it loads without tsx (the launcher may run dist/).
import { writeFileSync } from 'node:fs';
import process from 'node:process';

const file = process.env.PGDTS_MAX_RSS_FILE;
if (file !== undefined && file !== '') {
  process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
}
