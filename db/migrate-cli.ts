// `npm run migrate`: creates the database if needed and applies pending migrations.
import { loadConfig } from '../config';
import { ensureDatabase, migrate } from './migrate';

async function main(): Promise<void> {
  const config = loadConfig();
  await ensureDatabase(config.DATABASE_URL);
  const applied = await migrate(config.DATABASE_URL);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema up to date');
}

main().catch((err: Error) => {
  console.error(`migrate failed: ${err.message}`);
  process.exit(1);
});
