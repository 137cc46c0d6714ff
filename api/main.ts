// API process: builds real clients from config, serves HTTP, closes cleanly on SIGTERM/SIGINT.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { loadConfig } from '../config';
import { temporalConnectionOptions } from '../config/temporal-tls';
import { migrate } from '../db/migrate';
import { buildClients } from '../worker/clients';
import { buildApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL, name: 'api' });
  await migrate(config.DATABASE_URL);
  const clients = buildClients(config, log);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const app = await buildApp({ config, store: clients.store, box: clients.box, temporal, compute: clients.compute });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });
  const stop = async () => {
    await app.close();
    await connection.close();
    await clients.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: Error) => {
  console.error(JSON.stringify({ level: 'fatal', msg: 'api failed', err: err.message }));
  process.exit(1);
});
